"""Cheap necessary conditions for the rule tables' regular expressions.

Most table patterns are big case-insensitive alternations that match
almost nowhere, and Python's regex engine has to try every alternative at
every position of the text to find that out. Each pattern here gets a set
of literal strings, worked out from its text, such that any match must
contain one of them: when none occurs in the (lower-cased) text the search
cannot succeed and is skipped. The answer never changes, only the time it
takes: a pattern for which no such set can be proved (a branch without any
literal, say) is always searched.

The pattern text is read by :class:`_Reader`, a small parser of our own
for the documented ``re`` syntax, not by the ``re`` module's private
parser: whatever it does not know (back references, conditionals, verbose
mode) leaves the pattern without literals, that is always searched.
``benchmarks/rule_tables.py`` measures this against the plain loop and
against ``google-re2``'s ``Set`` and ``hyperscan``: neither library was
taken, as RE2 was slower than these checks on the diagnostics and needs
every hit confirmed (no look-arounds; ``\\s``, ``$`` and case folding not
quite ``re``'s), and hyperscan, faster per call, spends seconds compiling
the tables at each start. Without any check the parse takes about 1.6
times the CPU.

The check is made where lower-casing agrees with the engine's
case-insensitive matching of ASCII literals: ASCII text, and any text
without the four other characters the engine takes for an ASCII letter
(:data:`ASCII_CASE_ALIKES`); a text holding one of them goes through the
plain search. Searching at start literals needs positions in the lower
case to be the text's own, so it is done for ASCII text only.
"""

from __future__ import annotations

import heapq
import re
import sys
from collections.abc import Iterable, Iterator, Sequence

Needles = frozenset[str]

# A small reader of the pattern text itself (no private ``re`` modules)

#: Node kinds of the small parse tree below.
_LIT, _ANY, _ZERO, _GROUP, _REPEAT = "lit", "any", "zero", "group", "repeat"

Node = tuple  # (_LIT, char) | (_ANY,) | (_ZERO,) | (_GROUP, alternatives) | (_REPEAT, node, low)


class _Unsupported(Exception):
    """A construct this reader does not handle: the pattern gets no literals."""


_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_CLASS_ESCAPES = frozenset("dDsSwW")
_ZERO_ESCAPES = frozenset("AZbB")
#: ``re.VERBOSE`` as a plain int (flag enum arithmetic is slow, and done per pattern).
_VERBOSE = int(re.VERBOSE)
_QUANTIFIER_RE = re.compile(r"\{(\d*)(,?)(\d*)\}")
_FLAGS_RE = re.compile(r"\(\?([aiLmsux]*)(?:-([imsx]*))?([:)])")


class _Reader:
    """Recursive descent over a pattern's text, for the syntax of Python's
    ``re`` module documentation ("Regular Expression Syntax"): literals,
    escapes, classes, groups, alternation, quantifiers, assertions. The
    tree keeps only what the literal work needs; anything else (back
    references, conditionals, verbose mode) raises :class:`_Unsupported`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.at = 0

    def parse(self) -> list[list[Node]]:
        found = self._alternatives()
        if self.at != len(self.source):
            raise _Unsupported("unbalanced ')'")
        return found

    def _alternatives(self) -> list[list[Node]]:
        found = [self._sequence()]
        while self.at < len(self.source) and self.source[self.at] == "|":
            self.at += 1
            found.append(self._sequence())
        return found

    def _sequence(self) -> list[Node]:
        items: list[Node] = []
        source = self.source
        while self.at < len(source) and source[self.at] not in "|)":
            atom = self._atom()
            if atom is None:
                continue  # a comment or global flags: nothing to match
            items.append(self._quantified(atom))
        return items

    def _quantified(self, atom: Node) -> Node:
        source = self.source
        if self.at >= len(source):
            return atom
        char = source[self.at]
        low: int | None = None
        if char in "*?":
            low = 0
            self.at += 1
        elif char == "+":
            low = 1
            self.at += 1
        elif char == "{":
            quantifier = _QUANTIFIER_RE.match(source, self.at)
            if quantifier is not None and quantifier.group() != "{}":
                low = int(quantifier.group(1) or 0)
                self.at = quantifier.end()
        if low is None:
            return atom
        if self.at < len(source) and source[self.at] in "?+":
            self.at += 1  # lazy or possessive: the same strings match
        if self.at < len(source) and source[self.at] in "*+?{":
            if source[self.at] != "{" or _QUANTIFIER_RE.match(source, self.at):
                raise _Unsupported("repeated quantifier")
        return (_REPEAT, atom, low)

    def _atom(self) -> Node | None:
        source = self.source
        char = source[self.at]
        self.at += 1
        if char == "\\":
            return self._escape()
        if char == "[":
            self._skip_class()
            return (_ANY,)
        if char == ".":
            return (_ANY,)
        if char in "^$":
            return (_ZERO,)
        if char == "(":
            return self._group()
        if char in "*+?":
            raise _Unsupported("nothing to repeat")
        return (_LIT, char)

    def _escape(self) -> Node:
        source = self.source
        if self.at >= len(source):
            raise _Unsupported("trailing backslash")
        char = source[self.at]
        self.at += 1
        if char in _ZERO_ESCAPES:
            return (_ZERO,)
        if char in _CLASS_ESCAPES:
            return (_ANY,)
        if char in _SIMPLE_ESCAPES:
            return (_LIT, _SIMPLE_ESCAPES[char])
        if char in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[char]
            digits = source[self.at:self.at + size]
            if len(digits) != size or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise _Unsupported("bad hex escape")
            self.at += size
            return (_LIT, chr(int(digits, 16)))
        if char.isdigit() or char.isalpha():
            raise _Unsupported(f"escape \\{char}")  # back references, octal, \N{...}
        return (_LIT, char)

    def _skip_class(self) -> None:
        source = self.source
        if self.at < len(source) and source[self.at] == "^":
            self.at += 1
        if self.at < len(source) and source[self.at] == "]":
            self.at += 1  # a "]" first in a class is literal
        while self.at < len(source) and source[self.at] != "]":
            self.at += 2 if source[self.at] == "\\" else 1
        if self.at >= len(source):
            raise _Unsupported("unterminated class")
        self.at += 1

    def _group(self) -> Node | None:
        source = self.source
        zero = False
        if source.startswith("?", self.at):
            rest = source[self.at + 1:self.at + 4]
            if rest.startswith("#"):
                end = source.find(")", self.at)
                if end < 0:
                    raise _Unsupported("unterminated comment")
                self.at = end + 1
                return None
            if rest.startswith(("=", "!")):
                self.at += 2
                zero = True
            elif rest.startswith(("<=", "<!")):
                self.at += 3
                zero = True
            elif rest.startswith(":") or rest.startswith(">"):
                self.at += 2
            elif rest.startswith("P<"):
                end = source.find(">", self.at)
                if end < 0:
                    raise _Unsupported("unterminated group name")
                self.at = end + 1
            else:
                flags = _FLAGS_RE.match(source, self.at - 1)
                if flags is None or "x" in flags.group(1):
                    raise _Unsupported("group kind")  # (?P=name), (?(1)...), verbose mode
                self.at = flags.end()
                if flags.group(3) == ")":
                    return None  # global flags: case never matters here
        inner = self._alternatives()
        if self.at >= len(source) or source[self.at] != ")":
            raise _Unsupported("unterminated group")
        self.at += 1
        return (_ZERO,) if zero else (_GROUP, inner)


def _tree(pattern: re.Pattern[str]) -> list[list[Node]] | None:
    """The parse tree of ``pattern``'s alternatives, or ``None`` when this
    reader cannot vouch for it (bytes, verbose mode, unsupported syntax)."""
    if not isinstance(pattern.pattern, str):
        return None
    return _tree_of(pattern.pattern, pattern.flags)


def _tree_of(source: str, flags: int) -> list[list[Node]] | None:
    """:func:`_tree` of a pattern text not compiled yet (``flags``: its
    compile flags)."""
    if flags & _VERBOSE:
        return None
    try:
        return _Reader(source).parse()
    except _Unsupported:
        return None


def _literal_char(node: Node) -> str | None:
    if node[0] == _LIT and node[1] < "\x80":
        return node[1].lower()
    return None


def _required(items: Sequence[Node]) -> Needles | None:
    """Literals one of which every match of the sequence ``items`` contains."""
    best: Needles | None = None

    def consider(candidate: Needles | None) -> None:
        nonlocal best
        if not candidate or any(not s for s in candidate):
            return
        if best is None or min(map(len, candidate)) > min(map(len, best)):
            best = candidate

    run: list[str] = []
    for node in items:
        char = _literal_char(node)
        if char is not None:
            run.append(char)
            continue
        if run:
            consider(frozenset(("".join(run),)))
            run = []
        if node[0] == _GROUP:
            consider(_branch(node[1]))
        elif node[0] == _REPEAT and node[2] >= 1:
            consider(_required((node[1],)))
    if run:
        consider(frozenset(("".join(run),)))
    return best


def _branch(alternatives: Iterable[Sequence[Node]]) -> Needles | None:
    found: set[str] = set()
    for alternative in alternatives:
        needles = _required(alternative)
        if not needles:
            return None
        found |= needles
    return frozenset(found)


def needles(pattern: re.Pattern[str]) -> Needles | None:
    """The literal set of ``pattern``, or ``None`` when none can be proved."""
    tree = _tree(pattern)
    found = _branch(tree) if tree is not None else None
    if not found or len(found) > 64:
        return None
    return found


def _leading(items: Sequence[Node]) -> Needles | None:
    """Literals one of which every match of the sequence ``items`` starts with."""
    run: list[str] = []
    for node in items:
        char = _literal_char(node)
        if char is not None:
            run.append(char)
            continue
        if run:
            break
        if node[0] == _ZERO:
            continue  # "^", "\\b", a look-around: zero width, the match still starts here
        if node[0] == _GROUP:
            return _leading_any(node[1])
        return None
    return frozenset(("".join(run),)) if run else None


def _leading_any(alternatives: Iterable[Sequence[Node]]) -> Needles | None:
    found: set[str] = set()
    for alternative in alternatives:
        starts = _leading(alternative)
        if not starts:
            return None
        found |= starts
    return frozenset(found)


#: Shortest start literal worth looking for (shorter ones occur everywhere).
MIN_START = 4


def start_literals(pattern: re.Pattern[str]) -> Needles | None:
    """Literals (lower case) one of which every match of ``pattern`` starts
    with, each at least :data:`MIN_START` long, or ``None``."""
    tree = _tree(pattern)
    found = _leading_any(tree) if tree is not None else None
    if not found or len(found) > 16 or min(map(len, found)) < MIN_START:
        return None
    return found


def _analyse(source: str, flags: int) -> tuple[Needles | None, Needles | None]:
    """The literal set and the start literals of one pattern text, from one
    reading of it (see :func:`needles` and :func:`start_literals`)."""
    tree = _tree_of(source, flags)
    if tree is None:
        return None, None
    found = _branch(tree)
    if not found or len(found) > 64:
        found = None
    starts = _leading_any(tree)
    if not starts or len(starts) > 16 or min(map(len, starts)) < MIN_START:
        starts = None
    return found, starts


#: Answers of :func:`_analyse` worked out ahead for the classifier's rule
#: tables (see :mod:`bounceledger.ingest.bounces._literals_build`), loaded on first use.
_KNOWN: dict[str, list] | None = None


def _analysed(source: str, flags: int) -> tuple[Needles | None, Needles | None]:
    """:func:`_analyse`, from the generated answers when ``source`` is
    among them (they depend on the text alone, verbose mode aside)."""
    global _KNOWN
    if not flags & _VERBOSE:
        if _KNOWN is None:
            _KNOWN = _load_known()
        known = _KNOWN.get(source)
        if known is not None:
            required, starts = known
            return (frozenset(required) if required else None, frozenset(starts) if starts else None)
    return _analyse(source, flags)


def _load_known() -> dict[str, list]:
    try:
        import json

        from bounceledger.ingest.bounces import _literal_cache

        found = json.loads(_literal_cache.ANALYSES)
    except (ImportError, AttributeError, ValueError):
        return {}  # not generated (yet): every text is read
    return found if isinstance(found, dict) else {}


class _LazyPattern:
    """A pattern text compiled on its first search.

    Most alternatives of the rule tables are never searched in a run (their
    literals do not occur), so compiling them all at import would be spent
    for nothing; ``whole`` is the row's full pattern, used instead should
    the piece alone not compile (it finds something exactly when one of
    its pieces does, so the row's answer stays the same).
    """

    __slots__ = ("source", "flags", "whole", "_compiled")

    def __init__(self, source: str, flags: int, whole: _LazyPattern | None = None) -> None:
        self.source = source
        self.flags = flags
        self.whole = whole
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiled now if this is its first use)."""
        found = self._compiled
        if found is None:
            try:
                found = re.compile(self.source, self.flags)
            except re.error:
                if self.whole is None:
                    raise
                found = self.whole.compiled()
            self._compiled = found
        return found


#: Inline global flags ("(?i)"), back-references or conditionals: a pattern
#: with any of them is never split into its alternatives (see :func:`alternatives`).
_NO_SPLIT_RE = re.compile(r"\(\?[aiLmsux]+\)|\\[1-9]|\(\?P=|\\g<|\(\?\(")


def alternatives(pattern: re.Pattern[str]) -> tuple[re.Pattern[str], ...]:
    """The top-level alternatives of ``pattern``, each compiled on its own.

    ``pattern.search(text)`` finds something exactly when one of them does
    (a match is a match of one alternative at some position), and each
    alternative alone is a much smaller search. The pattern text is cut at
    every "|" outside groups, character classes and escapes; patterns with
    inline global flags, back-references or conditionals, or whose pieces
    do not put back together into the pattern or do not compile, stay whole.
    """
    source = pattern.pattern
    pieces = _pieces(source) if isinstance(source, str) else None
    if pieces is None:
        return (pattern,)
    try:
        return tuple(re.compile(piece, pattern.flags) for piece in pieces)
    except re.error:
        return (pattern,)


def _pieces(source: str) -> tuple[str, ...] | None:
    """The texts :func:`alternatives` cuts ``source`` into, or ``None``
    when it stays whole (they are not compiled here)."""
    if _NO_SPLIT_RE.search(source):
        return None
    pieces: list[str] = []
    depth = 0
    start = 0
    i = 0
    size = len(source)
    while i < size:
        char = source[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i += 1
            if i < size and source[i] == "^":
                i += 1
            if i < size and source[i] == "]":
                i += 1  # a "]" first in a class is literal
            while i < size and source[i] != "]":
                i += 2 if source[i] == "\\" else 1
            i += 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return None
        elif char == "|" and depth == 0:
            pieces.append(source[start:i])
            start = i + 1
        i += 1
    pieces.append(source[start:])
    if depth != 0 or len(pieces) < 2 or "|".join(pieces) != source or not all(pieces):
        return None
    return tuple(pieces)


class LiteralIndex:
    """Which of a fixed set of literals occur in a text, found at once.

    A literal can only occur where its first four characters do, so only
    the literals filed under a four-character window of the text are
    tested (one C-level pass builds the windows), and the few shorter ones
    always: about a third of the cost of testing a few hundred literals
    one by one. Several rule tables read
    the same text one after the other (the strong and the plain text
    tables of one diagnostic), so the answer for the last text is kept.
    """

    __slots__ = ("_by_gram", "_grams", "_short", "_last")

    def __init__(self) -> None:
        self._by_gram: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._grams: frozenset[tuple[str, ...]] = frozenset()
        self._short: tuple[str, ...] = ()
        self._last: tuple = (None, frozenset())  # (text, its literals): one tuple, so thread-safe

    def add(self, literals: Iterable[str]) -> None:
        """File more literals (lower case) under their first four characters."""
        known = {literal for found in self._by_gram.values() for literal in found} | set(self._short)
        known.update(literals)
        by_gram: dict[tuple[str, ...], list[str]] = {}
        for literal in sorted(known):
            if len(literal) >= 4:
                by_gram.setdefault(tuple(literal[:4]), []).append(literal)
        self._by_gram = {gram: tuple(found) for gram, found in by_gram.items()}
        self._grams = frozenset(self._by_gram)
        self._short = tuple(sorted(literal for literal in known if len(literal) < 4))
        self._last = (None, frozenset())

    def present(self, text: str, low: str) -> frozenset[str]:
        """The filed literals that occur in ``low`` (``text`` lower-cased)."""
        last, found = self._last
        if last is text:
            return found
        by_gram = self._by_gram
        hits = [literal for gram in self._grams.intersection(zip(low, low[1:], low[2:], low[3:]))
                for literal in by_gram[gram] if literal in low]
        hits += [literal for literal in self._short if literal in low]
        found = frozenset(hits)
        self._last = (text, found)
        return found


#: The index the rule tables share (see :class:`LiteralIndex`).
SHARED_INDEX = LiteralIndex()


class RuleTable:
    """An ordered ``(pattern, value)`` table whose first matching row wins.

    Each row keeps its pattern's literal set (skip the row when none
    occurs) and its top-level alternatives, each with its own literal set:
    only the alternatives whose literals occur are searched, and a hit of
    any of them is a hit of the whole pattern.

    For ASCII texts up to :attr:`INDEX_LIMIT` characters (the diagnostic
    of one recipient, the usual caller) the literals that occur are found
    at once through a :class:`LiteralIndex` and only the rows one of them
    (or no literal set) lets in are visited; an alternative whose every
    match starts with one of a few literals is tried only where those
    occur (as :class:`Quick` does).

    A row's pattern may be given compiled (or :func:`lazy`) or as its text (compiled with
    ``flags``); either way the alternatives are compiled only when first
    searched, as most of them never are in a run, and each pattern text is
    read once, for its literals and start literals together.
    """

    __slots__ = ("_rows", "_index", "_rows_of", "_open_rows")

    #: Longest text read through the index: the four-character windows of
    #: a longer text cost more than testing the literals row by row.
    INDEX_LIMIT = 4000

    def __init__(self, rows: Iterable[tuple[re.Pattern[str] | str, object]], index: LiteralIndex | None = None,
                 *, flags: int = 0) -> None:
        built = []
        literals: set[str] = set()
        rows_of: dict[str, set[int]] = {}
        for number, (pattern, value) in enumerate(rows):
            if isinstance(pattern, (re.Pattern, LazyPattern)):
                source, pattern_flags = pattern.pattern, pattern.flags
            else:
                source, pattern_flags = pattern, int(flags)
            whole = _LazyPattern(source, pattern_flags)
            if isinstance(pattern, re.Pattern):
                whole._compiled = pattern
            pieces = _pieces(source)
            if pieces is None:
                required, starts = _analysed(source, pattern_flags)
                read: tuple[tuple[Needles | None, Needles | None, _LazyPattern], ...] = ((required, starts, whole),)
            else:
                read = tuple((*_analysed(piece, pattern_flags), _LazyPattern(piece, pattern_flags, whole))
                             for piece in pieces)
                required = _union(alt[0] for alt in read)
            alts = tuple((alt_required, starts, alt, _found_by_literal(alt.source, alt.flags, alt_required))
                         for alt_required, starts, alt in read)
            built.append((whole, value, required, alts))
            literals.update(required or ())
            for alt_required, _starts, _alt, _plain in alts:
                literals.update(alt_required or ())
            for literal in required or ():
                rows_of.setdefault(literal, set()).add(number)
        #: (whole pattern, value, literal set,
        #:  ((literal set, start literals, alternative, found by its literal alone), ...))
        self._rows = tuple(built)
        self._index = SHARED_INDEX if index is None else index
        self._index.add(literals)
        #: literal -> the rows whose literal set holds it
        self._rows_of = {literal: frozenset(found) for literal, found in rows_of.items()}
        #: rows without a literal set: always searched
        self._open_rows = frozenset(i for i, row in enumerate(self._rows) if row[2] is None)

    def texts(self) -> list[str]:
        """The pattern texts read for literals: each row's alternatives."""
        return [alt[2].source for row in self._rows for alt in row[3]]

    def first(self, text: str) -> object | None:
        """The value of the first row whose pattern ``search``es ``text``."""
        exact = text.isascii()
        if exact or not _has_case_alikes(text):
            if len(text) <= self.INDEX_LIMIT:
                return self._first_indexed(text, exact)
            # ``next(filter(contains, literals), None)``: the first literal
            # that occurs, tested without a Python frame per literal
            contains = text.lower().__contains__
            for _whole, value, required, alts in self._rows:
                if required is not None and next(filter(contains, required), None) is None:
                    continue
                for alt_required, _starts, alt, plain in alts:
                    if alt_required is not None and next(filter(contains, alt_required), None) is None:
                        continue
                    if plain or alt.compiled().search(text):
                        return value
            return None
        for whole, value, _, _ in self._rows:
            if whole.compiled().search(text):
                return value
        return None

    def _first_indexed(self, text: str, exact: bool = True) -> object | None:
        """:meth:`first` for short ``text``: the rows and alternatives
        whose literals occur are searched in table order, as before; the
        others are known to be skipped without testing them one by one.
        ``exact``: ``text`` is ASCII, so positions in its lower case are
        its own and an alternative may be tried at its start literals."""
        low = text.lower()
        present = self._index.present(text, low)
        rows_of = self._rows_of
        candidates = set(self._open_rows)
        for literal in present:
            found = rows_of.get(literal)
            if found is not None:
                candidates.update(found)
        rows = self._rows
        for number in sorted(candidates):
            for alt_required, starts, alt, plain in rows[number][3]:
                if alt_required is not None and alt_required.isdisjoint(present):
                    continue
                if plain or _finds(alt.compiled(), starts if exact else None, text, low):
                    return rows[number][1]
        return None


#: What makes a pattern text more than its literal characters.
_METACHARACTERS_RE = re.compile(r"[\\.^$*+?{}\[\]()|]")
_IGNORECASE = int(re.IGNORECASE)


def _found_by_literal(source: str, flags: int, required: Needles | None) -> bool:
    """Whether ``source`` is a plain case-insensitive literal whose literal
    set is its own lower case: then, for the texts the check is made on,
    the literal occurring in the lower-cased text *is* a match, and the
    pattern need neither be searched nor compiled (most alternatives of
    the reason tables are phrases like "mailbox full")."""
    return (bool(flags & _IGNORECASE) and not flags & _VERBOSE and source.isascii()
            and _METACHARACTERS_RE.search(source) is None and required == frozenset((source.lower(),)))


def _union(sets: Iterable[Needles | None]) -> Needles | None:
    """The literal set of a pattern from those of its top-level
    alternatives (as :func:`needles` bounds it), or ``None``."""
    found: set[str] = set()
    for one in sets:
        if one is None:
            return None
        found |= one
    if not found or len(found) > 64:
        return None
    return frozenset(found)


#: The characters other than ASCII ones that ``re``'s case-insensitive
#: matching takes for an ASCII letter (U+0130 and U+0131 for "i", U+017F for
#: "s", U+212A for "k"; checked against every code point by
#: ``tests/bounces/test_speed_caching.py``). In a text holding none of them
#: a match of an ASCII literal is ASCII text, so the literal occurs in
#: ``text.lower()``; other characters may change length when lower-cased,
#: so positions there are not the text's own.
ASCII_CASE_ALIKES = ("\u0130", "\u0131", "\u017f", "\u212a")


def _has_case_alikes(text: str) -> bool:
    return any(char in text for char in ASCII_CASE_ALIKES)


def _finds(alt: re.Pattern[str], starts: Needles | None, text: str, low: str) -> bool:
    """``bool(alt.search(text))`` for ASCII ``text`` (``low``: its lower
    case): when every match starts with one of a few literals (``starts``),
    the pattern is tried only where they occur."""
    if starts is None:
        return alt.search(text) is not None
    match = alt.match
    for literal in starts:
        at = low.find(literal)
        while at >= 0:
            if match(text, at) is not None:
                return True
            at = low.find(literal, at + 1)
    return False


class _LowerCase:
    """The lower-case form of the text seen last by any :class:`Quick`.

    The detectors search the same body (or notice) one pattern after the
    other; the triple is one tuple replaced whole, so it is thread-safe.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: tuple = (None, None, False)

    def _read(self, text: str) -> tuple:
        last = self._last
        if last[0] is text:
            return last
        exact = text.isascii()
        low = text.lower() if exact or not _has_case_alikes(text) else None
        last = self._last = (text, low, exact)
        return last

    def of(self, text: str) -> str | None:
        """``text.lower()``, or ``None`` when ``text`` is not ASCII (where
        positions in the lower case are the text's own)."""
        _text, low, exact = self._read(text)
        return low if exact else None

    def for_literals(self, text: str) -> str | None:
        """``text.lower()`` when the literal check holds for ``text`` (ASCII,
        or without :data:`ASCII_CASE_ALIKES`), else ``None``."""
        return self._read(text)[1]


_LOWER = _LowerCase()


class Quick:
    """A compiled pattern that skips searches its literals rule out.

    ``search``, ``match``, ``finditer`` and ``findall`` first check that
    one of the pattern's literals (see :func:`needles`) occurs in the
    lower-cased text; when none does there can be no match, and the empty
    answer comes back without running the regex. For the texts
    :class:`RuleTable` checks (``search`` at start literals: ASCII text
    only); everything else is the wrapped pattern's own.

    ``search`` does more for a pattern whose every match starts with one of
    a few literals (see :func:`start_literals`): it tries the pattern only
    where those occur, leftmost first, which is the match ``search``
    finds, instead of at every position of a whole message body.
    """

    __slots__ = ("_pattern", "_needles", "_starts", "_given_starts", "_ready")

    #: Failed tries at start literals after which ``search`` hands the
    #: rest of the text to the regex engine (a literal that occurs often).
    MAX_TRIES = 32

    def __init__(self, pattern: re.Pattern[str], starts: Sequence[str] | None = None) -> None:
        """``starts``: the lower-case literals every match starts with, when
        the caller knows them and :func:`start_literals` cannot prove them.

        The pattern text is read for its literals on first use, not here:
        modules wrap their patterns where they define them, at import, and
        some are never used in a run."""
        self._pattern = pattern
        self._given_starts = tuple(starts) if starts is not None else None
        self._needles: Needles | None = None
        self._starts: Sequence[str] | None = None
        self._ready = False

    def _read(self) -> None:
        """Work out the literals (once)."""
        source = self._pattern.pattern
        if isinstance(source, str):
            self._needles, starts = _analysed(source, self._pattern.flags)
        else:
            starts = None
        self._starts = self._given_starts if self._given_starts is not None else starts
        self._ready = True

    def _ruled_out(self, text: object) -> bool:
        if not self._ready:
            self._read()
        required = self._needles
        if required is None or not isinstance(text, str):
            return False
        low = _LOWER.for_literals(text)
        return low is not None and next(filter(low.__contains__, required), None) is None

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        if self._ruled_out(string):
            return None
        if self._starts is not None and isinstance(string, str):
            low = _LOWER.of(string)
            if low is not None:
                return self._search_at_starts(string, low, max(pos, 0), endpos)
        return self._pattern.search(string, pos, endpos)

    def _search_at_starts(self, string: str, low: str, pos: int, endpos: int) -> re.Match[str] | None:
        """``search`` for ASCII ``string`` (``low``: its lower case).

        A match starts where one of the start literals occurs; the
        leftmost position where the pattern ``match``es is where
        ``search`` would have found it, with the same match.
        """
        heap = [(at, literal) for literal in self._starts if (at := low.find(literal, pos)) >= 0]  # type: ignore[union-attr]
        heapq.heapify(heap)
        match = self._pattern.match
        tries = 0
        while heap:
            at, literal = heap[0]
            if at > endpos:
                return None
            found = match(string, at, endpos)
            if found is not None:
                return found
            tries += 1
            if tries >= self.MAX_TRIES:
                return self._pattern.search(string, at, endpos)
            following = low.find(literal, at + 1)
            if following >= 0:
                heapq.heapreplace(heap, (following, literal))
            else:
                heapq.heappop(heap)
        return None

    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        if self._ruled_out(string):
            return None
        return self._pattern.match(string, pos, endpos)

    def finditer(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[re.Match[str]]:
        if self._ruled_out(string):
            return iter(())
        return self._pattern.finditer(string, pos, endpos)

    def findall(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> list:
        if self._ruled_out(string):
            return []
        return self._pattern.findall(string, pos, endpos)

    def sub(self, repl: object, string: str, count: int = 0) -> str:
        if self._ruled_out(string):
            return string  # no match: nothing replaced
        return self._pattern.sub(repl, string, count)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self._pattern, name)


def quick(pattern: re.Pattern[str]) -> re.Pattern[str] | Quick:
    """``pattern`` with a literal pre-check (a :class:`Quick`), for a module
    to wrap, where it defines them, the patterns it searches whole message
    bodies with; a pattern without a literal set is searched as it is."""
    if isinstance(pattern.pattern, str):
        return Quick(pattern)
    return pattern


#: The global inline flags a pattern text may open with ("(?im)"), as
#: Python's ``re`` documents them: they end up in the compiled ``flags``.
_INLINE_FLAGS = {"a": int(re.ASCII), "i": int(re.IGNORECASE), "L": int(re.LOCALE), "m": int(re.MULTILINE),
                 "s": int(re.DOTALL), "u": int(re.UNICODE), "x": int(re.VERBOSE)}
_GLOBAL_FLAGS_RE = re.compile(r"\(\?([aiLmsux]+)\)")
_UNICODE, _ASCII_OR_LOCALE = int(re.UNICODE), int(re.ASCII) | int(re.LOCALE)


def _compiled_flags(source: str, flags: int) -> int:
    """The ``flags`` that ``re.compile(source, flags)`` would report, without
    compiling: the given ones, those the text opens with, and ``re.UNICODE``
    for a text pattern not made ASCII or locale-dependent."""
    at = 0
    while (opening := _GLOBAL_FLAGS_RE.match(source, at)) is not None:
        for letter in opening.group(1):
            flags |= _INLINE_FLAGS[letter]
        at = opening.end()
    if not flags & _ASCII_OR_LOCALE:
        flags |= _UNICODE
    return flags


class LazyPattern:
    """A regular expression compiled on its first use, not at import.

    Most of the detectors' and stages' patterns serve one format or one
    rare case, and a run over a folder of bounces uses a fraction of them:
    compiling them all when the modules load was most of the parser's
    first-use cost. ``pattern`` and ``flags`` are known without compiling
    (so :func:`quick` reads the literals of a lazy pattern and answers a
    text without them without compiling it at all); any other attribute
    (``search``, ``match``, ``fullmatch``, ``finditer``, ``findall``,
    ``sub``, ``subn``, ``split``, ``groupindex``, ``groups``...) is the
    compiled pattern's own, looked up once and kept on the instance, so a
    pattern in constant use costs a plain attribute read, as before.
    A pattern text that does not compile raises ``re.error`` at first use
    (``tests/bounces/test_lazy_pattern.py`` compiles every one of them).
    """

    #: The compiled pattern once compiled (the instance's own, then).
    _compiled: re.Pattern[str] | None = None

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = _compiled_flags(pattern, int(flags))
        self._given_flags = int(flags)

    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiled now if this is its first use)."""
        found = self._compiled
        if found is None:
            found = self._compiled = re.compile(self.pattern, self._given_flags)
        return found

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)  # copy, pickle and friends probing: not the pattern's
        value = getattr(self.compiled(), name)
        self.__dict__[name] = value
        return value

    def __repr__(self) -> str:
        return f"lazy({self.pattern!r}, {self._given_flags})"


def lazy(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, done when the pattern is first used
    (see :class:`LazyPattern`); typed as the pattern it stands for."""
    return LazyPattern(pattern, flags)  # type: ignore[return-value]
