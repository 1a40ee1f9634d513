"""Internal parser errors: made visible, counted, and fatal under test.

``parse()`` must never raise in production: one bad message must not stop a
mailbox poll. But a bug in our own code caught there would otherwise look
exactly like junk input. So an unexpected exception becomes the distinct
outcome ``error``, is logged with its traceback on the ``bounceledger.ingest.bounces``
logger and bumps a process-wide counter; and in *strict* mode (tests, or
``BOUNCELEDGER_PARSE_STRICT=1``) it is raised instead, so the robustness and
fuzz tests fail on it.

Hostile nesting is input, not a bug: the MIME reader bounds its depth, and
a ``RecursionError`` that still escapes in production is reported as
``unparsed`` (``nesting``). Strict mode raises it too, so the tests prove the
bound holds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import traceback
from collections import Counter
from pathlib import Path

from bounceledger.logsetup import ensure_configured

log = logging.getLogger("bounceledger.ingest.bounces")

STRICT_ENV = "BOUNCELEDGER_PARSE_STRICT"
#: Read once, when the first failure is handled (this module is imported
#: lazily, on the error path only).
STRICT_DEFAULT = os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")

#: Frames under this directory are "ours": the error text names the innermost one.
_OURS = Path(__file__).resolve().parents[1]
_ROOT = _OURS.parent

_counts: Counter[str] = Counter()
_lock = threading.Lock()


def is_strict(strict: bool | None) -> bool:
    """The caller's choice, else the environment's."""
    return STRICT_DEFAULT if strict is None else strict


def where(exc: BaseException) -> str:
    """``path:line in function`` of the innermost frame of our package, else of the last frame.

    The innermost frame of ours is where the bug most likely is, even when
    the exception was raised inside the stdlib on our behalf.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown location"
    ours = [f for f in frames if _is_ours(f.filename)]
    frame = ours[-1] if ours else frames[-1]
    return f"{_short(frame.filename)}:{frame.lineno} in {frame.name}"


def internal_error(exc: Exception, raw: object) -> str:
    """Record an exception from the parser's own code; the ``error`` text to return."""
    text = f"internal error: {type(exc).__name__} at {where(exc)}: {_clip(str(exc))}"
    with _lock:
        _counts["error"] += 1
    ensure_configured()
    log.error("parse failed with an internal error on %s: %s", _describe(raw), text, exc_info=exc)
    return text


def nesting(exc: RecursionError, raw: object) -> str:
    """Record input nested deeper than the stack allows; the ``error`` text to return."""
    text = f"message nesting too deep (RecursionError at {where(exc)})"
    with _lock:
        _counts["nesting"] += 1
    ensure_configured()
    log.warning("parse gave up on %s: %s", _describe(raw), text)
    return text


def internal_errors() -> int:
    """Internal errors caught by ``parse()`` in this process since it started (or the last reset)."""
    with _lock:
        return _counts["error"]


def counts() -> dict[str, int]:
    """Every failure kind counted so far: ``error`` (our bugs) and ``nesting`` (hostile input)."""
    with _lock:
        return {"error": _counts["error"], "nesting": _counts["nesting"]}


def reset() -> None:
    """Start counting again (tests that compare before and after)."""
    with _lock:
        _counts.clear()


def _is_ours(filename: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(_OURS)
    except (OSError, ValueError):
        return False


def _short(filename: str) -> str:
    try:
        return str(Path(filename).resolve().relative_to(_ROOT))
    except (OSError, ValueError):
        return filename


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(raw: object) -> str:
    """Enough to find the message again (size and digest), never its content."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        data = bytes(raw)
        return f"a message of {len(data)} bytes (sha256 {hashlib.sha256(data).hexdigest()[:16]})"
    return f"a {type(raw).__name__}"
