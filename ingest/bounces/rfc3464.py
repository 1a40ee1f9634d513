"""RFC 3464 delivery status notifications and their RFC 6533 UTF-8 variant.

A DSN is a ``multipart/report; report-type=delivery-status`` whose
``message/delivery-status`` (or ``message/global-delivery-status``) part
holds one block of per-message fields and one block per recipient. The
machine-readable fields are the truth; the human-readable part is only read
when a recipient block has no Diagnostic-Code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from email.message import Message
from email.utils import parsedate_to_datetime

from ingest.bounces import _message as m
from ingest.bounces.classify import classify, find_command
from ingest.bounces.reasons import POWERMTA_CATEGORIES
from ingest.bounces.returned import Keys, extract_keys
from ingest.records import Verdict, VerdictKind

#: sendmail's notice: "(reason: 550 Host unknown)" and the "Transcript of
#: session" lines ("<<< 550 ..." or a bare "550 5.1.2 <a@b>... Host unknown").
_TRANSCRIPT_REPLY_RE = re.compile(r"^(?:<<<\s*|[ \t]*\(reason:\s*)?([45]\d\d)[ -]\S", re.M)

#: The opening of Postfix's bounce(8) notification (its default templates).
_POSTFIX_NOTICE = re.compile(r"^This is the mail system at host \S+\.$", re.M)

STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")

#: DSN Action → Verdict kind. A "failed" action is final even with 4.x.x.
ACTION_KINDS: dict[str, VerdictKind] = {
    "failed": "bounce",
    "delayed": "delay",
    "delivered": "success",
    "relayed": "success",
    "expanded": "success",
}

_TYPE_PREFIX_RE = re.compile(r"^\s*(?:rfc822|smtp|x-postfix|dns|utf-8|x-unix|x-local-host|unknown|x-\w[\w-]*)\s*;\s*",
                             re.IGNORECASE)


_TYPE_NAME_RE = re.compile(r"[\w-]+")
_FIELD_NAME_RE = re.compile(r"[A-Za-z][\w-]*")


@dataclass(slots=True)
class Report:
    """The parsed fields of one delivery-status part."""

    message: dict[str, str] = field(default_factory=dict)
    recipients: list[dict[str, str]] = field(default_factory=list)


def _diagnostic_type(value: str) -> str | None:
    """``smtp`` / ``x-unix`` / ... : the type before the ``;`` of a Diagnostic-Code."""
    name, sep, _ = value.partition(";")
    return name.strip().lower() if sep and _TYPE_NAME_RE.fullmatch(name.strip()) else None


def is_dsn(msg: Message) -> bool:
    """True when the message carries a machine-readable delivery status."""
    if m.content_type(msg) == "multipart/report" and m.param(msg, "report-type") in (
        "delivery-status", "global-delivery-status"):
        return True
    return any(m.content_type(p) in STATUS_TYPES for p in m.walk(msg))


def strip_type(value: str) -> str:
    """Remove the ``rfc822;`` / ``smtp;`` / ``dns;`` ... type prefix."""
    return _TYPE_PREFIX_RE.sub("", value, count=1).strip()


def decode_utf8_address(value: str) -> str:
    """Undo RFC 6533 ``\\x{HHHH}`` escapes and RFC 3461 ``+HH`` xtext."""
    value = re.sub(r"\\x\{([0-9A-Fa-f]{1,6})\}", lambda g: chr(int(g.group(1), 16)), value)
    return re.sub(r"\+([0-9A-F]{2})", lambda g: chr(int(g.group(1), 16)), value)


def _blocks_from_text(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[0] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and _FIELD_NAME_RE.fullmatch(name.strip()):
            last = name.strip().lower()
            current.setdefault(last, value.strip())
            if current[last] != value.strip():  # repeated field: keep the first
                last = None
        else:
            last = None
    if current:
        blocks.append(current)
    return blocks


def _blocks(part: Message) -> list[dict[str, str]]:
    """Field blocks of a delivery-status part, as lower-cased name → value.

    The stdlib pre-parses ``message/delivery-status`` into one pseudo
    message per block, but reads only the first block of the RFC 6533
    ``message/global-delivery-status``; going through text treats both alike.
    """
    return _blocks_from_text(m.text_of(part))


def read_report(msg: Message) -> Report | None:
    """Find and parse the delivery-status part; ``None`` when there is none.

    Read once per message (the stages ask more than once); callers only
    read the returned report.
    """
    cache = m.cache_of(msg)
    try:
        return cache["report"]
    except KeyError:
        pass
    report = cache["report"] = _read_report(msg)
    return report


def _read_report(msg: Message) -> Report | None:
    for part in m.walk(msg):
        if m.content_type(part) not in STATUS_TYPES:
            continue
        blocks = [{k: m.unfold(v) for k, v in b.items()} for b in _blocks(part)]
        if not blocks:
            continue
        report = Report()
        is_recipient = lambda b: "final-recipient" in b or "original-recipient" in b or "action" in b  # noqa: E731
        if is_recipient(blocks[0]) and "reporting-mta" not in blocks[0]:
            report.recipients = [b for b in blocks if is_recipient(b)]
        else:
            report.message = blocks[0]
            report.recipients = [b for b in blocks[1:] if is_recipient(b)]
            if not report.recipients and is_recipient(blocks[0]):
                report.recipients = [blocks[0]]
        return report
    if m.content_type(msg) == "multipart/report" or _FIELD_START_RE.search(m.body_text(msg, limit=50_000)):
        try:
            raw = msg.as_bytes(policy=msg.policy).decode("utf-8", "replace")
        except Exception:
            raw = m.body_text(msg)
        return read_report_from_text(raw.split("\n\n", 1)[-1])
    return None


_FIELD_START_RE = re.compile(r"^(?:Reporting-MTA|Final-Recipient|Original-Recipient)\s*:", re.IGNORECASE | re.M)


def read_report_from_text(text: str) -> Report | None:
    """Find DSN field blocks in plain text, for reports whose MIME is broken.

    Some MTAs mangle the boundary or send the fields in a text part; the
    fields themselves are still there, one block per recipient.
    """
    start = _FIELD_START_RE.search(text)
    if not start:
        return None
    chunk = text[start.start():]
    end = re.search(r"^\s*--\S|^content-type:", chunk, re.IGNORECASE | re.M)
    blocks = _blocks_from_text(chunk[: end.start()] if end else chunk[:20000])
    report = Report()
    for block in blocks:
        if "final-recipient" in block and ("action" in block or "status" in block):
            report.recipients.append({k: m.unfold(v) for k, v in block.items()})
        elif not report.message and "reporting-mta" in block:
            report.message = {k: m.unfold(v) for k, v in block.items()}
    return report if report.recipients else None


def parse_date(value: str | None) -> datetime | None:
    """RFC 5322 date → aware UTC datetime; ``None`` when unreadable."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


_LINE_ADDRESS_RE = re.compile(r"^<?([^<>\s:@]+@[^<>\s:]+?)>?:\s")


def recipient_context(address: str | None, text: str, lines: int = 6) -> str:
    """The lines of the human-readable part that talk about ``address``.

    Used when the recipient block has no Diagnostic-Code: most MTAs print
    "<addr>: host x said: 550 ..." in the notification text.
    """
    if not address or not text:
        return ""
    rows = text.splitlines()
    needle = address.lower()
    for index, row in enumerate(rows):
        if needle in row.lower():
            chunk = [row]
            for follower in rows[index + 1 : index + lines]:
                if not follower.strip():
                    break
                other = _LINE_ADDRESS_RE.match(follower)
                if other and other.group(1).lower() != needle:
                    break  # the next recipient's own line
                chunk.append(follower)
            return m.unfold(" ".join(chunk))
    return ""


def verdicts(msg: Message, keys: Keys | None = None) -> list[Verdict]:
    """One Verdict per recipient block of the DSN in ``msg``."""
    report = read_report(msg)
    if report is None:
        return []
    keys = keys or extract_keys(msg, report.message)
    reporting_mta = strip_type(report.message.get("reporting-mta", "")) or None
    envelope_id = strip_type(report.message.get("original-envelope-id", "")) or keys.envelope_id
    human = None
    # Postfix writes the remote server's own status into Status:; other MTAs
    # (sendmail) put a summary there (4.4.7 for every give-up).
    # A Postfix recipient that failed with a 4.x.x status was still deferred
    # when the queue lifetime (maximal_queue_lifetime) ran out: Postfix
    # never bounces on a temporary reply otherwise.
    postfix = any(name.startswith("x-postfix") for name in report.message) or bool(
        _POSTFIX_NOTICE.search(m.body_text(msg, limit=2000)))
    found: list[Verdict] = []
    for block in report.recipients:
        final = decode_utf8_address(strip_type(block.get("final-recipient", "")))
        original = decode_utf8_address(strip_type(block.get("original-recipient", "")))
        recipient = m.address_of(final) or m.address_of(original) or (final or None)
        action = (block.get("action", "").split() or [""])[0].lower().strip(";") or None
        status_field = block.get("status") or None
        diagnostic = strip_type(block.get("diagnostic-code", "")) or None
        remote = strip_type(block.get("remote-mta", "")) or None
        if human is None:
            human = m.body_text(msg)
        context = recipient_context(recipient, human, lines=12)
        extra = None if diagnostic else (context or None)
        command = find_command(context) or find_command(diagnostic) or (
            find_command(human) if len(report.recipients) == 1 else None
        )
        said = POWERMTA_CATEGORIES.get(block.get("x-powermta-bouncecategory", "").strip().lower())
        gave_up = postfix and action == "failed" and (m.unfold(status_field or "")[:1] == "4")
        result = classify(status_field, None, diagnostic or extra, remote, action=action, command=command,
                          status_is_final=postfix, gave_up=gave_up, reason=said, reporting_host=reporting_mta,
                          diagnostic_type=_diagnostic_type(block.get("diagnostic-code", "")))
        if result.replycode is None and len(report.recipients) == 1 and not (result.status or "").startswith("2"):
            # sendmail's "Transcript of session" has the reply the DSN field left out
            said = _TRANSCRIPT_REPLY_RE.search(human)
            if said and said.group(1)[0] == (result.status or "5")[0]:
                result = replace(result, replycode=said.group(1))
        kind: VerdictKind = ACTION_KINDS.get(action or "", "success" if (result.status or "").startswith("2") else "bounce")
        found.append(
            Verdict(
                kind=kind,
                recipient=recipient,
                reason=result.reason,
                hardbounce=result.hardbounce if kind == "bounce" else False,
                category=result.category,
                action=action,
                status=result.status,
                replycode=result.replycode,
                diagnostic=diagnostic or extra,
                remote_mta=remote,
                reporting_mta=reporting_mta,
                original_recipient=m.address_of(original) if original else None,
                envelope_id=envelope_id,
                original_message_id=keys.original_message_id,
                next_hop_queue_id=keys.next_hop_queue_id,
                return_path_token=keys.return_path_token,
                last_attempt_at=parse_date(block.get("last-attempt-date")),
                detector="rfc3464",
            )
        )
    return found
