"""DSN corner cases: sendmail transcripts, OpenSMTPD placeholders, generic
gateways, mbox files, broken MIME. Fixtures are hand-written, modelled on
each MTA's notices."""

from __future__ import annotations

from bounceledger.ingest.bounces import parse, split_mbox
from bounceledger.ingest.bounces.classify import reason_from_text
from bounceledger.ingest.bounces.rfc3464 import _earlier_temporary_status, transcript_cause


def rows(parsed):
    return [(v.kind, v.recipient, v.status, v.replycode, v.reason, v.hardbounce) for v in parsed.verdicts]


def test_boundaryless_report_reads_the_transcript_local_agent(fixture_bytes):
    # the boundary never occurs: the text is still read, and "mail.local:
    # unknown user" comes from the local delivery agent, so it is proof
    assert rows(parse(fixture_bytes("sendmail_local_unknown_nobound.msg"))) == [
        ("bounce", "olga@partner.example", "5.5.0", None, "userunknown", True)]


def test_exit_code_only_diagnostic_uses_transcript_reply(fixture_bytes):
    (v,) = parse(fixture_bytes("sendmail_pipe_exitcode.msg")).verdicts
    assert (v.status, v.replycode, v.reason) == ("5.3.0", "554", "mailererror")
    assert v.diagnostic == "554 5.3.0 unknown mailer error 255"


def test_give_up_takes_reply_code_from_server_line(fixture_bytes):
    (v,) = parse(fixture_bytes("sendmail_deferred_421.msg")).verdicts
    assert (v.status, v.replycode, v.reason) == ("4.4.7", "421", "expired")


def test_transcript_prefers_the_line_the_reason_note_quotes():
    human = ("   ----- The following addresses had permanent fatal errors -----\n<a@b.example>\n"
             "    (reason: Insufficient permission)\n\n   ----- Transcript of session follows -----\n"
             "maildrop: maildir over quota.\n550 5.0.0 <a@b.example>... Insufficient permission\n")
    cause = transcript_cause(human)
    assert cause.text.endswith("Insufficient permission") and cause.replycode == "550" and not cause.local
    assert transcript_cause("no transcript here") is None


def test_opensmtpd_placeholder_status_becomes_stand_in_code(fixture_bytes):
    # a delayed recipient's stand-in keeps the report's transient class (RFC 3464 2.3.3)
    assert rows(parse(fixture_bytes("opensmtpd_no_mx_delayed.msg"))) == [
        ("delay", "lena@gone.example", "4.0.932", None, "notaccept", False)]


def test_generic_gateway_user_unknown_is_filtered_and_original_recipient_wins(fixture_bytes):
    (v,) = parse(fixture_bytes("generic_gateway_unknown.msg")).verdicts
    assert v.recipient == "sales@partner.example"  # the address we sent to
    assert (v.status, v.replycode, v.reason, v.hardbounce) == ("5.0.0", "550", "filtered", False)


def test_mbox_with_two_reports_gives_both(fixture_bytes):
    raw = fixture_bytes("mbox_two_reports.msg")
    assert len(split_mbox(raw)) == 2
    parsed = parse(raw)
    assert [v.recipient for v in parsed.verdicts] == ["user1@customer.example", "user2@customer.example"]
    assert parsed.subject == "Mail Delivery Status Report"
    # a body line starting "From " is no separator
    assert len(split_mbox(b"From a@b Sun Mar  8 10:00:00 2026\nSubject: x\n\nFrom here on\n")) == 1


def test_quoted_printable_fields_in_text_part_and_nested_reply(fixture_bytes):
    (v,) = parse(fixture_bytes("qp_report_fields.msg")).verdicts
    assert v.reporting_mta == "out-7.relay.mailhost.example"  # "dsn;" type stripped
    assert (v.status, v.replycode, v.reason) == ("4.4.2", "421", "expired")


def test_text_rules_added_for_sendmail_wording():
    assert reason_from_text("<a@b.example>... Deferred: Name server: b.example.: host name lookup failure") == "networkerror"
    assert reason_from_text("<a@b.example>... Deferred: Connection refused by mx.b.example.") == "blocked"
    assert reason_from_text("a... Deferred: Connection refused by [127.0.0.1]") is None
    assert reason_from_text("554 IP=192.0.2.1 - A problem occurred. (Ask your postmaster for help) (BL)") == "blocked"
    assert reason_from_text("550 5.0.0 <a@b.example>... Insufficient permission") == "systemerror"


def test_queue_expiry_names_the_earlier_temporary_cause():
    human = ("Remote Server at mx (10.1.1.3) returned '550 4.4.7 QUEUE.Expired; message expired'\n"
             "Remote Server at mx (10.1.1.3) returned '441 4.4.1 Error encountered while communicating'\n")
    assert _earlier_temporary_status(human) == "4.4.1"
    assert _earlier_temporary_status("returned '550 4.4.7 QUEUE.Expired'") is None


def test_sendmail_quoting_remote_reply_takes_the_remote_code():
    from bounceledger.ingest.bounces.classify import find_replycode

    assert find_replycode("554 <a@b.example>... 550 Host unknown (Authoritative answer)") == "550"
    assert find_replycode("554 5.0.0 Service unavailable") == "554"


def _postfix_local_failure(diagnostic: str, notice: str) -> bytes:
    """A Postfix bounce(8) report of a local delivery agent's failure, written here
    after the layout of Postfix's default template."""
    return (
        "From: MAILER-DAEMON@mx.partner.example (Mail Delivery System)\n"
        "To: bounces+x1@news.example\nSubject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
        "--B\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system at host mx.partner.example.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "                   The mail system\n\n"
        f"<ann@partner.example>: {notice}\n\n"
        "--B\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.partner.example\nX-Postfix-Queue-ID: 4F2A1C0\n\n"
        "Final-Recipient: rfc822; ann@partner.example\nAction: failed\nStatus: 5.2.2\n"
        f"Diagnostic-Code: x-unix; {diagnostic}\n\n--B--\n"
    ).encode()


def test_postfix_sysexits_diagnostic_gives_way_to_the_notice_line():
    # Postfix's x-unix code can be only the sysexits.h class; the notice names the cause
    notice = "delivery failed to mailbox /var/mail/ann: error writing message: File too large"
    (v,) = parse(_postfix_local_failure("input/output error", notice)).verdicts
    assert v.diagnostic == f"<ann@partner.example>: {notice}"
    assert (v.status, v.reason, v.hardbounce) == ("5.2.2", "mailboxfull", False)
    # a code that says more than the class is kept as it is
    (v,) = parse(_postfix_local_failure("/var/mail/ann: Disk quota exceeded", "temporary failure")).verdicts
    assert v.diagnostic == "/var/mail/ann: Disk quota exceeded"


_ALIAS_LOOP_DSN = b"""\
Return-Path: <>
From: Mail Delivery System <Mailer-Daemon@mx.partner.example>
To: bounces@news.example
Subject: Mail delivery failed: returning message to sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  staff-7@internal.partner.example

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.partner.example

Original-Recipient: rfc822;help@partner.example
Final-Recipient: rfc822;staff-7@internal.partner.example
Action: failed
Status: 5.0.0

--b1--
"""


def test_a_line_naming_only_the_alias_target_is_no_diagnostic():
    """The notice names the address an alias led to (Final-Recipient) and nothing else:
    as with the address sent to, that line is no diagnostic (Exim's own failures, such
    as a suspected mail loop, are listed this way)."""
    (v,) = parse(_ALIAS_LOOP_DSN).verdicts
    assert v.recipient == "help@partner.example"
    assert v.diagnostic is None


def test_a_status_comment_is_the_cause_of_a_failure_without_a_diagnostic_code():
    """Sun's messaging servers write the cause as the Status code's comment (DSN fields are
    structured, RFC 3464 2.1.1) and no Diagnostic-Code: "5.0.0 (recipient reached disk quota)"."""
    raw = (
        "From: Internet Mail Delivery <postmaster@mx.b.example>\nTo: bounce@sender.test\n"
        "Subject: Delivery Notification: Delivery has failed\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\n"
        "This report relates to a message you sent with the following header fields:\n\n"
        "  To: <jangel@b.example>\n  Subject: Spring sale\n\n"
        "Your message cannot be delivered to the following recipients:\n\n"
        "  Recipient address: jangel@b.example\n  Reason: recipient reached disk quota\n\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.b.example\n\n"
        "Action: failed\nStatus: 5.0.0 (recipient reached disk quota)\nFinal-recipient: rfc822;jangel@b.example\n\n"
        "--b--\n"
    ).encode()
    got = [(v.recipient, v.status, v.reason, v.diagnostic) for v in parse(raw).verdicts]
    assert got == [("jangel@b.example", "5.0.0", "mailboxfull", "recipient reached disk quota")]


def _report(human: str, status_blocks: str, reporting: str = "mx.b.example") -> bytes:
    """A multipart/report with this human part and these per-recipient blocks."""
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting}>\nTo: bounces@sender.test\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\n\n'
        f"--R\nContent-Type: text/plain\n\n{human}\n--R\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; {reporting}\n\n{status_blocks}\n--R--\n"
    ).encode()


def test_exim_lists_each_failed_address_alone_and_its_reason_under_it():
    """Exim (deliver.c): each address on its own line indented two spaces, its reason under it
    indented four. The next address ends the previous one's reason: the live address above an
    unroutable one is not a hard bounce."""
    raw = _report(
        "A message that you sent could not be delivered to one or more of its\nrecipients. This is a "
        "permanent error. The following address(es) failed:\n\n"
        "  ops@dark.example\n    retry timeout exceeded\n  admin@nx.example\n    Unrouteable address\n",
        "Final-Recipient: rfc822;ops@dark.example\nAction: failed\nStatus: 5.0.0\n\n"
        "Final-Recipient: rfc822;admin@nx.example\nAction: failed\nStatus: 5.0.0\n",
    )
    got = {v.recipient: (v.reason, v.hardbounce) for v in parse(raw).verdicts}
    assert got["admin@nx.example"] == ("hostunknown", True)
    assert got["ops@dark.example"][1] is False
    assert "Unrouteable" not in next(v.diagnostic for v in parse(raw).verdicts if v.recipient == "ops@dark.example")


def test_a_postfix_pipe_command_that_died_is_a_mailer_error_whatever_it_printed():
    """Postfix pipe(8) puts the command's output in the x-unix Diagnostic-Code; its own line in the
    notice ("Command died with status N") says what failed: the program, not the system it names."""
    raw = _report(
        "This is the mail system at host mx.b.example.\n\n"
        "<tickets@b.example> (expanded from <support@b.example>):\n"
        '    Command died with status 1: "/usr/local/bin/import". Command output:\n'
        "    ConnectionError: database unavailable\n",
        "Final-Recipient: rfc822; tickets@b.example\nAction: failed\nStatus: 5.3.0\n"
        "Diagnostic-Code: x-unix; ConnectionError: database unavailable\n",
    )
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.reason) == ("tickets@b.example", "mailererror")


def _local_report(human: str, status_block: str, host: str = "mail.b.example") -> bytes:
    """A report the recipient's own server wrote about its own delivery (Remote-MTA is itself)."""
    return _report(human, status_block.replace("REMOTE", f"Remote-MTA: dns;{host}"), reporting=host)


def test_the_recipients_own_server_that_says_no_such_user_is_believed():
    """gromox's local bounces (Status 5.0.0, no Diagnostic-Code, Remote-MTA its own name): the
    server that keeps the mailboxes knows its users, so it is no 'filtered' of an unknown stage."""
    raw = _local_report(
        "您好：\n  您发送到“li.wei@b.example”的邮件无法投递，\n因为该收件人并不存在。\n\n"
        "收件人：  li.wei@b.example\n",
        "Final-Recipient: rfc822;li.wei@b.example\nAction: failed\nStatus: 5.0.0\nREMOTE\n",
    )
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.reason, v.hardbounce) == ("li.wei@b.example", "userunknown", True)


def test_a_cause_written_before_the_address_in_the_same_sentence_is_read():
    """Templates that wrap one sentence around the address put the cause above its line (gromox's
    Japanese: "受信者のメールボックスが一杯になって、...\\nできないため、"addr"へのメール...")."""
    raw = _local_report(
        "お知らせ：\n  受信者のメールボックスが一杯になって、1通のメールでも受信\n"
        "できないため、\"suzuki@b.example\"へのメールが正しく送信できません。\n",
        "Final-Recipient: rfc822;suzuki@b.example\nAction: failed\nStatus: 5.0.0\nREMOTE\n",
    )
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.reason) == ("suzuki@b.example", "mailboxfull")


def test_a_line_that_opens_with_its_address_takes_nothing_from_above():
    """Exim's list: the reason under the first address is not the second address's."""
    raw = _report(
        "The following address(es) failed:\n\n"
        "  ops@dark.example\n    mailbox is full\n  admin@b.example\n    Unrouteable address\n",
        "Final-Recipient: rfc822;admin@b.example\nAction: failed\nStatus: 5.0.0\n",
    )
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.reason) == ("admin@b.example", "hostunknown")


def test_gmails_text_notice_reads_the_response_paragraph_only():
    """Gmail's "** Address not found **" notice: the response is the paragraph after "The response
    was:"; what follows (the HTML alternative read as text repeats the heading) is not the reply."""
    raw = (
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nTo: bounces@sender.test\n"
        "Subject: Delivery Status Notification (Failure)\nX-Failed-Recipients: info@gone.example\n"
        'MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="A"\n\n'
        "--A\nContent-Type: text/plain; charset=UTF-8\n\n\n** Address not found **\n\n"
        "Your message wasn't delivered to info@gone.example because the domain gone.example couldn't be found.\n\n"
        "The response was:\nDNS Error: 1234 DNS type 'mx' lookup of gone.example responded with code NXDOMAIN\n"
        "Domain name not found: gone.example\n\n"
        "--A\nContent-Type: text/html; charset=UTF-8\n\n<html><body><h2>Address not found</h2>"
        "<p>Your message wasn't delivered to info@gone.example.</p></body></html>\n--A--\n"
    ).encode()
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.reason, v.hardbounce) == ("info@gone.example", "hostunknown", True)


def test_a_diagnostic_that_is_the_first_line_of_a_reply_is_completed_from_the_transcript():
    """Sendmail's Diagnostic-Code holds only the first line of a multi-line reply (RFC 5321 4.2.1:
    "550-" on every line but the last). Exim's sender verification names the sender on its first
    line: read alone, it made a hard unknown user of a live recipient."""
    raw = _report(
        "   ----- The following addresses had permanent fatal errors -----\n<lee@b.example>\n"
        "    (reason: 550-Verification failed for <news@sender.test>)\n\n"
        "   ----- Transcript of session follows -----\n... while talking to mx.b.example.:\n"
        ">>> RCPT To:<lee@b.example>\n<<< 550-Verification failed for <news@sender.test>\n"
        "<<< 550-The mail server could not deliver mail to news@sender.test.  The account or domain may not exist\n"
        "<<< 550 Sender verify failed\n550 5.1.1 <lee@b.example>... User unknown\n",
        "Final-Recipient: RFC822; lee@b.example\nAction: failed\nStatus: 5.1.1\nRemote-MTA: DNS; mx.b.example\n"
        "Diagnostic-Code: SMTP; 550-Verification failed for <news@sender.test>\n",
        reporting="mta.sender.test",
    )
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.replycode, v.hardbounce) == ("lee@b.example", "550", False)
    assert v.reason != "userunknown" and "Sender verify failed" in (v.diagnostic or "")


def test_gmail_authentication_reply_read_whole_is_an_authentication_failure():
    """Google's 550 5.7.26 reply names the missing authentication on its first line and spam,
    what the check guards against, on its second: once the lines are joined, the cause still wins."""
    from bounceledger.ingest.bounces.classify import classify

    text = ("550-5.7.26 This message does not have authentication information or fails to pass "
            "550-5.7.26 authentication checks (SPF or DKIM). To best protect our users from spam, "
            "550 5.7.26 the message has been blocked.")
    assert classify("5.7.26", "550", text, None).reason == "authfailure"
    assert classify("5.7.1", "550", text.replace("5.7.26", "5.7.1"), None).reason == "authfailure"


def test_a_give_up_over_a_temporary_reply_keeps_the_servers_reply_code():
    """Exim gives up after its retry time with Status 5.0.0 and the remote server's last answer,
    a 4xx, as the Diagnostic-Code (RFC 3464 2.3.6: the reply, its code first)."""
    raw = _report(
        "A message that you sent could not be delivered to one or more of its\nrecipients. This is a "
        "permanent error. The following address(es) failed:\n\n  pat@b.example\n    host mx.b.example "
        "[192.0.2.9]\n    SMTP error from remote mail server after RCPT TO:<pat@b.example>:\n"
        "    451 Requested action aborted: local error in processing: retry timeout exceeded\n",
        "Final-Recipient: rfc822;pat@b.example\nAction: failed\nStatus: 5.0.0\nRemote-MTA: dns; mx.b.example\n"
        "Diagnostic-Code: smtp; 451 Requested action aborted: local error in processing: retry timeout exceeded\n",
        reporting="mta.sender.test",
    )
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.replycode, v.hardbounce) == ("pat@b.example", "451", False)
