"""A feedback report's detail says what the report is, not its User-Agent as if a server said it.

RFC 5965 3.1: User-Agent names the software that generated the report. It was stored as the
verdict's diagnostic, which lookup and the address page print as "server said: ..." (sweep BP).
"""

from __future__ import annotations

from pathlib import Path

from bounceledger.ingest.bounces import parse

FIXTURE = Path(__file__).parent / "fixtures" / "arf_abuse.msg"


def test_the_reports_detail_is_its_type_and_its_writer() -> None:
    (verdict,) = parse(FIXTURE.read_bytes()).verdicts
    assert verdict.kind == "complaint"
    assert verdict.diagnostic is not None and verdict.diagnostic.startswith("feedback report, Feedback-Type: abuse")


def test_lookup_tells_a_complaint_from_a_bounce(capsys) -> None:  # type: ignore[no-untyped-def]
    from bounceledger.cli import _timeline

    delivery = {"recipient": "ann@example.org", "message_id": "m1@news.example", "queue_id": "Q1", "state": "complained",
                "replycode": None, "status": None, "reason": "feedback", "corrected": True, "campaign": None,
                "sent_at": "2026-12-07T10:00:00Z", "sender": "bounces@news.example", "first_hop_host": "mx.example.org",
                "detail": "feedback report, Feedback-Type: abuse (by ISP-FBL/2.1)", "events": []}
    _timeline({"address": "ann@example.org", "deliveries": [delivery], "unmatched_verdicts": [], "suppression_history": []})
    out = capsys.readouterr().out
    assert "a spam complaint (feedback report) that came back later corrected it" in out
    assert "report: feedback report, Feedback-Type: abuse" in out and "server said" not in out
