"""parse() never raises on bad input, and never hides its own bugs.

Bad input is ``unparsed`` or ``ignored``; an exception from our own code is
the distinct outcome ``error``, logged and counted. The input tests run
``parse(..., strict=True)``, which raises such an exception instead, so they
fail on a bug rather than pass on whatever came back.
"""

from __future__ import annotations

import os

import logging
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bounceledger.ingest.bounces as bounces
from bounceledger.ingest.bounces import failures, internal_errors, parse


def test_garbage_bytes():
    parsed = parse(os.urandom(2048).replace(b":", b"") + b"\x00\xff", strict=True)
    assert parsed.outcome in ("unparsed", "ignored")
    assert parsed.verdicts == ()


def test_empty_and_not_bytes():
    assert parse(b"", strict=True).outcome == "unparsed"
    assert parse("a string", strict=True).outcome == "unparsed"  # type: ignore[arg-type]


def test_over_max_size():
    parsed = parse(b"Subject: x\n\n" + b"a" * 1000, max_size=100, strict=True)
    assert parsed.outcome == "unparsed"
    assert "max_size" in (parsed.error or "")


def test_truncated_mime(fixture_bytes):
    raw = fixture_bytes("postfix_sync_5.1.1.msg")
    for cut in (50, 400, len(raw) // 2, len(raw) - 40):
        parsed = parse(raw[:cut], strict=True)
        assert parsed.outcome in ("bounce", "ignored", "unparsed")


def test_truncated_inside_delivery_status_still_finds_the_recipient(fixture_bytes):
    raw = fixture_bytes("postfix_sync_5.1.1.msg")
    cut = raw.index(b"Remote-MTA:")
    parsed = parse(raw[:cut], strict=True)
    assert [v.recipient for v in parsed.verdicts] == ["nobody.here@customer.example"]


def test_missing_boundary():
    raw = (
        b"From: MAILER-DAEMON@x.example\nSubject: Undelivered Mail Returned to Sender\n"
        b"Content-Type: multipart/report; report-type=delivery-status\n\n"
        b"--nothing\nContent-Type: message/delivery-status\n\nAction: failed\n"
    )
    assert parse(raw, strict=True).outcome in ("bounce", "ignored", "unparsed")


def test_huge_nesting_does_not_raise():
    depth = 400
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth)
    )
    raw = b"From: a@b.example\nSubject: nest\n" + head + b"Content-Type: text/plain\n\nhi\n"
    raw += b"".join(b"--b%d--\n" % i for i in reversed(range(depth)))
    parsed = parse(raw, strict=True)
    assert parsed.outcome in ("ignored", "unparsed")


def test_nesting_far_beyond_the_stack_is_bounded():
    """Deeper than the recursion limit: strict mode raises RecursionError if any reader recurses per level."""
    depth = sys.getrecursionlimit() * 3
    raw = b"From: MAILER-DAEMON@x.example\nContent-Type: message/rfc822\n\n" * depth + b"Subject: x\n\nbody\n"
    parsed = parse(raw, strict=True)
    assert parsed.outcome in ("ignored", "unparsed")


def test_non_ascii_headers_and_8bit_body():
    raw = "From: Jürgen <j@x.example>\nSubject: Grüße ünd so\n\nHällo\n".encode("latin-1")
    parsed = parse(raw, strict=True)
    assert parsed.outcome == "ignored"
    assert parsed.subject and parsed.subject.startswith("Gr")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_never_raises_on_arbitrary_bytes(raw):
    parsed = parse(raw, strict=True)
    assert parsed.outcome in ("bounce", "ignored", "unparsed")


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_never_raises_on_mutated_dsn(data):
    from pathlib import Path

    base = (Path(__file__).parent / "fixtures" / "two_rcpts_envid.msg").read_bytes()
    pos = data.draw(st.integers(0, len(base) - 1))
    junk = data.draw(st.binary(max_size=40))
    parsed = parse(base[:pos] + junk + base[pos + data.draw(st.integers(0, 60)):], strict=True)
    assert parsed.outcome in ("bounce", "ignored", "unparsed")


def test_own_mime_splitter_bounds_and_shapes():
    from bounceledger.ingest.bounces import _mime

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


# ------------------------------------------------------------------ our own bugs

BOUNCE = b"""From: MAILER-DAEMON@x.example
Subject: Undelivered Mail Returned to Sender
Content-Type: multipart/report; report-type=delivery-status; boundary=b

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; x.example

Final-Recipient: rfc822; ghost@y.example
Action: failed
Status: 5.1.1

--b--
"""


@pytest.fixture
def planted_bug(monkeypatch):
    """A bug inside our own code: the kept-header list is no longer iterable."""
    monkeypatch.setattr(bounces, "KEPT_HEADERS", 42)


def test_internal_error_is_its_own_outcome(planted_bug, caplog):
    before = internal_errors()
    with caplog.at_level(logging.ERROR, logger="bounceledger.ingest.bounces"):
        parsed = parse(BOUNCE, strict=False)
    assert parsed.outcome == "error"
    assert parsed.verdicts == ()
    # the exception type and the frame of ours it came from, not just its message
    assert parsed.error and parsed.error.startswith("internal error: TypeError at ingest/bounces/")
    assert ".py:" in parsed.error
    assert internal_errors() == before + 1
    [record] = [r for r in caplog.records if r.name == "bounceledger.ingest.bounces"]
    assert record.levelno == logging.ERROR and record.exc_info and record.exc_info[0] is TypeError
    assert "sha256" in record.getMessage() and "ghost@" not in record.getMessage()  # no content in logs


def test_strict_mode_raises_internal_errors(planted_bug):
    before = internal_errors()
    with pytest.raises(TypeError):
        parse(BOUNCE, strict=True)
    assert internal_errors() == before  # raised, not counted as caught


def test_bad_input_is_not_an_internal_error():
    before = internal_errors()
    for raw in (b"", b"\x00\xff" * 100, b"no header block\n", b"Subject: x\n\n" + b"a" * 200):
        assert parse(raw, max_size=100, strict=False).outcome in ("unparsed", "ignored")
    assert internal_errors() == before


def test_a_recursion_error_is_input_nesting_not_a_bug(monkeypatch):
    """Hostile nesting exhausting the stack is reported as unparsed (production) or raised (strict)."""
    from bounceledger.ingest.bounces import _message

    def recurse(raw):
        return recurse(raw)

    monkeypatch.setattr(_message, "load", recurse)
    errors, nested = internal_errors(), failures.counts()["nesting"]
    parsed = parse(BOUNCE, strict=False)
    assert parsed.outcome == "unparsed"
    assert parsed.error and parsed.error.startswith("message nesting too deep")
    assert internal_errors() == errors and failures.counts()["nesting"] == nested + 1
    with pytest.raises(RecursionError):
        parse(BOUNCE, strict=True)


def test_strict_mode_from_the_environment():
    """BOUNCELEDGER_PARSE_STRICT=1 makes every parse() strict, for runs that cannot pass strict=True."""
    code = (
        "import bounceledger.ingest.bounces as b\n"
        "b.KEPT_HEADERS = 42\n"
        "try:\n    b.parse(b'Subject: x\\n\\nhi\\n')\nexcept TypeError:\n    print('raised')\n"
        "else:\n    print('caught')\n"
    )
    env = {"BOUNCELEDGER_PARSE_STRICT": "1", "PATH": "/usr/bin:/bin"}
    strict = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    env["BOUNCELEDGER_PARSE_STRICT"] = "0"
    lenient = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert (strict.stdout.strip(), lenient.stdout.strip()) == ("raised", "caught")
