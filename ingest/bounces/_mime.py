"""A small, bounded MIME splitter that fills stdlib ``Message`` objects.

The stdlib feed parser reads a message line by line through a generator
stack; on returned mail it was a third of the parse time. Returned mail
needs much less: the header block of each part and the part bodies cut at
their boundaries. This module does exactly that with a handful of string
searches and gives back ordinary ``email.message.Message`` objects (compat32
policy), so every helper, detector and flufl.bounce keep reading the same
API: headers as ``(name, value)`` pairs, the body as a string, a
``multipart/*`` as a list of parts, a ``message/*`` as a list holding the
enclosed message, ``message/delivery-status`` and
``message/feedback-report`` as a list of header-only field blocks.

Limits: nesting beyond ``MAX_DEPTH`` and parts beyond ``MAX_PARTS`` are left
as unsplit text. Nothing here raises on bad input: a missing boundary leaves
the multipart's body as one string (the shape the rest of the package
already handles), a header block without its blank line ends at the first
line that is not a header.
"""

from __future__ import annotations

import re
from email import policy as _policy
from email.utils import unquote as _unquote
from email.message import Message

MAX_DEPTH = 12
#: Attribute holding the text each message was parsed from (see :func:`source_of`).
SOURCE = "_bounceledger_source"
MAX_PARTS = 500

_COMPAT32 = _policy.compat32

#: A header line: a field name and a colon, a continuation, or an mbox
#: "From " line (kept as a header-ish line by the stdlib too).
_HEADER_LINE_RE = re.compile(r"(?:From |[\041-\071\073-\176]*:|[ \t])")
_FIELD_RE = re.compile(r"([^:\s][^:]*?)[ \t]*:")
_LINES_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_BLANK_SPLIT_RE = re.compile(r"(?:\r?\n)(?:\r?\n)+")


class _Budget:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts = 0


def parse_bytes(raw: bytes) -> Message:
    """A ``Message`` tree for ``raw`` (undecodable bytes surrogate-escaped)."""
    return parse_text(raw.decode("ascii", "surrogateescape"))


def parse_text(text: str) -> Message:
    return _message(text, 0, _Budget())


def parse_headers(text: str) -> Message:
    """A header-only ``Message`` (the body, if any, kept as its payload)."""
    msg = Message(_COMPAT32)
    headers, body = _split_headers(text)
    msg._headers = headers  # type: ignore[attr-defined]
    msg._payload = body  # type: ignore[attr-defined]
    return msg


#: One header field: its name, the colon, and its value with continuation lines.
#: The name is taken greedily: its class holds neither ":" nor a blank, so
#: the greedy and the lazy forms match the same text, the greedy one
#: without a retry per character.
_FIELD_BLOCK_RE = re.compile(r"([\041-\071\073-\176]+)[ \t]*:[ \t]*([^\r\n]*(?:\r?\n|\r|$)(?:[ \t][^\r\n]*(?:\r?\n|\r|$))*)")
_MBOX_LINE_RE = re.compile(r"From [^\r\n]*(?:\r?\n|$)")
_ORPHAN_CONTINUATION_RE = re.compile(r"(?:[ \t][^\r\n]*(?:\r?\n|\r|$))+")


def source_of(msg: Message) -> str | None:
    """The text ``msg`` was parsed from by this module (``None`` otherwise):
    the message as it came, without a round trip through the generator."""
    return msg.__dict__.get(SOURCE)


def _split_headers(text: str) -> tuple[list[tuple[str, str]], str]:
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


def _message(text: str, depth: int, budget: _Budget) -> Message:
    budget.parts += 1
    msg = Message(_COMPAT32)
    msg.__dict__[SOURCE] = text
    headers, body = _split_headers(text)
    msg._headers = headers  # type: ignore[attr-defined]
    msg._payload = body  # type: ignore[attr-defined]
    if not headers or depth >= MAX_DEPTH or budget.parts >= MAX_PARTS:
        return msg
    ctype = _content_type(msg, headers)
    maintype, _, subtype = ctype.partition("/")
    if maintype == "multipart":
        boundary = _boundary(msg)
        if boundary:
            parts = _split_multipart(body, boundary)
            if parts is not None:
                preamble, chunks, epilogue = parts
                children = []
                for chunk in chunks:
                    if budget.parts >= MAX_PARTS:
                        break
                    child = _message(chunk, depth + 1, budget)
                    if subtype == "digest" and not child._headers:  # type: ignore[attr-defined]
                        child.set_default_type("message/rfc822")
                    children.append(child)
                msg._payload = children  # type: ignore[attr-defined]
                msg.preamble = preamble or None
                msg.epilogue = epilogue
    elif maintype == "message":
        if subtype == "delivery-status":
            # one header-only block per blank-line separated group of fields
            blocks = [b for b in _BLANK_SPLIT_RE.split(body) if b.strip()]
            msg._payload = [parse_headers(b.lstrip("\r\n") + "\n") for b in blocks[:MAX_PARTS]]  # type: ignore[attr-defined]
            if _fields_only(body, blocks, msg._payload):  # type: ignore[attr-defined]
                msg.__dict__[STATUS_TEXT] = body
        else:
            # message/rfc822 and every other message/*: one enclosed message
            msg._payload = [_message(body, depth + 1, budget)]  # type: ignore[attr-defined]
    return msg


#: Attribute holding the body of a ``message/delivery-status`` part when
#: that text reads as the same field blocks as its parsed blocks do (see
#: :func:`_fields_only`); absent otherwise.
STATUS_TEXT = "_bounceledger_status_text"


def _fields_only(body: str, blocks: list[str], parsed: list[Message]) -> bool:
    """True when reading ``body`` line by line gives the lines of its parsed
    blocks written back out (``_message._flatten``), up to blank lines and
    the blanks around names and values.

    That holds when every line of every block is a field or a continuation
    (no block kept a body of other lines, which the written-back form would
    set off with a blank line), no block opens with an mbox "From " line or
    an orphan continuation (both dropped by the splitter), the text is
    ASCII without ESC (no surrogates to fix, no ISO-2022-JP to undo), every
    CR ends a line as part of CRLF (a lone CR ends a field only for the
    splitter) and no block was left out.
    """
    if len(blocks) > MAX_PARTS or not body.isascii() or "\x1b" in body:
        return False
    if "\r" in body and body.count("\r") != body.count("\r\n"):
        return False
    for block, part in zip(blocks, parsed):
        if part._payload:  # type: ignore[attr-defined]
            return False
        start = block.lstrip("\r\n")
        if start.startswith(("From ", " ", "\t")):
            return False
    return True


#: Name of the per-message cache of :mod:`ingest.bounces._message` (its
#: ``_CACHE``): the content type worked out here is stored there, under the
#: key its ``content_type`` helper reads, so it is not worked out again.
_CACHE = "_bounceledger_cache"


def _content_type(msg: Message, headers: list[tuple[str, str]]) -> str:
    """``msg.get_content_type()``, without the stdlib's generic header lookup.

    Only a plain ASCII ``Content-Type`` value takes the short path (the
    stdlib's own steps: the first such header, the text before ";",
    stripped and lower-cased, ``text/plain`` unless it has exactly one "/");
    the answer is then kept in the message's cache. Anything else (no such
    header, so the default type that a digest may still change; 8-bit
    bytes) asks the stdlib and caches nothing.
    """
    for name, value in headers:
        if len(name) == 12 and name.lower() == "content-type":
            if isinstance(value, str) and value.isascii():
                ctype = value.partition(";")[0].strip().lower()
                if ctype.count("/") != 1:
                    ctype = "text/plain"
                msg.__dict__[_CACHE] = {"ct": ctype}
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
    value = None
    for key, raw in msg._headers:  # type: ignore[attr-defined]
        if len(key) == 12 and key.lower() == "content-type":
            value = raw
            break
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
