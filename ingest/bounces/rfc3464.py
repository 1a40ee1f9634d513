"""RFC 3464 delivery status notifications and their RFC 6533 UTF-8 variant.

A DSN is a ``multipart/report; report-type=delivery-status`` whose
``message/delivery-status`` (or ``message/global-delivery-status``) part
holds one block of per-message fields and one block per recipient. The
machine-readable fields are the truth; the human-readable part is only read
when a recipient block has no Diagnostic-Code.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from datetime import datetime, timezone
from email.message import Message
from email.utils import parsedate_to_datetime

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces import _mime
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.classify import (classify, find_command, find_replycode, find_status, is_faked_reply,
                                                  is_generic, is_hard, normalise_status, pseudo_status, reason_from_text)
from bounceledger.ingest.bounces.reasons import CATEGORIES, POWERMTA_CATEGORIES
from bounceledger.ingest.bounces.returned import Keys, extract_keys, names_only_the_sender, sender_addresses
from bounceledger.ingest.mta_replies import exim_unescaped
from bounceledger.ingest.record import Record, factory
from bounceledger.ingest.records import Verdict, VerdictKind

#: sendmail's notice: "(reason: 550 Host unknown)" and the "Transcript of
#: session" lines ("<<< 550 ..." or a bare "550 5.1.2 <a@b>... Host unknown").
_TRANSCRIPT_REPLY_RE = lazy(r"^(?:<<<\s*|[ \t]*\(reason:\s*)?([45]\d\d)[ -]\S", re.M)

#: The opening of Postfix's bounce(8) notification (its default templates).
_POSTFIX_NOTICE = quick(lazy(r"^This is the mail system at host \S+\.$", re.M))

STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")

#: DSN Action → Verdict kind. A "failed" action is final even with 4.x.x.
ACTION_KINDS: dict[str, VerdictKind] = {
    "failed": "bounce",
    "delayed": "delay",
    "delivered": "success",
    "relayed": "success",
    "expanded": "success",
}

_TYPE_PREFIX_RE = lazy(r"^\s*(?:rfc822|smtp|x-postfix|dns|dsn|utf-8|x-unix|x-local-host|unknown|x-\w[\w-]*)\s*;\s*",
                             re.IGNORECASE)


_TYPE_NAME_RE = lazy(r"[\w-]+")
_FIELD_NAME_RE = lazy(r"[A-Za-z][\w-]*")


class Report(Record, frozen=False):
    """The parsed fields of one delivery-status part."""

    message: dict[str, str] = factory(dict)
    recipients: list[dict[str, str]] = factory(list)
    #: The delivery-status part the fields were read from (None: read from text).
    part: Message | None = None


#: What Postfix writes as an ``x-unix`` Diagnostic-Code when a local delivery agent
#: failed: only the sysexits.h class of the failure, while the notice's line for the
#: recipient carries its reason ("delivery failed to mailbox ...: File too large"
#: under "input/output error"). Postfix src/global/sys_exits.c (sys_exits_table,
#: and "unknown mail system error N" for other codes); dsn_buf.h names the
#: Diagnostic-Code's text "sysexits.h" beside the "informal text" reason.
_POSTFIX_SYSEXITS_TEXTS = frozenset({
    "command line usage error", "data format error", "cannot open input", "user unknown",
    "host name unknown", "service unavailable", "internal software error", "system resource problem",
    "critical os file missing", "can't create user output file", "input/output error", "temporary failure",
    "remote error in protocol", "permission denied", "local configuration error",
})
_UNKNOWN_SYSEXIT_RE = lazy(r"unknown mail system error \d+")


def _is_sysexits_text(diagnostic: str | None) -> bool:
    """A Postfix x-unix Diagnostic-Code that only names a sysexits.h class (see above)."""
    text = " ".join((diagnostic or "").lower().split())
    return text in _POSTFIX_SYSEXITS_TEXTS or _UNKNOWN_SYSEXIT_RE.fullmatch(text) is not None


def _says_more(context: str, *addresses: str | None) -> bool:
    """Whether the notice's lines about a recipient say anything beyond its addresses: Exim
    lists a failed address with no reason under it when the failure was its own (a
    suspected mail loop), and the address alone is no diagnostic. ``addresses``: every
    address the lines may name it by (the one sent to, and Final-Recipient's where an
    alias led elsewhere)."""
    rest = context.lower()
    for address in addresses:
        if address:
            rest = rest.replace(address.lower(), "")
    return bool(rest.strip(" \t<>:;,.()"))


def _diagnostic_type(value: str) -> str | None:
    """``smtp`` / ``x-unix`` / ... : the type before the ``;`` of a Diagnostic-Code."""
    name, sep, _ = value.partition(";")
    return name.strip().lower() if sep and _TYPE_NAME_RE.fullmatch(name.strip()) else None


def is_dsn(msg: Message) -> bool:
    """True when the message carries a machine-readable delivery status."""
    if m.content_type(msg) == "multipart/report" and m.param(msg, "report-type") in (
        "delivery-status", "global-delivery-status"):
        return True
    return not m.part_types(msg).isdisjoint(STATUS_TYPES)


def strip_type(value: str) -> str:
    """Remove the ``rfc822;`` / ``smtp;`` / ``dns;`` ... type prefix."""
    return _TYPE_PREFIX_RE.sub("", value, count=1).strip()


_UTF8_ESCAPE_RE = lazy(r"\\x\{([0-9A-Fa-f]{1,6})\}")
#: The xtext escapes (RFC 3461 section 4) an address can hold: "+" itself ("+2B") and "="
#: ("+3D"). Every other character of an address is printable ASCII, which xtext leaves as it
#: is, so "user+2024e@" or "full+ABe@" is a plus tag, never an escape; Postfix writes the
#: Original-Recipient already decoded, so decoding more would change real addresses.
_XTEXT_RE = lazy(r"\+(2B|3D)")


def _hex_char(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))


def _scalar_char(match: re.Match[str]) -> str:
    """One RFC 6533 ``\\x{HHHH}`` escape as its character; an escape that names no Unicode
    scalar value (a surrogate, or past U+10FFFF: RFC 6533 3's HEXPOINT excludes both) is
    left as written, because neither can be stored or printed as UTF-8."""
    point = int(match.group(1), 16)
    return match.group(0) if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF else chr(point)


def decode_utf8_address(value: str) -> str:
    """Undo RFC 6533 ``\\x{HHHH}`` escapes and RFC 3461 xtext escapes of "+" and "="."""
    if "\\x{" in value:
        value = _UTF8_ESCAPE_RE.sub(_scalar_char, value)
    if "+" in value:
        value = _XTEXT_RE.sub(_hex_char, value)
    return value


#: Fields that open a per-recipient group (RFC 3464 section 2.3: an optional
#: Original-Recipient, then Final-Recipient).
_GROUP_OPENERS = frozenset({"final-recipient", "original-recipient"})


def _opens_new_group(current: dict[str, str], name: str, final_follows: bool = True) -> bool:
    """Whether ``name`` starts a new group although no blank line came first.

    RFC 3464 separates the per-message group and each per-recipient group by
    a blank line, but some writers (and gateways that re-wrap reports) drop
    it. A recipient field in a per-message group, or a second field of the
    same name, can only start the next group; so can an Original-Recipient
    after a group that is complete. Writers order a group's fields freely
    (Postfix: Final-Recipient, then Original-Recipient; Amazon SES: Action
    first), so no other order is assumed. For that reason an Original-Recipient
    opens a group only when a Final-Recipient follows it before the next blank
    line (``final_follows``): the group it would open needs one (RFC 3464 2.3:
    Final-Recipient is required), and one written last in its own group (the
    order above reversed) stays in it.
    """
    if name in current:
        return True
    if name == "original-recipient" and "final-recipient" in current and "status" in current:
        return final_follows
    return "reporting-mta" in current or "arrival-date" in current or "received-from-mta" in current


#: A Diagnostic-Code line opening a multi-line SMTP reply whose next line, after a blank line
#: the field parser put there, is the same reply's next line at the margin (RFC 5321 4.2.1).
_UNINDENTED_REPLY_RE = lazy(r"^Diagnostic-Code:[^\n]*?\b([2-5]\d\d)-[^\n]*\n\n\1[- ]", re.I | re.M)
#: A Diagnostic-Code value that opens a multi-line SMTP reply ("smtp; 550-5.7.1 ...").
_OPENS_REPLY_RE = lazy(r"^(?:[A-Za-z][\w-]*\s*;\s*)?([2-5]\d\d)-")


def _blocks_from_text(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    # RFC 5321 4.2.1: every line of a multi-line reply but the last starts "NNN-", the last
    # "NNN ". Some writers (nullmailer-dsn 2.2) copy such a reply into Diagnostic-Code with
    # its later lines unindented; those lines are the field's value all the same.
    open_reply: str | None = None
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
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
            if current and last in _GROUP_OPENERS and _opens_new_group(
                    current, last, last != "original-recipient" or _final_follows(lines, index + 1)):
                blocks.append(current)  # the blank line between groups is missing
                current = {}
            current.setdefault(last, value.strip())
            if current[last] != value.strip():  # repeated field: keep the first
                last = None
            opened = _OPENS_REPLY_RE.match(value.strip()) if last == "diagnostic-code" else None
            open_reply = opened.group(1) if opened else None
        elif last == "diagnostic-code" and open_reply and line.startswith((open_reply + "-", open_reply + " ")):
            current[last] += " " + line.strip()
            if line.startswith(open_reply + " "):
                open_reply = None  # the reply's last line
        else:
            last = None
    if current:
        blocks.append(current)
    return blocks


def _final_follows(lines: list[str], start: int) -> bool:
    """Whether a Final-Recipient field comes at or after ``lines[start]`` before a blank line."""
    for line in lines[start:]:
        if not line.strip():
            return False
        if _FINAL_FIELD_RE.match(line):
            return True
    return False


_FINAL_FIELD_RE = lazy(r"final-recipient[ \t]*:", re.I)


def _transfer_decoded(part: Message) -> str | None:
    """The text of a report part sent base64 or quoted-printable, else ``None``.

    RFC 3464 section 2.1 asks for 7bit, but RFC 6533's global status parts
    may use any encoding and some gateways re-encode every part; the stdlib
    then reads the encoded lines as fields and finds none.
    """
    cte = m.header(part, "Content-Transfer-Encoding").strip().lower()
    if cte not in ("base64", "quoted-printable"):
        return None
    source = m.source_text(part).replace("\r\n", "\n")
    _, sep, body = source.partition("\n\n")
    if not sep:
        return None
    raw = _mime.transfer_decoded(cte, body)
    if raw is None:
        return None
    # the decoded bytes read as the same bytes sent unencoded do: the declared charset, then
    # UTF-8, then Latin-1, and undeclared ISO-2022-JP (Domino's Japanese Diagnostic-Code)
    # recognised by its escapes; decoded as UTF-8 alone, that JIS text stayed escapes and
    # the reason was lost
    try:
        charset = m.param(part, "charset") or "utf-8"
    except Exception:
        charset = "utf-8"
    return m.bytes_to_text(raw, charset)


def _blocks(part: Message) -> list[dict[str, str]]:
    """Field blocks of a delivery-status part, as lower-cased name → value.

    The stdlib pre-parses ``message/delivery-status`` into one pseudo
    message per block, but reads only the first block of the RFC 6533
    ``message/global-delivery-status``; going through text treats both alike.
    """
    decoded = _transfer_decoded(part)
    if decoded is not None:
        return _blocks_from_text(decoded)
    raw = _mime.status_text_of(part)
    if raw is not None:
        # the part's own text reads as the same blocks as the text written
        # back from its parsed blocks (see _mime._fields_only), at a
        # fraction of the cost
        return _blocks_from_text(raw)
    text = m.text_of(part)
    if _UNINDENTED_REPLY_RE.search(text):
        # a multi-line reply's later lines written unindented (nullmailer-dsn): the parsed
        # blocks ended the field at the first of them; its own text keeps them in place
        source = m.source_text(part).replace("\r\n", "\n")
        _, sep, body = source.partition("\n\n")
        if sep:
            return _blocks_from_text(body)
    return _blocks_from_text(text)


def read_report(msg: Message) -> Report | None:
    """Find and parse the delivery-status part; ``None`` when there is none.

    Read once per message (the stages ask more than once); callers only
    read the returned report.
    """
    return m.memoized(msg, "report", _read_report)


def _read_report(msg: Message) -> Report | None:
    for part in (m.walk(msg) if not m.part_types(msg).isdisjoint(STATUS_TYPES) else ()):
        if m.content_type(part) not in STATUS_TYPES:
            continue
        blocks = [{k: m.unfold(v) for k, v in b.items()} for b in _blocks(part)]
        if not blocks:
            continue
        report = Report(part=part)
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
        raw = m.source_text(msg)
        # the fields as decoded text first (a quoted-printable text part
        # breaks them across soft line breaks), then the raw message
        return _report_in_text(m.body_text(msg)) or _report_in_text(raw.split("\n\n", 1)[-1])
    return None


def _report_in_text(text: str) -> Report | None:
    """DSN fields in the notice's own words, up to the copy of the message it returns: a
    plain-text bounce *of* a DSN (qmail's, Exim's, sendmail's without MIME) returns that DSN's
    fields too, about other recipients. Only a notice whose own words give no server's code
    is read further: a relay that passes a DSN on inline below a short note of its own."""
    # the rare path of a report without its status part: the format readers' helpers load here
    from bounceledger.ingest.bounces.detectors._common import notice

    own = notice(text, limit=len(text))
    found = read_report_from_text(own)
    if found is None and len(own) < len(text) and not (find_status(own) or find_replycode(own)):
        found = read_report_from_text(text)
    return found


def is_nested(msg: Message, report: Report) -> bool:
    """Whether the report's status part sits inside a returned or attached message
    (``message/rfc822``): a report someone forwarded or a notice returned whole, not
    this message's own. Asked only of mail with no bounce envelope."""
    return report.part is not None and _inside_a_message(msg, report.part)


def _inside_a_message(msg: Message, target: Message) -> bool:
    """Whether ``target`` is reached only through a ``message/rfc822`` (or ``message/global``) part."""
    stack = [msg]
    seen = 0
    while stack and seen < m.MAX_PARTS:
        part = stack.pop()
        seen += 1
        if part is target:
            return False
        if part is not msg and m.content_type(part) in m.RETURNED_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
    return True


_FIELD_START_RE = quick(lazy(r"^(?:Reporting-MTA|Final-Recipient|Original-Recipient)\s*:", re.IGNORECASE | re.M))


#: Where DSN fields found in plain text end: a MIME boundary or part header.
_FIELDS_END_RE = quick(lazy(r"^[ \t]*--\S|^content-type:", re.IGNORECASE | re.M))


def read_report_from_text(text: str) -> Report | None:
    """Find DSN field blocks in plain text, for reports whose MIME is broken.

    Some MTAs mangle the boundary or send the fields in a text part; the
    fields themselves are still there, one block per recipient.
    """
    start = _FIELD_START_RE.search(text)
    if not start:
        return None
    chunk = text[start.start():]
    end = _FIELDS_END_RE.search(chunk)
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


_LINE_ADDRESS_RE = lazy(r"^<?([^<>\s:@]+@[^<>\s:]+?)>?:\s")
#: Exim's list: each failed address alone on a line indented by two spaces.
_BARE_ADDRESS_LINE_RE = lazy(r"^[ \t]{0,4}<?([^<>\s:@]+@[^<>\s:]+?)>?[ \t]*$")
#: Postfix local(8)/pipe(8) naming the failed command in the notice text.
_POSTFIX_COMMAND_RE = lazy(r"Command died with status|Command time limit exceeded", re.IGNORECASE)


def recipient_context(address: str | None, text: str, lines: int = 6) -> str:
    """The lines of the human-readable part that talk about ``address``.

    Used when the recipient block has no Diagnostic-Code: most MTAs print
    "<addr>: host x said: 550 ..." in the notification text.
    """
    if not address or not text:
        return ""
    needle = address.lower()
    rows = _rows_from_first_mention(needle, text, lines)
    if rows:
        chunk = [rows[0]]
        for follower in rows[1:]:
            if not follower.strip():
                break
            other = _LINE_ADDRESS_RE.match(follower) or _BARE_ADDRESS_LINE_RE.match(follower)
            if other and other.group(1).lower() != needle:
                break  # the next recipient's own line
            chunk.append(follower)
        return m.unfold(" ".join(_sentence_before(needle, text) + chunk))
    return ""


#: Lines above the one naming the address that can begin its sentence.
_SENTENCE_LINES_BEFORE = 3


def _sentence_before(needle: str, text: str) -> list[str]:
    """The lines of the paragraph above the first line naming ``needle``, where that line
    names it mid-sentence: templates that wrap a sentence around the address (gromox's
    Chinese and Japanese "受信者のメールボックスが一杯になって、...\nできないため、"addr"へ...")
    put the cause before it. A line that opens with the address (Postfix's "<addr>: ...",
    Exim's indented list) starts its own part, and nothing above it is its."""
    mention = None if "\n" in needle else _first_mention(needle, text)
    if mention is None:
        return []
    found, index, at = mention
    lead = found.lowered[found.starts[index]:at].strip(" \t<\"'(")
    if not lead:
        return []
    before: list[str] = []
    for row in reversed(found.rows[max(0, index - _SENTENCE_LINES_BEFORE):index]):
        if not row.strip() or "@" in row:
            break
        before.insert(0, row)
    return before


class _Lines:
    """A text's lines, and their lower-cased forms joined by line feeds,
    with where each one starts: a search of that one string finds the
    first line that mentions a needle (a needle without a line feed lies
    within one line wherever it occurs), in one pass of ``str.find``."""

    __slots__ = ("rows", "lowered", "starts")

    def __init__(self, text: str) -> None:
        self.rows = text.splitlines()
        lowered = [row.lower() for row in self.rows]
        self.lowered = "\n".join(lowered)
        self.starts = list(accumulate((len(row) + 1 for row in lowered[:-1]), initial=0))


#: The text indexed last and its lines: every recipient of a report is
#: looked up in the same text (one tuple, so thread-safe).
_last_lines: tuple[str | None, _Lines | None] = (None, None)


def _lines_of(text: str) -> _Lines:
    global _last_lines
    last_text, lines = _last_lines
    if lines is None or last_text is not text:
        lines = _Lines(text)
        _last_lines = (text, lines)
    return lines


def _rows_from_first_mention(needle: str, text: str, lines: int = 6) -> list[str]:
    """``lines`` lines of ``text`` from the first one whose lower-cased form
    contains ``needle`` (lower case); ``[]`` when none does.

    Indexing the text once per report keeps a report of many recipients
    linear: lower-casing and splitting the whole text again for each
    recipient made it quadratic.
    """
    if "\n" in needle:
        rows = text.splitlines()
        index = next((n for n, row in enumerate(rows) if needle in row.lower()), -1)
        return rows[index:index + lines] if index >= 0 else []
    mention = _first_mention(needle, text)
    if mention is None:
        return []
    found, index, _ = mention
    return found.rows[index:index + lines]


def _first_mention(needle: str, text: str) -> tuple[_Lines, int, int] | None:
    """``text``'s lines (:func:`_lines_of`), the index of the first one containing ``needle``
    (lower case, no line feed) and the needle's offset in the text; None when no line does."""
    found = _lines_of(text)
    at = found.lowered.find(needle)
    if at < 0:
        return None
    return found, bisect_right(found.starts, at) - 1, at


#: The first line of a multi-line SMTP reply (RFC 5321 4.2.1: "250-First line").
_CONTINUED_REPLY_RE = lazy(r"^([2-5]\d\d)-")
#: How many lines of one reply are read back from a transcript.
_MOST_REPLY_LINES = 30


def completed_reply(diagnostic: str, human: str) -> str:
    """``diagnostic``, or the whole multi-line reply it is the first line of.

    RFC 5321 4.2.1: every line but the last of a reply starts with the code and a
    hyphen, the last with the code and a space. Sendmail writes only the first line
    into Diagnostic-Code and "(reason: ...)" and the whole reply in its transcript
    ("<<< 550-5.7.1 ..."); a provider's reason is often on a later line (Gmail's
    "550-5.7.1 ... this message is likely / ... unsolicited mail"; GMX says its last
    line is the decisive one). The reply is read back from the notice's own text,
    line by line, under the same prefix, as the continuation rule of RFC 5321 puts it.
    """
    started = _CONTINUED_REPLY_RE.match(diagnostic)
    if started is None:
        return diagnostic
    first = " ".join(diagnostic.split())
    code = started.group(1)
    lines = human.splitlines()
    for number, line in enumerate(lines):
        at = line.find(code + "-")
        if at < 0 or " ".join(line[at:].split()) != first:
            continue
        prefix = line[:at]
        reply = [first]
        for following in lines[number + 1:number + _MOST_REPLY_LINES]:
            if not following.startswith(prefix):
                break
            rest = following[len(prefix):]
            if rest.startswith(code + "-"):
                reply.append(" ".join(rest.split()))
            elif rest.startswith(code + " ") or rest.strip() == code:
                reply.append(" ".join(rest.split()))
                return " ".join(reply)
            else:
                break
        return diagnostic  # no last line under the same prefix: not this reply's text
    return diagnostic


#: The comment after a Status field's code: "5.0.0 (recipient reached disk quota)".
_STATUS_COMMENT_RE = lazy(r"^\s*[245]\.\d{1,3}\.\d{1,3}\s*\((.*[A-Za-z].*)\)\s*$", re.S)


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
    senders: frozenset[str] | None = None
    opensmtpd = _OPENSMTPD_NOTICE.search(m.body_text(msg, limit=2000)) is not None
    expanded = _expanded_aliases(report.recipients)
    for block in report.recipients:
        final = decode_utf8_address(strip_type(block.get("final-recipient", "")))
        original = decode_utf8_address(strip_type(block.get("original-recipient", "")))
        final_address = m.address_of(final)
        actual = m.address_of(strip_type(block.get("x-actual-recipient", "")))
        list_member = False
        if actual and final_address and actual != final_address and final_address in expanded:
            # sendmail names the RCPT address (a list) in Final-Recipient and the member that
            # failed in X-Actual-Recipient ("the real problem address", savemail.c)
            final_address, list_member = actual, True
        recipient = final_address or m.address_of(original) or (final or None)
        original_address = m.address_of(original) if original else None
        final_kept: str | None = None
        if original_address in expanded:
            list_member = True
        if list_member:
            # an alias that expanded to several members: a member's failure is the member's, not
            # the list's (the list address itself was delivered to)
            original_address = recipient
        elif original_address and recipient and original_address != recipient and _is_plain_address(original):
            # the address we sent to; Final-Recipient is where an alias or
            # forward at the receiving site led (and may be internal); kept as
            # final_recipient: the sender's own MTA logs that one when it wrote the report
            # itself from an ORCPT its client gave (RFC 3461 4.2, RFC 3464 2.3.2)
            final_kept, recipient = recipient, original_address
        if recipient is None and len(report.recipients) == 1 and len(set(keys.original_to)) == 1:
            # a report's only block with an empty Final-Recipient (RFC 3464 2.3.2 makes it
            # required): the returned message was sent to exactly one address
            recipient = keys.original_to[0].lower()
        action = (block.get("action", "").split() or [""])[0].lower().strip(";") or None
        status_field = block.get("status") or None
        if human is None:
            human = m.body_text(msg)
        if opensmtpd and action == "delayed" and _OPENSMTPD_EXPIRED.search(
                recipient_context(recipient, human, lines=2)):
            # OpenSMTPD gives up on an envelope past its ttl with "Envelope expired" and
            # deletes it (queue.c, IMSG_QUEUE_EXPIRE: B_ERROR, queue_envelope_delete),
            # though 6.8 words that notice as a delay ("Action: delayed", 4.4.7)
            action = "failed"
        diagnostic = exim_unescaped(strip_type(block.get("diagnostic-code", ""))) or None
        if diagnostic is not None and human:
            diagnostic = completed_reply(diagnostic, human)
        if diagnostic is None and status_field and "(" in status_field and action != "delayed":
            # DSN fields are structured (RFC 3464 2.1.1, RFC 822 comments): Sun's messaging
            # servers write the cause of a failure as the status code's comment, "5.0.0
            # (recipient reached disk quota)", and no Diagnostic-Code. (A delay's comment, why
            # it is still queued, is left out: Sisimai 5's reading of delays, the reference,
            # has none, and a delay changes no state.)
            comment = _STATUS_COMMENT_RE.search(status_field)
            diagnostic = (m.unfold(comment.group(1)).strip() or None) if comment else None
        diagnostic_type = _diagnostic_type(block.get("diagnostic-code", ""))
        remote = strip_type(block.get("remote-mta", "")) or None
        context = recipient_context(final_address or recipient, human, lines=12) or (
            recipient_context(recipient, human, lines=12))
        if postfix and diagnostic_type == "x-unix" and context and (
                _is_sysexits_text(diagnostic) or _POSTFIX_COMMAND_RE.search(context)):
            diagnostic = context  # the notice's own line says what failed
        extra = None if diagnostic or not _says_more(context, recipient, final_address) else context
        if extra and reporting_mta and _EZWEB_MTA_RE.search(reporting_mta):
            heading = _EZWEB_HEADING_RE.search(human[:2000])
            if heading:
                extra = m.unfold(heading.group(0))
        transcript = None
        if (diagnostic is None or diagnostic.isdigit()) and len(report.recipients) == 1:
            transcript = transcript_cause(human)
        command = find_command(context) or find_command(diagnostic) or (
            find_command(human) if len(report.recipients) == 1 else None
        )
        if transcript is not None and transcript.local and not command:
            command = "LOCAL"  # the final delivery agent itself answered
        if diagnostic and "@" in diagnostic:
            if senders is None:
                senders = sender_addresses(msg)  # once per report: finding the returned headers walks its parts
            if names_only_the_sender(diagnostic, senders, (recipient, final_address)):
                command = "MAIL"  # the reply names our sender's address, not the recipient's: a refusal of MAIL FROM
        said = POWERMTA_CATEGORIES.get(block.get("x-powermta-bouncecategory", "").strip().lower())
        # the sending MTA gave up on a temporary error: Postfix fails 4.x.x
        # only when the queue lifetime ran out; any MTA's X.4.7 is RFC 3463's
        # "Delivery time expired" (sendmail writes it on every give-up)
        field_status = normalise_status(m.unfold(status_field or ""))
        gave_up = action == "failed" and bool(field_status) and (
            (field_status[0] == "4" and (postfix or _chasquid_gave_up(msg))) or field_status.endswith(".4.7"))
        text = transcript.text if transcript is not None else (diagnostic or extra)
        result = classify(status_field if not opensmtpd or _is_success(status_field) else _specific(status_field),
                          transcript.replycode if transcript else None,
                          text, remote, action=action, command=command,
                          status_is_final=postfix, gave_up=gave_up, reason=said, reporting_host=reporting_mta,
                          diagnostic_type=diagnostic_type)
        if result.replycode is None and transcript is None and len(report.recipients) == 1 \
                and not (result.status or "").startswith("2"):
            # sendmail's "(reason: 550 Host unknown)" has the reply the DSN field left out
            said = next((found for found in _TRANSCRIPT_REPLY_RE.finditer(human)
                         if not is_faked_reply(human[found.start(1):found.start(1) + 80])), None)
            if said and said.group(1)[0] == (result.status or "5")[0]:
                result = result.replace(replycode=said.group(1))
        if opensmtpd and result.status and not result.status.startswith("2") and is_generic(result.status):
            # OpenSMTPD writes a bare x.0.0 / 4.4.7 into every report; the
            # notice's own words are the cause: a Sisimai-style stand-in code, of class 4 where
            # the recipient is only delayed (RFC 3464 2.3.3: "delayed" is a transient state)
            pseudo = pseudo_status(result.reason, temporary=action == "delayed"
                                   or bool(result.replycode and result.replycode[0] == "4"))
            if pseudo:
                result = result.replace(status=pseudo,
                                 hardbounce=is_hard(result.reason, pseudo, result.replycode))
        if not postfix and result.status and result.status.endswith(".4.7") and result.status[0] == "4" \
                and result.reason == "expired":
            # "4.4.7 queue expired" only says the sender gave up; a remote
            # reply quoted in the notice (Exchange lists every attempt) names why
            cause = _earlier_temporary_status(human)
            if cause:
                result = result.replace(status=cause)
        if result.reason == "userunknown" and not command and _stage_unknown(status_field, result) \
                and not postfix and not _known_reporter(msg, report) and not _DIRECTORY_LOOKUP_RE.search(text or "") \
                and not _exim_local_failure(msg, human or ""):
            result = result.replace(reason="filtered", hardbounce=False, category=CATEGORIES["filtered"])
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
                diagnostic=transcript.text if transcript is not None else (diagnostic or extra),
                remote_mta=remote,
                reporting_mta=reporting_mta,
                original_recipient=original_address,
                final_recipient=final_kept,
                envelope_id=envelope_id,
                original_message_id=keys.original_message_id,
                next_hop_queue_id=keys.next_hop_queue_id,
                return_path_token=keys.return_path_token,
                last_attempt_at=parse_date(block.get("last-attempt-date")),
                detector="rfc3464",
            )
        )
    return found


#: au (KDDI) EZweb mail: the notice opens with one sentence naming the cause
#: for every recipient below it; the per-recipient lines only repeat the
#: remote reply, which the heading overrides ("The user(s) account is
#: disabled." over "550 user unknown": a suspended au subscriber).
_EZWEB_MTA_RE = lazy(r"(?:^|\.)(?:ezweb\.ne\.jp|au\.com)$", re.IGNORECASE)
_EZWEB_HEADING_RE = quick(lazy(
    r"^[ \t]*(?:The user\(s\) account is (?:disabled|temporarily (?:limited|over quota))\."
    r"|Your message was not delivered within \d+ days and \d+ hours\.[^\n]*)", re.IGNORECASE | re.M))

#: chasquid's words for a recipient still pending when the queue gave up.
# src: chasquid internal/queue/dsn.go (1.11), the DSN template: '"{{.Address}}" ({{.Type}}) failed
# repeatedly and timed out, last error:' for PendingRecipients, whose report block says
# "Action: failed" with "Status: 4.0.0"; queue.go SendLoop ends them when GiveUpAfter has passed
_CHASQUID_TIMED_OUT = quick(lazy(r"\bfailed repeatedly and timed out, last error:", re.IGNORECASE))


def _chasquid_gave_up(msg: Message) -> bool:
    """chasquid writes "Action: failed" with "Status: 4.0.0" only for the recipients still
    pending when its queue gave up (GiveUpAfter), under "failed repeatedly and timed out".
    Asked only of a failed 4.x.x recipient: a search of the notice's text, for every report,
    cost a fifth of the parse."""
    return _CHASQUID_TIMED_OUT.search(m.body_text(msg, limit=8000)) is not None

#: OpenSMTPD's bounce notice (its report always says x.0.0 or 4.4.7).
_OPENSMTPD_NOTICE = quick(lazy(r"This is the MAILER-DAEMON, please DO NOT REPLY to this e-?mail", re.IGNORECASE))
#: The reason OpenSMTPD gives a recipient whose envelope outlived its ttl.
# src: OpenSMTPD smtpd/queue.c, IMSG_QUEUE_EXPIRE: envelope_set_errormsg(&evp, "Envelope expired")
_OPENSMTPD_EXPIRED = lazy(r":\s*Envelope expired\b", re.IGNORECASE)


def _is_success(status: str | None) -> bool:
    """A 2.x.x Status: what a success notice (relayed, delivered) says is kept as it is."""
    return (normalise_status(status) or "").startswith("2")


def _specific(status: str | None) -> str | None:
    """The Status field unless it is a placeholder (x.0.0, 4.4.7)."""
    value = normalise_status(status)
    if value is None or is_generic(value) or value.endswith(".4.7"):
        return None
    return value


_QUOTED_REPLY_STATUS_RE = quick(lazy(r"(?<![\d.])4\d\d[ \-](4\.\d{1,3}\.\d{1,3})\b"))


def _earlier_temporary_status(human: str) -> str | None:
    """The first temporary status quoted in the notice other than x.4.7."""
    for match in _QUOTED_REPLY_STATUS_RE.finditer(human[:20000]):
        status = match.group(1)
        if not status.endswith((".4.7", ".0.0")):
            return status
    return None


def _expanded_aliases(blocks: list[dict[str, str]]) -> set[str]:
    """Addresses a report shows expanded to more than one member: an Original-Recipient (or a
    sendmail Final-Recipient beside X-Actual-Recipient) shared by blocks for different final
    addresses, or one with Action "expanded"."""
    members: dict[str, set[str]] = {}
    expanded: set[str] = set()  # said so by the reporting MTA (RFC 3464 2.3.3, Action: expanded)
    for block in blocks:
        final = m.address_of(strip_type(block.get("final-recipient", "")))
        original = m.address_of(decode_utf8_address(strip_type(block.get("original-recipient", ""))))
        actual = m.address_of(strip_type(block.get("x-actual-recipient", "")))
        if (block.get("action", "").split() or [""])[0].lower() == "expanded" and final:
            expanded.add(final)
        if actual and final and actual != final:
            members.setdefault(final, set()).add(actual)
        elif original and final and original != final:
            members.setdefault(original, set()).add(final)
    return expanded | {alias for alias, finals in members.items() if len(finals) > 1}


def _is_plain_address(value: str) -> bool:
    """An Original-Recipient that is a real address (not a pipe or a file)."""
    return not value.lstrip().startswith(("|", "/"))


def _stage_unknown(status_field: str | None, result) -> bool:
    """"User unknown" words in a DSN that names neither the SMTP stage nor a
    x.1.x status: a filter or gateway refusing the message, not proof that
    the mailbox is gone (the rule Sisimai applies to generic reports)."""
    field = normalise_status(status_field)
    if field is None or not field.endswith(".0.0"):
        return False
    return (result.status or field).endswith(".0.0")


#: Reporters whose DSNs Sisimai reads with a format of its own, which trusts
#: their "user unknown" words; other generic DSNs do not name the SMTP stage.
_KNOWN_REPORTER_RE = quick(lazy(
    r"messagelabs\.com|google(?:mail)?\.com|\(tcp-daemon\)|^Boundary_\(ID_", re.IGNORECASE))


#: Lotus Domino's answer names its own directory: the recipient was looked
#: up and not found, which is the recipient stage even without a command
#: (in English, Japanese and German, "Domino-Verzeichnis" in HCL's German help).
_DIRECTORY_LOOKUP_RE = quick(lazy(r"\bDomino[ -](?:Directory|ディレクトリ|Verzeichnis)", re.IGNORECASE))


def _exim_local_failure(msg: Message, human: str) -> bool:
    """Exim (its ``X-Failed-Recipients``) reporting a failure of its own routing, not a remote
    server's words: with no "SMTP error from remote mail server" (the exim spec's wording for
    every remote refusal), "No Such User Here" is the final host's own lookup, as a local
    delivery agent's answer is (cPanel's Exim writes it for an unknown local part)."""
    return bool(m.header(msg, "X-Failed-Recipients")) and "smtp error from remote" not in human.lower()


def _known_reporter(msg: Message, report: Report) -> bool:
    if any(name.startswith(("x-powermta", "x-postfix")) for name in report.message):
        return True
    if m.has_header(msg, "X-MS-Exchange-Message-Is-Ndr"):
        # Exchange's own NDR (Microsoft Learn, "Email non-delivery reports in Exchange Online"):
        # its Status 5.0.0 stands for a remote reply that carried no enhanced code, and the
        # reply itself ("Remote Server returned '550 No such user here'") is the SMTP answer
        return True
    for value in (report.message.get("reporting-mta", ""), m.header(msg, "From"), m.param(msg, "boundary")):
        if value and _KNOWN_REPORTER_RE.search(value):
            return True
    # the recipient's own system wrote the report about its own delivery (Remote-MTA names the
    # Reporting-MTA itself, as gromox's local bounces do): it knows its users, at any stage
    reporting = strip_type(report.message.get("reporting-mta", "")).lower()
    remotes = {strip_type(block.get("remote-mta", "")).lower() for block in report.recipients}
    return bool(reporting) and remotes == {reporting}


class TranscriptCause(Record):
    """The line of sendmail's "Transcript of session" that explains a failure."""

    text: str
    replycode: str | None
    local: bool  # said by a local delivery program ("mail.local: unknown user")


_TRANSCRIPT_HEAD_RE = quick(lazy(r"^[ \t]*-+ ?Transcript of session follows ?-+[ \t]*$", re.IGNORECASE | re.M))
_TRANSCRIPT_END_RE = quick(lazy(r"^[ \t]*-{3,}|^--\S", re.M))
_REASON_NOTE_RE = quick(lazy(r"^[ \t]*\(reason: ([^)]*)\)", re.M))
_LEADING_REPLY_RE = lazy(r"^(?:<<<\s*)?([45]\d\d)(?:[ -]|$)")
_LOCAL_PROGRAM_RE = lazy(r"^[a-z][\w.\-/]*: ")
#: Lines sendmail adds to every give-up; they say nothing about the cause.
_TRANSCRIPT_NOISE_RE = quick(lazy(
    r"^(?:>>>|\.\.\. while talking|Message could not be delivered for|Message will be deleted)", re.IGNORECASE))
MAX_TRANSCRIPT_LINES = 40


def transcript_cause(human: str) -> TranscriptCause | None:
    """Read sendmail's "Transcript of session follows" for the failure cause.

    Used when the recipient block has no Diagnostic-Code, or only a local
    program's exit code ("X-Unix; 77"). The line chosen is the one the notice's
    own "(reason: ...)" quotes, else the first line the text table recognises,
    else every line; its reply code (or the last "<<< 421" the server sent)
    goes with it.
    """
    head = _TRANSCRIPT_HEAD_RE.search(human)
    if not head:
        return None
    section = human[head.end():]
    end = _TRANSCRIPT_END_RE.search(section)
    lines = [line.strip() for line in (section[: end.start()] if end else section).splitlines()[:MAX_TRANSCRIPT_LINES]]
    lines = [line for line in lines if line]
    if not lines:
        return None
    replies = [line[3:].split()[0] for line in lines if line.startswith("<<<") and _LEADING_REPLY_RE.match(line)]
    useful = [line for line in lines if not _TRANSCRIPT_NOISE_RE.match(line) and not line.startswith("<<<")]
    note = _REASON_NOTE_RE.search(human[: head.start()])
    quoted = m.unfold(note.group(1)) if note else ""
    chosen = None
    if quoted and not quoted.isdigit():
        chosen = next((line for line in useful if quoted.lower() in line.lower()), None)
    if chosen is None:
        chosen = next((line for line in useful if reason_from_text(line)), None)
    if chosen is None:
        text = m.unfold(" ".join(useful or lines))
        return TranscriptCause(text=text, replycode=replies[-1] if replies else (
            None if is_faked_reply(text) else find_replycode(text)), local=False)
    own = None if is_faked_reply(chosen) else _LEADING_REPLY_RE.match(chosen)
    code = own.group(1) if own else (replies[-1] if replies else None)
    return TranscriptCause(text=chosen, replycode=code, local=bool(_LOCAL_PROGRAM_RE.match(chosen)))

