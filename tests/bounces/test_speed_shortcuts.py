"""The shortcuts of the DSN fast work give the answers of the long ways.

Each shortcut here skips work only where it can show the answer is the
same; these tests compare both ways on the fixtures (and, when present,
the shared corpora) and on hand-made edge cases.
"""

from __future__ import annotations

import base64
import email.header
import email.parser
import email.policy
import random
import re
from pathlib import Path

import pytest

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces import _mime, _rfc2047, reasons, rfc3464
from bounceledger.ingest.bounces.classify import _STRONG_TEXT_TABLE, _TEXT_TABLE

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def _raws() -> list[bytes]:
    raws = [p.read_bytes() for p in sorted(FIXTURES.glob("*.msg"))]
    for sub in ("sisimai/eml", "flufl-bounce/messages"):
        folder = CORPUS / sub
        if folder.is_dir():
            raws += [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()][::2]
    return raws


@pytest.mark.parametrize("value", ["a  b", " a\n\tb ", "a\u00a0\u2028b", "\x1c\x1dx\x1e", "", "   ", "a\r\n b"])
def test_unfold_is_the_regex_squeeze(value):
    assert m.unfold(value) == re.sub(r"\s+", " ", value).strip()


def test_status_text_reads_as_the_written_back_blocks():
    seen = 0
    for raw in _raws():
        for part in m.walk(m.load(raw)):
            if _mime.status_text_of(part) is not None:
                seen += 1
                assert rfc3464._blocks_from_text(_mime.status_text_of(part)) == \
                    rfc3464._blocks_from_text(m._text_of(part))
    assert seen


@pytest.mark.parametrize("body", [
    "Reporting-MTA: dns; a\n\nFinal-Recipient: rfc822; b@c\nAction: failed\n",
    "Final-Recipient: rfc822; b@c\nnot a field\nAction: failed\n",
    "From x\nFinal-Recipient: rfc822; b@c\n",
    "  Final-Recipient: rfc822; b@c\n",
    "Final-Recipient: rfc822; b@c\rAction: failed\n",
    "Final-Recipient : rfc822; b@c\r\n   more\r\n\r\nStatus: 5.1.1\r\n",
])
def test_status_text_only_where_it_agrees(body):
    raw = ("Content-Type: message/delivery-status\n\n" + body).encode()
    part = m.load(raw)
    if _mime.status_text_of(part) is not None:
        assert rfc3464._blocks_from_text(body) == rfc3464._blocks_from_text(m._text_of(part))


def test_status_text_only_when_every_block_was_read():
    blocks = "".join(f"Final-Recipient: rfc822; u{i}@c.example\nAction: failed\n\n"
                     for i in range(_mime.MAX_STATUS_BLOCKS + 1))
    part = m.load(("Content-Type: message/delivery-status\n\n" + blocks).encode())
    assert _mime.status_text_of(part) is None
    assert len(rfc3464._blocks_from_text(m._text_of(part))) == _mime.MAX_STATUS_BLOCKS
    assert any("delivery-status" in note for note in m.skipped_of(part))


_STDLIB_HEADERS = email.parser.HeaderParser(policy=email.policy.compat32)


@pytest.mark.parametrize("text", [
    "To: a@b\nMessage-ID: <x@y>\n\nbody", "To : a@b\nCc: c@d\n", "From me\nTo: a@b\n", " x\nTo: a@b\n",
    "To: a@b\n:odd\nCc: c@d\n", "To: a@b\nFrom x\nCc: c@d\n", "To: a@b\n folded\r\nCc: c\r\n\r\n", "To: a@b\rCc: c@d",
    "Subject: \udcc3\udca9\nTo: a@b\n", "no header here\n",
])
def test_own_header_block_is_the_stdlib_parse(text):
    ours = m._own_header_block(text)
    if ours is not None:
        assert ours.items() == _STDLIB_HEADERS.parsestr(text, headersonly=True).items()


def test_plain_text_of_is_the_decoded_payload():
    for raw in _raws():
        for part in m.walk(m.load(raw)):
            if not isinstance(part.get_payload(), list) and m._plain_text_of(part) is not None:
                payload = part.get_payload(decode=True)
                charset = m._content_charset(part) or "utf-8"
                assert m._plain_text_of(part) == m.bytes_to_text(payload, charset)


def _plain_context(address, text, lines=6):
    """The loop recipient_context ran over every line, for each recipient."""
    rows = text.splitlines()
    needle = address.lower()
    for index, row in enumerate(rows):
        if needle in row.lower():
            return rows[index:index + lines]
    return []


@pytest.mark.parametrize("text", ["a\nx@y.example said\nmore\n", "a\x0bX@Y.example\r\nb\rc", "nothing", "\u00e9\nx@y.example",
                                  "\u0130x@y.example\n\u2028x@y.EXAMPLE\n1\n2\n3\n4\n5\n6\n7", "x@y.exampl\ne\nx@y.example",
                                  "\n\n\r\nx@y.example\x85tail"])
def test_rows_from_first_mention(text):
    for needle in ("x@y.example", "x@y.exampl\ne", "i\u0307x@y.example", "\x85"):
        assert rfc3464._rows_from_first_mention(needle, text) == _plain_context(needle, text)
        assert rfc3464._rows_from_first_mention(needle, text, 2) == _plain_context(needle, text, 2)


def test_indexed_tables_answer_like_the_plain_loop():
    texts = []
    for raw in _raws()[:200]:
        body = m.body_text(m.load(raw))
        texts += [line for line in body.splitlines() if line.strip()][:40]
    for table, rows in ((_TEXT_TABLE, reasons.TEXT_RULES), (_STRONG_TEXT_TABLE, reasons.STRONG_TEXT_RULES)):
        for text in texts:
            plain = next((value for pattern, value in rows if pattern.search(text)), None)
            assert table.first(text) == plain, text


def _folded(count: int, charsets=("utf-8",)) -> str:
    words = []
    for i in range(count):
        charset = charsets[i % len(charsets)]
        words.append(f"=?{charset}?b?" + base64.b64encode(f"\u00e9{i}".encode(charset)).decode() + "?=")
    return "\r\n ".join(" ".join(words[i:i + 2]) for i in range(0, count, 2))


@pytest.mark.parametrize("value", [
    _folded(_rfc2047.STDLIB_WORDS), _folded(_rfc2047.STDLIB_WORDS + 1, ("utf-8", "iso-8859-1")),
    "plain " * 300 + _folded(300), _folded(250).replace("\r\n", ""), "=?a?q?x" * 400, "=?a?q?x" * 400 + "?=",
    "=?utf-8?q?a?= " * 300 + "=?utf\n-8?q?abc?=", "  \n" + "=?utf-8?Q?=C3?= =?utf-8?Q?=A9?=" * 300,
    "=?utf-8?b?!!?= " * 300, "=?cs=?q?b??=" * 300, "x =?utf-8?q?a?=\t=?us-ascii?q?_?=" * 300,
])
def test_linear_decode_header_is_the_stdlib_answer(value):
    def outcome(decode):
        try:
            return decode(value)
        except Exception as exc:
            return type(exc)
    assert outcome(_rfc2047.decode_header) == outcome(email.header.decode_header)


def test_linear_decode_header_on_generated_values():
    pieces = ["=?", "?=", "?", "=", "q", "B", "utf-8", " ", "\n", "\r", "a", "\u00e9", "\t", "=E9", "w6k", "=?a?q?"]
    rnd = random.Random(13)
    for _ in range(3000):
        value = "=?" * _rfc2047.STDLIB_WORDS + "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 30)))
        value = value[-rnd.randint(1, len(value)):] if rnd.random() < 0.3 else value
        try:
            expected = email.header.decode_header(value)
        except Exception as exc:
            expected = type(exc)
        try:
            found = _rfc2047.decode_header(value)
        except Exception as exc:
            found = type(exc)
        assert found == expected, value
        assert _rfc2047._has_encoded_word(value) == (_rfc2047._ECRE.search(value) is not None), value
