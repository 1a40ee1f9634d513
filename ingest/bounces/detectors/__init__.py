"""Per-format detectors for bounces that are not RFC 3464 DSNs.

Each module handles one MTA's or provider's plain-text format and exposes
``detect(msg, body) -> list[Failure]`` returning an empty list when the
message is not its own. ``DETECTORS`` fixes who tries first; adding a
format is a new module plus one line here, and never touches the others.
Detectors only *find* recipients and their error text; the shared
classifier decides reason, status and category.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

from ingest.bounces.classify import classify, find_status, is_hard, pseudo_status
from ingest.bounces.reasons import CATEGORIES
from ingest.bounces.returned import Keys
from ingest.records import Verdict


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed recipient as a format detector read it."""

    recipient: str | None
    diagnostic: str
    status: str | None = None
    replycode: str | None = None
    temporary: bool = False
    remote_mta: str | None = None
    reason: str | None = None  # set only when the format itself says why


Detect = Callable[[Message, str], list[Failure]]

DETECTORS: tuple[tuple[str, Detect], ...] = ()


def verdicts(msg: Message, keys: Keys, body: str) -> list[Verdict]:
    """Run the detectors in order; the first that finds failures wins."""
    for name, detect in DETECTORS:
        failures = detect(msg, body)
        if failures:
            return [_verdict(name, f, keys) for f in failures]
    return []


def fallback_verdicts(msg: Message, keys: Keys, body: str) -> list[Verdict]:
    """The generic plain-text reader, tried after every other stage."""
    from ingest.bounces.detectors import plaintext

    failures = plaintext.detect(msg, body)
    return [_verdict("plaintext", f, keys) for f in failures]


def _verdict(name: str, failure: Failure, keys: Keys) -> Verdict:
    result = classify(
        failure.status,
        failure.replycode,
        failure.diagnostic,
        failure.remote_mta,
        action="delayed" if failure.temporary else None,
    )
    reason = failure.reason or result.reason

    status = result.status
    if failure.reason and not failure.status and not find_status(failure.diagnostic):
        status = pseudo_status(reason, failure.temporary)
    return Verdict(
        kind="delay" if failure.temporary else "bounce",
        recipient=failure.recipient,
        reason=reason,
        hardbounce=False if failure.temporary else is_hard(reason, status, result.replycode),
        category=CATEGORIES.get(reason, "other"),
        action="delayed" if failure.temporary else "failed",
        status=status,
        replycode=result.replycode,
        diagnostic=failure.diagnostic or None,
        remote_mta=failure.remote_mta,
        original_message_id=keys.original_message_id,
        envelope_id=keys.envelope_id,
        next_hop_queue_id=keys.next_hop_queue_id,
        return_path_token=keys.return_path_token,
        detector=name,
    )
