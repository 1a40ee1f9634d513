"""Asynchronous verdicts a send log carries: returned mail the MTA read itself.

Some MTAs read the DSNs that come back to their own return path and log them.
KumoMTA writes an ``OOB`` record under the id of the incoming report
(kumod logging.rs); PowerMTA writes ``rb`` (remote bounce) and ``rs``
(remote status) accounting records under the original message's ids (User's
Guide 11.2). Each is a remote system's later verdict on a message sent
earlier, not a send attempt. Stored as an attempt, Kumo's made a delivery
of its own for a message never sent under that id and left the real one
"delivered", and PowerMTA's changed the state without recording that it
corrected the first hop's acceptance. They are turned into the rows a
returned message gives and reconciled the same way
(:func:`bounceledger.ingest.returned.record_verdicts`): tied by the
return-path token, the Message-ID and the recipient.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from bounceledger.ingest.bounces.classify import classify, stage_command
from bounceledger.ingest.keys import normalise_address, verdict_key
from bounceledger.ingest.records import Attempt, Verdict, VerdictKind
from bounceledger.ingest.returned import verdict_row
from bounceledger.ingest.verp import token_of

#: The delivery agents a send-log parser gives records that report returned mail:
#: Kumo's ``OOB`` (``ingest.sendlog.jsonl``), PowerMTA's ``rb`` remote bounces and ``rs``
#: remote statuses (``ingest.sendlog.pmta``; User's Guide 11.2: DSNs PowerMTA received
#: for mail it had delivered).
ASYNC_AGENTS = frozenset({"oob", "remote-bounce", "remote-status"})

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
        found = classify(attempt.status, attempt.replycode, attempt.text or None, attempt.relay_host, action=action,
                         command=stage_command(attempt.smtp_stage))
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
