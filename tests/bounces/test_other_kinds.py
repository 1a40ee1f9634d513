"""Auto-replies, ARF complaints, plain-text bounces and ordinary mail."""

from __future__ import annotations

from bounceledger.ingest.bounces import parse


def test_vacation_autoreply(fixture_bytes):
    parsed = parse(fixture_bytes("vacation_autoreply.msg"))
    assert parsed.outcome == "bounce"
    (v,) = parsed.verdicts
    assert (v.kind, v.reason, v.hardbounce) == ("autoreply", "vacation", False)
    assert v.recipient == "maria.lopez@client.example"
    assert v.original_message_id == "offer-2026-03.17@shop.example"
    assert v.return_path_token == "v1"


def test_vacation_by_subject_only():
    raw = (
        "From: Jens <jens@firma.example>\nTo: news@shop.example\n"
        "Subject: Abwesenheitsnotiz: Newsletter\n\nIch bin bis Montag nicht im Büro.\n"
    ).encode()
    (v,) = parse(raw).verdicts
    assert v.kind == "autoreply"


def test_arf_abuse_complaint(fixture_bytes):
    parsed = parse(fixture_bytes("arf_abuse.msg"))
    (v,) = parsed.verdicts
    assert (v.kind, v.reason, v.feedback_type, v.hardbounce) == ("complaint", "feedback", "abuse", False)
    assert v.recipient == "annoyed@isp.example"
    assert v.original_message_id == "offer-2026-03.99@shop.example"
    assert v.category == "spam-related"


def test_arf_without_rcpt_to_uses_returned_to(fixture_bytes):
    raw = fixture_bytes("arf_abuse.msg").replace(b"Original-Rcpt-To: <annoyed@isp.example>\n", b"")
    raw = raw.replace(b"Feedback-Type: abuse", b"Feedback-Type: opt-out")
    (v,) = parse(raw).verdicts
    assert v.recipient == "annoyed@isp.example"
    assert v.feedback_type == "opt-out"


def test_plain_text_qmail_style_bounce(fixture_bytes):
    parsed = parse(fixture_bytes("plain_text_bounce.msg"))
    assert parsed.outcome == "bounce"
    (v,) = parsed.verdicts
    assert v.kind == "bounce"
    assert v.recipient == "olduser@old.example"
    assert v.reason == "userunknown" and v.hardbounce
    assert v.status == "5.1.1"
    assert v.return_path_token == "q3"


def test_human_email_is_ignored(fixture_bytes):
    parsed = parse(fixture_bytes("human_email.msg"))
    assert parsed.outcome == "ignored"
    assert parsed.verdicts == ()
    assert parsed.subject == "Re: Spring offers"
    assert parsed.message_id == "cafe.1234@friend.example"
