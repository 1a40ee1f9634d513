"""Notices that name several recipients: one record for each address the notice says failed,
with its own cause, and none for an address it only quotes (a header block, the returned
message's sender, a list the mail was expanded from).

Every message here is written for this test, in the layout of the MTA named beside it.
"""

from __future__ import annotations

from bounceledger.ingest.bounces import parse

ORIGINAL = (
    "From: News <news@sender.test>\nTo: {to}\nSubject: December issue\n"
    "Message-ID: <dec-1@sender.test>\n\nHello,\nsee you at https://sender.test/dec\n"
)


def _notice(body: str, to: str, *, subject: str = "Undelivered Mail Returned to Sender",
            sender: str = "MAILER-DAEMON@mx.b.example", original_type: str = "message/rfc822") -> bytes:
    return (
        f"Return-Path: <>\nFrom: Mail Delivery System <{sender}>\nTo: bounces@sender.test\n"
        f"Subject: {subject}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"N\"\n\n"
        f"--N\nContent-Type: text/plain\n\n{body}\n--N\nContent-Type: {original_type}\n\n"
        + ORIGINAL.format(to=to) + "--N--\n"
    ).encode()


def _records(raw: bytes) -> dict[str, tuple[str | None, bool]]:
    found = parse(raw).verdicts
    assert len({v.recipient for v in found}) == len(found), [v.recipient for v in found]
    return {v.recipient: (v.reason, v.hardbounce) for v in found}


def test_masqmail_lists_the_failed_addresses_then_one_cause_for_all():
    """masqmail's tpl/failmsg.tpl: the addresses, one per line, then "This error message may give
    you a hint about what caused the failure:" and the one error."""
    body = (
        "This message was sent to you by the mailer daemon (masqmail 0.3.4)\nat gate.b.example.\n\n"
        "Delivery to the following recipients failed permanently and has been given\nup:\n\n"
        "joe@b.example\nmay@b.example\n\n"
        "This error message may give you a hint about what caused the\nfailure:\n\n"
        "host=mx.b.example: 550 5.1.1 Recipient address rejected: User unknown in local recipient table\n\n"
        "If you need help, write to <postmaster@gate.b.example>.\n"
    )
    assert _records(_notice(body, "joe@b.example, may@b.example")) == {
        "joe@b.example": ("userunknown", True), "may@b.example": ("userunknown", True)}


def test_masqmail_names_every_address_of_a_long_list():
    addresses = [f"member{n}@b.example" for n in range(53)]
    body = (
        "Delivery to the following recipients failed permanently and has been given\nup:\n\n"
        + "\n".join(addresses) + "\n\nThis error message may give you a hint about what caused the\nfailure:\n\n"
        "host=mx.b.example: 550 5.1.1 User unknown\n"
    )
    assert set(_records(_notice(body, addresses[0]))) == set(addresses)


def test_mailenable_gives_each_recipient_its_own_reason():
    """MailEnable: "Recipient: [SMTP:address]" then its "Reason:" line, per recipient."""
    body = (
        "MailEnable: Message could not be delivered to some recipients.\n\n"
        "The following recipient(s) could not be reached:\n\n"
        "\tRecipient: [SMTP:olga@b.example]\n"
        "\tReason: Remote SMTP Server Returned: 550 5.1.1 <olga@b.example>: User unknown\n\n"
        "\tRecipient: [SMTP:pavel@old.example]\n"
        "\tReason: The message could not be delivered because the domain name (old.example) does not "
        "appear to be registered.\n\nMessage headers follow:\n"
    )
    assert _records(_notice(body, "olga@b.example, pavel@old.example", original_type="text/rfc822-headers")) == {
        "olga@b.example": ("userunknown", True), "pavel@old.example": ("hostunknown", True)}


def test_hmailserver_reads_every_block_however_many():
    blocks = "".join(
        f"member{n}@b.example\n   Error Type: SMTP\n   Remote server (192.0.2.10) issued an error.\n"
        f"   hMailServer sent: RCPT TO:<member{n}@b.example>\n"
        "   Remote server replied: 550 5.1.1 User unknown\n\n"
        for n in range(52)
    )
    body = ("Your message did not reach some or all of the intended recipients.\n\n"
            "The following recipient(s) could not be reached:\n\n" + blocks)
    found = _records(_notice(body, "member0@b.example", subject="Message undeliverable"))
    assert len(found) == 52
    assert set(found.values()) == {("userunknown", True)}


def test_a_reply_that_names_our_own_sender_stays_in_the_recipients_part():
    """hMailServer quotes the refusal of our envelope sender under each recipient: that address is
    the notice's own (the returned message's), not the next recipient's."""
    body = (
        "The following recipient(s) could not be reached:\n\n"
        "ann@b.example\n   Error Type: SMTP\n   Remote server (192.0.2.10) issued an error.\n"
        "   hMailServer sent: MAIL FROM:<news@sender.test>\n"
        "   Remote server replied: 550 5.7.1 <news@sender.test>: Sender address rejected: Access denied\n\n"
    )
    assert _records(_notice(body, "ann@b.example", subject="Message undeliverable")) == {
        "ann@b.example": ("rejected", False)}


def test_a_quoted_header_block_names_no_failed_recipient():
    """Oracle Messaging Server's "This report relates to a message you sent with the following
    header fields:" quotes the message's To: (every recipient) and its Message-id."""
    body = (
        "This report relates to a message you sent with the following header fields:\n\n"
        "  Message-id: <dec-1@sender.test>\n  Date: Tue, 03 Dec 2024 08:00:12 +0000 (GMT)\n"
        "  From: News <news@sender.test>\n  To: kofi@b.example, maya@b.example, office@b.example\n"
        "  Subject: December issue\n\n"
        "Your message cannot be delivered to the following recipients:\n\n"
        "  Recipient address: kofi@b.example\n  Reason: Remote SMTP server has rejected address\n"
        "  Diagnostic code: smtp;550 5.1.1 <kofi@b.example>... User unknown\n\n"
    )
    found = _records(_notice(body, "kofi@b.example, maya@b.example, office@b.example",
                             original_type="text/rfc822-headers"))
    assert found == {"kofi@b.example": ("userunknown", True)}


def test_mail_sent_to_its_own_sender_with_recipients_in_bcc_names_nobody():
    """A newsletter addressed To: itself (RFC 5322 3.6.3, the recipients in Bcc): its returned To:
    is the sender's own address, never the failed recipient."""
    body = "This is the mail system at host mx.b.example.\n\nDelivery report unavailable.\n"
    raw = _notice(body, "news@sender.test")
    assert parse(raw).verdicts == ()


def test_exim_reports_a_hidden_child_as_the_address_it_came_from():
    """Exim (hide_child_in_errors): "an undisclosed address (generated from X)" is X's failure."""
    body = (
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  an undisclosed address\n    (generated from board@b.example)\n"
        "    host mx.private.example [198.51.100.166]\n"
        "    SMTP error from remote mail server after RCPT TO:<hidden>:\n    552 5.2.2 Mailbox full\n"
        "  frost@c.example\n    (ultimately generated from press@b.example)\n"
        "    SMTP error from remote mail server after RCPT TO:<frost@c.example>:\n"
        "    550 5.1.1 <frost@c.example>: Recipient address rejected: User unknown\n\n"
        "------ This is a copy of the message, including all the headers. ------\n"
    )
    raw = _notice(body, "board@b.example, press@b.example", subject="Mail delivery failed: returning message to sender")
    assert _records(raw) == {"board@b.example": ("mailboxfull", False), "press@b.example": ("userunknown", True)}


def test_notes_pairs_each_reason_with_the_address_under_it():
    """Notes R5's "Failure Reasons": each reason line above the address it is about."""
    body = (
        "------- Failure Reasons  --------\n\n"
        "User not listed in public Name & Address Book\ngsato@b.example\n"
        "No route found to domain old.example from server MAIL02/B. Check Server, Connection and Domain documents\n"
        "hueno@old.example\n\n------- Returned Message --------\n"
    )
    found = _records(_notice(body, "gsato@b.example, hueno@old.example", subject="DELIVERY FAILURE: User not listed"))
    assert found["gsato@b.example"][0] == "userunknown"
    assert found["hueno@old.example"][0] != "userunknown"


def test_postfix_text_names_the_address_an_alias_was_expanded_from():
    """Postfix before DSN support: "<final> (expanded from <alias>): reason", the alias being the
    address the message was sent to."""
    body = (
        "This is the Postfix program at host mail.b.example.\n\n"
        "I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n"
        "<owner@home.example> (expanded from <info@b.example>): host\n"
        "    mx.home.example[198.51.100.222] said: 550 5.1.1\n"
        "    <owner@home.example>: Recipient address rejected: User unknown in\n"
        "    virtual mailbox table (in reply to RCPT TO command)\n\n"
    )
    (v,) = parse(_notice(body, "info@b.example")).verdicts
    assert "info@b.example" in (v.recipient, v.original_recipient)


def _dsn(blocks: str) -> bytes:
    return (
        "Return-Path: <>\nFrom: MAILER-DAEMON@mx.b.example\nTo: bounces@sender.test\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\n\n'
        "--R\nContent-Type: text/plain\n\nDelivery failed.\n\n--R\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; mx.b.example\n\n{blocks}\n--R\nContent-Type: text/rfc822-headers\n\n"
        + ORIGINAL.format(to="team@b.example").split("\n\n")[0] + "\n\n--R--\n"
    ).encode()


def test_a_list_expanded_to_several_members_reports_each_member():
    """One Original-Recipient (the list we sent to) behind several Final-Recipients: each block is
    its member's failure (RFC 3464 2.3.2); the list itself was delivered to, and a member's hard
    bounce is no reason to take the list for a dead address."""
    raw = _dsn(
        "Original-Recipient: rfc822;team@b.example\nFinal-Recipient: rfc822;ann@b.example\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n"
        "Original-Recipient: rfc822;team@b.example\nFinal-Recipient: rfc822;bob@b.example\n"
        "Action: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
    )
    assert _records(raw) == {"ann@b.example": ("userunknown", True), "bob@b.example": ("mailboxfull", False)}


def test_a_one_to_one_forward_still_reports_the_address_we_sent_to():
    raw = _dsn(
        "Original-Recipient: rfc822;team@b.example\nFinal-Recipient: rfc822;owner@home.example\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n"
    )
    assert set(_records(raw)) == {"team@b.example"}


def test_sendmail_names_the_failed_member_of_a_list_in_x_actual_recipient():
    """sendmail writes the RCPT address (a list) in Final-Recipient and the member that failed in
    X-Actual-Recipient (savemail.c)."""
    raw = _dsn(
        "Final-Recipient: RFC822; team@b.example\nX-Actual-Recipient: RFC822; ann@b.example\n"
        "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: SMTP; 550 5.1.1 <ann@b.example>... User unknown\n\n"
        "Final-Recipient: RFC822; team@b.example\nX-Actual-Recipient: RFC822; bob@c.example\n"
        "Action: failed\nStatus: 5.1.2\nDiagnostic-Code: SMTP; 550 5.1.2 Host unknown\n"
    )
    assert set(_records(raw)) == {"ann@b.example", "bob@c.example"}


def test_a_notice_that_quotes_only_the_failed_messages_subject_and_to_means_that_address():
    """Yahoo's old notice quotes the failed message's Subject: and To: and names nobody else:
    that To: is the failed recipient (the header-block rule above needs a list of its own)."""
    raw = (
        "From: MAILER-DAEMON@yahoo.example\nTo: bounces@sender.test\nSubject: Failure Notice\n\n"
        "I'm afraid I wasn't able to deliver the following message.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "Subject: December issue\nTo: user@yahoo.example\n\n---Below this line is a copy of the message.\n\n"
        + ORIGINAL.format(to="user@yahoo.example")
    ).encode()
    assert set(_records(raw)) == {"user@yahoo.example"}


def test_groupwise_lists_each_recipient_by_user_id_or_address():
    """GroupWise's Internet Agent: one tab-indented line per recipient, its cause in parentheses; a
    user of the post office itself is named by its id, the address of the returned To: with that
    local part."""
    body = ("The message that you sent was undeliverable to the following:\n"
            "\trkeller (user not found)\n\tsomeone@gone.example (host not found)\n\n"
            "Possibly truncated original message follows:\n")
    raw = _notice(body, "rkeller@county.example, someone@gone.example", subject="Message status - undeliverable",
                  sender="postmaster@county.example")
    assert _records(raw) == {"rkeller@county.example": ("userunknown", True),
                             "someone@gone.example": ("hostunknown", True)}
