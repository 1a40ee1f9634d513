"""Plain-text notices without a delivery-status part, written from the
templates the MTAs ship: one record per failed address, none invented."""

from __future__ import annotations

import pytest

from bounceledger.ingest.bounces import parse

CASES = {
    # Postfix bounce(8) text: "<addr>: host ... said:" with 4-space folded lines
    # that may repeat "<addr>:"
    "plain_postfix_plain.msg": {("quota@example.net", "5.2.2", "552", "mailboxfull", False),
                                ("nx@nowhere.example", "5.0.912", None, "hostunknown", True)},
    # Yahoo: "Sorry, we were unable to deliver your message to the following address."
    "plain_yahoo.msg": {("gone.user@yahoo.com", "5.0.911", "554", "userunknown", True)},
    # MDaemon: "The attached message had PERMANENT fatal delivery errors!" + session transcript
    "plain_mdaemon.msg": {("nobody@example.net", "5.1.1", "550", "userunknown", True)},
    # OpenSMTPD before 6.x: "An error has occurred while attempting to deliver a message"
    "plain_opensmtpd_old.msg": {("kim@example.net", "5.1.1", "550", "userunknown", True)},
    # GroupWise: "The message that you sent was undeliverable to the following:"
    "plain_groupwise.msg": {("hans.meier@gw.example.org", "5.0.911", None, "userunknown", True)},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_plain_notice(fixture_bytes, name):
    parsed = parse(fixture_bytes(name))
    got = [(v.recipient, v.status, v.replycode, v.reason, v.hardbounce) for v in parsed.verdicts]
    assert len(got) == len(set(got))
    assert set(got) == CASES[name]
    assert {v.kind for v in parsed.verdicts} == {"bounce"}


def test_an_echoed_rcpt_to_of_the_same_address_does_not_end_its_part():
    """hMailServer and Kerio echo the command ("... sent: RCPT TO:<addr>") before the
    server's reply: that line names the same recipient, so the reply under it is still
    this recipient's; the next address starts the next part."""
    raw = (
        "From: MAILER-DAEMON@mx.example.net\nTo: news@sender.test\nSubject: Message undeliverable\n\n"
        "Your message did not reach some or all of the intended recipients.\n\n"
        "The following recipient(s) could not be reached:\n\n"
        "alice@example.org\n   Error Type: SMTP\n   Remote server (192.0.2.10) issued an error.\n"
        "   hMailServer sent: RCPT TO:<alice@example.org>\n"
        "   Remote server replied: 550 5.1.1 <alice@example.org>: Recipient address rejected: User unknown\n"
        "bob@example.org\n   Error Type: SMTP\n   Remote server (192.0.2.11) issued an error.\n"
        "   hMailServer sent: RCPT TO:<bob@example.org>\n   Remote server replied: 552 5.2.2 Mailbox full\n\n"
    ).encode()
    got = {(v.recipient, v.status, v.replycode, v.reason) for v in parse(raw).verdicts}
    assert got == {("alice@example.org", "5.1.1", "550", "userunknown"), ("bob@example.org", "5.2.2", "552", "mailboxfull")}


def test_a_list_of_addresses_each_with_its_reply_is_one_part_per_line():
    """"addr - reply" lines: a line naming the next address ends the part of an address whose
    own line already carried a server's code; an address inside a reply (an alias) does not."""
    raw = (
        "From: MAILER-DAEMON@mx.example.net\nTo: news@sender.test\nSubject: Undelivered mail\n\n"
        "Delivery to these addresses failed:\n"
        "bob@example.org - 550 5.1.1 user unknown\n"
        "amy@example.org - 552 mailbox full\n"
        "cy@example.org - 550 5.1.1 unknown alias for <cy.old@example.org>\n\n"
    ).encode()
    got = {(v.recipient, v.replycode, v.reason) for v in parse(raw).verdicts}
    assert got == {("bob@example.org", "550", "userunknown"), ("amy@example.org", "552", "mailboxfull"),
                   ("cy@example.org", "550", "userunknown")}


def test_a_bounce_subject_without_a_mailers_structure_is_not_a_bounce():
    """A shop's newsletter may say "Delivery failed" in its subject and name an address near
    failure words; with no bounce envelope, no returned original and no server's words it is
    not a notice, and the plain-text reader takes nothing from it."""
    raw = (
        "From: news@shop.example\nTo: customer@example.org\nSubject: Delivery failed? Track your parcel\n\n"
        "Your parcel delivery failed at first attempt; we will retry tomorrow. Contact support@shop.example.\n"
    ).encode()
    parsed = parse(raw)
    assert (parsed.outcome, parsed.verdicts) == ("ignored", ())


def _wordless_notice(subject: str, words: str) -> bytes:
    return (
        f"From: MAILER-DAEMON@mx.example.de\nTo: news@sender.test\nReturn-Path: <>\nSubject: {subject}\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + words
    ).encode()


def test_a_notice_in_another_language_names_its_one_recipient():
    """No English failure words and no server's code: a bounce envelope, a non-delivery subject
    ("Unzustellbar", Exchange's German) and exactly one address still make it that address's bounce."""
    raw = _wordless_notice("Unzustellbar: Weekly news",
                           "Ihre Nachricht konnte nicht zugestellt werden an:\n\n    hans@example.de\n\nGrund: Empfänger unbekannt.\n")
    got = [(v.kind, v.recipient, v.hardbounce) for v in parse(raw).verdicts]
    assert got == [("bounce", "hans@example.de", False)]


def test_a_wordless_notice_with_a_delay_warnings_subject_is_a_delay():
    raw = _wordless_notice("Delivery Status Notification (Delay)", "Ihre Nachricht an hans@example.de ist noch unterwegs.\n")
    assert [(v.kind, v.recipient) for v in parse(raw).verdicts] == [("delay", "hans@example.de")]


def test_a_wordless_notice_naming_two_addresses_gives_nothing():
    """Which one failed would be a guess."""
    raw = _wordless_notice("Unzustellbar: Weekly news",
                           "Ihre Nachricht an hans@example.de wurde an grete@example.de weitergeleitet.\n")
    assert parse(raw).verdicts == ()


def test_a_wordless_notice_does_not_take_an_address_the_returned_message_was_not_sent_to():
    """The one address in the notice's words is a help desk's: the returned headers say
    whom the message went to, and it was not that address, so the addressee is the one."""
    raw = (
        "From: MAILER-DAEMON@mx.example.de\nTo: news@sender.test\nReturn-Path: <>\nSubject: Unzustellbar: Weekly news\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n'
        "--B\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        "Ihre Nachricht konnte nicht zugestellt werden. Fragen an hilfe@example.de.\n\n"
        "--B\nContent-Type: text/rfc822-headers\n\nFrom: news@sender.test\nTo: hans@example.de\n\n--B--\n"
    ).encode()
    assert [(v.kind, v.recipient, v.detector) for v in parse(raw).verdicts] == [("bounce", "hans@example.de", "returned-to")]


def test_a_recipient_with_words_of_its_own_does_not_take_another_recipients_code():
    """An Exim notice in another language (its template translated, so no format reader
    knows it) lists each failed address with its own reason: the one whose reason carries
    no code ("retry timeout exceeded") must not take the 5.1.1 said of the other."""
    raw = (
        "Return-path: <>\nFrom: Mail Delivery System <Mailer-Daemon@mx.example.nl>\n"
        "To: news@sender.test\nX-Failed-Recipients: jan@example.nl, kees@example.nl\n"
        "Auto-Submitted: auto-replied\nSubject: Mail delivery failed: returning message to sender\n\n"
        "Dit bericht is automatisch aangemaakt door de e-mailsoftware.\n\n"
        "De volgende adres(sen) zijn mislukt:\n\n"
        "  jan@example.nl\n"
        "    SMTP error from remote mail server after RCPT TO:<jan@example.nl>:\n"
        "    host mx.example.nl [192.0.2.90]: 550 5.1.1 <jan@example.nl>: Recipient address rejected: User unknown\n\n"
        "  kees@example.nl\n"
        "    retry timeout exceeded\n\n"
        "------ Dit is een kopie van het bericht, inclusief alle headers. ------\n\n"
        "From: news@sender.test\nTo: jan@example.nl, kees@example.nl\nSubject: Nieuwsbrief\n\nHallo\n"
    ).encode()
    got = {(v.recipient, v.status, v.reason, v.hardbounce) for v in parse(raw).verdicts}
    assert {(rcpt, reason, hard) for rcpt, _status, reason, hard in got} == {
        ("jan@example.nl", "userunknown", True), ("kees@example.nl", "expired", False)}
    assert dict((rcpt, status) for rcpt, status, _reason, _hard in got)["jan@example.nl"] == "5.1.1"
    assert not dict((rcpt, status) for rcpt, status, _reason, _hard in got)["kees@example.nl"].startswith("5.1.")


def test_a_word_alone_on_a_line_is_no_recipient_of_a_wrapped_reply():
    """A relay that copies Exim's wording but writes the remote reply as it came, wrapped
    ("... Please\\ndirect\\n552-5.2.2 the recipient to ..."): the word alone on its line is
    no bare local part (Exim indents a reason under those), and the notice names nobody, so
    the returned message's addressee is the recipient."""
    raw = (
        "Return-Path: <>\nFrom: Mail Delivery System <mailer-daemon@relay.example.de>\nTo: news@sender.test\n"
        "Subject: Mail delivery failed: returning message to sender\n\n"
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of\nits recipients. This is a permanent "
        "error. The following address(es)\nfailed:\n\n"
        "SMTP error from remote server for RCPT TO command, host: mx.b.example (192.0.2.27) reason: 552-5.2.2 "
        "The email account that you tried to reach is over quota. Please\ndirect\n552-5.2.2 the recipient to\n"
        "552 5.2.2 https://support.google.com/mail/?p=OverQuotaPerm - gsmtp\n\n\n"
        "--- The header of the original message is following. ---\n\n"
        "Received: from out.sender.test by mx.sender.test\n\tfor <friend@b.example>; Tue, 4 Mar 2025 09:21:39 +0000\n"
        "From: News <news@sender.test>\nTo: <friend@b.example>\nSubject: March\n"
    ).encode()
    got = {(v.recipient, v.status, v.reason) for v in parse(raw).verdicts}
    assert got == {("friend@b.example", "5.2.2", "mailboxfull")}


def test_a_delay_notice_with_the_noun_in_its_subject_names_the_returned_addressee():
    """MailEnable's delay notice ("Message delivery has been delayed", knowledge base ME020125)
    names only the next host; the headers it returns name the recipient."""
    raw = (
        "Return-Path: <>\nFrom: POSTMASTER@mail.relay.example\nTo: bounce@sender.test\n"
        "Subject: Message Delivery Delay\nX-Mailer: MailEnable Professional Edition\n\n"
        "MailEnable: Message delivery has been delayed.\n\n"
        "Message is waiting at mail.relay.example for delivery to mx.b.example.\n\n"
        "The remote mail server returned the error:\n451 qq internal bug (#4.3.0)\n\n\n"
        "Message headers follow:\n\n"
        "Return-Path: <bounce@sender.test>\nFrom: News <news@sender.test>\nTo: <dispatch@b.example>\n"
        "Subject: Spring sale\nMessage-ID: <e0f1021324@sender.test>\n"
    ).encode()
    got = [(v.kind, v.recipient) for v in parse(raw).verdicts]
    assert got == [("delay", "dispatch@b.example")]


@pytest.mark.parametrize("line, address", [
    # CJK punctuation and full-width forms end a label before an address
    ("收件人：liuyang@yeah.example.net", "liuyang@yeah.example.net"),  # full-width colon after the label
    ("收 件 人：xiaoming@example.cn", "xiaoming@example.cn"),
    ("宛先　taro@example.jp。", "taro@example.jp"),  # ideographic space and full stop
    ("用户@例子.广告", "用户@例子.广告"),  # an internationalised address (RFC 6531) stays whole
    # an address in single quotes loses its opening quote
    ("'uwe@example.org' on 3/4/2025 9:01 AM", "uwe@example.org"),  # Exchange 2003's report
    ("Recipient 'Ann@Example.org' unknown", "ann@example.org"),
    ("o'brien@example.org", "o'brien@example.org"),  # an apostrophe inside a local part stays
])
def test_what_surrounds_an_address_in_a_notice_is_left_out(line, address):
    from bounceledger.ingest.bounces._message import first_address

    assert first_address(line) == address


@pytest.mark.parametrize("subject, words", [
    ("配信エラーのお知らせ", "宛先のメールアドレスが存在しません"),  # Japanese ISPs: "delivery error notice"
    ("메일 발송 실패 안내", "받는 사람의 메일함 용량이 초과되었습니다"),  # Korean: "mail sending failed"
    ("Недоставленное сообщение", "Ваше письмо не доставлено получателю"),  # Yandex: "undelivered message"
])
def test_a_notice_in_a_local_language_names_its_recipient(subject, words):
    """A daemon's notice with only local-language words and the returned message's headers:
    its subject says what it is, and the recipient is the address the notice names."""
    raw = (
        f"Return-Path: <>\nFrom: postmaster@mx.b.example\nTo: bounce@sender.test\nSubject: {subject}\n"
        "Auto-Submitted: auto-replied\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
        f"{words}\n\n  dana@b.example\n\n"
        "------ Original message ------\n\n"
        "From: news@sender.test\nTo: dana@b.example\nSubject: Spring\nMessage-ID: <m1@sender.test>\n"
    ).encode()
    got = [(v.kind, v.recipient) for v in parse(raw).verdicts]
    assert got == [("bounce", "dana@b.example")]


def test_an_exchange_2003_report_names_its_recipient_without_the_quote():
    raw = (
        "Return-Path: <>\nFrom: System Administrator <postmaster@ex.b.example>\nTo: news@sender.test\n"
        "Subject: Undeliverable: Spring\nMIME-Version: 1.0\nContent-Type: text/plain\n\n"
        "Your message\n\n  Subject: Spring\n  Sent: 3/4/2025 9:00 AM\n\n"
        "did not reach the following recipient(s):\n\n"
        "'uwe@b.example' on 3/4/2025 9:01 AM\n"
        "     The e-mail account does not exist at the organization this message was sent to.\n"
        "     <ex.b.example #5.1.1 smtp;550 5.1.1 User unknown>\n"
    ).encode()
    assert [(v.recipient, v.status, v.reason) for v in parse(raw).verdicts] == [
        ("uwe@b.example", "5.1.1", "userunknown")]


def test_masqmail_warning_is_a_delay():
    """masqmail's warning template (tpl/warnmsg.tpl) says "has been defered" (its spelling)
    and "Delivery will be tried again": the recipient is delayed, not failed."""
    raw = (
        "Return-Path: <>\nFrom: MAILER-DAEMON@mail.b.example\nTo: news@sender.test\n"
        "Subject: Attention: impossible d'envoyer un message\n\n"  # its French subject says no more
        "This is a warning message from the mail system at mail.b.example.\n\n"
        "Delivery to the following recipients has been defered:\n\n"
        "claire@lent.b.example: 421 Service not available\n\n"
        "Delivery will be tried again, until it is either successfull or a timeout is reached.\n"
    ).encode()
    assert [(v.kind, v.recipient) for v in parse(raw).verdicts] == [("delay", "claire@lent.b.example")]


def test_one_reason_under_several_bare_addresses_is_each_ones():
    """1&1 lists the failed addresses, then one unindented reason for all of them."""
    raw = (
        "Return-Path: <>\nFrom: Mail Delivery System <mailer-daemon@kundenserver.example>\nTo: news@sender.test\n"
        "Subject: Mail delivery failed: returning message to sender\n\n"
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of\nits recipients. This is a "
        "permanent error. The following address\nfailed:\n\n"
        "<rosa@b.example>\n<fragata@b.example>\n\nReason:\n\ndelivery retry timeout exceeded\n\n"
        "--- The header of the original message is following. ---\n\n"
        "From: news@sender.test\nTo: <rosa@b.example>, <fragata@b.example>\nSubject: Spring\n"
    ).encode()
    got = {(v.recipient, v.reason) for v in parse(raw).verdicts}
    assert got == {("rosa@b.example", "expired"), ("fragata@b.example", "expired")}


def test_a_notice_that_states_its_cause_apart_from_the_address_is_read_whole():
    """Seznam's own notice names the address in one paragraph and gives the server's status in a
    "Reason:" block of its own: the status is the record's, not an unknown cause."""
    raw = (
        "From: Mail Delivery System <MAILER-DAEMON@email.b.example>\nTo: bounces@sender.test\n"
        "Subject: Nedoruceny e-mail / Undelivered e-mail\nAuto-Submitted: auto-replied\n\n"
        "You message for <petr@b.example> from 2024/05/15 could not be delivered.\nIt's attached below.\n\n"
        "Reason:\n---------------\n\n5.1.1 szn; User hasn't got the service mapped\n\n"
        "Permanent Failure - Bad destination mailbox address\n\n"
        "------ Original message ------\n\nFrom: News <news@sender.test>\nTo: petr@b.example\n"
        "Subject: Digest\n\nHello\n"
    ).encode()
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.status, v.reason, v.hardbounce) == ("petr@b.example", "5.1.1", "userunknown", True)




def test_a_run_of_blank_lines_is_one_break_in_a_notice():
    """An HTML notice read as text (QQ Mail's tables: the address in one row, the cause in the
    cells of the next) leaves runs of blank lines between them: one run is one paragraph break,
    not the end of the address's part."""
    html = (
        "<html><body><p>很抱歉您的邮件未能送达：</p>\n<table>\n<tr>\n"
        "<td colspan=\"2\">无法发送到 wang@qq.example</td>\n</tr>\n<tr>\n"
        "<td>退信原因</td>\n<td>该用户不存在</td>\n</tr>\n</table>\n</body></html>\n"
    )
    raw = (
        "From: PostMaster <PostMaster@qq.example>\nTo: bounces@sender.test\n"
        "Subject: =?utf-8?b?57O757uf6YCA5L+h?=\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="Q"\n\n--Q\nContent-Type: text/html; charset="utf-8"\n\n'
        f"{html}\n--Q\nContent-Type: message/rfc822\n\nFrom: News <news@sender.test>\nTo: wang@qq.example\n"
        "Subject: Digest\n\nHello\n--Q--\n"
    ).encode()
    (v,) = parse(raw).verdicts
    assert (v.recipient, v.reason, v.hardbounce) == ("wang@qq.example", "userunknown", True)
