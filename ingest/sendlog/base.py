"""Types shared by every send-log format: options, the parser protocol and
the side records a parser may collect besides attempts.

Kept apart from ``__init__`` so that format modules can import them without
importing the registry that imports the format modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ingest.records import Attempt
from ingest.sendlog.relays import DEFAULT_INTERNAL_RELAYS

__all__ = ["SAMPLE_CHARS", "SAMPLE_LIMIT", "DsnLink", "LineParser", "ParseOptions", "sample_of"]

SAMPLE_LIMIT = 5
SAMPLE_CHARS = 200

# Queue ids whose story is still open. A busy MTA has a few thousand in
# flight; the cap only matters for logs whose "removed" lines are missing
# (rotated away, filtered), where it keeps memory flat.
DEFAULT_MAX_TRACKED = 100_000


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How to read one stream.

    ``reference_time`` anchors year-less syslog stamps (pass the file's mtime,
    or the time the bytes were read): a stamp more than a day after it is
    put in the previous year, which handles the December -> January rollover.
    ``timezone`` is the IANA zone of stamps that carry no offset. Everything
    the parser returns is UTC.
    """

    reference_time: datetime
    timezone: str = "UTC"
    internal_relays: tuple[str, ...] = DEFAULT_INTERNAL_RELAYS
    max_tracked_queue_ids: int = DEFAULT_MAX_TRACKED

    def __post_init__(self) -> None:
        if self.reference_time.tzinfo is None or self.reference_time.utcoffset() is None:
            raise ValueError("ParseOptions.reference_time must be timezone-aware")
        if self.max_tracked_queue_ids < 1:
            raise ValueError("ParseOptions.max_tracked_queue_ids must be positive")


@dataclass(frozen=True, slots=True)
class DsnLink:
    """The MTA generated a notification message about an earlier one.

    Postfix logs ``ORIG: sender non-delivery notification: NEW``. The returned
    message that later lands in the bounce mailbox carries NEW in its own
    Message-ID (``<...NEW@host>``) while its body names ORIG
    (``X-Postfix-Queue-ID``); this link lets reconciliation go from one to the
    other even when the DSN lost the original headers.
    """

    notification_queue_id: str
    original_queue_id: str
    kind: str  # "non-delivery", "delivery status", "delay", "success", ...
    addressee: str  # "sender" or "postmaster"
    original_message_id: str | None = None
    at: datetime | None = None


class LineParser(Protocol):
    """A stateful reader of one log stream.

    ``feed`` takes one raw line (a trailing newline is fine) and returns the
    attempts it completes -- usually zero or one, several when a line closes
    a queue entry (expiry). It never raises. ``skipped`` counts lines that
    were not recognisable log lines at all; valid lines that carry no attempt
    are not counted.
    """

    skipped: int
    samples: list[str]

    def feed(self, line: str) -> list[Attempt]: ...


def sample_of(line: object) -> str:
    """A bad line as kept in ``samples``: newline-free and at most
    ``SAMPLE_CHARS`` long, so a flood of garbage cannot bloat a report."""
    try:
        text = line if isinstance(line, str) else repr(line)
        return text.rstrip("\r\n")[:SAMPLE_CHARS]
    except Exception:  # pragma: no cover - repr() of exotic objects
        return "<unprintable>"
