"""The shortcuts of the DSN fast work give the answers of the long ways.

Each shortcut here skips work only where it can show the answer is the
same; these tests compare both ways on the fixtures (and, when present,
the shared corpora) and on hand-made edge cases.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from pathlib import Path

import pytest

from ingest.bounces import _message as m
from ingest.bounces import _mime, rfc3464
from ingest.bounces.classify import _STRONG_TEXT_TABLE, _TEXT_TABLE

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
            if _mime.STATUS_TEXT in part.__dict__:
                seen += 1
                assert rfc3464._blocks_from_text(part.__dict__[_mime.STATUS_TEXT]) == \
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
    if _mime.STATUS_TEXT in part.__dict__:
        assert rfc3464._blocks_from_text(body) == rfc3464._blocks_from_text(m._text_of(part))


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
                assert m._plain_text_of(part) == m._bytes_to_text(payload, charset)


def _plain_context(address, text, lines=6):
    rows = text.splitlines()
    needle = address.lower()
    for index, row in enumerate(rows):
        if needle in row.lower():
            return rows[index:index + lines]
    return []


@pytest.mark.parametrize("text", ["a\nx@y.example said\nmore\n", "a\x0bX@Y.example\r\nb\rc", "nothing", "\u00e9\nx@y.example"])
def test_rows_from_first_mention(text):
    rows = rfc3464._rows_from_first_mention("x@y.example", text)
    if rows is not None:
        assert rows[:6] == _plain_context("x@y.example", text)


def test_indexed_tables_answer_like_the_plain_loop():
    texts = []
    for raw in _raws()[:200]:
        body = m.body_text(m.load(raw))
        texts += [line for line in body.splitlines() if line.strip()][:40]
    for table in (_TEXT_TABLE, _STRONG_TEXT_TABLE):
        for text in texts:
            plain = next((value for pattern, value, _, _ in table._rows if pattern.search(text)), None)
            assert table.first(text) == plain, text
