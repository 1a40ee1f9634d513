"""Per-format detectors, each on a hand-written fixture modelled on its format."""

from __future__ import annotations

import pytest

from bounceledger.ingest.bounces import parse
from tests.bounces.verdict_rows import rows
from bounceledger.ingest.bounces.classify import classify, find_command, join_reply_lines


def test_exim_rcpt_user_unknown(fixture_bytes):
    parsed = parse(fixture_bytes("exim_rcpt_5.1.1.msg"))
    assert rows(parsed) == [("ghost@partner.example", "bounce", "5.1.1", "550", "userunknown", True, "exim")]
    (v,) = parsed.verdicts
    assert v.original_message_id == "offer-0303.1@shop.example"
    assert v.return_path_token == "ex1"


def test_exim_retry_timeout_keeps_temporary_class(fixture_bytes):
    (v,) = parse(fixture_bytes("exim_retry_timeout.msg")).verdicts
    assert (v.kind, v.reason, v.status, v.hardbounce) == ("bounce", "expired", "4.0.947", False)


def test_qmail_two_recipients(fixture_bytes):
    got = rows(parse(fixture_bytes("qmail_mail_from_rejected.msg")))
    assert got == [
        ("buyer@strict.example", "bounce", "5.2.2", "552", "mailboxfull", False, "qmail"),
        ("other@strict.example", "bounce", "5.4.4", None, "notaccept", True, "qmail"),
    ]


def test_gmail_legacy_text(fixture_bytes):
    (v,) = parse(fixture_bytes("gmail_legacy_permanent.msg")).verdicts
    assert (v.recipient, v.status, v.replycode, v.reason, v.detector) == (
        "nobody@far.example", "5.1.1", "550", "userunknown", "gmail")


@pytest.mark.parametrize("reply, reason", [
    # the state Gmail's client was in decides where the words say nothing of the address ...
    ("550 5.7.1 Service unavailable; Access denied (state 13).", "securityerror"),
    # ... an addressing status (RFC 3463 X.1.x) says the address itself was refused
    ("550 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 "
     "double-checking the recipient's email address for typos (state 13).", "userunknown"),
])
def test_gmail_legacy_state_gives_way_to_an_addressing_status(reply, reason):
    raw = (
        "Return-Path: <>\nFrom: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "To: news@sender.test\nSubject: Delivery Status Notification (Failure)\n\n"
        "Delivery to the following recipient failed permanently:\n\n     sina@b.example\n\n"
        "Technical details of permanent failure:\nGoogle tried to deliver your message, but it was "
        f"rejected by the server for the recipient domain b.example by mx.b.example. [192.0.2.7].\n\n"
        f"The error that the other server returned was:\n{reply}\n"
    ).encode()
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.reason, v.detector) == ("sina@b.example", reason, "gmail")


def test_google_groups_refusal_is_rejected(fixture_bytes):
    (v,) = parse(fixture_bytes("googlegroups_rejected.msg")).verdicts
    assert (v.recipient, v.reason, v.status, v.hardbounce, v.detector) == (
        "team-announce@googlegroups.com", "rejected", "5.0.918", False, "googlegroups")


def test_amazon_ses_sns_bounce(fixture_bytes):
    (v,) = parse(fixture_bytes("amazonses_sns_bounce.msg")).verdicts
    assert (v.recipient, v.kind, v.status, v.replycode, v.reason) == (
        "gone@customer.example", "bounce", "5.1.1", "550", "userunknown")


def test_amazon_ses_delivery_and_complaint(fixture_bytes):
    (d,) = parse(fixture_bytes("amazonses_delivery.msg")).verdicts
    assert (d.recipient, d.kind, d.status, d.replycode, d.reason) == (
        "happy@customer.example", "success", "2.6.0", "250", "delivered")
    (c,) = parse(fixture_bytes("amazonses_complaint.msg")).verdicts
    assert (c.recipient, c.kind, c.reason, c.feedback_type) == ("angry@customer.example", "complaint", "feedback", "abuse")


def test_user_unknown_words_depend_on_the_smtp_stage():
    assert classify("5.0.0", None, "550 user unknown", command="RCPT").reason == "userunknown"
    assert classify("5.0.0", None, "550 user unknown", command="DATA").reason == "filtered"
    assert classify("5.7.1", None, "550 5.7.1 User unknown").reason == "filtered"
    assert classify("5.1.1", None, "550 5.1.1 User unknown").reason == "userunknown"
    assert classify(None, None, "User unknown").reason == "userunknown"


def test_commands_and_multiline_replies():
    assert find_command("SMTP error from remote mail server after end of data:") == "DATA"
    assert find_command("did not like our RCPT TO: 550 nope") == "RCPT"
    joined = join_reply_lines("550-5.7.1 Messages with multiple 550-5.7.1 addresses in From: header are not accepted")
    assert joined == "550-5.7.1 Messages with multiple addresses in From: header are not accepted"
    assert classify("5.7.1", None, joined).reason == "notcompliantrfc"


def test_nested_reply_is_the_cause():
    result = classify("4.4.7", None, "554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.2 Connection timed out>",
                      action="failed")
    assert (result.status, result.replycode, result.reason) == ("4.4.2", "421", "expired")


def test_per_host_rule():
    assert classify("5.0.0", None, "550 : User unknown", "lsean.ezweb.ne.jp").reason == "filtered"


def test_zoho_lines_and_a_given_up_4xx(fixture_bytes):
    got = rows(parse(fixture_bytes("zoho_invalid_and_unreachable.msg")))
    assert got == [
        ("left@partner.example", "bounce", "5.1.1", "550", "userunknown", True, "zoho"),
        ("slow@faraway.example", "bounce", "4.0.947", "421", "expired", False, "zoho"),
    ]


def test_lotus_notes_failure_reasons(fixture_bytes):
    (v,) = parse(fixture_bytes("notes_failure_reasons.msg")).verdicts
    assert (v.recipient, v.status, v.reason, v.hardbounce, v.detector) == (
        "former.staff@lotus.example", "5.0.911", "userunknown", True, "notes")


def test_domino_was_not_delivered_because(fixture_bytes):
    (v,) = parse(fixture_bytes("domino_not_delivered.msg")).verdicts
    assert (v.recipient, v.reason, v.detector) == ("pat.doe@domino.example", "userunknown", "notes")
    assert "not listed in Domino Directory" in v.diagnostic


def test_boxed_delivery_status_notification(fixture_bytes):
    (v,) = parse(fixture_bytes("boxed_dsn_notice.msg")).verdicts
    assert (v.recipient, v.status, v.replycode, v.reason, v.detector) == (
        "nobody@partner.example", "5.3.0", "553", "userunknown", "dsnnotice")


def test_unable_to_deliver_legacy_mailer(fixture_bytes):
    got = rows(parse(fixture_bytes("unable_to_deliver_legacy.msg")))
    assert got == [
        ("busy@elsewhere.example", "bounce", "4.1.9", None, "expired", False, "unabletodeliver"),
        ("closed@legacy.example", "bounce", "5.0.921", None, "suspend", False, "unabletodeliver"),
    ]


def test_powermta_bounce_category_names_the_reason(fixture_bytes):
    (v,) = parse(fixture_bytes("powermta_bad_mailbox.msg")).verdicts
    assert (v.recipient, v.status, v.replycode, v.reason, v.hardbounce) == (
        "gone@partner.example", "5.2.1", "550", "userunknown", True)


def test_provider_rows_read_the_remote_host():
    # Exchange Online Protection: unknown recipients are refused as "Access denied"
    assert classify("5.4.1", None, "550 5.4.1 Recipient address rejected: Access denied",
                    "mx.example-org.mail.protection.outlook.com").reason == "userunknown"
    # Orange: the bracketed code names the cause
    assert classify("4.0.0", None, "421 Service refused, please try later. OFR_999 [999]",
                    "smtp-in.orange.fr", action="failed").reason == "blocked"
    # Amazon SES inbound reports refused recipients as filtered
    assert classify("5.1.1", None, "550 5.1.1 Mailbox does not exist",
                    reporting_host="inbound-smtp.eu-west-1.amazonaws.com").reason == "filtered"
