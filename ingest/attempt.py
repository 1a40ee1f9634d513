"""One recipient attempt as the sending MTA logged it (see :mod:`bounceledger.ingest.records`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bounceledger.ingest.records import AttemptVerdict


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
