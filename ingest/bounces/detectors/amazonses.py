"""Amazon SES notifications delivered by e-mail (SNS topic subscriptions).

SES publishes bounce, complaint, delivery and delivery-delay events as JSON: either the
event itself as the body, or wrapped in an SNS envelope whose ``Message``
field holds the event as a string. The JSON is authoritative, so this module
reads it rather than any text: ``bouncedRecipients`` with their status and
diagnostic, ``complainedRecipients`` with the feedback type, and
``delivery.recipients`` with the SMTP response.
"""

from __future__ import annotations

import json
import re
from email.message import Message
from typing import Any

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure

_MARKER = quick(lazy(r'\\?"(?:notificationType|eventType)\\?"\s*:'))


def _json_from(body: str) -> dict[str, Any] | None:
    start = body.find("{")
    end = body.rfind("}")
    if start < 0 or end <= start:
        return None
    text = body[start : end + 1]
    for candidate in (text, re.sub(r"\r?\n ", "", text), re.sub(r"\r?\n", "", text)):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            inner = data.get("Message")
            if isinstance(inner, str):
                try:
                    nested = json.loads(inner)
                except ValueError:
                    return None
                return nested if isinstance(nested, dict) else None
            return data
    return None


#: SES's own word for why a delivery is delayed (the DeliveryDelay object's ``delayType``), where it
#: names one: a full mailbox, a spam verdict, the sending IP, the connection, the receiving server.
_DELAY_TYPES: dict[str, str] = {
    "MailboxFull": "mailboxfull",
    "SpamDetected": "spamdetected",
    "IPFailure": "blocked",
    "TransientCommunicationFailure": "networkerror",
    "RecipientServerError": "systemerror",
}


def _event(data: dict[str, Any]) -> str:
    return str(data.get("notificationType") or data.get("eventType") or "")


def detect(msg: Message, body: str) -> list[Failure]:
    if not _MARKER.search(body[:20_000]):
        return []
    data = _json_from(body[:500_000])
    if data is None:
        return []
    event = _event(data).lower()
    if event == "bounce":
        bounce = data.get("bounce") or {}
        temporary = str(bounce.get("bounceType", "")).lower() == "transient"
        failures = []
        for item in bounce.get("bouncedRecipients") or []:
            if not isinstance(item, dict):
                continue
            diagnostic = re.sub(r"^\s*smtp\s*;\s*", "", str(item.get("diagnosticCode") or ""), flags=re.I)
            failures.append(Failure(
                recipient=m.address_of(str(item.get("emailAddress") or "")),
                diagnostic=diagnostic,
                status=str(item.get("status") or "") or None,
                temporary=temporary,
                remote_mta=str(bounce.get("remoteMtaIp") or "") or None,
            ))
        return failures
    if event == "deliverydelay":
        # src: Amazon SES Developer Guide, event publishing "DeliveryDelay object": delayType,
        # delayedRecipients (emailAddress, status, diagnosticCode), reportingMTA
        delay = data.get("deliveryDelay") or {}
        cause = _DELAY_TYPES.get(str(delay.get("delayType") or ""))
        return [
            Failure(
                recipient=m.address_of(str(item.get("emailAddress") or "")),
                diagnostic=re.sub(r"^\s*smtp\s*;\s*", "", str(item.get("diagnosticCode") or ""), flags=re.I),
                status=str(item.get("status") or "") or None,
                temporary=True,
                fallback_reason=cause,
                remote_mta=str(delay.get("reportingMTA") or "") or None,
            )
            for item in delay.get("delayedRecipients") or [] if isinstance(item, dict)
        ]
    if event == "complaint":
        complaint = data.get("complaint") or {}
        feedback = str(complaint.get("complaintFeedbackType") or "abuse").lower()
        return [
            Failure(recipient=m.address_of(str(item.get("emailAddress") or "")),
                    diagnostic=str(complaint.get("userAgent") or ""), kind="complaint", feedback_type=feedback)
            for item in complaint.get("complainedRecipients") or [] if isinstance(item, dict)
        ]
    if event == "delivery":
        delivery = data.get("delivery") or {}
        response = str(delivery.get("smtpResponse") or "")
        reply = re.match(r"\s*([245]\d\d)\b", response)
        status = re.search(r"\b([245]\.\d{1,3}\.\d{1,3})\b", response)
        return [
            Failure(recipient=m.address_of(str(address)), diagnostic=response, kind="success",
                    status=status.group(1) if status else "2.0.0", replycode=reply.group(1) if reply else None,
                    remote_mta=str(delivery.get("reportingMTA") or "") or None)
            for address in delivery.get("recipients") or []
        ]
    return []
