"""parse() never raises: bad input is 'unparsed' or 'ignored'."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.bounces import parse


def test_garbage_bytes():
    parsed = parse(os.urandom(2048).replace(b":", b"") + b"\x00\xff")
    assert parsed.outcome in ("unparsed", "ignored")
    assert parsed.verdicts == ()


def test_empty_and_not_bytes():
    assert parse(b"").outcome == "unparsed"
    assert parse("a string").outcome == "unparsed"  # type: ignore[arg-type]


def test_over_max_size():
    parsed = parse(b"Subject: x\n\n" + b"a" * 1000, max_size=100)
    assert parsed.outcome == "unparsed"
    assert "max_size" in (parsed.error or "")


def test_truncated_mime(fixture_bytes):
    raw = fixture_bytes("postfix_sync_5.1.1.msg")
    for cut in (50, 400, len(raw) // 2, len(raw) - 40):
        parsed = parse(raw[:cut])
        assert parsed.outcome in ("bounce", "ignored", "unparsed")


def test_truncated_inside_delivery_status_still_finds_the_recipient(fixture_bytes):
    raw = fixture_bytes("postfix_sync_5.1.1.msg")
    cut = raw.index(b"Remote-MTA:")
    parsed = parse(raw[:cut])
    assert [v.recipient for v in parsed.verdicts] == ["nobody.here@customer.example"]


def test_missing_boundary():
    raw = (
        b"From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail Returned to Sender\n"
        b"Content-Type: multipart/report; report-type=delivery-status\n\n"
        b"--nothing\nContent-Type: message/delivery-status\n\nAction: failed\n"
    )
    assert parse(raw).outcome in ("bounce", "ignored", "unparsed")


def test_huge_nesting_does_not_raise():
    depth = 400
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth)
    )
    raw = b"From: a@b.example\nSubject: nest\n" + head + b"Content-Type: text/plain\n\nhi\n"
    raw += b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))
    parsed = parse(raw)
    assert parsed.outcome in ("ignored", "unparsed")


def test_non_ascii_headers_and_8bit_body():
    raw = "From: Jürgen <j@x.example>\nSubject: Grüße ünd so\n\nHällo\n".encode("latin-1")
    parsed = parse(raw)
    assert parsed.outcome == "ignored"
    assert parsed.subject and parsed.subject.startswith("Gr")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_never_raises_on_arbitrary_bytes(raw):
    parsed = parse(raw)
    assert parsed.outcome in ("bounce", "ignored", "unparsed")


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_never_raises_on_mutated_dsn(data):
    from pathlib import Path

    base = (Path(__file__).parent / "fixtures" / "two_rcpts_envid.msg").read_bytes()
    pos = data.draw(st.integers(0, len(base) - 1))
    junk = data.draw(st.binary(max_size=40))
    parsed = parse(base[:pos] + junk + base[pos + data.draw(st.integers(0, 60)):])
    assert parsed.outcome in ("bounce", "ignored", "unparsed")


def test_own_mime_splitter_bounds_and_shapes():
    from ingest.bounces import _mime

    # a boundary that never occurs: the multipart body stays one text
    lost = _mime.parse_bytes(b"Content-Type: multipart/mixed; boundary=zz\n\nhello\n")
    assert lost.get_payload() == "hello\n"
    # nesting deeper than MAX_DEPTH is left unsplit, without recursion errors
    raw = b""
    for level in range(200):
        raw = b"Content-Type: message/rfc822\n\n" + raw
    msg = _mime.parse_bytes(raw + b"Subject: x\n\nbody\n")
    depth, part = 0, msg
    while isinstance(part.get_payload(), list):
        part, depth = part.get_payload()[0], depth + 1
    assert depth <= _mime.MAX_DEPTH
    # delivery-status: one header-only block per group of fields
    dsn = _mime.parse_bytes(b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; a.example\n\n"
                            b"Final-Recipient: rfc822; b@c.example\nAction: failed\n")
    assert [b["Final-Recipient"] for b in dsn.get_payload()] == [None, "rfc822; b@c.example"]
