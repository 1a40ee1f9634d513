"""A small, bounded MIME splitter that fills stdlib ``Message`` objects.

The stdlib feed parser reads a message line by line through a generator
stack; on returned mail it was a third of the parse time. Returned mail
needs much less: the header block of each part and the part bodies cut at
their boundaries. This module does exactly that with a handful of string
searches and gives back :class:`Part` objects, ``email.message.Message``
(compat32 policy) filled through its public methods only (``set_raw``,
``set_payload``, ``set_default_type``), so every helper, detector and
flufl.bounce keep reading the same API: headers as ``(name, value)``
pairs, the body as a string, a ``multipart/*`` as a list of parts, a
``message/*`` as a list holding the enclosed message,
``message/delivery-status`` and ``message/feedback-report`` as a list of
header-only field blocks.

Limits: nesting beyond ``MAX_DEPTH`` and parts beyond ``MAX_PARTS`` are
left as unsplit text, field blocks of a delivery status beyond
``MAX_STATUS_BLOCKS`` are not read; each limit met is noted in the
message's ``bl_skipped`` list (see :func:`skipped_of`). Nothing here
raises on bad input: a missing boundary leaves the multipart's body as one
string (the shape the rest of the package already handles), a header block
without its blank line ends at the first line that is not a header.
"""

from __future__ import annotations

import binascii
import quopri
import re
from email.utils import unquote as _unquote
from email.message import Message
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email.policy import Policy

MAX_DEPTH = 12
MAX_PARTS = 500
#: Field blocks read from one delivery-status part: the per-message block
#: and 1,000 recipient blocks. A report names the recipients of one queued
#: message; Postfix accepts at most 1,000 per message by default
#: (postconf(5): smtpd_recipient_limit = 1000), and other MTAs' per-message
#: recipient limits are of that order, so a real report stays under it, while
#: a 10 MB one could hold 40,000 blocks at about 0.3 ms of reading each. The
#: cut is reported in ``ParsedMessage.skipped``.
MAX_STATUS_BLOCKS = 1001

#: A header line: a field name and a colon, a continuation, or an mbox
#: "From " line (kept as a header-ish line by the stdlib too).
_HEADER_LINE_RE = re.compile(r"(?:From |[\041-\071\073-\176]*:|[ \t])")
_FIELD_RE = re.compile(r"([^:\s][^:]*?)[ \t]*:")
_LINES_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_BLANK_SPLIT_RE = re.compile(r"(?:\r?\n)(?:\r?\n)+")


class Part(Message):
    """A compat32 ``Message`` that also carries what this package derives
    from it, so that nothing is stored in the stdlib's own fields.

    ``bl_source``: the text the part was split from (``None`` when the
    stdlib parser made it); ``bl_cache``: values worked out from the part
    (see ``_message.cache_of``); ``bl_status_text``: see
    :func:`status_text_of`; ``bl_skipped``: the limits met while reading
    the message the part belongs to, one list shared by the whole tree.
    The stdlib parsers make these too (their public ``_class`` argument).
    """

    def __init__(self, policy: Policy | None = None) -> None:
        # Message's own default is compat32; ``email.policy`` (which the
        # stdlib parsers pass in) is not imported just to name it.
        if policy is None:
            super().__init__()
        else:
            super().__init__(policy)
        self.bl_source: str | None = None
        self.bl_cache: dict = {}
        self.bl_status_text: str | None = None
        self.bl_skipped: list[str] = []


class _Budget:
    __slots__ = ("parts", "skipped")

    def __init__(self) -> None:
        self.parts = 0
        self.skipped: list[str] = []


def parse_bytes(raw: bytes) -> Part:
    """A ``Message`` tree for ``raw`` (undecodable bytes surrogate-escaped),
    read with its line ends made even (:func:`even_line_ends`)."""
    return parse_text(even_line_ends(raw).decode("ascii", "surrogateescape"))


def even_line_ends(raw: bytes) -> bytes:
    """``raw`` with LF line ends and without the blanks before them.

    A message is CRLF on the wire and as an IMAP server hands it out (RFC
    5322 2.1: lines end in CRLF) but LF in a Maildir or an mbox, and the
    readers' multi-line patterns end lines at ``$``, which matches before
    neither a CR nor a blank: a CRLF copy of a Sendmail notice lost its
    transcript and read ``expired`` where the LF copy reads
    ``networkerror``.
    """
    if b"\r\n" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    if b" \n" in raw or b"\t\n" in raw:
        # Blanks at the end of a line that has more than blanks carry nothing (RFC 5322 3.2.2
        # lets a header's value end in folding white space; RFC 2045 6.7 (3) has a
        # quoted-printable decoder delete them; RFC 2046 5.1.1 lets a boundary line end in
        # them). A line of blanks alone stays: in a header block it continues the field above,
        # and emptied it would end the block. Line by line: a regex with a look-behind scanned
        # every byte and cost a tenth of the parse.
        lines = raw.split(b"\n")
        last = lines.pop()  # no line end after it
        lines = [line.rstrip(b" \t") if line[-1:] in _BLANK_ENDS and line.strip(b" \t") else line for line in lines]
        raw = b"\n".join(lines) + b"\n" + last
    return raw


_BLANK_ENDS = (b" ", b"\t")


def parse_text(text: str) -> Part:
    return _message(text, 0, _Budget())


def parse_headers(text: str) -> Part:
    """A header-only ``Message`` (the body, if any, kept as its payload)."""
    return headers_message(*split_headers(text))


def headers_message(headers: list[tuple[str, str]], body: str) -> Part:
    """A ``Part`` holding ``headers`` as they are and ``body`` as its payload."""
    msg = Part()
    set_raw = msg.set_raw
    for name, value in headers:
        set_raw(name, value)
    msg.set_payload(body)
    return msg


#: One header field: its name, the colon, and its value with continuation lines.
#: The name is taken greedily: its class holds neither ":" nor a blank, so
#: the greedy and the lazy forms match the same text, the greedy one
#: without a retry per character.
_FIELD_BLOCK_RE = re.compile(r"([\041-\071\073-\176]+)[ \t]*:[ \t]*([^\r\n]*(?:\r?\n|\r|$)(?:[ \t][^\r\n]*(?:\r?\n|\r|$))*)")
#: An mbox "From " line: "From" and a blank, but not a From field written with blanks before
#: its colon ("From : MAILER-DAEMON@..."), which RFC 5322 4.5.3 / 4.5 (obs-optional,
#: obs-fields: field-name *WSP ":") has a receiver read as the From field; taken for an mbox
#: line it was dropped, and the notice read as no bounce.
_MBOX_LINE_RE = re.compile(r"From (?![ \t]*:)[^\r\n]*(?:\r?\n|$)")
_ORPHAN_CONTINUATION_RE = re.compile(r"(?:[ \t][^\r\n]*(?:\r?\n|\r|$))+")


def source_of(msg: Message) -> str | None:
    """The text ``msg`` was parsed from by this module (``None`` otherwise):
    the message as it came, without a round trip through the generator."""
    return getattr(msg, "bl_source", None)


def skipped_of(msg: Message) -> tuple[str, ...]:
    """What was left unread in the message ``msg`` belongs to, because a
    limit of this module (or of a helper reading it) was met."""
    return tuple(getattr(msg, "bl_skipped", ()))


def status_text_of(part: Message) -> str | None:
    """The body of a ``message/delivery-status`` part when that text reads
    as the same field blocks as its parsed blocks do (see
    :func:`_fields_only`); ``None`` otherwise."""
    return getattr(part, "bl_status_text", None)


def split_headers(text: str) -> tuple[list[tuple[str, str]], str]:
    """(name, value) pairs of the header block, and the body after it.

    Values keep compat32's shape: leading blanks of the first line dropped,
    continuation lines kept with their line ends, the final line end cut.
    The block ends at a blank line or at the first line that is not a
    header (then that line starts the body).
    """
    headers: list[tuple[str, str]] = []
    pos = 0
    size = len(text)
    mbox = _MBOX_LINE_RE.match(text)
    if mbox:
        pos = mbox.end()
    else:
        orphan = _ORPHAN_CONTINUATION_RE.match(text)
        if orphan and text[0] in " \t":
            pos = orphan.end()  # a continuation with nothing to continue: dropped
    # A scanner's match() is match(text, pos) with pos moved on to each
    # match's end, where the next field starts; iter() calls it until the
    # first line that is no field (a blank line never is one, nor the end).
    fields = list(iter(_FIELD_BLOCK_RE.scanner(text, pos).match, None))
    if fields:
        headers = [(found[1], found[2].rstrip("\r\n")) for found in fields]
        pos = fields[-1].end()
    if pos < size:
        char = text[pos]
        if char == "\n":
            return headers, text[pos + 1:]
        if char == "\r":
            return headers, text[pos + (2 if text.startswith("\r\n", pos) else 1):]
    return headers, text[pos:]  # not a header: the body starts here (no blank line)


def _message(text: str, depth: int, budget: _Budget) -> Part:
    budget.parts += 1
    headers, body = split_headers(text)
    msg = headers_message(headers, body)
    msg.bl_source = text
    msg.bl_skipped = budget.skipped
    if not headers:
        return msg
    ctype = _content_type(msg, headers)
    maintype, _, subtype = ctype.partition("/")
    if depth >= MAX_DEPTH or budget.parts >= MAX_PARTS:
        if maintype in ("multipart", "message"):
            _note(budget, f"parts nested deeper than {MAX_DEPTH} or beyond the first {MAX_PARTS} left unsplit")
        return msg
    if maintype == "multipart":
        boundary = _boundary(msg)
        if boundary:
            parts = _split_multipart(body, boundary)
            if parts is not None:
                preamble, chunks, epilogue = parts
                children = []
                for chunk in chunks:
                    if budget.parts >= MAX_PARTS:
                        _note(budget, f"parts beyond the first {MAX_PARTS} not read")
                        break
                    child = _message(chunk, depth + 1, budget)
                    if subtype == "digest" and not child.keys():
                        child.set_default_type("message/rfc822")
                    children.append(child)
                msg.set_payload(children)
                msg.preamble = preamble or None
                msg.epilogue = epilogue
    elif maintype == "message":
        if subtype == "delivery-status":  # (sent encoded, it is decoded by its reader, rfc3464._transfer_decoded)
            # one header-only block per blank-line separated group of fields
            blocks = _status_blocks(body)
            if len(blocks) > MAX_STATUS_BLOCKS:
                _note(budget, f"delivery-status field blocks beyond the first {MAX_STATUS_BLOCKS} not read")
            split = [split_headers(b.lstrip("\r\n") + "\n") for b in blocks[:MAX_STATUS_BLOCKS]]
            msg.set_payload([headers_message(fields, rest) for fields, rest in split])
            if _fields_only(body, blocks, [rest for _, rest in split]):
                msg.bl_status_text = body
        else:
            # message/rfc822 and every other message/*: one enclosed message, its encoding undone
            msg.set_payload([_message(_transfer_decoded(headers, body), depth + 1, budget)])
    return msg


def _transfer_decoded(headers: list[tuple[str, str]], body: str) -> str:
    """``body`` with a base64 or quoted-printable transfer encoding undone, as the bytes
    :func:`parse_bytes` would have read unencoded (line ends made even); any other body as
    it is.

    RFC 2046 5.2.1 allows only 7bit, 8bit and binary for message/rfc822, but gateways that
    re-encode every part encode it too; read as it came, the enclosed message was one
    header-less line of base64 and the notice's only signal (the returned headers) was lost.
    """
    cte = None
    for name, value in headers:
        if len(name) == 25 and name.lower() == "content-transfer-encoding":
            cte = value.strip().lower() if isinstance(value, str) else None
            break
    decoded = transfer_decoded(cte, body)
    return body if decoded is None else even_line_ends(decoded).decode("ascii", "surrogateescape")


def transfer_decoded(cte: str | None, body: str) -> bytes | None:
    """The bytes of a ``base64`` or ``quoted-printable`` body (``cte`` lower-cased), else
    ``None`` (another encoding, or one that does not decode)."""
    if cte not in ("base64", "quoted-printable"):
        return None
    try:
        if cte == "base64":  # the decoder skips what is not of its alphabet
            return binascii.a2b_base64(body.encode("ascii", "ignore"))
        return quopri.decodestring(body.encode("utf-8", "surrogateescape"))
    except (binascii.Error, ValueError):
        return None


def _status_blocks(body: str) -> list[str]:
    """The non-blank blank-line separated groups of ``body``: all of them
    up to ``MAX_STATUS_BLOCKS``, and one more when there are more (the
    text after it is not split: splitting a 10 MB report whole took 0.2 s)."""
    blocks: list[str] = []
    rest = body
    while rest:
        wanted = MAX_STATUS_BLOCKS + 1 - len(blocks)
        pieces = _BLANK_SPLIT_RE.split(rest, maxsplit=wanted)
        rest = pieces.pop() if len(pieces) > wanted else ""
        blocks += [piece for piece in pieces if piece.strip()]
        if len(blocks) > MAX_STATUS_BLOCKS:
            break
    return blocks


def _note(budget: _Budget, text: str) -> None:
    if text not in budget.skipped:
        budget.skipped.append(text)


def _fields_only(body: str, blocks: list[str], rests: list[str]) -> bool:
    """True when reading ``body`` line by line gives the lines of its parsed
    blocks written back out (``_message._flatten``), up to blank lines and
    the blanks around names and values.

    That holds when every line of every block is a field or a continuation
    (no block kept a body of other lines, its ``rests`` entry, which the
    written-back form would set off with a blank line), no block opens with an mbox "From " line or
    an orphan continuation (both dropped by the splitter), the text is
    ASCII without ESC (no surrogates to fix, no ISO-2022-JP to undo), every
    CR ends a line as part of CRLF (a lone CR ends a field only for the
    splitter) and no block was left out.
    """
    if len(blocks) > len(rests) or not body.isascii() or "\x1b" in body:
        return False
    if "\r" in body and body.count("\r") != body.count("\r\n"):
        return False
    for block, rest in zip(blocks, rests):
        if rest:
            return False
        start = block.lstrip("\r\n")
        if start.startswith(("From ", " ", "\t")):
            return False
    return True


def _content_type(msg: Part, headers: list[tuple[str, str]]) -> str:
    """``msg.get_content_type()``, without the stdlib's generic header lookup.

    Only a plain ASCII ``Content-Type`` value takes the short path (the
    stdlib's own steps: the first such header, the text before ";",
    stripped and lower-cased, ``text/plain`` unless it has exactly one "/");
    the answer is then kept in the message's cache (``bl_cache``, under
    the key ``_message.content_type`` reads). Anything else (no such
    header, so the default type that a digest may still change; 8-bit
    bytes) asks the stdlib and caches nothing.
    """
    for name, value in headers:
        if len(name) == 12 and name.lower() == "content-type":
            if isinstance(value, str) and value.isascii():
                ctype = value.partition(";")[0].strip().lower()
                if ctype.count("/") != 1:
                    ctype = "text/plain"
                msg.bl_cache["ct"] = ctype
                return ctype
            break
    return msg.get_content_type()


#: What :func:`simple_param` answers when it leaves the question to the stdlib.
UNSURE = object()
#: Characters after which a Content-Type value needs the stdlib's full
#: parameter parsing: backslash escapes, RFC 2231 ``name*``.
_PARAM_SPECIALS_RE = re.compile(r"[\\*]")


def simple_param(msg: Message, name: str, failobj: object = None) -> object:
    """``msg.get_param(name, failobj)`` for a plain ASCII ``Content-Type``.

    With no backslash or "*" in the value and no ";" inside quotes (an
    even number of '"' between semicolons) the stdlib's parsing comes down
    to: split at ";", each piece ``key=value`` (key stripped and
    lower-cased, value stripped) or a bare ``key`` (value ""), the first
    piece whose key matches case-insensitively wins, its value unquoted
    (:func:`email.utils.unquote`). Any other value returns :data:`UNSURE`:
    the caller asks the stdlib.
    """
    value = first_raw(msg, "content-type")
    if value is None:
        return failobj
    if not isinstance(value, str) or not value.isascii() or _PARAM_SPECIALS_RE.search(value):
        return UNSURE
    pieces = value.split(";")
    if '"' in value and any(piece.count('"') % 2 for piece in pieces):
        return UNSURE
    wanted = name.lower()
    for piece in pieces:
        key, sep, found = piece.partition("=")
        if sep:
            key = key.strip().lower()
            found = found.strip()
        else:
            key = piece.strip()
            found = ""
        if key.lower() == wanted:
            return _unquote(found)
    return failobj


def first_raw(msg: Message, name: str) -> object:
    """The stored value of the first ``name`` header (``name`` in lower
    case), raw 8-bit bytes still surrogate-escaped; ``None`` without one."""
    values = header_index(msg).get(name)
    return values[0] if values else None


def header_index(msg: Message) -> dict[str, list]:
    """Stored header values by lower-cased name, in order (what
    ``raw_items()`` gives, read once per message: a header block of 60,000
    Received lines was read again for each name asked)."""
    cache = getattr(msg, "bl_cache", None)
    index = None if cache is None else cache.get("hi")
    if index is None:
        index = {}
        try:
            for key, value in msg.raw_items():
                index.setdefault(key.lower(), []).append(value)
        except Exception:
            index = {}
        if cache is not None:
            cache["hi"] = index
    return index


def _boundary(msg: Message) -> str | None:
    """``msg.get_boundary()``."""
    found = simple_param(msg, "boundary")
    if found is UNSURE:
        return msg.get_boundary()
    # get_boundary() unquotes once more (collapse_rfc2231_value of a str)
    return None if found is None else _unquote(found).rstrip()  # type: ignore[arg-type]


def _split_multipart(body: str, boundary: str) -> tuple[str, list[str], str] | None:
    """(preamble, parts, epilogue) of a multipart body; ``None`` when its
    boundary never occurs as a delimiter line (at a line start, followed by
    "--", blanks or the line end)."""
    marker = "--" + boundary
    size = len(marker)
    pieces: list[str] = []
    preamble = ""
    epilogue = ""
    last = -1
    closed = False
    pos = body.find(marker)
    while pos >= 0:
        if pos == 0 or body[pos - 1] in "\r\n":
            after = pos + size
            closing = body.startswith("--", after)
            if closing:
                after += 2
            line_end = after
            while line_end < len(body) and body[line_end] in " \t":
                line_end += 1
            if line_end >= len(body) or body[line_end] in "\r\n":
                if line_end < len(body):
                    line_end += 2 if body.startswith("\r\n", line_end) else 1
                if last < 0:
                    preamble = _cut_line_end(body[:pos])
                else:
                    pieces.append(_cut_line_end(body[last:pos]))
                last = line_end
                if closing:
                    closed = True
                    epilogue = body[line_end:]
                    break
                if len(pieces) >= MAX_PARTS:
                    break
                pos = body.find(marker, line_end)
                continue
        pos = body.find(marker, pos + 1)
    if last < 0:
        return None
    if not closed:
        pieces.append(_cut_line_end(body[last:]))  # unterminated: ends at the last line end
    return preamble, pieces, epilogue


def _cut_line_end(text: str) -> str:
    """The line end before a delimiter belongs to the delimiter."""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n") or text.endswith("\r"):
        return text[:-1]
    return text
