"""Cheap necessary conditions for the rule tables' regular expressions.

Most table patterns are big case-insensitive alternations that match
almost nowhere, and Python's regex engine has to try every alternative at
every position of the text to find that out. Each pattern here gets a set
of literal strings, worked out from its parse tree, such that any match
must contain one of them: when none occurs in the (lower-cased) text the
search cannot succeed and is skipped. The answer never changes, only the
time it takes: a pattern for which no such set can be proved (a branch
without any literal, say) is always searched.

The check is only made for ASCII text, where lower-casing agrees exactly
with the engine's case-insensitive matching of ASCII literals; other text
goes through the plain search.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

try:  # Python 3.11+: the parser is private but stable
    from re import _constants as _c
    from re import _parser as _p
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

Needles = frozenset[str]


def _literal_char(op: object, av: object) -> str | None:
    if op is _c.LITERAL and isinstance(av, int) and av < 128:
        return chr(av).lower()
    return None


def _required(items: Sequence[tuple[object, object]]) -> Needles | None:
    """Literals one of which every match of the sequence ``items`` contains."""
    best: Needles | None = None

    def consider(candidate: Needles | None) -> None:
        nonlocal best
        if not candidate or any(not s for s in candidate):
            return
        if best is None or min(map(len, candidate)) > min(map(len, best)):
            best = candidate

    run: list[str] = []
    for op, av in items:
        char = _literal_char(op, av)
        if char is not None:
            run.append(char)
            continue
        if run:
            consider(frozenset(("".join(run),)))
            run = []
        if op is _c.SUBPATTERN:
            consider(_required(av[-1].data))  # type: ignore[index]
        elif op is _c.ATOMIC_GROUP:
            consider(_required(av.data))  # type: ignore[union-attr]
        elif op is _c.BRANCH:
            consider(_branch(av[1]))  # type: ignore[index]
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            low, _high, inner = av  # type: ignore[misc]
            if low >= 1:
                consider(_required(inner.data))
    if run:
        consider(frozenset(("".join(run),)))
    return best


def _branch(alternatives: Iterable[object]) -> Needles | None:
    found: set[str] = set()
    for alternative in alternatives:
        needles = _required(alternative.data)  # type: ignore[attr-defined]
        if not needles:
            return None
        found |= needles
    return frozenset(found)


def needles(pattern: re.Pattern[str]) -> Needles | None:
    """The literal set of ``pattern``, or ``None`` when none can be proved."""
    if not isinstance(pattern.pattern, str):
        return None
    try:
        tree = _p.parse(pattern.pattern, pattern.flags & ~re.UNICODE)
        found = _required(tree.data)
    except Exception:
        return None
    if not found or len(found) > 64:
        return None
    return found


class RuleTable:
    """An ordered ``(pattern, value)`` table whose first matching row wins."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Iterable[tuple[re.Pattern[str], object]]) -> None:
        self._rows = tuple((pattern, value, needles(pattern)) for pattern, value in rows)

    def first(self, text: str) -> object | None:
        """The value of the first row whose pattern ``search``es ``text``."""
        if text.isascii():
            low = text.lower()
            for pattern, value, required in self._rows:
                if required is not None and not any(s in low for s in required):
                    continue
                if pattern.search(text):
                    return value
            return None
        for pattern, value, _ in self._rows:
            if pattern.search(text):
                return value
        return None
