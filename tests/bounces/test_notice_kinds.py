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


def test_a_virus_report_is_no_complaint() -> None:
    # RFC 5965 7.3 "virus: report of a virus found in the originating message": a scanner's finding
    (v,) = parse(_arf("virus")).verdicts
    assert (v.kind, v.feedback_type) == ("feedback", "virus")


def test_an_abuse_report_is_still_a_complaint() -> None:
    (v,) = parse(_arf("abuse")).verdicts
    assert (v.kind, v.feedback_type, v.category) == ("complaint", "abuse", "spam-related")
    for complaint in ("fraud", "other"):
        assert [v.kind for v in parse(_arf(complaint)).verdicts] == ["complaint"]


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


def test_outlooks_automatic_reply_in_other_languages_answers_a_subject_with_bounce_words() -> None:
    # Outlook's localised "Automatic reply:" (zh-CN with the full-width colon CJK input writes,
    # ko, tr, hu, cs) and Exchange 2003's "Out of Office AutoReply:"
    for prefix in ("自动答复：", "자동 회신:", "Otomatik yanıt:", "Automatikus válasz:", "Automatická odpověď:",
                   "Out of Office AutoReply:"):
        for headers in ("Auto-Submitted: auto-generated\n", ""):
            (v,) = parse(_reply(f"{prefix} Undeliverable parcels: what happens next", headers)).verdicts
            assert (v.kind, v.recipient) == ("autoreply", "t.singh@corp.example"), (prefix, headers)


def test_a_prefix_before_the_thread_topic_answers_that_topic_in_any_language() -> None:
    # Exchange writes the conversation's subject in Thread-Topic on its OOF replies and NDRs alike:
    # a prefix (in a language no list here knows) before it is the responder's, the topic the shop's
    subject = "Sjálfvirkt svar: Undeliverable parcels: what happens next"
    topic = "Thread-Topic: Undeliverable parcels: what happens next\n"
    (v,) = parse(_reply(subject, topic + "Auto-Submitted: auto-generated\n")).verdicts
    assert (v.kind, v.recipient) == ("autoreply", "t.singh@corp.example")
    # an NDR keeps its own words in the prefix: still a bounce
    raw = _reply("Undeliverable: Spring sale", "Thread-Topic: Spring sale\n",
                 body="Delivery has failed to these recipients:\n\n<gone@corp.example>\n550 5.1.1 User unknown\n")
    (v,) = parse(raw).verdicts
    assert (v.kind, v.recipient) == ("bounce", "gone@corp.example")


def test_a_recall_report_names_delivered_copies_not_failures() -> None:
    # Exchange Online's cloud recall reports per recipient whether the delivered copy was taken back
    body = ("Recall results for your message\n\nRecipient: lee@corp.example\n"
            "Status: Failed: the message has already been read\n")
    for subject in ("Message recall report for message: Spring sale", "Message Recall Failure: Spring sale",
                    "Recall Success: Spring sale"):
        raw = _reply(subject, "", "<>", body).replace(
            b"From: Tara Singh <t.singh@corp.example>", b"From: Microsoft Outlook <MicrosoftExchange329e71ec88ae@corp.example>")
        assert parse(raw).verdicts == (), subject


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


def test_a_persons_reply_quoting_a_bounce_under_an_attribution_is_not_a_bounce() -> None:
    # a reply whose subject keeps the bounce's words ("Re: Mail delivery failed") quotes it under
    # its mail program's "On <date>, <name> wrote:" (RFC 3676 ">" quoting): a person's mail
    raw = (
        "Return-Path: <tom@example.co.uk>\nFrom: Tom <tom@example.co.uk>\nTo: bounces@mailer.shop.example\n"
        "Subject: Re: Mail delivery failed: returning message to sender\nDate: Wed, 4 Mar 2026 14:05:00 +0000\n"
        "Message-ID: <reply-2@example.co.uk>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\n"
        "Why do I get this? I never wrote to that address.\n\n"
        "On 04/03/2026 13:59, Mail Delivery System wrote:\n"
        "> This message was created automatically by mail delivery software.\n>\n"
        "> A message that you sent could not be delivered to one or more of its\n"
        "> recipients. This is a permanent error. The following address(es) failed:\n>\n"
        ">   someone@example.net\n"
        ">     550 5.1.1 <someone@example.net>: Recipient address rejected: User unknown\n"
    ).encode()
    assert parse(raw).verdicts == ()
    unquoted = raw.replace(b"On 04/03/2026 13:59, Mail Delivery System wrote:\n", b"").replace(b"\n>", b"\n")
    unquoted = unquoted.replace(b"Return-Path: <tom@example.co.uk>", b"Return-Path: <>")
    (v,) = parse(unquoted).verdicts  # the notice itself (a gateway may prefix "Re:") is still read
    assert (v.kind, v.recipient) == ("bounce", "someone@example.net")


def _groupwise(sender: str) -> bytes:
    """GroupWise's Internet Agent notice: the post office names the user it did not find."""
    return (
        f"Return-Path: <>\nFrom: Mail Delivery System <{sender}>\nTo: bounces@mailer.shop.example\n"
        "Subject: Message status - undeliverable\nDate: Wed, 4 Mar 2026 04:33:10 -0700\n"
        "Message-ID: <gw-1@gwia.county.example>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="gw"\n\n'
        "--gw\nContent-Type: text/plain\n\n"
        "The message that you sent was undeliverable to the following:\n\trkeller (user not found)\n\n"
        "--gw\nContent-Type: message/rfc822\n\n"
        f"From: Shop <news@shop.example>\nTo: rkeller@county.example\nSubject: Spring sale\nMessage-ID: {OUR_MESSAGE}\n\n"
        "Hello,\n\n--gw--\n"
    ).encode()


def test_user_unknown_from_the_recipients_own_system_is_a_hard_bounce() -> None:
    for sender in ("postmaster@county.example", "postmaster@gwia.county.example"):
        (v,) = parse(_groupwise(sender)).verdicts
        assert (v.recipient, v.reason, v.hardbounce) == ("rkeller@county.example", "userunknown", True), sender


def test_user_unknown_relayed_by_another_system_stays_unproven() -> None:
    (v,) = parse(_groupwise("postmaster@relay.example")).verdicts
    assert (v.recipient, v.reason, v.hardbounce) == ("rkeller@county.example", "filtered", False)


def _mdaemon(transcript: str) -> bytes:
    """MDaemon's DSN with its session transcript (included by default)."""
    return (
        "Return-Path: <>\nFrom: \"MDaemon at mail.handwerk.example\" <MDaemon@mail.handwerk.example>\n"
        "To: bounces@mailer.shop.example\nSubject: Permanent Delivery Failure\n"
        "Date: Thu, 07 Mar 2026 11:02:51 +0100\nMessage-ID: <md-1@mail.handwerk.example>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="md"\n\n'
        "--md\nContent-Type: text/plain\n\n"
        "The attached message had PERMANENT fatal delivery errors.\n\n"
        "YOUR MESSAGE WAS NOT DELIVERED TO ONE OR MORE RECIPIENTS!\n\n"
        "Failed address: t.schulz@elektro.example\n\n--- Session Transcript ---\n"
        " Thu 2026-03-07 11:02:49.114: *  From: news@shop.example\n"
        " Thu 2026-03-07 11:02:49.114: *  To: t.schulz@elektro.example\n"
        " Thu 2026-03-07 11:02:49.298: <-- 220 mx.elektro.example ESMTP\n"
        " Thu 2026-03-07 11:02:49.299: --> EHLO mail.handwerk.example\n"
        + "".join(f" Thu 2026-03-07 11:02:49.380: <-- 250-{ext}\n"
                  for ext in ("mx.elektro.example", "PIPELINING", "SIZE 10240000", "STARTTLS", "ENHANCEDSTATUSCODES"))
        + " Thu 2026-03-07 11:02:49.380: <-- 250 8BITMIME\n"
        " Thu 2026-03-07 11:02:49.381: --> MAIL From:<news@shop.example> SIZE=4123\n"
        " Thu 2026-03-07 11:02:49.462: <-- 250 2.1.0 Ok\n"
        f"{transcript}"
        " Thu 2026-03-07 11:02:49.552: --> QUIT\n--- End Transcript ---\n\n"
        "--md\nContent-Type: message/rfc822\n\n"
        f"From: Shop <news@shop.example>\nTo: t.schulz@elektro.example\nSubject: Spring sale\nMessage-ID: {OUR_MESSAGE}\n\n"
        "Hello,\n\n--md--\n"
    ).encode()


def test_a_session_transcript_gives_the_refusal_not_the_greeting_and_never_the_sender() -> None:
    rcpt = (" Thu 2026-03-07 11:02:49.463: --> RCPT To:<t.schulz@elektro.example>\n"
            " Thu 2026-03-07 11:02:49.551: <-- 550 5.1.1 <t.schulz@elektro.example>: Recipient address rejected: "
            "User unknown in virtual mailbox table\n")
    (v,) = parse(_mdaemon(rcpt)).verdicts
    assert (v.recipient, v.status, v.replycode, v.reason, v.hardbounce) == (
        "t.schulz@elektro.example", "5.1.1", "550", "userunknown", True)
    assert v.diagnostic.startswith("550 5.1.1 <t.schulz@elektro.example>: Recipient address rejected")


def test_a_session_transcript_refused_at_data_applies_to_the_accepted_recipient() -> None:
    data = (" Thu 2026-03-07 11:02:49.463: --> RCPT To:<t.schulz@elektro.example>\n"
            " Thu 2026-03-07 11:02:49.500: <-- 250 2.1.5 Ok\n"
            " Thu 2026-03-07 11:02:49.501: --> DATA\n"
            " Thu 2026-03-07 11:02:49.502: <-- 354 End data with <CR><LF>.<CR><LF>\n"
            " Thu 2026-03-07 11:02:49.551: <-- 552 5.3.4 Message size exceeds fixed maximum message size\n")
    (v,) = parse(_mdaemon(data)).verdicts
    assert (v.recipient, v.status, v.replycode, v.reason) == ("t.schulz@elektro.example", "5.3.4", "552", "mesgtoobig")


def test_an_opensmtpd_delay_keeps_a_temporary_status_class() -> None:
    # OpenSMTPD (smtpd/bounce.c) writes a bare 4.0.0 into its delay report and the cause in its
    # notice; the stand-in code that replaces the bare one stays class 4 for a delayed recipient
    raw = (
        "Return-Path: <>\nFrom: Mailer Daemon <MAILER-DAEMON@relay.example>\nTo: bounces@mailer.shop.example\n"
        "Subject: Delivery status notification: delayed\nDate: Wed, 4 Mar 2026 13:10:00 +0000\n"
        "Message-ID: <osmtpd-1@relay.example>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="os"\n\n'
        "--os\nContent-Type: text/plain; charset=us-ascii\n\n"
        "    This is the MAILER-DAEMON, please DO NOT REPLY to this email.\n\n"
        "    A message is delayed for more than 4 hours for the following list of recipients:\n\n"
        "nils@skog.example: Network error on destination MXs\n\n"
        "--os\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; relay.example\n\nFinal-Recipient: rfc822; nils@skog.example\nAction: delayed\n"
        "Status: 4.0.0\n\n--os--\n"
    ).encode()
    (v,) = parse(raw).verdicts
    assert (v.kind, v.recipient) == ("delay", "nils@skog.example")
    assert v.status.startswith("4."), v.status


def test_a_transcript_under_another_recipient_is_not_this_ones() -> None:
    raw = _daemon_notice(
        "failure notice",
        "Delivery failed for these recipients:\n\n"
        "amy@example.net: 550 5.1.1 No such user here\n\n"
        "ben.ford@example.net: mailbox unavailable\n"
        ">>> RCPT To:<ben.ford@example.net>\n<<< 552 5.2.2 Mailbox full\n",
    ).replace(b"To: <ben.ford@example.net>", b"To: <ben.ford@example.net>, <amy@example.net>")
    found = {v.recipient: (v.status, v.replycode, v.reason) for v in parse(raw).verdicts}
    assert found == {"amy@example.net": ("5.1.1", "550", "userunknown"),
                     "ben.ford@example.net": ("5.2.2", "552", "mailboxfull")}


def _report(final: str, original: str = "") -> bytes:
    original_field = f"Original-Recipient: rfc822;{original}\n" if original else ""
    return (
        "Return-Path: <>\nFrom: MAILER-DAEMON@mx.example\nTo: bounces@mailer.shop.example\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\n\n'
        "--r\nContent-Type: text/plain\n\nfailed\n\n"
        "--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
        f"{original_field}Final-Recipient: rfc822;{final}\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--r--\n"
    ).encode()


def test_plus_tags_that_look_like_hex_are_not_xtext() -> None:
    # RFC 3461 xtext escapes only what is not printable ASCII, "+" and "="; Postfix writes the
    # Original-Recipient decoded, so "+20" or "+AB" in an address is a plus tag
    for address in ("unknown+2024e@example.test", "full+ABe@example.test", "ok+2030p@example.test"):
        (v,) = parse(_report(address, address)).verdicts
        assert v.recipient == address.lower()  # addresses are compared lower-cased
    (v,) = parse(_report("a+2Bb@example.org")).verdicts
    assert v.recipient == "a+b@example.org"


def test_a_plain_bounce_of_a_dsn_reports_its_own_recipient() -> None:
    # a qmail-style notice returning a DSN inline: the returned DSN's fields are not this notice's
    returned = (
        "Return-Path: <>\nFrom: MAILER-DAEMON@inner.example\nTo: ops-alerts@partner.example\n"
        "Subject: Undelivered Mail Returned to Sender\n\n"
        "Reporting-MTA: dns; inner.example\n\nFinal-Recipient: rfc822; unknown-in1@example.com\n"
        "Action: failed\nStatus: 5.1.1\n\nFinal-Recipient: rfc822; full-in2@example.com\nAction: failed\n"
        "Status: 5.2.2\n"
    )
    raw = (
        "Return-Path: <>\nFrom: MAILER-DAEMON@mail.partner.example\nTo: bounces@mailer.shop.example\n"
        "Subject: failure notice\n\n"
        "Hi. This is the qmail-send program at mail.partner.example.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<ops-alerts@partner.example>:\n192.0.2.9 does not like recipient.\n"
        "Remote host said: 550 5.1.1 <ops-alerts@partner.example>: Recipient address rejected: User unknown\n"
        "Giving up on 192.0.2.9.\n\n"
        f"--- Below this line is a copy of the message.\n\n{returned}"
    ).encode()
    assert [(v.recipient, v.status) for v in parse(raw).verdicts] == [("ops-alerts@partner.example", "5.1.1")]


def test_exims_generated_from_names_the_address_we_sent_to() -> None:
    # Exim's bounce text: "(generated from X)" under an address an alias of X led to
    raw = (
        "Return-Path: <>\nFrom: Mail Delivery System <Mailer-Daemon@mx.partner.example>\n"
        "To: bounces@mailer.shop.example\nSubject: Mail delivery failed: returning message to sender\n"
        "X-Failed-Recipients: anna.k@gmail.example\n\n"
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  anna.k@gmail.example\n"
        "    (generated from sales@partner.example)\n"
        "    SMTP error from remote mail server after RCPT TO:<anna.k@gmail.example>:\n"
        "    host gmail-smtp-in.l.google.example [192.0.2.27]: 550 5.1.1 No such user\n"
        "  unknown-e9@example.org\n"
        "    SMTP error from remote mail server after RCPT TO:<unknown-e9@example.org>:\n"
        "    host mx.example.org [203.0.113.5]: 550 5.1.1 <unknown-e9@example.org>: User unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        "From: Shop <news@shop.example>\nTo: sales@partner.example, unknown-e9@example.org\nSubject: Spring\n\n"
    ).encode()
    found = [(v.recipient, v.original_recipient, v.reason) for v in parse(raw).verdicts]
    assert found == [("sales@partner.example", "sales@partner.example", "userunknown"),
                     ("unknown-e9@example.org", None, "userunknown")]
    assert not parse(raw).verdicts[0].diagnostic.startswith("(generated")


def _exchange_german(reply: str) -> bytes:
    """Exchange's German notice, its report part stripped by a relay: only its quoted reply says more."""
    return (
        "Return-Path: <>\nFrom: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@firma.example>\n"
        "To: bounces@mailer.shop.example\nSubject: Zustellung verzögert: Frühjahrsangebote\n"
        "X-MS-Exchange-Message-Is-Ndr: \nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
        "Die Zustellung an diese Empfänger oder Gruppen ist verzögert:\n\n"
        "b.wagner@partner-ag.example\n\n"
        "Diagnoseinformationen für Administratoren:\n\n"
        "Generierender Server: EX01.firma.example\n\n"
        "b.wagner@partner-ag.example\n"
        f"Remote Server at mx01.partner-ag.example (203.0.113.45) returned '{reply}'\n"
    ).encode()


def test_a_localised_exchange_notice_quoting_a_transient_reply_is_a_delay() -> None:
    (v,) = parse(_exchange_german("400 4.4.7 Message delayed")).verdicts
    assert (v.kind, v.recipient, v.status) == ("delay", "b.wagner@partner-ag.example", "4.4.7")
    (v,) = parse(_exchange_german("550 4.4.7 QUEUE.Expired; message expired")).verdicts
    assert (v.kind, v.reason) == ("bounce", "expired")  # Exchange gave up: a permanent reply code


def test_a_dsn_passed_on_inline_under_a_short_note_is_still_read() -> None:
    # a relay that forwards the DSN it got as text, below a note naming only its help desk
    raw = (
        "Return-Path: <MAILER-DAEMON>\nFrom: MAILER-DAEMON@mail.isp.example\nTo: bounces@mailer.shop.example\n"
        "Subject: Undelivered Mail Returned to Sender\nContent-Type: text/plain\n\n"
        "The message returned below could not be delivered to one or more destinations.\n"
        "For further assistance, please contact <support@isp.example>\n\n"
        "---------------------------------\n"
        "Return-Path: <>\nFrom: MAILER-DAEMON@relay.isp.example (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n\n"
        "Reporting-MTA: dns; relay.isp.example\n\n"
        "Final-Recipient: rfc822; kim@partner.example\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <kim@partner.example>: Recipient address rejected: User unknown\n"
    ).encode()
    assert [(v.recipient, v.status) for v in parse(raw).verdicts] == [("kim@partner.example", "5.1.1")]


def _exchange_dsn(diagnostic: str, status: str = "5.0.0") -> bytes:
    """Exchange's own NDR with its report part: Status 5.0.0 where the remote reply had no enhanced code."""
    return (
        "Return-Path: <>\nFrom: postmaster@corp.example\nTo: bounces@mailer.shop.example\n"
        "Subject: Undeliverable: Spring sale\nX-MS-Exchange-Message-Is-Ndr: \nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="x"\n\n'
        "--x\nContent-Type: text/plain\n\nDelivery has failed to these recipients or groups:\n\nrosa@partner.example\n\n"
        "--x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns;EX01.corp.example\n\n"
        f"Final-recipient: RFC822; rosa@partner.example\nAction: failed\nStatus: {status}\n"
        f"Remote-MTA: DNS; mx.partner.example\nDiagnostic-Code: smtp;{diagnostic}\n\n--x--\n"
    ).encode()


def test_exchanges_own_report_of_a_remote_no_such_user_is_a_hard_bounce() -> None:
    # Exchange writes Status 5.0.0 for a remote reply without an enhanced code; the reply is the server's answer
    (v,) = parse(_exchange_dsn("550 No such user here")).verdicts
    assert (v.recipient, v.reason, v.hardbounce) == ("rosa@partner.example", "userunknown", True)


def test_exchange_online_errors_stay_with_the_recipient_they_name() -> None:
    # Exchange Online's text layout, its report part stripped by a relay: the "Reported error" names
    # one recipient; the other keeps the sentence under its own "couldn't be delivered" line
    raw = (
        "Return-Path: <>\nFrom: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.example>\n"
        "To: bounces@mailer.shop.example\nSubject: Undeliverable: November offers\nX-MS-Exchange-Message-Is-Ndr: \n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
        "Your message to cal@contoso.example couldn't be delivered.\ncal wasn't found at contoso.example.\n\n"
        "Your message to dee@contoso.example couldn't be delivered.\n"
        "The recipient's mailbox is full and can't accept messages now.\n\n"
        "More Info for Email Admins\nStatus code: 550 5.1.10\n\n"
        "Original Message Details\nRecipient Address:\tcal@contoso.example, dee@contoso.example\n\n"
        "Error Details\nReported error:\t550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient cal@contoso.example "
        "not found by SMTP address lookup\nDSN generated by:\tDM6PR11MB4107.namprd11.prod.outlook.com\n"
    ).encode()
    found = {v.recipient: (v.reason, v.hardbounce) for v in parse(raw).verdicts}
    assert found == {"cal@contoso.example": ("userunknown", True), "dee@contoso.example": ("mailboxfull", False)}


def _sendmail_plain(sections: str) -> bytes:
    """sendmail's report with SendMimeErrors off (plain text), its SMTP session pipelined (RFC 2920):
    the transcript shows only ">>> DATA", then each RCPT's reply, each followed by sendmail's own line."""
    return (
        "Return-Path: <>\nFrom: Mail Delivery Subsystem <MAILER-DAEMON@mta.shop.example>\n"
        "To: bounces@mailer.shop.example\nSubject: Returned mail: see transcript for details\n\n"
        f"{sections}\n   ----- Original message follows -----\n\n"
        "From: Shop <news@shop.example>\nTo: <unknown@partner.example>, <full@partner.example>\nSubject: Spring\n\n"
    ).encode()


def test_a_pipelined_sendmail_transcript_gives_each_recipient_its_own_reply() -> None:
    raw = _sendmail_plain(
        "   ----- The following addresses had permanent fatal errors -----\n"
        "unknown@partner.example\n    (reason: 550 5.1.1 <unknown@partner.example>: Recipient address rejected: User unknown)\n"
        "full@partner.example\n    (reason: 552 5.2.2 <full@partner.example>: Mailbox full, quota exceeded)\n\n"
        "   ----- Transcript of session follows -----\n... while talking to mx.partner.example.:\n>>> DATA\n"
        "<<< 550 5.1.1 <unknown@partner.example>: Recipient address rejected: User unknown\n"
        "550 5.1.1 unknown@partner.example... User unknown\n"
        "<<< 552 5.2.2 <full@partner.example>: Mailbox full, quota exceeded\n"
        "<<< 554 5.5.1 Error: no valid recipients\n"
    )
    found = {v.recipient: (v.status, v.replycode, v.reason) for v in parse(raw).verdicts}
    assert found == {"unknown@partner.example": ("5.1.1", "550", "userunknown"),
                     "full@partner.example": ("5.2.2", "552", "mailboxfull")}


def test_a_pipelined_sendmail_warning_gives_each_delayed_recipient_its_own_reply() -> None:
    raw = _sendmail_plain(
        "    **      THIS IS A WARNING MESSAGE ONLY      **\n\n"
        "   ----- Transcript of session follows -----\n... while talking to mx.partner.example.:\n>>> DATA\n"
        "<<< 451 4.7.1 <unknown@partner.example>: Recipient address rejected: Greylisted\n"
        "unknown@partner.example... Deferred: 451 4.7.1 <unknown@partner.example>: Recipient address rejected: Greylisted\n"
        "<<< 451 4.3.0 <full@partner.example>: Temporary lookup failure\n"
        "full@partner.example... Deferred: 451 4.3.0 <full@partner.example>: Temporary lookup failure\n"
        "<<< 554 5.5.1 Error: no valid recipients\n"
        "Warning: message still undelivered after 4 hours\nWill keep trying until message is 5 days old\n"
    )
    found = {v.recipient: (v.kind, v.status) for v in parse(raw).verdicts}
    assert found == {"unknown@partner.example": ("delay", "4.7.1"), "full@partner.example": ("delay", "4.3.0")}


def test_courier_indented_transcript_names_the_rcpt_stage() -> None:
    # Courier's notice shows each recipient's session indented (" >>> RCPT TO:<a@b>" / " <<< 550 ...")
    # beside a report whose Status is a bare 5.0.0: the refusal answered RCPT, so it proves the address
    raw = (
        "Return-Path: <>\nFrom: \"Courier mail server at mta.shop.example\" <@>\nTo: bounces@mailer.shop.example\n"
        "Subject: NOTICE: mail delivery status.\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="c"\n\n'
        "--c\nContent-Type: text/plain\n\n"
        "<noenh@partner.example>:\n     [192.0.2.7] [192.0.2.7]:\n >>> RCPT TO:<noenh@partner.example>\n"
        " <<< 550 No such user here\n\n"
        "--c\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mta.shop.example\n\n"
        "Final-Recipient: rfc822; noenh@partner.example\nAction: failed\nStatus: 5.0.0\n"
        "Diagnostic-Code: smtp; 550 No such user here\n\n--c--\n"
    ).encode()
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.reason, v.hardbounce) == ("noenh@partner.example", "userunknown", True)


def test_a_redacted_complainer_is_no_address() -> None:
    """RFC 6590: feedback loops may take the complainer's address out ("redacted@", all x's); such a
    placeholder names nobody, and the report's other keys say whose mail it was."""
    for placeholder in ("redacted@receiver.example", "xxxxxxxx@receiver.example"):
        raw = _arf("abuse").replace(b"ann@receiver.example", placeholder.encode())
        (v,) = parse(raw).verdicts
        assert (v.kind, v.recipient, v.original_message_id) == ("complaint", None, OUR_MESSAGE.strip("<>"))


def test_a_complaint_without_a_named_recipient_takes_the_mailbox_the_original_was_delivered_to() -> None:
    """With no Original-Rcpt-To, the original's Delivered-To names the complainer's mailbox; its
    To: may be our own list address (nobody's mailbox)."""
    raw = (_arf("abuse").replace(b"Original-Rcpt-To: <ann@receiver.example>\n", b"")
           .replace(b"To: <ann@receiver.example>\n", b"Delivered-To: ann@receiver.example\nTo: <subscribers@shop.example>\n"))
    (v,) = parse(raw).verdicts
    assert (v.kind, v.recipient) == ("complaint", "ann@receiver.example")
    own_list_only = raw.replace(b"Delivered-To: ann@receiver.example\n", b"")
    (v,) = parse(own_list_only).verdicts
    assert (v.kind, v.recipient) == ("complaint", None)


def test_a_forwarded_feedback_report_is_read_from_the_attached_report() -> None:
    """An abuse desk forwards a feedback report as an attachment (RFC 2046 5.2.1 message/rfc822):
    the complained-about message is the one the attached report quotes (RFC 5965 2, its third
    part), not the report itself, and the reporter is the report's, not the forwarder's."""
    forward = (
        b"From: Abuse Desk <abuse-desk@isp.example>\nTo: <abuse@shop.example>\n"
        b"Subject: Fwd: Report about a message from shop.example\nMessage-ID: <forward-7@isp.example>\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="fwd"\n\n'
        b"--fwd\nContent-Type: text/plain\n\nPlease look into the report below.\n\n"
        b"--fwd\nContent-Type: message/rfc822\n\n" + _arf("abuse") + b"\n--fwd--\n"
    )
    (v,) = parse(forward).verdicts
    assert (v.kind, v.recipient, v.feedback_type) == ("complaint", "ann@receiver.example", "abuse")
    assert v.original_message_id == OUR_MESSAGE.strip("<>")
    assert v.reporting_mta == "Reports <reports@receiver.example>"
