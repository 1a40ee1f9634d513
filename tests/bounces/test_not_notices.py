"""Mail that reaches a return-path mailbox, or imitates a notice, and is none: list posts,
newsletters, people's mail, filters' digests, forwarded reports, phishing.

Every message here is written for this test; the structure of each follows what the
named software writes (Mailman 2.1's list headers, Apple Mail's X-Mailer, Barracuda's
quarantine notification, RFC 5321's null return path for real notices).
"""

from __future__ import annotations

from bounceledger.ingest.bounces import parse

OURS = "bounces@news.shop.example"


def _mail(headers: str, body: str, content_type: str = "text/plain; charset=us-ascii") -> bytes:
    return (f"{headers}To: {OURS}\nDate: Tue, 12 Mar 2026 10:02:25 +0000\nMessage-ID: <m-1@sender.example>\n"
            f"MIME-Version: 1.0\nContent-Type: {content_type}\n\n{body}").encode()


def test_a_mailman_post_with_the_lists_bounce_sender_is_no_notice() -> None:
    # Mailman 2.1 puts Sender: <list>-bounces@ on every post (include_sender_header)
    headers = ("Return-Path: <vendors-bounces@lists.toys.example>\nFrom: Vendor Team <vendors@toys.example>\n"
               "Sender: \"Vendors\" <vendors-bounces@lists.toys.example>\n"
               "List-Id: Vendor news <vendors.lists.toys.example>\nPrecedence: list\n"
               "Subject: [Vendors] Portal maintenance on Saturday\n")
    body = ("Orders sent to orders@toys.example will be processed as usual. If you are unable to log in after\n"
            "the maintenance, or your password has expired, contact vendor-support@toys.example.\n")
    assert parse(_mail(headers, body)).verdicts == ()


def test_a_notice_about_a_lists_mail_keeps_its_mta_subject() -> None:
    # an NDR that copied the list's headers is still read by its subject and sender
    headers = ("From: <admin@corp.example>\nSender: <gpc-bounces@lists.example>\nList-Id: GPC <gpc.lists.example>\n"
               "Subject: Non-Delivery: Your message to GPC awaits moderator approval\n")
    body = "Your message did not reach some or all of the intended recipients.\n\n  userx@corp.example\n    550 5.1.1 User unknown\n"
    (v,) = parse(_mail(headers, body)).verdicts
    assert (v.kind, v.recipient) == ("bounce", "userx@corp.example")


def test_a_daemons_name_on_a_persons_envelope_is_no_notice() -> None:
    # phishing copies "Mail Delivery System" but keeps its own return path (RFC 5321 4.5.5
    # sends real notices from the null path)
    headers = ("Return-Path: <mailer@portal-securemailbox.example>\n"
               "From: \"Mail Delivery System\" <mailer@portal-securemailbox.example>\n"
               "Subject: Mail delivery failed: returning 4 pending messages to sender\n")
    body = ("4 messages to you could not be delivered:\n\n"
            " To: hr@shop.example   Status: Delivery failed\n"
            " To: finance@shop.example   Status: Delivery failed\n\n"
            "Retrieve your pending messages now: https://portal-securemailbox.example/retrieve\n")
    assert parse(_mail(headers, body)).verdicts == ()
    real = _mail(headers.replace("Return-Path: <mailer@portal-securemailbox.example>", "Return-Path: <>"), body)
    assert {v.recipient for v in parse(real).verdicts} == {"hr@shop.example", "finance@shop.example"}


def test_a_newsletter_about_bounce_codes_is_no_notice() -> None:
    headers = ("Return-Path: <bounce-2241@bounce.e.news.example>\nFrom: \"Deliverability Weekly\" <news@e.news.example>\n"
               "List-Unsubscribe: <mailto:leave-2241@e.news.example>\n"
               "Subject: Bounce codes decoded: what 550 5.1.1 really means\n")
    body = "1. Unknown user (hard bounce)\n   550 5.1.1 <jane.doe@example.com>: Recipient address rejected: User unknown\n"
    assert parse(_mail(headers, body)).verdicts == ()


def test_a_person_pasting_an_error_is_no_notice() -> None:
    headers = ("Return-Path: <jess@mail.example>\nFrom: Jess <jess@mail.example>\nSubject: Mail delivery failed??\n"
               "X-Mailer: Apple Mail (2.3774.500.171.1.1)\n")
    body = ("I tried to write to you and got this back:\n\n"
            "550 5.1.1 <help@shop.example>: Recipient address rejected: User unknown in virtual mailbox table\n")
    assert parse(_mail(headers, body)).verdicts == ()


def test_a_filters_quarantine_digest_is_no_notice() -> None:
    headers = ("Return-Path: <>\nFrom: \"Barracuda Networks\" <>\n"
               "Subject: Barracuda Email Security Service - Quarantine Notification (2 messages)\n")
    body = ("Date  From  Subject\n"
            "2026-03-28 05:40 info@winner.example You have won - claim now  Actions: Deliver | Block List\n"
            "2026-03-28 07:58 billing@invoices.example Invoice payment rejected  Actions: Deliver | Block List\n")
    assert parse(_mail(headers, body)).verdicts == ()


def test_links_and_senders_are_never_failed_recipients() -> None:
    headers = "Return-Path: <>\nFrom: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail Returned to Sender\n"
    body = ("Delivery failed.\n\n"
            "From: news@shop.example\n"
            "Release it here: https://secure.example/release/?email=bounces@news.shop.example (link expired)\n\n"
            "kim@partner.example: 550 5.1.1 User unknown\n")
    assert [v.recipient for v in parse(_mail(headers, body)).verdicts] == ["kim@partner.example"]


_DSN = ("Content-Type: multipart/report; report-type=delivery-status; boundary=\"in\"\n\n"
        "--in\nContent-Type: text/plain\n\nfailed\n\n"
        "--in\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
        "Final-Recipient: rfc822; returns@shop.example\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n--in--\n")


def _wrapping(outer_headers: str) -> bytes:
    """A message whose only report is inside an attached message (message/rfc822)."""
    return _mail(outer_headers, (
        "--out\nContent-Type: text/plain\n\nSee the attached.\n\n"
        "--out\nContent-Type: message/rfc822\n\n"
        "From: MAILER-DAEMON@mx.example\nTo: ken@customer.example\nSubject: Undelivered Mail Returned to Sender\n"
        f"MIME-Version: 1.0\n{_DSN}\n--out--\n"), content_type='multipart/mixed; boundary="out"')


def test_a_persons_forward_of_their_own_bounce_is_no_notice() -> None:
    forwarded = _wrapping("Return-Path: <ken@customer.example>\nFrom: Ken <ken@customer.example>\n"
                          "Subject: FW: my mail to you bounced\n")
    assert parse(forwarded).verdicts == ()


def test_a_gateway_passing_a_report_on_as_an_attachment_is_read() -> None:
    wrapped = _wrapping("Return-Path: <MAILER-DAEMON@gw.example>\nFrom: Mail Delivery Subsystem <MAILER-DAEMON@gw.example>\n"
                        "Subject: Returned mail: User unknown\n")
    (v,) = parse(wrapped).verdicts
    assert (v.kind, v.recipient, v.status) == ("bounce", "returns@shop.example", "5.1.1")


def test_a_vacation_reply_to_a_subject_with_bounce_words_is_an_autoreply() -> None:
    # Gmail's vacation responder answers "Re: <subject>", Auto-Submitted and In-Reply-To set
    headers = ("Return-Path: <>\nFrom: Sofia <sofia@gmail.example>\nAuto-Submitted: auto-replied\n"
               "In-Reply-To: <20260304.7f3a2c@mailer.shop.example>\n"
               "Subject: Re: Your parcel could not be delivered - reschedule now\n")
    (v,) = parse(_mail(headers, "I'm travelling until Monday.\n")).verdicts
    assert (v.kind, v.recipient) == ("autoreply", "sofia@gmail.example")


def test_an_ses_delivery_delay_event_is_a_delay() -> None:
    # Amazon SES event publishing: eventType DeliveryDelay with delayedRecipients
    body = ('{"eventType":"DeliveryDelay","mail":{"messageId":"0100018e"},"deliveryDelay":{"timestamp":'
            '"2026-03-28T10:00:00.000Z","delayType":"MailboxFull","expirationTime":"2026-03-29T09:00:00.000Z",'
            '"delayedRecipients":[{"emailAddress":"info@hotel.example","status":"4.2.2",'
            '"diagnosticCode":"smtp; 452 4.2.2 Mailbox full"}]}}\n')
    headers = "Return-Path: <>\nFrom: AWS Notifications <no-reply@sns.amazonaws.com>\nSubject: AWS Notification Message\n"
    (v,) = parse(_mail(headers, body)).verdicts
    assert (v.kind, v.recipient, v.status, v.reason) == ("delay", "info@hotel.example", "4.2.2", "mailboxfull")


def test_exims_own_no_such_user_in_a_dsn_is_a_hard_bounce() -> None:
    # cPanel's Exim: a local lookup (no "SMTP error from remote mail server"), Status 5.0.0
    raw = _mail("Return-Path: <>\nFrom: Mail Delivery System <Mailer-Daemon@host.example>\n"
                "X-Failed-Recipients: old.sales@cakes.example\nSubject: Mail delivery failed: returning message to sender\n",
                "--r\nContent-Type: text/plain\n\nThis message was created automatically by mail delivery software.\n\n"
                "  old.sales@cakes.example\n    No Such User Here\n\n"
                "--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; host.example\n\n"
                "Action: failed\nFinal-Recipient: rfc822;old.sales@cakes.example\nStatus: 5.0.0\n\n--r--\n",
                content_type='multipart/report; report-type=delivery-status; boundary="r"')
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.reason, v.hardbounce) == ("old.sales@cakes.example", "userunknown", True)


def test_a_colleagues_forward_of_our_bounce_is_read() -> None:
    # someone at our own domain forwards a bounce of our mail to the bounce address
    forwarded = _wrapping("Return-Path: <sara@shop.example>\nFrom: Sara <sara@shop.example>\n"
                          "Subject: FW: Undelivered Mail Returned to Sender\n")
    (v,) = parse(forwarded.replace(f"To: {OURS}".encode(), b"To: bounces@bounce.shop.example", 1)).verdicts
    assert (v.recipient, v.status) == ("returns@shop.example", "5.1.1")


def test_a_mailman3_membership_notice_from_the_lists_bounce_address_is_no_notice() -> None:
    # Mailman 3 sends its notices to members (the "your subscription has been disabled" warning of
    # mailman/app/notifications.py) from and with the envelope of <list>-bounces@, with its list headers:
    # the member's own deliveries failed before, the list address failed nothing (sweep BW, Mailman 3.3.10)
    headers = ("Return-Path: <vendors-bounces@lists.toys.example>\nFrom: vendors-bounces@lists.toys.example\n"
               "Precedence: bulk\nX-Mailman-Version: 3.3.10\nList-Id: <vendors.lists.toys.example>\n"
               "List-Owner: <mailto:vendors-owner@lists.toys.example>\n"
               "Subject: Your subscription for Vendors mailing list has been disabled\n")
    body = ("Your subscription has been disabled on the vendors@lists.toys.example mailing list because we\n"
            "received bounces: there may be a problem delivering messages to bounces@news.shop.example.\n")
    assert parse(_mail(headers, body)).verdicts == ()


def test_a_lists_bounce_address_does_not_hide_an_mta_notice() -> None:
    # the same sender with an MTA's own subject is still read as a notice
    headers = ("Return-Path: <vendors-bounces@lists.toys.example>\nFrom: MAILER-DAEMON@lists.toys.example\n"
               "List-Id: <vendors.lists.toys.example>\nSubject: Undelivered Mail Returned to Sender\n")
    body = ("I'm sorry to have to inform you that your message could not be delivered.\n\n"
            "<userx@corp.example>: host mx.corp.example said: 550 5.1.1 User unknown\n")
    (v,) = parse(_mail(headers, body)).verdicts
    assert (v.kind, v.recipient, v.status) == ("bounce", "userx@corp.example", "5.1.1")


def test_a_real_mailman3_disable_warning_is_no_notice() -> None:
    # made by GNU Mailman 3.3.10 on loopback (sweep BW): its disable warning to a member whose MX refused a post
    from pathlib import Path
    raw = (Path(__file__).parent / "fixtures" / "lists" / "mailman3_disable_warning.msg").read_bytes()
    assert parse(raw).verdicts == ()
