"""flufl.bounce's ``all_failures``, without its most wasteful searches.

flufl.bounce's ``SimpleMatch`` (and its subclass ``SimpleWarning``) reads
the message body once per entry of its ``PATTERNS`` table (about thirty)
and runs that entry's start pattern on every line. An entry whose start
pattern matches no line adds nothing, so the detector's answer is the same
when it is given only the entries whose start pattern *can* match: those
for which one of the pattern's required literals (see
:func:`bounceledger.ingest.bounces._prefilter.needles`) occurs in the body text. For
most messages that leaves none or one entry, and almost all of the stage's
time goes.

Everything else is flufl.bounce's own: the detectors, their order, "the
first detector that finds anything wins". Should a future flufl.bounce
move the pieces used here, :func:`all_failures` falls back to the library's
own function, with the same answers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from email.message import Message

from bounceledger.ingest.bounces._prefilter import Needles, needles

AVAILABLE: bool  # whether flufl.bounce is installed (the heuristic stage is optional): see __getattr__


@functools.cache
def _library() -> tuple[bool, type | None, Sequence | None]:
    """(installed, ``SimpleMatch``, the detector list), imported when the
    stage first runs: it is the last resort, and most runs parse no message
    that reaches it, so its import (a dozen detector modules, a hundred
    patterns) is not paid at start-up."""
    try:
        import flufl.bounce  # noqa: F401
    except ImportError:  # pragma: no cover - not installed
        return False, None, None
    try:  # private to flufl.bounce, hence the fallback in all_failures
        from flufl.bounce._detectors.simplematch import SimpleMatch
        from flufl.bounce._scan import _DETECTORS
    except ImportError:  # pragma: no cover - another flufl.bounce layout
        return True, None, None
    return True, SimpleMatch, _DETECTORS


def __getattr__(name: str) -> object:
    """``AVAILABLE``, answered by importing the library on first use (PEP 562)."""
    if name == "AVAILABLE":
        return _library()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: PATTERNS table -> the required literals of each entry's start pattern
#: (``None``: none provable, always kept). Worked out once per table.
#: The table itself is kept beside them, so that an ``id`` is never reused.
_TABLE_NEEDLES: dict[int, tuple[Sequence, tuple[Needles | None, ...]]] = {}


def _start_needles(patterns: Sequence[tuple[re.Pattern, re.Pattern, re.Pattern]]) -> tuple[Needles | None, ...]:
    known = _TABLE_NEEDLES.get(id(patterns))
    if known is not None and known[0] is patterns:
        return known[1]
    found = tuple(needles(start) for start, _end, _addr in patterns)
    _TABLE_NEEDLES[id(patterns)] = (patterns, found)
    return found


def _body_lines_text(msg: Message) -> str | None:
    """The text flufl's ``body_line_iterator`` reads, as one string.

    That iterator yields the lines of every part whose undecoded payload
    is a string; any line is a substring of this text. ``None`` when the
    text is not ASCII: lower-casing then no longer agrees with
    case-insensitive matching, and no entry may be dropped.
    """
    chunks: list[str] = []
    for part in msg.walk():
        payload = part.get_payload()
        if isinstance(payload, str):
            chunks.append(payload)
    text = "\n".join(chunks)
    return text.lower() if text.isascii() else None


def _possible_patterns(patterns: list, text: str | None) -> list:
    """The entries of ``patterns`` whose start pattern may match a line of ``text``."""
    if text is None:
        return patterns
    contains = text.__contains__
    return [entry for entry, required in zip(patterns, _start_needles(patterns))
            if required is None or next(filter(contains, required), None) is not None]


def all_failures(msg: Message) -> tuple[frozenset, frozenset]:
    """``flufl.bounce.all_failures(msg)``: (temporary, permanent) addresses.

    Raises whatever a detector raises, as the library's function does.
    """
    _installed, SimpleMatch, _DETECTORS = _library()
    if _DETECTORS is None or SimpleMatch is None:
        from flufl.bounce import all_failures as library_all_failures

        return library_all_failures(msg)
    temporary_failures: set[bytes] = set()
    permanent_failures: set[bytes] = set()
    text: str | None | bool = False  # not read yet
    for detector_class in _DETECTORS:
        detector = detector_class()
        if isinstance(detector, SimpleMatch):
            if text is False:
                text = _body_lines_text(msg)
            detector.PATTERNS = _possible_patterns(detector.PATTERNS, text)  # type: ignore[arg-type]
        temporary, permanent = detector.process(msg)
        temporary_failures.update(temporary)
        permanent_failures.update(permanent)
        if temporary or permanent:
            break
    return frozenset(temporary_failures), frozenset(permanent_failures)
