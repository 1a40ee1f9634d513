"""Small, defensive helpers over the stdlib ``email`` package.

Returned mail is the least well-formed mail there is: MTAs from the 1990s,
8-bit headers, base64 delivery reports, truncated attachments. Every helper
here turns "could not decode" into an empty or best-effort string rather
than an exception, so the format modules can stay short and trusting.
"""

from __future__ import annotations

import email.header
import functools
import re
from collections.abc import Callable, Iterator
from itertools import islice
from email.header import make_header
from email.message import Message
from typing import TypeVar

from bounceledger.ingest.bounces import _mime
from bounceledger.ingest.bounces._prefilter import lazy
from bounceledger.ingest.bounces._rfc2047 import decode_header


T = TypeVar("T")

#: Deeper MIME trees than this are not mail a sane MTA produces; walking
#: them would only give an attacker a way to burn CPU (or the stack).
MAX_DEPTH = 12
#: Upper bound on parts looked at, for the same reason.
MAX_PARTS = 500



@functools.cache
def _stdlib_parsers() -> tuple:
    """The stdlib's bytes and header parsers (compat32, making ``_mime.Part``),
    imported on first use: only :func:`load_headers`' fallback and the
    comparison mode need them."""
    import email.parser
    import email.policy

    return (email.parser.BytesParser(_class=_mime.Part, policy=email.policy.compat32),
            email.parser.HeaderParser(_class=_mime.Part, policy=email.policy.compat32))


#: The stdlib feed parser instead of :mod:`bounceledger.ingest.bounces._mime` (for comparing the two).
_USE_STDLIB = False


def load(raw: bytes) -> Message:
    """Parse bytes with the forgiving compat32 policy.

    compat32 never raises on bad structure; it records defects instead and
    keeps undecodable header bytes as surrogate escapes.
    """
    if _USE_STDLIB:
        return _stdlib_parsers()[0].parsebytes(raw)
    return _mime.parse_bytes(raw)


def source_text(msg: Message) -> str:
    """The whole message as text (8-bit bytes read as UTF-8)."""
    source = _mime.source_of(msg)
    try:
        if source is None:
            return msg.as_bytes(policy=msg.policy).decode("utf-8", "replace")
        if source.isascii():
            return source
        return source.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    except Exception:
        return body_text(msg)


def cache_of(msg: Message) -> dict:
    """The derived-value cache of ``msg``.

    A parsed message is only read, never changed, by the stages, so
    derived values (header index, decoded values, content types, decoded
    text, the part list) are worked out once per message, kept in its
    ``bl_cache`` (see ``_mime.Part``) and dropped with it; nothing is
    shared between messages. A ``Message`` this package did not make gets
    a fresh dict each time: the same answers, worked out anew.
    """
    cache = getattr(msg, "bl_cache", None)
    return {} if cache is None else cache


def memoized(msg: Message, key: str, compute: Callable[[Message], T]) -> T:
    """``compute(msg)``, worked out once per message and kept in its cache (``None`` too)."""
    cache = cache_of(msg)
    try:
        return cache[key]
    except KeyError:
        value = cache[key] = compute(msg)
        return value


_last_headers: tuple = ("", None)  # (text, Message): the block parsed last; one tuple, so thread-safe


def load_headers(text: str) -> Message:
    """Parse a header block given as text (``text/rfc822-headers``).

    The same block is often asked for twice in a row (the returned headers
    are read for the keys and again by a detector): the last one is kept.
    """
    global _last_headers
    last_text, last = _last_headers
    if last is not None and (last_text is text or last_text == text):
        return last
    block = text.lstrip("\r\n")
    parsed = _own_header_block(block)
    if parsed is None:
        parsed = _stdlib_parsers()[1].parsestr(block, headersonly=True)
    _last_headers = (text, parsed)
    return parsed


#: A line the stdlib header parser keeps reading headers at (its ``headerRE``).
_STDLIB_HEADER_LINE_RE = lazy(r"From |[\041-\071\073-\176]*:|[\t ]")


def _own_header_block(text: str) -> Message | None:
    """``text``'s header block read by our splitter, when the stdlib's
    header parser would store the same fields; ``None`` otherwise.

    The two differ only on lines one of them takes for a header and the
    other does not: an mbox "From " line or continuation lines at the top,
    blanks between a field name and its colon (ours allows them), and a
    line that ends our block but not the stdlib's (a "From " line, or a
    colon with no name before it). None of these: the same (name, value)
    pairs, and the same text after them.
    """
    if text.startswith(("From ", " ", "\t")):
        return None
    headers, body = _mime.split_headers(text)
    end = len(text) - len(body)  # where our block (and its blank line) ends
    if text.find(" :", 0, end) >= 0 or text.find("\t:", 0, end) >= 0:
        return None
    if body and body[0] not in "\r\n" and _STDLIB_HEADER_LINE_RE.match(body):
        return None
    return _mime.headers_message(headers, body)




def unfold(value: str) -> str:
    """Join folded header lines and squeeze runs of whitespace."""
    if value.isprintable() and "  " not in value:
        # every whitespace character is unprintable except the plain space,
        # and no two spaces meet: nothing to squeeze (the common case)
        return value.strip()
    # ``_SPACES_RE.sub(" ", value).strip()``: ``\s``, ``str.split()`` and
    # ``str.strip()`` share one notion of whitespace, and the split-join
    # costs a fraction of the regex
    return " ".join(value.split())


def header(msg: Message, name: str) -> str:
    """Decoded, unfolded value of the first ``name`` header, or ``""``.

    Handles RFC 2047 encoded words and raw 8-bit (usually UTF-8) headers.
    """
    decoded = _decoded_values(msg, name)
    return decoded[0] if decoded else ""


def headers_all(msg: Message, name: str) -> list[str]:
    """Decoded values of every ``name`` header."""
    return list(_decoded_values(msg, name))


def headers_of(msg: Message, names: tuple[str, ...]) -> dict[str, str]:
    """``{name: header(msg, name)}`` for each of ``names`` that ``msg`` has.

    The same values as asking one by one, with one cache look-up per name.
    """
    cache = cache_of(msg)
    index = _mime.header_index(msg)
    found: dict[str, str] = {}
    for name in names:
        lower = name.lower()
        key = ("hd", lower)
        decoded = cache.get(key)
        if decoded is None:
            raw = index.get(lower)
            if not raw:
                continue
            decoded = cache[key] = tuple(_decode_value(value, msg) for value in raw)
        if decoded:
            found[name] = decoded[0]
    return found


def has_header(msg: Message, name: str) -> bool:
    """True when ``msg`` has at least one ``name`` header (any value)."""
    return bool(_raw_values(msg, name))


def _decoded_values(msg: Message, name: str) -> tuple[str, ...]:
    cache = cache_of(msg)
    key = ("hd", name.lower())
    try:
        return cache[key]
    except KeyError:
        pass
    decoded = tuple(_decode_value(value, msg) for value in _raw_values(msg, name))
    cache[key] = decoded
    return decoded


def _raw_values(msg: Message, name: str) -> list[str]:
    """Stored header values, with raw 8-bit bytes still surrogate-escaped.

    ``Message.get`` would turn 8-bit bytes into U+FFFD under compat32;
    the raw values let us decode them as UTF-8 ourselves.
    """
    return _mime.header_index(msg).get(name.lower(), _NO_VALUES)


_NO_VALUES: list[str] = []


#: Encoded words decoded in one header value. RFC 2047 (section 2) keeps an
#: encoded word within 75 characters and a header line within 76, and mail
#: programs encode a Subject or a display name in a few dozen words at most;
#: past this many (a 380 KB value), the rest of the value is kept as it
#: came, still encoded, and the message notes the cut (``skipped_of``).
MAX_ENCODED_WORDS = 10_000


def _decode_value(value: object, msg: Message | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and value.isascii() and value.isprintable() and "=?" not in value \
            and "  " not in value:
        # plain text: no raw bytes, encoded words, folds or runs of blanks,
        # so only the outer blanks go (what the steps below come to)
        return value.strip()
    try:
        if not isinstance(value, str):
            return unfold(str(make_header(email.header.decode_header(value))))  # type: ignore[arg-type]
        text = _fix_surrogates(value)
        if "=?" in text:
            text, rest = _cut_encoded_words(text, msg)
            try:
                text = str(make_header(decode_header(text)))
            except Exception:
                pass
            text += rest
        return unfold(text)
    except Exception:
        return unfold(_fix_surrogates(str(value)))


def _cut_encoded_words(text: str, msg: Message | None) -> tuple[str, str]:
    """``text`` split where its ``MAX_ENCODED_WORDS + 1``-th encoded word
    begins: what is decoded, and what is kept as it is (``""`` for a value
    under the limit)."""
    if text.count("=?") <= MAX_ENCODED_WORDS:  # every word has one (padding may add another)
        return text, ""
    starts = _ENCODED_WORD_START_RE.finditer(text)
    beyond = next(islice(starts, MAX_ENCODED_WORDS, None), None)
    if beyond is None:
        return text, ""
    note_skipped(msg, f"encoded words of a header value beyond the first {MAX_ENCODED_WORDS} kept undecoded")
    return text[:beyond.start()], " " + text[beyond.start():]


#: Where an encoded word may begin: "=?charset?q?" (RFC 2047 section 2).
_ENCODED_WORD_START_RE = lazy(r"=\?[^?]*\?[qQbB]\?")


def note_skipped(msg: Message | None, note: str) -> None:
    """Add ``note`` to what :func:`skipped_of` reports for ``msg``'s message:
    a limit that left part of it unread is said, never silent."""
    skipped = getattr(msg, "bl_skipped", None)
    if skipped is not None and note not in skipped:
        skipped.append(note)


def skipped_of(msg: Message) -> tuple[str, ...]:
    """What the parse left unread in ``msg`` because a limit was met
    (``_mime``'s part and field-block limits, :data:`MAX_ENCODED_WORDS`),
    in words a person can read; ``()`` when nothing was left."""
    return _mime.skipped_of(msg)


_SURROGATE_RE = lazy("[\udc80-\udcff]")


def _fix_surrogates(text: str) -> str:
    """Turn surrogate-escaped raw bytes back into (UTF-8 or Latin-1) text."""
    if text.isascii() or not _SURROGATE_RE.search(text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def content_type(part: Message) -> str:
    cache = cache_of(part)
    try:
        return cache["ct"]
    except KeyError:
        pass
    try:
        if not _raw_values(part, "content-type"):
            # what get_content_type() answers without the header: the
            # default type (a digest may still change it: not cached)
            return part.get_default_type().lower()
        ctype = part.get_content_type().lower()
    except Exception:
        ctype = "text/plain"
    cache["ct"] = ctype
    return ctype


def param(part: Message, name: str) -> str:
    cache = cache_of(part)
    key = ("p", name)
    try:
        return cache[key]
    except KeyError:
        pass
    try:
        value = _mime.simple_param(part, name)
        if value is _mime.UNSURE:
            value = part.get_param(name)
    except Exception:
        cache[key] = ""
        return ""
    if isinstance(value, tuple):  # RFC 2231 encoded
        value = value[2]
    result = cache[key] = str(value or "").strip().strip('"').lower()
    return result


def walk(msg: Message, max_depth: int = MAX_DEPTH) -> Iterator[Message]:
    """Yield every part depth-first, bounded in depth and count.

    ``Message.walk`` is recursive and unbounded; this one is neither.
    """
    if max_depth == MAX_DEPTH:
        return iter(memoized(msg, "walk", _all_parts))
    return _walk(msg, max_depth)


def _all_parts(msg: Message) -> tuple[Message, ...]:
    return tuple(_walk(msg, MAX_DEPTH))


def part_types(msg: Message) -> frozenset[str]:
    """The content types of every part :func:`walk` yields (``msg`` too).

    Several stages first ask "is there a part of type X anywhere?" (a
    feedback report, a delivery status, a returned message); one walk per
    message answers all of them.
    """
    return memoized(msg, "types", _all_types)


def _all_types(msg: Message) -> frozenset[str]:
    return frozenset(map(content_type, walk(msg)))


def _walk(msg: Message, max_depth: int) -> Iterator[Message]:
    """The parts depth-first; the field blocks of a delivery status are
    yielded but not counted against ``MAX_PARTS`` (``_mime`` bounds them
    on their own): a report of 1,000 recipients would otherwise end the
    walk before the returned message that follows it."""
    stack: list[tuple[Message, int, bool]] = [(msg, 0, True)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth, counted = stack.pop()
        seen += counted
        yield part
        if depth >= max_depth:
            continue
        payload = _children_of(part)
        if payload is not None:
            children = [p for p in payload if isinstance(p, Message)]
            count = content_type(part) not in _FIELD_BLOCK_TYPES
            stack.extend((child, depth + 1, count) for child in reversed(children))


#: Parts whose children are field blocks (see ``_mime``), not MIME parts.
_FIELD_BLOCK_TYPES = frozenset({"message/delivery-status"})


def _children_of(part: Message) -> list | None:
    """The sub-parts list of ``part`` (``None`` for a leaf).

    ``get_payload()`` returns the stored list as it is for a multipart, but
    for a leaf it first looks the transfer encoding up and may re-decode the
    text: ``is_multipart()`` answers the type question first.
    """
    return part.get_payload() if part.is_multipart() else None


def text_of(part: Message) -> str:
    """The decoded text of a leaf part (transfer encoding and charset undone)."""
    return memoized(part, "text", _text_of)


#: Charsets that read ASCII bytes as the same ASCII text (the codecs of the
#: candidates :func:`bytes_to_text` tries first).
_ASCII_SAFE_CHARSETS = frozenset({"us-ascii", "ascii", "utf-8", "utf8", "iso-8859-1", "iso-8859-15", "latin-1",
                                  "latin1", "windows-1252", "cp1252"})
#: Transfer encodings ``get_payload(decode=True)`` undoes; any other value
#: (or none) gives the payload back as its bytes.
_DECODED_CTES = frozenset({"quoted-printable", "base64", "x-uuencode", "uuencode", "uue", "x-uue"})


def _plain_text_of(part: Message) -> str | None:
    """The text of a leaf part whose payload is stored text, when that text
    is already the answer; ``None`` when :func:`_text_of` must work it out.

    An ASCII payload without a transfer encoding to undo comes out of
    ``get_payload(decode=True)`` as its own ASCII bytes, and an
    ASCII-compatible charset decodes those back to the same text. Plain
    7-bit report text (what Postfix writes) never needs the round trip.
    """
    if part.is_multipart():
        return None
    # get_payload() gives the stored text as it is unless it holds
    # surrogate-escaped bytes, which are not ASCII either way
    try:
        payload = part.get_payload()
    except Exception:  # surrogates and an RFC 2231 charset: the stdlib trips over its own tuple
        return None
    if not isinstance(payload, str) or not payload.isascii() or "\x1b" in payload:
        return None  # ESC: the ISO-2022-JP sniffing of bytes_to_text applies
    cte = _raw_values(part, "content-transfer-encoding")
    if cte:
        value = cte[0]
        if not isinstance(value, str) or not value.isascii() or value.lower() in _DECODED_CTES:
            return None
    try:
        charset = _content_charset(part)
    except Exception:
        return None
    if charset is not None and charset not in _ASCII_SAFE_CHARSETS:
        return None
    return payload


def _text_of(part: Message) -> str:
    plain = _plain_text_of(part)
    if plain is not None:
        return plain
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, list):
            return "\n\n".join(_flatten(m) for m in raw if isinstance(m, Message))
        return _fix_surrogates(str(raw or ""))
    if not isinstance(payload, bytes):
        return str(payload)
    charset = "utf-8"
    try:
        charset = _content_charset(part) or "utf-8"
    except Exception:
        pass
    text = bytes_to_text(payload, charset)
    # a base64 or quoted-printable body holds the line ends its writer used (CRLF from
    # Exchange and most Windows mailers): LF, as for the message itself (_mime.parse_bytes)
    return text.replace("\r\n", "\n") if "\r\n" in text else text


def _content_charset(part: Message) -> str | None:
    """``part.get_content_charset()``, the plain case without the stdlib."""
    found = _mime.simple_param(part, "charset")
    if found is _mime.UNSURE:
        return part.get_content_charset()
    return None if found is None else found.lower()  # type: ignore[union-attr]


def bytes_to_text(payload: bytes, charset: str) -> str:
    """Decode with the declared charset, then UTF-8, then Latin-1.

    Japanese mailers often send ISO-2022-JP without declaring it (in
    delivery-status parts above all); its escape sequence gives it away.
    """
    candidates = (charset, "utf-8", "latin-1")
    if b"\x1b$B" in payload or b"\x1b$@" in payload:
        candidates = ("iso-2022-jp",) + candidates
    for candidate in candidates:
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError, ValueError):  # ValueError: a NUL in the charset name
            continue
    return payload.decode("latin-1", "replace")


def _undo_jis(text: str) -> str:
    """Decode raw ISO-2022-JP left in a field value.

    Japanese MTAs (Lotus Domino among them) write the Diagnostic-Code of a
    delivery-status part in ISO-2022-JP without any declaration: 7-bit text
    with ESC $ B ... ESC ( B shifts. Anything that is not clean JIS stays.
    """
    if "\x1b$" not in text:
        return text
    try:
        return text.encode("ascii").decode("iso-2022-jp")
    except (UnicodeError, LookupError):
        return text


def _flatten(msg: Message) -> str:
    """Serialise a parsed sub-message back to text (headers + body)."""
    try:
        lines = [f"{k}: {_undo_jis(_fix_surrogates(str(v)))}" for k, v in msg.raw_items()]
        body = msg.get_payload()
        if isinstance(body, list):
            tail = "\n\n".join(_flatten(m) for m in body if isinstance(m, Message))
        else:
            raw = msg.get_payload(decode=True)
            tail = bytes_to_text(raw, "utf-8") if isinstance(raw, bytes) else str(body or "")
        return "\n".join(lines) + "\n\n" + tail
    except Exception:
        return ""


def body_text(msg: Message, limit: int = 200_000) -> str:
    """All human-readable text of a message, outside any returned original.

    Stops at ``message/rfc822`` and header attachments: the text of the
    returned original is the sender's own mail and must not be read as the
    bounce's explanation.
    """
    if limit <= _BODY_LIMIT:
        # The text up to a smaller limit is a prefix of the text up to the
        # default one, so one walk serves every caller.
        cache = cache_of(msg)
        text = cache.get("body")
        if text is None:
            text = cache["body"] = _body_text(msg, _BODY_LIMIT)
            if len(text) == _BODY_LIMIT:
                note_skipped(msg, f"human-readable text beyond the first {_BODY_LIMIT} characters not read")
        return text if limit == _BODY_LIMIT else text[:limit]
    return _body_text(msg, limit)


_BODY_LIMIT = 200_000


def _body_text(msg: Message, limit: int) -> str:
    chunks: list[str] = []
    size = 0
    for part in _walk_skipping_returned(msg):
        ctype = content_type(part)
        if ctype in ("text/plain", "text/html") or (
            ctype.startswith("text/") and ctype != "text/rfc822-headers"
        ):
            text = text_of(part)
            if ctype == "text/html":
                text = html_to_text(text)
            chunks.append(text)
            size += len(text)
            if size > limit:
                break
        elif ctype.startswith("multipart/") and isinstance(part.get_payload(), str):
            # a multipart whose boundary never occurs: its body is one text,
            # the human part first, then (often) the report and the original
            text = _fix_surrogates(part.get_payload())
            end = _BROKEN_MULTIPART_END_RE.search(text)
            chunks.append(text[: end.start()] if end else text)
            size += len(chunks[-1])
            if size > limit:
                break
    return "\n".join(chunks)[:limit]


#: Where the human-readable text of a boundary-less multipart ends: the
#: first delivery-status field or the heading of a returned original.
_BROKEN_MULTIPART_END_RE = lazy(
    r"^(?:(?:Reporting-MTA|Final-Recipient|Original-Recipient)\s*:"
    r"|Content-Type:\s*(?:message/|text/rfc822-headers))", re.I | re.M)


RETURNED_TYPES = frozenset(
    {"message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers",
     "message/partial", "message/external-body"}
)


def _walk_skipping_returned(msg: Message) -> Iterator[Message]:
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        ctype = content_type(part)
        if part is not msg and ctype in RETURNED_TYPES:
            continue
        if ctype in ("message/delivery-status", "message/global-delivery-status",
                     "message/feedback-report"):
            continue
        payload = _children_of(part)
        if payload is not None:
            if depth < MAX_DEPTH:
                children = [p for p in payload if isinstance(p, Message)]
                stack.extend((c, depth + 1) for c in reversed(children))
            continue
        yield part  # a leaf, or a multipart whose boundary never occurs


_SCRIPT_RE = lazy(r"(?is)<(script|style).*?</\1>")
_LINE_TAG_RE = lazy(r"(?i)<br\s*/?>|</p>|</div>|</tr>")
_TAG_RE = lazy(r"<[^>]+>")


#: Blank lines in a row, or lines of nothing but blanks: in HTML, line breaks in the source
#: mean nothing, so a table's rows (QQ Mail's notice puts the address in one and the cause
#: in the next) leave runs of them that are no paragraph breaks of the notice's.
_BLANK_RUN_RE = lazy(r"\n[ \t]*(?:\n[ \t]*)+\n")


def html_to_text(html: str) -> str:
    """Crude tag stripper: enough for reading bounce explanations."""
    text = _SCRIPT_RE.sub(" ", html)
    text = _LINE_TAG_RE.sub("\n", text)
    text = _TAG_RE.sub(" ", text)
    for entity, char in (("&nbsp;", " "), ("&lt;", "<"), ("&gt;", ">"),
                         ("&quot;", '"'), ("&#39;", "'"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return _BLANK_RUN_RE.sub("\n\n", text)


#: The local part may only start where a run of local-part characters
#: starts (the look-behind) and is consumed possessively: without both, a
#: long run of word characters with no "@" after it costs quadratic time.
#: The characters are word characters, the local part's punctuation and
#: U+0080..U+FFFF; the BMP part above U+00FF is written as a negated class
#: (``_BMP_HIGH``) because a class holding that range itself takes the
#: ``re`` compiler several milliseconds at every start, the negated one
#: almost nothing (the same characters). CJK punctuation (U+3000..U+303F, the
#: ideographic space and comma among them) and the full-width and half-width
#: forms (U+FF00..U+FFEF, the full-width colon of "收件人：a@b" among them) are left
#: out: Chinese, Japanese and Korean notices put them between a label and an
#: address, where they end the label, as an ASCII colon or blank does.
_BMP_HIGH = r"[^\x00-\xff\u3000-\u303f\uff00-\uffef\U00010000-\U0010ffff]"
_LOCAL_CHAR = rf"(?:[\w.!#$%&'*+/=?^`{{|}}~\-\x80-\xff]|{_BMP_HIGH})"
_DOMAIN_CHAR = rf"(?:[\w\-\x80-\xff]|{_BMP_HIGH})"
ADDRESS_RE = lazy(
    rf"(?<![\w.!#$%&'*+/=?^`{{|}}~\-\x80-\xff])(?<!{_BMP_HIGH})"
    rf"{_LOCAL_CHAR}++@{_DOMAIN_CHAR}++(?:\.{_DOMAIN_CHAR}++)+"
)


#: Local parts of role mailboxes a notice points people to ("write to postmaster@"): RFC 2142's
#: postmaster and abuse, and the MAILER-DAEMON that signs notices. Never a failed recipient.
ROLE_LOCAL_PARTS = frozenset({"postmaster", "mailer-daemon", "abuse"})


def first_address(text: str) -> str | None:
    """The first thing in ``text`` that looks like an e-mail address."""
    match = ADDRESS_RE.search(text or "")
    return address_found(match.group(0)) if match else None


def address_found(found: str) -> str:
    """An :data:`ADDRESS_RE` match as an address: a sentence's full stop and an opening
    single quote dropped ("'a@b' on 3/4/2025" in Exchange 2003's reports, "Recipient
    'a@b' unknown"; an apostrophe inside, "o'brien@b", stays), lower-cased when ASCII."""
    if found[0] in ".'" or found[-1] == ".":
        found = found.strip(".").lstrip("'")
    return found.lower() if found.isascii() else found


_TYPE_PREFIX_RE = lazy(r"^\s*[\w\-]+\s*;\s*")
_BRACKETED_RE = lazy(r"<([^<>]*@[^<>]*)>")


def addresses_in(msg: Message, *names: str) -> set[str]:
    """The address in each value of these headers (see :func:`address_of`)."""
    return {a for a in (address_of(v) for name in names for v in headers_all(msg, name)) if a}


def same_organisation(first: str, second: str) -> bool:
    """Whether two addresses' domains are the same, or one lies under the other
    (``bounce.shop.example`` and ``shop.example``): mail systems of one organisation."""
    one, other = first.rpartition("@")[2].lower(), second.rpartition("@")[2].lower()
    return bool(one and other) and (one == other or one.endswith("." + other) or other.endswith("." + one))


def address_of(value: str) -> str | None:
    """The address in a header value like ``Name <a@b>`` or ``rfc822; a@b``."""
    if not value:
        return None
    if ";" in value:  # no ";": no type prefix to drop
        value = _TYPE_PREFIX_RE.sub("", value)
    inside = _BRACKETED_RE.search(value) if "<" in value else None
    if inside:
        value = inside.group(1)
    return first_address(value)
