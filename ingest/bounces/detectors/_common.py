"""Small text helpers shared by the format detectors.

Every detector reads the same kind of thing: the notice a mailer wrote, up
to where it starts quoting the returned original, then address lines and
the error text under them. Keeping those steps here keeps each format
module down to what is particular about its wording.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick

#: Lines after which a bounce quotes the original message (any vendor).
#: "-------original mail info" is m-FILTER's heading for the returned
#: message's headers (Digital Arts FAQ 2686, m-FILTER Ver.4/Ver.5 NDR).
ORIGINAL_STARTS = quick(lazy(
    r"^[ \t]*(?:-+ ?)?(?:below this line is a copy of the message|message headers follow|original message follows"
    r"|this is a copy of (?:the|your) message|the original message (?:was(?! received at)|follows|headers)|original message headers"
    r"|-+ ?original message ?-+|-+ ?the header of the original message|-+ ?returned (?:message|mail)"
    r"|-+ ?original message|-{5,}original mail info|content-type: message/rfc822|received: from |return-path: <"
    # GroupWise Internet Agent: "Possibly truncated original message follows:" (then the original as text)
    r"|possibly truncated original message follows)",
    re.IGNORECASE | re.M,
))


#: (body, where its returned original starts or -1, limit, notice): the
#: body seen last. The detectors ask for the notice of the same body one
#: after the other; one tuple, swapped whole, so it is thread-safe.
_last_notice: tuple = (None, -1, 0, "")


def _original_start(body: str) -> int:
    """Where ``ORIGINAL_STARTS`` first matches in ``body`` (-1: nowhere)."""
    global _last_notice
    last_body, start, limit, text = _last_notice
    if last_body is body:
        return start
    cut = ORIGINAL_STARTS.search(body)
    start = cut.start() if cut else -1
    _last_notice = (body, start, None, "")
    return start


def quotes_original(body: str) -> bool:
    """Whether ``body`` marks where a copy of the returned original starts."""
    return _original_start(body) >= 0


#: How much of a body with no marker of the returned original is read as
#: the bounce's own words: beyond it, an unmarked original is likelier than
#: more notice, and its addresses must not become recipients.
NOTICE_LIMIT = 20_000


def notice(body: str, limit: int = NOTICE_LIMIT, msg: Message | None = None) -> str:
    """The bounce's own words: ``body`` up to the returned original.

    A reader that takes recipients from the notice passes ``msg``: when
    no marker was found and the body runs past ``limit``, the cut is
    noted in what the parse reports as skipped, so recipients listed
    beyond it are never lost silently.
    """
    global _last_notice
    last_body, start, last_limit, text = _last_notice
    if not (last_body is body and last_limit == limit):
        start = _original_start(body)
        text = body[:start] if start >= 0 else body[:limit]
        _last_notice = (body, start, limit, text)
    if msg is not None and start < 0 and len(body) > limit:
        m.note_skipped(msg, f"bounce text beyond the first {limit} characters not read for recipients"
                            " (no marker of the returned original found)")
    return text  # the same string object for the same body and limit


def sender_of(msg: Message) -> str:
    """``From`` and ``Sender`` together, for signature checks."""
    return " ".join((m.header(msg, "From"), m.header(msg, "Sender"))).lower()


def failed_recipients(msg: Message) -> list[str]:
    """Addresses in ``X-Failed-Recipients`` (Exim, Gmail and imitators)."""
    found: list[str] = []
    for value in m.headers_all(msg, "X-Failed-Recipients"):
        for item in value.split(","):
            address = m.address_of(item.strip())
            if address and address not in found:
                found.append(address)
    return found


def paragraphs(text: str) -> list[str]:
    """Blank-line separated chunks, unfolded."""
    return [m.unfold(p) for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def clean_address(value: str) -> str | None:
    """``<a@b>:`` / ``"a@b"`` / ``a@b.`` → ``a@b`` (lower-cased ASCII)."""
    return m.address_of(value.strip().strip("<>:;,\"'"))


def returned_recipient(msg: Message) -> str | None:
    """The single ``To:`` address of the returned original, if there is one."""
    from bounceledger.ingest.bounces.returned import original_senders, returned_headers

    original = returned_headers(msg)
    if original is None:
        return None
    values = [v for v in m.headers_all(original, "To") if v]
    addresses = [a for v in values for a in (m.first_address(x) for x in v.split(",")) if a]
    # the message's own sender is never its failed recipient: mail sent To: itself with the
    # recipients in Bcc (RFC 5322 3.6.3) returns a To: that names only the sender
    if len(set(addresses)) != 1 or addresses[0] in original_senders(original):
        return None
    return addresses[0]


_INLINE_ID = quick(lazy(r"^Message-ID:\s*<([^<>\s]+)>", re.IGNORECASE | re.M))


def inline_original_id(body: str) -> str | None:
    """Message-ID of an original quoted as text after the bounce notice
    (Exim, qmail, Gmail's old format return it inline, not as a MIME part)."""
    start = _original_start(body)
    if start < 0:
        return None
    found = _INLINE_ID.search(body, start, start + 30_000)
    return found.group(1) if found else None


#: A header line of RFC 5322 section 2.2 (a field name and a colon), or its folded continuation.
_HEADER_LINE = lazy(r"[!-9;-~]+:|[ \t]")
#: Marker lines that are the first header of the quoted block themselves.
_MARKER_IS_HEADER = lazy(r"\s*(?:received|return-path|content-type):", re.IGNORECASE)
#: How much of an inline original is read for its header block.
_INLINE_HEADERS_LIMIT = 30_000


def inline_original_headers(body: str) -> Message | None:
    """The header block of an original quoted as text after the notice's marker
    ("Message headers follow:", "--- Below this line is a copy of the message."),
    as qmail, MailEnable, Exim and others return it, or ``None``.

    The block starts at the first line after the marker (or at the marker, where
    the marker is a header line itself, such as ``Received: from``) and must open
    with header lines: prose after a marker is not one.
    """
    start = _original_start(body)
    if start < 0:
        return None
    text = body[start:start + _INLINE_HEADERS_LIMIT]
    first = text.split("\n", 1)[0]
    if not _MARKER_IS_HEADER.match(first):
        text = text[len(first) + 1:]
    lines = text.lstrip("\r\n").splitlines()
    if not lines or not _HEADER_LINE.match(lines[0]) or lines[0][:1] in " \t":
        return None
    block = []
    for line in lines:
        if not line.strip() or not _HEADER_LINE.match(line):
            break
        block.append(line)
    parsed = m.load_headers("\n".join(block) + "\n")
    return parsed if len(parsed.keys()) > 0 else None


#: A quoted header line that addresses the message; inside a block of quoted header fields
#: (Oracle Messaging Server's "This report relates to a message you sent with the following header
#: fields:") its addresses are the message's recipients, not the notice's failed ones.
_ADDRESSING_LINE = lazy(r"^\s*(?:to|cc|bcc)\s*:", re.IGNORECASE)
_QUOTED_FIELD = lazy(r"^\s*(?:subject|date|from|message-?id|sender|reply-to)\s*:", re.IGNORECASE)


def quoted_header_line(lines: list[str], index: int) -> bool:
    """Whether line ``index`` is a To:/Cc: line of a quoted header block (a Subject:, Date:,
    From: or Message-ID: line within three lines of it, no blank line between)."""
    if not _ADDRESSING_LINE.match(lines[index]):
        return False
    for step in (-1, 1):
        at = index
        for _ in range(3):
            at += step
            if at < 0 or at >= len(lines) or not lines[at].strip():
                break
            if _QUOTED_FIELD.match(lines[at]):
                return True
    return False


def from_recipients_system(msg: Message, address: str) -> bool:
    """Whether the notice comes from the recipient's own domain (its postmaster or a host
    under it): GroupWise's "rkeller (user not found)", a post office's own directory
    lookup, tells what a relay's second-hand "user unknown" does not (see
    ``detectors._unproven_unknown``)."""
    return m.same_organisation(m.address_of(m.header(msg, "From")) or "", address)
