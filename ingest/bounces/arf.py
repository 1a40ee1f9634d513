"""RFC 5965 abuse reports (ARF): a recipient complained about our mail.

``multipart/report; report-type=feedback-report`` with a
``message/feedback-report`` part. The complainer is named by
``Original-Rcpt-To`` (one field per recipient); providers that redact it
leave only the returned message's ``To:``.

Hotmail's older complaint reports (before it sent ARF) are a plain
``multipart/mixed``, "complaint about message from <ip>", holding only the
complained-about message; Hotmail names the complainer in that message's
``X-HmXmrOriginalRecipient`` header.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy
from bounceledger.ingest.bounces.rfc3464 import _blocks, _inside_a_message, parse_date, strip_type
from bounceledger.ingest.bounces.returned import Keys, returned_headers
from bounceledger.ingest.records import Verdict, VerdictKind


def is_arf(msg: Message) -> bool:
    if m.content_type(msg) == "multipart/report" and m.param(msg, "report-type") == "feedback-report":
        return True
    return "message/feedback-report" in m.part_types(msg) or bool(_hotmail_complainer(msg))


def report_message(msg: Message) -> Message:
    """The message that is the feedback report: ``msg`` itself, or the report an abuse
    desk forwarded as an attachment (``message/rfc822``, RFC 2046 5.2.1). A forward's own
    Message-ID, From and To name the forward, not the complained-about mail: the keys and
    the reporter are read from the attached report (RFC 5965 2: its third part is the
    original's headers)."""
    for part in m.walk(msg):
        if m.content_type(part) != "message/feedback-report":
            continue
        if not _inside_a_message(msg, part):
            return msg
        for attached in m.walk(msg):
            payload = attached.get_payload() if m.content_type(attached) in m.RETURNED_TYPES else None
            if isinstance(payload, list) and payload and isinstance(payload[0], Message) \
                    and not _inside_a_message(payload[0], part):
                return payload[0]
        return msg
    return msg


def _hotmail_complainer(msg: Message) -> str | None:
    """The complainer of a pre-ARF Hotmail complaint, or ``None``."""
    if not m.header(msg, "Subject").lower().startswith("complaint about message from"):
        return None
    original = returned_headers(msg)
    if original is None:
        return None
    return m.address_of(m.header(original, "X-HmXmrOriginalRecipient"))


def _report_fields(msg: Message) -> tuple[dict[str, str], list[str]]:
    """Feedback-report fields and all Original-Rcpt-To values (may repeat)."""
    for part in m.walk(msg):
        if m.content_type(part) != "message/feedback-report":
            continue
        payload = part.get_payload()
        fields: dict[str, str] = {}
        rcpts: list[str] = []
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    for name in {n.lower() for n in sub.keys()}:
                        fields.setdefault(name, m.header(sub, name))
                    rcpts += m.headers_all(sub, "Original-Rcpt-To")
        else:
            text = m.text_of(part)
            for block in _blocks(part):
                for name, value in block.items():
                    fields.setdefault(name, m.unfold(value))
            rcpts += [
                line.split(":", 1)[1].strip()
                for line in text.splitlines()
                if line.lower().startswith("original-rcpt-to:")
            ]
        return fields, rcpts
    return {}, []


#: Feedback types that report no complaint: RFC 6430's "not-spam" (the user
#: says the message is wanted, the opposite of a complaint), RFC 6591's
#: "auth-failure" (a DMARC/SPF/DKIM failure report, RFC 7489 section 7.3,
#: sent by the receiving system with no user involved) and RFC 5965's
#: "virus" ("report of a virus found in the originating message": a
#: scanner's finding, no user's either). RFC 5965's "abuse", "fraud" and
#: "other" are complaints.
NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure", "virus"})


#: Local parts that stand for an address a feedback loop took out (RFC 6590, "Redaction of
#: Potentially Sensitive Data from Mail Abuse Reports"; AOL's postmaster pages: "we redact the
#: email address that the message was originally sent to"): no complainer is named, and the
#: report's other keys (the return-path token, the Message-ID) must say whose mail it was.
_REDACTED_LOCAL = lazy(r"^(?:redacted|undisclosed(?:-recipients?)?|x{3,}|\*+|\[redacted\])$", re.IGNORECASE)


def _redacted(address: str) -> bool:
    return bool(_REDACTED_LOCAL.match(address.partition("@")[0]))


def _delivered_to(original: Message) -> str | None:
    """The complainer's mailbox as the original's headers name it: the receiving system's
    Delivered-To / X-Original-To first (the original's To: may be our own list address, or a
    group), then a To: that is not at the sender's own domain."""
    for name in ("Delivered-To", "X-Original-To"):
        address = m.address_of(m.header(original, name))
        if address:
            return address
    address = m.address_of(m.header(original, "To"))
    sender = m.address_of(m.header(original, "From")) or ""
    if address and sender and address.partition("@")[2] == sender.partition("@")[2]:
        return None  # our own list address: nobody's mailbox
    return address


def verdicts(msg: Message, keys: Keys) -> list[Verdict]:
    """One ``complaint`` verdict per complaining recipient; a ``feedback`` one (which
    changes no state) where the feedback type is no complaint (:data:`NOT_COMPLAINTS`)."""
    fields, rcpts = _report_fields(msg)
    feedback_type = (fields.get("feedback-type", "").split() or ["abuse"])[0].lower()
    kind: VerdictKind = "feedback" if feedback_type in NOT_COMPLAINTS else "complaint"
    recipients = [a for a in (m.address_of(strip_type(r)) for r in rcpts) if a]
    if not recipients and not fields:
        hotmail = _hotmail_complainer(msg)
        recipients = [hotmail] if hotmail else []
    if not recipients:
        original = returned_headers(msg)
        address = _delivered_to(original) if original is not None else None
        recipients = [address] if address else [None]  # type: ignore[list-item]
    seen: list[str | None] = []
    for address in recipients:
        address = None if address is not None and _redacted(address) else address
        if address not in seen:
            seen.append(address)
    reporter = strip_type(fields.get("reporting-mta", "")) or m.header(msg, "From") or None
    return [
        Verdict(
            kind=kind,
            recipient=address,
            reason="feedback",
            hardbounce=False,
            category="spam-related" if kind == "complaint" else "other",
            feedback_type=feedback_type,
            # RFC 5965 3.1: User-Agent names the software that wrote the report, never a server's
            # answer; the detail a person reads is what the report is
            diagnostic=_report_words(feedback_type, fields.get("user-agent")),
            reporting_mta=reporter,
            original_message_id=keys.original_message_id,
            envelope_id=keys.envelope_id,
            return_path_token=keys.return_path_token,
            last_attempt_at=parse_date(fields.get("arrival-date") or fields.get("received-date")),
            detector="arf",
        )
        for address in seen
    ]


def _report_words(feedback_type: str | None, user_agent: str | None) -> str:
    """The detail of a feedback report as support reads it: its type and the software that wrote it."""
    words = f"feedback report, Feedback-Type: {feedback_type or 'unknown'}"
    return f"{words} (by {user_agent.strip()})" if user_agent and user_agent.strip() else words
