"""What kind a notice is, read from its structure: feedback reports that are no
complaint, automatic responses, read receipts and plain-text delay warnings.

Every message here is written for this test, after the standards and vendor
wording named beside it.
"""

from __future__ import annotations

from bounceledger.ingest.bounces import parse
from bounceledger.ingest.returned import _outcome
from models.state import implied_state
from tests.test_state import verdict

OUR_MESSAGE = "<20260304.7f3a2c@mailer.shop.example>"


def _arf(feedback_type: str) -> bytes:
    """An RFC 5965 report with the given Feedback-Type, about one of our messages."""
    return f"""Return-Path: <>
From: Reports <reports@receiver.example>
To: bounces@mailer.shop.example
Subject: Report about a message from shop.example
Date: Wed, 4 Mar 2026 09:30:00 +0000
Message-ID: <report-1@receiver.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="r1"

--r1
Content-Type: text/plain

A report about a message received from 192.0.2.25.

--r1
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: receiver-reports/1.0
Version: 1
Original-Mail-From: <bounces@mailer.shop.example>
Original-Rcpt-To: <ann@receiver.example>
Arrival-Date: Wed, 4 Mar 2026 08:10:05 +0000
Source-IP: 192.0.2.25
Reported-Domain: shop.example

--r1
Content-Type: text/rfc822-headers

From: Shop <news@shop.example>
To: <ann@receiver.example>
Subject: Spring sale
Message-ID: {OUR_MESSAGE}

--r1--
""".encode()


def test_an_authentication_failure_report_is_no_complaint() -> None:
    # RFC 6591 / RFC 7489 7.3: a DMARC failure report, sent with no user involved
    (v,) = parse(_arf("auth-failure")).verdicts
    assert (v.kind, v.feedback_type, v.recipient, v.reason) == ("feedback", "auth-failure", "ann@receiver.example", "feedback")
    assert v.category == "other" and not v.hardbounce


def test_a_not_spam_report_is_no_complaint() -> None:
    (v,) = parse(_arf("not-spam")).verdicts  # RFC 6430: the user says the mail is wanted
    assert (v.kind, v.feedback_type) == ("feedback", "not-spam")


def test_an_abuse_report_is_still_a_complaint() -> None:
    (v,) = parse(_arf("abuse")).verdicts
    assert (v.kind, v.feedback_type, v.category) == ("complaint", "abuse", "spam-related")


def test_a_feedback_report_that_is_no_complaint_changes_no_state() -> None:
    parsed = parse(_arf("auth-failure"))
    assert _outcome(parsed) == "ignored"
    assert implied_state(verdict("feedback", 3)) is None
    assert implied_state(verdict("complaint", 3)) == "complained"


def _reply(subject: str, extra_headers: str = "", return_path: str = "<>", body: str = "") -> bytes:
    return (
        f"Return-Path: {return_path}\n"
        "From: Tara Singh <t.singh@corp.example>\n"
        "To: <bounces@mailer.shop.example>\n"
        f"Subject: {subject}\n"
        "Date: Wed, 4 Mar 2026 08:11:30 +0000\n"
        "Message-ID: <reply-1@corp.example>\n"
        f"In-Reply-To: {OUR_MESSAGE}\n"
        f"{extra_headers}"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\n\n"
        + (body or "I am away until 12 March and unable to answer; jane.doe@corp.example is not able to help with invoices.\n")
    ).encode()


def test_an_out_of_office_reply_to_a_subject_with_bounce_words_is_an_autoreply() -> None:
    # Outlook's "Automatic reply:" and RFC 5230's "Auto:" come before the answered
    # message's subject; a shop's "Delivery failed: ..." there is not a bounce's
    for subject in ("Automatic reply: Delivery failed: your parcel 4411", "Auto: Undelivered parcel 4411",
                    "Réponse automatique : Delivery failed: parcel 4411"):
        for headers in ("Auto-Submitted: auto-replied\n", "Auto-Submitted: auto-generated\n", ""):
            (v,) = parse(_reply(subject, headers)).verdicts
            assert (v.kind, v.recipient) == ("autoreply", "t.singh@corp.example"), (subject, headers)


def test_a_bounce_of_an_autoreply_is_still_a_bounce() -> None:
    raw = _reply("Undeliverable: Automatic reply: Spring sale", "",
                 body="Delivery has failed to these recipients:\n\n<gone@corp.example>\n550 5.1.1 User unknown\n")
    raw = raw.replace(b"From: Tara Singh <t.singh@corp.example>", b"From: MAILER-DAEMON@corp.example")
    (v,) = parse(raw).verdicts
    assert (v.kind, v.recipient, v.status) == ("bounce", "gone@corp.example", "5.1.1")


def test_an_automatic_response_to_our_message_is_an_autoreply() -> None:
    # RFC 3834: a response (In-Reply-To) sent by a program, told by Auto-Submitted of any
    # value but "no" (help desks write auto-generated) or by the null return path (3.3)
    ack = "Your request (48213) has been received and will be answered by our staff.\n"
    by_header = _reply("[Support] Re: Spring sale", "Auto-Submitted: auto-generated\n", "<support@corp.example>", ack)
    by_envelope = _reply("Ticket received - Spring sale", "", "<>", ack)
    for raw in (by_header, by_envelope):
        (v,) = parse(raw).verdicts
        assert (v.kind, v.original_message_id) == ("autoreply", OUR_MESSAGE.strip("<>"))


def test_a_persons_reply_is_no_autoreply() -> None:
    for headers in ("", "Auto-Submitted: no\n"):
        raw = _reply("Re: Spring sale", headers, "<t.singh@corp.example>", "Thanks, I'll have a look.\n")
        assert parse(raw).verdicts == ()


def test_a_read_receipt_is_no_autoreply() -> None:
    # RFC 8098 2.1: receipts come from the null return path; a report is never a vacation reply
    raw = f"""Return-Path: <>
From: Nina Park <nina@example.org>
To: <bounces@mailer.shop.example>
Subject: Read: Spring sale
Date: Wed, 4 Mar 2026 09:11:30 +0000
Message-ID: <mdn-1@example.org>
In-Reply-To: {OUR_MESSAGE}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="b1"

--b1
Content-Type: text/plain

Your message was displayed.

--b1
Content-Type: message/disposition-notification

Reporting-UA: example.org; Mail 1.0
Final-Recipient: rfc822;nina@example.org
Original-Message-ID: {OUR_MESSAGE}
Disposition: manual-action/MDN-sent-manually; displayed

--b1--
""".encode()
    assert parse(raw).verdicts == ()


_RETURNED = """From: Shop <news@shop.example>
To: <ben.ford@example.net>
Subject: Spring sale
Message-ID: <20260304.7f3a2c@mailer.shop.example>

Hello,
"""


def _daemon_notice(subject: str, text: str, returned: str = _RETURNED) -> bytes:
    return (
        "Return-Path: <>\n"
        "From: MAILER-DAEMON@mail.host.example\n"
        "To: bounces@mailer.shop.example\n"
        f"Subject: {subject}\n"
        "Date: Wed, 4 Mar 2026 12:10:07 +0000\n"
        "Message-ID: <notice-1@mail.host.example>\n\n"
        f"{text}\n"
        "--- Below this line is a copy of the message.\n\n"
        f"{returned}"
    ).encode()


def test_a_delay_warning_naming_its_recipient_without_failure_words_is_a_delay() -> None:
    # the delayed-delivery notice of qmail-based hosts: "undeliverable ... for at least 4 hours"
    raw = _daemon_notice(
        "delayed delivery notice",
        "Your message was received but could not be handed on to these recipients for 4 hours.\n\n"
        "<ben.ford@example.net>\n\nDelivery will go on for 2 days; there is no need to send it again.\n",
    )
    (v,) = parse(raw).verdicts
    assert (v.kind, v.recipient) == ("delay", "ben.ford@example.net")
    assert v.status.startswith("4.")


def test_a_delay_warning_naming_nobody_takes_the_inline_originals_addressee() -> None:
    # MailEnable's "Message Delivery Delayed" (knowledge base ME020125) names the next
    # host, not the address; the original's headers follow the notice as text
    raw = _daemon_notice(
        "Message Delivery Delayed: Spring sale",
        "Delivery is delayed: the message waits at mail.host.example for mx.example.net.\n"
        "The remote server answered: 451 4.3.0 Temporary lookup failure\n",
    )
    (v,) = parse(raw).verdicts
    assert (v.kind, v.recipient, v.status, v.replycode) == ("delay", "ben.ford@example.net", "4.3.0", "451")


def test_a_delay_warning_whose_recipient_part_says_nothing_of_failure_is_no_bounce() -> None:
    raw = _daemon_notice(
        "Message Delivery Delayed",
        "The message waits for delivery to ben.ford@example.net.\nIt will be retried for another 29 hours.\n",
    )
    (v,) = parse(raw).verdicts
    assert (v.kind, v.recipient) == ("delay", "ben.ford@example.net")
    assert not v.status.startswith("5")


def test_a_failure_notice_naming_nobody_takes_the_inline_originals_one_addressee() -> None:
    raw = _daemon_notice("failure notice", "Delivery failed permanently: mailbox unavailable.\n")
    (v,) = parse(raw).verdicts
    assert (v.kind, v.recipient, v.detector) == ("bounce", "ben.ford@example.net", "returned-to")


def test_an_inline_original_with_two_addressees_names_nobody() -> None:
    returned = _RETURNED.replace("To: <ben.ford@example.net>", "To: <ben.ford@example.net>, <amy@example.net>")
    raw = _daemon_notice("failure notice", "Delivery failed permanently: mailbox unavailable.\n", returned)
    assert parse(raw).verdicts == ()


def test_prose_after_the_marker_is_no_header_block() -> None:
    raw = _daemon_notice("failure notice", "Delivery failed permanently: mailbox unavailable.\n",
                         "The message was sent to ben.ford@example.net: see above.\n")
    assert parse(raw).verdicts == ()
