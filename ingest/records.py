"""Plain records that flow from the sources and parsers into reconciliation.

Parsers return these and nothing else: no database rows, no network handles.
Keeping them frozen and flat makes the parsers pure functions that can be
re-run over stored raw input whenever a rule improves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

AttemptVerdict = Literal["accepted", "deferred", "rejected", "expired"]
VerdictKind = Literal["bounce", "delay", "success", "autoreply", "complaint"]
ParseOutcome = Literal["bounce", "ignored", "unparsed", "error"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One recipient attempt as the sending MTA logged it.

    ``first_hop`` is false for hand-offs inside the sender's own organisation
    (content filters, local delivery): those are recorded but never set the
    provisional delivery state.
    """

    at: datetime  # timezone-aware, UTC
    recipient: str
    verdict: AttemptVerdict
    queue_id: str | None = None
    message_id: str | None = None  # without angle brackets
    sender: str | None = None
    orig_recipient: str | None = None
    relay_host: str | None = None
    relay_ip: str | None = None
    relay_port: int | None = None
    replycode: str | None = None  # "250"
    status: str | None = None  # enhanced status, "5.1.1"
    text: str = ""
    smtp_stage: str | None = None  # "RCPT TO", "end of DATA", ...
    next_hop_queue_id: str | None = None  # from "queued as X"
    envelope_id: str | None = None
    delivery_agent: str | None = None  # smtp, lmtp, local, ...
    campaign: str | None = None  # PowerMTA jobId, a logged X-Campaign header, ...
    header_ref: str | None = None  # a configured header as logged (ingest.keys.header_ref)
    mta_category: str | None = None  # the MTA's own bounce class (PowerMTA bounceCat, Kumo's)
    first_hop: bool = True
    raw: str = ""  # the log line, kept as evidence and as the dedupe key


@dataclass(frozen=True, slots=True)
class Verdict:
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
    envelope_id: str | None = None
    original_message_id: str | None = None  # without angle brackets
    next_hop_queue_id: str | None = None  # X-Postfix-Queue-ID and the like
    return_path_token: str | None = None
    feedback_type: str | None = None
    last_attempt_at: datetime | None = None
    detector: str = "rfc3464"


@dataclass(frozen=True, slots=True)
class ParsedMessage:
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
    headers: dict[str, str] = field(default_factory=dict)
    # Headers of the returned original that the caller asked for
    # (``parse(..., quoted=...)``), by the name asked for.
    quoted: dict[str, str] = field(default_factory=dict)
    # What a size limit left unread (parts, field blocks, encoded words), in
    # words a person can read: a hostile message is cut, never silently.
    skipped: tuple[str, ...] = ()
