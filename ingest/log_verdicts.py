"""Asynchronous verdicts a send log carries: returned mail the MTA read itself.

KumoMTA reads the DSNs that come back to its own return path and logs each
one as an ``OOB`` record (kumod logging.rs): the remote system's later
verdict on a message sent earlier, filed under the id of the incoming report.
That is a verdict, not a send attempt. Stored as an attempt it made a
delivery of its own, for a message never sent under that id, and left the
real delivery "delivered". Such records are turned into the rows a returned
message gives and reconciled the same way (:func:`bounceledger.ingest.returned.record_verdicts`):
tied by the return-path token and the recipient, correcting the delivery
the first hop had accepted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from bounceledger.ingest.bounces.classify import classify
from bounceledger.ingest.keys import normalise_address, verdict_key
from bounceledger.ingest.records import Attempt, Verdict, VerdictKind
from bounceledger.ingest.returned import verdict_row
from bounceledger.ingest.verp import token_of

#: The delivery agents a send-log parser gives records that report returned mail
#: (``ingest.sendlog.jsonl``: Kumo's ``OOB``).
ASYNC_AGENTS = frozenset({"oob"})

#: A verdict's kind and its DSN action (RFC 3464 2.3.3) by the attempt verdict its reply class gave.
_KINDS: dict[str, tuple[VerdictKind, str]] = {
    "rejected": ("bounce", "failed"),
    "expired": ("bounce", "failed"),
    "deferred": ("delay", "delayed"),
    "accepted": ("success", "delivered"),
}


def is_async_verdict(attempt: Attempt) -> bool:
    """Whether a send-log record reports returned mail rather than a send."""
    return attempt.delivery_agent in ASYNC_AGENTS


def verdict_rows(attempts: Sequence[Attempt], source: str, now: datetime) -> list[dict[str, object]]:
    """The verdict events (as :func:`~bounceledger.ingest.returned.verdict_row` makes them) of
    records :func:`is_async_verdict` picked out, classified as returned mail is."""
    rows = []
    for attempt in attempts:
        kind, action = _KINDS[attempt.verdict]
        found = classify(attempt.status, attempt.replycode, attempt.text or None, attempt.relay_host, action=action)
        verdict = Verdict(
            kind=kind,
            recipient=normalise_address(attempt.recipient),
            reason=found.reason,
            hardbounce=found.hardbounce if kind == "bounce" else False,
            category=found.category,
            action=action,
            status=found.status,
            replycode=found.replycode,
            diagnostic=attempt.text or None,
            remote_mta=attempt.relay_host,
            original_message_id=attempt.message_id,
            return_path_token=(token_of(attempt.sender or "") or "").lower() or None,
            last_attempt_at=attempt.at,
            detector=f"sendlog-{attempt.delivery_agent}",
        )
        line = hashlib.sha256(attempt.raw.encode("utf-8", "surrogateescape")).hexdigest()
        rows.append(verdict_row(verdict, verdict_key(line, 0, verdict), None, attempt.at, source, now))  # type: ignore[arg-type]
    return rows
