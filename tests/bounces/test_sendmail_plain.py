"""sendmail's non-MIME error reports (savemail.c errbody()): every listed
failed or delayed address is a record, the success section gives none."""

from __future__ import annotations

from bounceledger.ingest.bounces import parse


def _rows(raw: bytes) -> set[tuple]:
    return {(v.recipient, v.kind, v.replycode, v.reason, v.hardbounce) for v in parse(raw).verdicts}


def test_v5_transcript_names_each_failed_recipient(fixture_bytes):
    parsed = parse(fixture_bytes("sendmail_v5_transcript_three.msg"))
    assert {v.detector for v in parsed.verdicts} == {"sendmail"}
    assert _rows(fixture_bytes("sendmail_v5_transcript_three.msg")) == {
        (f"{who}@example.net", "bounce", "550", "userunknown", True) for who in ("ann", "bob", "cy")
    }
    assert {v.remote_mta for v in parsed.verdicts} == {"mx.example.net"}


def test_sections_give_failed_delayed_and_the_success_notification(fixture_bytes):
    parsed = parse(fixture_bytes("sendmail_nonmime_sections.msg"))
    got = {(v.recipient, v.kind, v.status, v.replycode, v.reason, v.remote_mta) for v in parsed.verdicts}
    assert got == {
        ("gone@example.net", "bounce", "5.1.1", "550", "userunknown", "mx.example.net"),
        ("full@example.net", "bounce", "5.2.2", "552", "mailboxfull", "mx.example.net"),
        ("slow@example.org", "delay", "4.0.947", None, "expired", None),
        ("fine@example.net", "success", "2.0.0", None, "delivered", None),
    }
    assert parsed.verdicts[0].original_message_id == "nov-offers.s9@sender.test"


def test_expanded_from_is_kept_as_the_original_recipient(fixture_bytes):
    parsed = parse(fixture_bytes("sendmail_nonmime_sections.msg"))
    originals = {v.recipient: v.original_recipient for v in parsed.verdicts}
    assert originals == {"gone@example.net": None, "full@example.net": "team-full@sender.test",
                         "slow@example.org": None, "fine@example.net": None}


def test_an_alias_only_expanded_is_no_success():
    raw = (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@relay.sender.test>\n"
        "To: bounces@sender.test\nSubject: Returned mail: see transcript for details\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<gone@example.net>\n    (reason: 550 5.1.1 User unknown)\n    (expanded from: <team@sender.test>)\n\n"
        "   ----- The following addresses had successful delivery notifications -----\n"
        "<team@sender.test>  (expanded by alias)\n"
    ).encode()
    assert [(v.recipient, v.kind) for v in parse(raw).verdicts] == [("gone@example.net", "bounce")]


def test_an_error_naming_no_address_is_each_listed_recipients_diagnostic():
    raw = (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@relay.sender.test>\n"
        "To: bounces@sender.test\nSubject: Returned mail: see transcript for details\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "looper@example.org\n    (expanded from: list@example.org)\n\n"
        "   ----- Transcript of session follows -----\n"
        "554 5.4.6 Too many hops 26 (25 max): from news@sender.test via localhost, to list@example.org\n"
    ).encode()
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.original_recipient, v.status, v.replycode) == (
        "looper@example.org", "list@example.org", "5.4.6", "554")
    assert v.reason == "networkerror"


_GMAIL_SPAM_REPLY = (
    # Google Workspace "SMTP error reference", 550 5.7.1: the cause is on the reply's second line
    "<<< 550-5.7.1 [192.0.2.7 12] Our system has detected that this message is\n"
    "<<< 550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,\n"
    "<<< 550-5.7.1 this message has been blocked. Please visit\n"
    "<<< 550 5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError - gsmtp\n"
)


def test_a_multi_line_reply_is_read_whole_from_the_transcript() -> None:
    """RFC 5321 4.2.1: every line of a multi-line reply but the last starts "550-". Sendmail's
    "(reason: ...)" holds the first line only; the transcript holds them all, and the cause is
    on a later line."""
    raw = (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mta.sender.test>\nTo: <bounces@sender.test>\n"
        "Subject: Returned mail: see transcript for details\n\n"
        "The original message was received at Mon, 7 Dec 2026 10:00:00 GMT\nfrom localhost\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n<kim@b.example>\n"
        "    (reason: 550-5.7.1 [192.0.2.7 12] Our system has detected that this message is)\n\n"
        "   ----- Transcript of session follows -----\n... while talking to mx.b.example.:\n>>> DATA\n"
        + _GMAIL_SPAM_REPLY + "554 5.0.0 Service unavailable\n"
    ).encode()
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.replycode, v.reason, v.hardbounce) == ("kim@b.example", "550", "spamdetected", False)
    assert "likely unsolicited mail" in (v.diagnostic or "")
