"""Structure before words: RFC 3834 lets every automatic response carry
``Auto-Submitted: auto-replied``, so bounces and delay warnings that do must
never be read as vacation replies; a daemon address is never an auto-reply's
recipient; blank lines before the header block lose nothing."""

from __future__ import annotations

from bounceledger.ingest.bounces import parse


def test_exim_plain_delay_warning_is_a_delay_per_address(fixture_bytes):
    parsed = parse(fixture_bytes("exim_delay_plain_autosubmitted.msg"))
    assert parsed.outcome == "bounce"
    got = {(v.recipient, v.kind, v.action, v.status) for v in parsed.verdicts}
    assert got == {
        ("slow.one@example.net", "delay", "delayed", "4.7.1"),
        ("slow.two@example.net", "delay", "delayed", "4.2.2"),
    }
    assert {v.replycode for v in parsed.verdicts} == {"451", "452"}


def test_unrecognised_wording_with_failed_recipients_header_is_a_bounce(fixture_bytes):
    parsed = parse(fixture_bytes("custom_bounce_autosubmitted.msg"))
    kinds = {(v.recipient, v.kind) for v in parsed.verdicts}
    assert kinds == {("lena.weiss@example.org", "bounce")}
    (v,) = parsed.verdicts
    assert (v.status, v.reason, v.hardbounce) == ("5.1.1", "userunknown", True)


def _reply(sender: str, subject: str, extra: str = "") -> bytes:
    return (
        f"From: {sender}\nTo: news@sender.test\nSubject: {subject}\n"
        f"Auto-Submitted: auto-replied\n{extra}\nI am away until Monday.\n"
    ).encode()


def test_daemon_sender_is_never_an_autoreply():
    for sender in ("Mail Delivery System <MAILER-DAEMON@mx.example.org>", "postmaster@example.org",
                   "Mailer_Daemon <mailer_daemon@example.org>"):
        parsed = parse(_reply(sender, "Re: your message"))
        assert all(v.kind != "autoreply" for v in parsed.verdicts), sender


def test_delay_warning_subject_is_never_an_autoreply():
    parsed = parse(_reply("relay@example.org", "Warning: message 1KxP3a-0001Qb-Hh delayed 24 hours"))
    assert all(v.kind != "autoreply" for v in parsed.verdicts)


def test_person_with_auto_submitted_is_an_autoreply():
    (v,) = parse(_reply("Jane Roe <jane@example.org>", "Re: November offers")).verdicts
    assert (v.kind, v.recipient) == ("autoreply", "jane@example.org")


def test_blank_lines_and_bom_before_the_header_block(fixture_bytes):
    raw = fixture_bytes("custom_bounce_autosubmitted.msg")
    plain = {(v.recipient, v.kind, v.status) for v in parse(raw).verdicts}
    for prefix in (b"\n", b"\r\n\r\n", b"  \n\t\n", b"\xef\xbb\xbf\n"):
        parsed = parse(prefix + raw)
        assert parsed.outcome == "bounce", prefix
        assert {(v.recipient, v.kind, v.status) for v in parsed.verdicts} == plain


def test_courier_notice_without_its_report_part_is_a_bounce():
    """Courier writes from the empty address ``<@>`` with the subject "NOTICE: mail delivery
    status." (its courierdsn documentation): a notice stripped of its delivery-status part
    still reads as one, and never as an auto-reply."""
    raw = (
        '"Courier mail server at mx.example.net" <@>'.join(("From: ", "\n"))
        + "To: news@sender.test\nSubject: NOTICE: mail delivery status.\nAuto-Submitted: auto-replied\n\n"
        "This is a delivery status notification from mx.example.net,\nrunning the Courier mail server.\n\n"
        "Your message to the following recipients cannot be delivered:\n\n<paul@example.org>:\n"
        "    mx.example.org [192.0.2.20]:\n>>> RCPT TO:<paul@example.org>\n<<< 550 5.1.1 <paul@example.org>... User unknown\n"
    ).encode()
    got = {(v.kind, v.recipient, v.reason, v.status, v.replycode) for v in parse(raw).verdicts}
    assert got == {("bounce", "paul@example.org", "userunknown", "5.1.1", "550")}
