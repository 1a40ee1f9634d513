"""A whole hand-written log through the parser: correlation across daemons,
queue-id reuse, expiry, and the bookkeeping a caller sees."""

from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import ParseOptions, detect_format, parse_lines
from bounceledger.ingest.sendlog.postfix import PostfixParser
from tests.sendlog.helpers import FIXTURES, REFERENCE, feed_all, postfix

LOG = FIXTURES / "outbound_mixed.log"


def _attempts() -> tuple[PostfixParser, list[Attempt]]:
    p = postfix()
    return p, feed_all(p, LOG.read_text(encoding="utf-8").splitlines(keepends=True))


def test_fixture_is_detected_as_postfix() -> None:
    head = LOG.read_text(encoding="utf-8").splitlines()[:30]
    assert detect_format(head) == "postfix"


def test_fixture_attempts() -> None:
    p, attempts = _attempts()
    summary = [(a.queue_id, a.recipient, a.verdict, a.first_hop) for a in attempts]
    assert summary == [
        ("3F1A2C0815", "alice.smith@gmail.com", "accepted", True),
        ("3F1A2C0815", "bob@fabrikam.example", "rejected", True),
        ("3F1A2C0815", "carol@slow.example", "deferred", True),
        ("3F1A2C0815", "dave@grey.example", "deferred", True),
        ("5B0C4C0821", "bounces+tk9uzq@news.shop.example", "accepted", False),
        ("3F1A2C0815", "dave@grey.example", "accepted", True),
        ("3F1A2C0815", "carol@slow.example", "deferred", True),
        ("3F1A2C0815", "carol@slow.example", "expired", True),
        # the short id is reused for a new message after "removed"
        ("3F1A2C0815", "scan@shop.example", "accepted", False),
        ("3F1A2C0815", "ops@out1.shop.example", "accepted", False),
        ("3F1A2C0815", "gone@shop.example", "rejected", False),
        ("4TqX2B0kHnz9vLp", "erin@contoso.example", "rejected", True),
        ("4TqX2B0kHnz9vLp", "frank@strict.example", "deferred", True),
    ]
    # the bare garbage line; the header-only warning and the probe are not skips
    assert p.skipped == 1
    assert p.samples == ["this is not a log line at all"]
    # still open at the end of the log: the expiry DSN 7C2D9C0830 and 4TqX2B0kHnz9vLp
    assert p.tracked_queue_ids == 2


def test_fixture_correlation() -> None:
    _, attempts = _attempts()
    first, reused = attempts[:8], attempts[8:11]
    assert {(a.message_id, a.sender) for a in first if a.queue_id == "3F1A2C0815"} == {
        ("nl-2031.77@news.shop.example", "bounces+Tk9uZQ@news.shop.example")
    }
    assert {(a.message_id, a.sender) for a in reused} == {("reused-id-1@shop.example", "ops@shop.example")}
    assert attempts[5].next_hop_queue_id == "4TqWzK1Jc9z2xRm"
    assert reused[0].next_hop_queue_id == "9E1F0C0840"  # amavis reports the reinjected id
    assert attempts[0].next_hop_queue_id is None  # Gmail does not say "queued as"
    assert attempts[1].orig_recipient == "sales@shop.example"
    assert reused[1].orig_recipient == "root"
    erin = attempts[11]
    assert (erin.delivery_agent, erin.relay_ip, erin.smtp_stage, erin.sender) == (
        "smtp", "2a01:111:f403:c100::1", "end of DATA", None,  # no qmgr line seen for it
    )


def test_fixture_expiry_carries_last_deferral() -> None:
    _, attempts = _attempts()
    expired = [a for a in attempts if a.verdict == "expired"]
    assert len(expired) == 1
    e = expired[0]
    assert e.at == datetime(2025, 3, 5, 9, 14, 12, tzinfo=timezone.utc)
    assert (e.status, e.smtp_stage, e.relay_host, e.relay_port) == ("4.4.2", "RCPT TO", "mx.slow.example", 25)
    assert e.message_id == "nl-2031.77@news.shop.example"
    assert "status=expired" in e.raw


def test_fixture_dsn_links() -> None:
    p, _ = _attempts()
    assert {k: v.original_queue_id for k, v in p.dsn_links.items()} == {
        "5B0C4C0821": "3F1A2C0815",
        "7C2D9C0830": "3F1A2C0815",
    }
    assert p.dsn_links["7C2D9C0830"].original_message_id == "nl-2031.77@news.shop.example"


def test_parse_lines_generator_matches_feed() -> None:
    lines = LOG.read_text(encoding="utf-8").splitlines(keepends=True)
    got = list(parse_lines(lines, "postfix", options=ParseOptions(reference_time=REFERENCE)))
    _, expected = _attempts()
    assert got == expected
