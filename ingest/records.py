"""Plain records that flow from the sources and parsers into reconciliation.

Parsers return these and nothing else: no database rows, no network handles.
Keeping them frozen and flat makes the parsers pure functions that can be
re-run over stored raw input whenever a rule improves.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from bounceledger.ingest.record import Record, factory

if TYPE_CHECKING:
    from bounceledger.ingest.attempt import Attempt

AttemptVerdict = Literal["accepted", "deferred", "rejected", "expired"]
#: ``feedback``: an RFC 5965 feedback report that is no complaint (see
#: ``bounces.arf.NOT_COMPLAINTS``); like ``autoreply``, it changes no state.
VerdictKind = Literal["bounce", "delay", "success", "autoreply", "complaint", "feedback"]
#: The kinds recorded for the record's sake only: they decide no delivery's state.
NEUTRAL_KINDS: frozenset[str] = frozenset({"autoreply", "feedback"})
ParseOutcome = Literal["bounce", "ignored", "unparsed", "error"]


class Verdict(Record):
    """One recipient outcome read from a returned message."""

    kind: VerdictKind
    recipient: str | None
    reason: str  # Sisimai reason name
    hardbounce: bool
    category: str = "other"  # PowerMTA bounce category
    action: str | None = None
    status: str | None = None
    replycode: str | None = None
    diagnostic: str | None = None
    remote_mta: str | None = None
    reporting_mta: str | None = None
    original_recipient: str | None = None
    # The report's own Final-Recipient where ``recipient`` was taken from its
    # Original-Recipient (RFC 3464 2.3.1/2.3.2: both name this recipient; the
    # send log may know either), so neither address is lost.
    final_recipient: str | None = None
    envelope_id: str | None = None
    original_message_id: str | None = None  # without angle brackets
    next_hop_queue_id: str | None = None  # X-Postfix-Queue-ID and the like
    return_path_token: str | None = None
    feedback_type: str | None = None
    last_attempt_at: datetime | None = None
    detector: str = "rfc3464"


class ParsedMessage(Record):
    """What the parser made of one returned message.

    ``outcome`` is ``bounce`` when at least one verdict was found,
    ``ignored`` for mail that is neither a bounce nor a report we act on,
    ``unparsed`` when the bytes could not be read as mail at all, and
    ``error`` when the parser itself failed (a bug of ours, not bad input:
    kept apart so it is never mistaken for junk). ``error`` says why in both
    of the last two cases; the pipeline quarantines both.
    """

    outcome: ParseOutcome
    verdicts: tuple[Verdict, ...] = ()
    message_id: str | None = None
    subject: str | None = None
    error: str | None = None
    headers: dict[str, str] = factory(dict)
    # Headers of the returned original that the caller asked for
    # (``parse(..., quoted=...)``), by the name asked for.
    quoted: dict[str, str] = factory(dict)
    # What a size limit left unread (parts, field blocks, encoded words), in
    # words a person can read: a hostile message is cut, never silently.
    skipped: tuple[str, ...] = ()


def __getattr__(name: str) -> object:
    """``Attempt``, from :mod:`bounceledger.ingest.attempt` on first use (PEP 562):
    a log line's record stays a dataclass, whose generated ``__init__`` is the
    fastest per line, and the parser of returned mail, which never makes one,
    does not load ``dataclasses`` for it."""
    if name == "Attempt":
        from bounceledger.ingest.attempt import Attempt

        return Attempt
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
