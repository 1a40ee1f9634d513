"""Parse returned messages (DSNs, bounces, auto-replies, complaints).

``parse(raw)`` is the one entry point: bytes in, a
:class:`~bounceledger.ingest.records.ParsedMessage` out, never an exception. Stages run
in a fixed order and the first one that recognises the message wins:

1. ARF complaint (``report-type=feedback-report``)
2. RFC 3464 / RFC 6533 DSN (``message/delivery-status``): decided by the
   report type, so the ``Auto-Submitted`` header Postfix puts on DSNs never
   makes one look like an auto-reply
3. per-format detectors for non-DSN bounces (``detectors/``)
4. RFC 3834 auto-replies
5. flufl.bounce's heuristics, guarded (``heuristic``)

Anything else is ``ignored``; bytes that are not mail are ``unparsed``.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces import arf, autoreply, heuristic, rfc3464
from bounceledger.ingest.bounces.quoted import quoted_headers
from bounceledger.ingest.bounces.returned import extract_keys, forwarded_from, returned_headers
from bounceledger.ingest.records import ParsedMessage, Verdict

__all__ = ["parse"]

#: Headers copied to ``ParsedMessage.headers`` for display and matching.
KEPT_HEADERS = ("From", "To", "Date", "Subject", "Message-ID", "Return-Path", "Delivered-To",
                "X-Original-To", "Auto-Submitted", "X-Failed-Recipients", "In-Reply-To")


def parse(
    raw: bytes, *, max_size: int = 10_000_000, quoted: tuple[str, ...] = (), strict: bool | None = None
) -> ParsedMessage:
    """Read one returned message. Never raises, unless ``strict``.

    Over-size input, non-bytes input and bytes with no header block at all
    are ``unparsed`` with an ``error``. An exception from our own stages is
    a bug, not bad input: it comes back as outcome ``error`` (the exception
    type and the frame it came from), logged with its traceback and counted
    (:func:`internal_errors`), so it is never mistaken for junk. Nesting too
    deep for the stack is input: ``unparsed``. ``strict`` (default:
    ``BOUNCELEDGER_PARSE_STRICT=1``) raises both instead, so tests fail on
    them. ``quoted`` names headers of the original message to read back
    from the bounce (the sender's own match headers): they land in
    ``ParsedMessage.quoted``.
    """
    try:
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            return ParsedMessage(outcome="unparsed", error=f"expected bytes, got {type(raw).__name__}")
        raw = bytes(raw)
        if len(raw) > max_size:
            return ParsedMessage(outcome="unparsed", error=f"message of {len(raw)} bytes exceeds max_size {max_size}")
        if not raw or raw.isspace():  # what ``not raw.strip()`` says, without copying
            return ParsedMessage(outcome="unparsed", error="empty message")
        chunks = split_mbox(raw)
        msg = m.load(chunks[0])
        if not msg.keys():
            return ParsedMessage(outcome="unparsed", error="no header block: not an e-mail message")
        parsed = _parse_message(msg)
        if quoted:
            parsed = parsed.replace(quoted=quoted_headers(msg, quoted))
        if len(chunks) > 1:
            parsed = _merge(parsed, [_parse_message(m.load(chunk)) for chunk in chunks[1:]])
        return parsed
    except RecursionError as exc:
        from bounceledger.ingest.bounces import failures  # the error path only: no cost per message

        if failures.is_strict(strict):
            raise
        return ParsedMessage(outcome="unparsed", error=failures.nesting(exc, raw))
    except Exception as exc:  # the production contract: never raise
        from bounceledger.ingest.bounces import failures

        if failures.is_strict(strict):
            raise
        return ParsedMessage(outcome="error", error=failures.internal_error(exc, raw))


def _forwarded_in_house(msg: Message) -> bool:
    """Whether a person of the mailbox's own domain (or a domain above or below it) sent
    the message: a colleague forwarding a bounce of ours to the bounce address, whose
    attached report is ours to read; a stranger's forward is about their own mail."""
    sender = m.address_of(m.header(msg, "From")) or ""
    return any(m.same_organisation(sender, m.address_of(item) or "")
               for value in m.headers_all(msg, "To") for item in value.split(","))


def _persons_copy(msg: Message) -> bool:
    """A person's reply or forward (:func:`heuristic.is_person_mail`) that is not itself a
    report: RFC 3464 2 / RFC 6522 make a delivery report the top-level ``multipart/report``
    of the notice; a person's mail that carries one's parts or fields copied them."""
    return m.content_type(msg) != "multipart/report" and heuristic.is_person_mail(msg)


def preload() -> None:
    """Import what the first message would: the format detectors and
    flufl.bounce (both loaded on first use, to keep start-up short). A caller
    about to fork workers calls it first, so that each worker inherits them
    instead of loading them again."""
    from bounceledger.ingest.bounces import _flufl, detectors  # noqa: F401
    from bounceledger.ingest.bounces.detectors import plaintext  # noqa: F401

    _flufl._library()


def internal_errors() -> int:
    """How many internal errors ``parse()`` has caught in this process: a bug count, never junk input."""
    from bounceledger.ingest.bounces import failures

    return failures.internal_errors()


#: An mbox "From " separator: "From sender weekday month day time year".
_MBOX_FROM_RE = re.compile(rb"^From \S+ +[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d(?::\d\d)? "
                           rb"(?:[A-Z]{3,4} )?\d{4}\s*$", re.M)
#: Messages read from one mbox file at most (the rest is ignored).
MAX_MBOX_MESSAGES = 20


def split_mbox(raw: bytes) -> list[bytes]:
    """Split an mbox file (several messages behind "From " lines) into messages.

    Mail saved from a mailbox often comes as a tiny mbox: each message starts
    with a "From sender date" line after a blank line. A single message (the
    usual case, with or without that first line) comes back as one chunk.
    """
    raw = trim_leading_blank_lines(raw)
    if not raw.startswith(b"From ") or raw.count(b"\nFrom ", 0, len(raw)) == 0:
        return [raw]
    starts = [match.start() for match in _MBOX_FROM_RE.finditer(raw)
              if match.start() == 0 or raw[max(0, match.start() - 2):match.start()] in (b"\n\n", b"\r\n")]
    if len(starts) < 2 or starts[0] != 0:
        return [raw]
    starts = starts[:MAX_MBOX_MESSAGES]
    ends = starts[1:] + [len(raw)]
    return [raw[a:b] for a, b in zip(starts, ends) if raw[a:b].strip()]


#: Lines of nothing but white space (and a UTF-8 byte-order mark) before the
#: first header line.
_LEADING_BLANK_RE = re.compile(rb"(?:\xef\xbb\xbf)?(?:[ \t]*\r?\n)+")


def trim_leading_blank_lines(raw: bytes) -> bytes:
    """Drop blank lines before the header block.

    Messages saved by mail clients, web archives and some gateways start
    with an empty line or a byte-order mark; RFC 5322 parsers read the first
    empty line as the end of an (empty) header block, which would lose the
    whole message. A header block never starts with an empty line, so
    dropping them changes nothing else.
    """
    match = _LEADING_BLANK_RE.match(raw)
    if match is None or match.end() >= len(raw):
        return raw
    return raw[match.end():]


def _merge(first: ParsedMessage, others: list[ParsedMessage]) -> ParsedMessage:
    """One result for an mbox: the first message's headers, every verdict."""
    found = list(first.verdicts)
    for other in others:
        found.extend(other.verdicts)
    if not found:
        return first
    return ParsedMessage(outcome="bounce", verdicts=tuple(found), message_id=first.message_id,
                         subject=first.subject, headers=first.headers, quoted=first.quoted)


def _parse_message(msg: Message) -> ParsedMessage:
    headers = m.headers_of(msg, KEPT_HEADERS)
    subject = headers.get("Subject")
    message_id = headers.get("Message-ID", "").strip("<> ") or None
    found = _through_forward(msg, _verdicts(msg))
    return ParsedMessage(
        outcome="bounce" if found else "ignored",
        verdicts=tuple(found),
        message_id=message_id,
        subject=subject,
        headers=headers,
        skipped=m.skipped_of(msg),
    )


#: A header naming the address a system delivered to (qmail's and Postfix's Delivered-To,
#: Postfix's X-Original-To), or an SRS-rewritten return path, in a notice's text, as mail
#: programs write them (substring tests: a case-blind regex over every body cost more than
#: the rest of the check).
_DELIVERED_MARKS = ("Delivered-To:", "Delivered-to:", "DELIVERED-TO:", "X-Original-To:", "X-Original-to:",
                    "SRS0=", "SRS1=", "srs0=", "srs1=")


def _through_forward(msg: Message, found: list[Verdict]) -> list[Verdict]:
    """``found``, with the address we sent to as the ``original_recipient`` of a notice's one
    failed recipient that a forward led to (:func:`~bounceledger.ingest.bounces.returned.forwarded_from`):
    the ledger knows our message by the address it was sent to, as with a DSN's
    Original-Recipient, and the notice names only where the forward went."""
    failed = [v for v in found if v.kind in ("bounce", "delay")]
    if len(failed) != 1 or not failed[0].recipient or failed[0].detector == "returned-to" \
            or (failed[0].original_recipient or failed[0].recipient).lower() != failed[0].recipient.lower():
        return found  # an Original-Recipient that names another address has said it already
    address = failed[0].recipient.lower()
    original = returned_headers(msg)
    if original is None:
        # qmail, Exim and others quote the original as text; of the proofs of a forward, such
        # a quote can only hold a header that names the address a system delivered to
        body = m.body_text(msg)
        if not any(mark in body for mark in _DELIVERED_MARKS):
            return found
        from bounceledger.ingest.bounces.detectors._common import inline_original_headers

        original = inline_original_headers(body)
        if original is None:
            return found
    if address in (m.header(original, "To") + " " + m.header(original, "Cc")).lower():
        return found  # sent to the failed address itself: the common case, decided without parsing
    sent_to = forwarded_from(original, address)
    if sent_to is None:
        return found
    return [v.replace(original_recipient=sent_to) if v is failed[0] else v for v in found]


def _verdicts(msg: Message) -> list[Verdict]:
    if arf.is_arf(msg):
        report = arf.report_message(msg)
        return arf.verdicts(report, extract_keys(report))
    report = rfc3464.read_report(msg)
    if report is not None and not heuristic.bounce_envelope(msg) and not _forwarded_in_house(msg) \
            and (rfc3464.is_nested(msg, report) or _persons_copy(msg)):
        # a report inside an attached message of mail that is no notice itself: a customer's
        # forward of a bounce of their own, a list's probe quoting a sample bounce; or a
        # person's forward or reply carrying a report's parts or fields in its own body
        # (Thunderbird's "Forward Inline" attaches the status part, Gmail's inline forward
        # shows its fields as text)
        report = None
    if report is not None:
        keys = extract_keys(msg, report.message)
        found = rfc3464.verdicts(msg, keys)
        if found:
            return found
    # Imported only here, past the reports: a run of standard DSNs never
    # loads the two dozen format modules (about 9 ms of a one-file parse).
    from bounceledger.ingest.bounces import detectors

    keys = extract_keys(msg)
    # a person's forward or reply may quote a whole bounce, and a filter's digest
    # lists the mail it holds for us: the format readers and heuristics below would
    # take either for the real thing
    if heuristic.is_recall_report(msg):
        return []  # the copies a recall reached or not were delivered: nothing failed, nobody replied
    person = heuristic.is_person_mail(msg) or heuristic.is_quarantine_digest(msg)
    body = m.body_text(msg)
    found = [] if person else detectors.verdicts(msg, keys, body)
    if found:
        return found
    if rfc3464.is_dsn(msg):
        return []  # a DSN without recipient blocks: nothing to act on
    found = autoreply.verdicts(msg, keys)
    if found or person:
        return found
    own = m.addresses_in(msg, "To", "From")
    found = heuristic.verdicts(msg, keys, body, own_addresses=own)
    if found:
        # flufl.bounce's patterns may stop at the first address of a list the plain-text
        # reader goes through: where that reader found every address flufl.bounce did
        # (so both read the same list), its other failed recipients count too
        named = {v.recipient for v in found}
        plain = detectors.fallback_verdicts(msg, keys, body)
        if named < {v.recipient for v in plain}:
            # the plain-text reader went through the whole list, each address with the lines
            # about it: its records replace flufl.bounce's (whose text for an address may be a
            # quoted header line that merely names it)
            return plain
        return found
    return detectors.fallback_verdicts(msg, keys, body)
