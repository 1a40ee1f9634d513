"""RFC 3464 / RFC 6533 DSNs, on hand-written fixtures modelled on Postfix."""

from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.bounces import parse


def only(parsed):
    assert parsed.outcome == "bounce", parsed
    assert len(parsed.verdicts) == 1, parsed.verdicts
    return parsed.verdicts[0]


def test_postfix_sync_user_unknown(fixture_bytes):
    v = only(parse(fixture_bytes("postfix_sync_5.1.1.msg")))
    assert v.kind == "bounce"
    assert v.recipient == "nobody.here@customer.example"
    assert v.action == "failed"
    assert (v.status, v.replycode, v.reason, v.hardbounce) == ("5.1.1", "550", "userunknown", True)
    assert v.category == "bad-mailbox"
    assert v.remote_mta == "mx.customer.example"
    assert v.reporting_mta == "mta1.shop.example"
    # folded Diagnostic-Code is unfolded and its "smtp;" prefix stripped
    assert v.diagnostic == (
        "550 5.1.1 <nobody.here@customer.example>: Recipient address rejected: "
        "User unknown in local recipient table"
    )
    assert v.original_message_id == "offer-2026-03.17@shop.example"
    assert v.return_path_token == "a1b2c3"
    assert v.detector == "rfc3464"


def test_remote_mx_async_keys(fixture_bytes):
    v = only(parse(fixture_bytes("remote_async_5.1.1.msg")))
    assert v.recipient == "gone@partner.example"
    assert v.next_hop_queue_id == "9A8B7C6D5E"
    assert v.original_message_id == "inv.4411.1772618468@shop.example"
    assert v.return_path_token == "tok-77"
    assert v.last_attempt_at == datetime(2026, 3, 4, 10, 1, 9, tzinfo=timezone.utc)
    assert v.hardbounce


def test_delayed_is_a_delay_not_a_bounce(fixture_bytes):
    v = only(parse(fixture_bytes("delayed_4.2.0.msg")))
    assert v.kind == "delay"
    assert v.action == "delayed"
    assert v.status == "4.2.0"
    assert v.replycode == "451"
    assert v.hardbounce is False
    assert v.original_message_id == "digest-0305@shop.example"  # from text/rfc822-headers


def test_failed_with_4xx_status_is_final_and_expired(fixture_bytes):
    v = only(parse(fixture_bytes("expired_failed_4.4.7.msg")))
    assert v.kind == "bounce"
    assert v.status == "4.4.7"
    assert v.reason == "expired"
    assert v.category == "message-expired"
    assert v.hardbounce is False


def test_success_relayed_is_not_a_bounce(fixture_bytes):
    parsed = parse(fixture_bytes("success_relayed.msg"))
    v = only(parsed)
    assert v.kind == "success"
    assert v.reason == "delivered"
    assert v.hardbounce is False
    assert v.status == "2.0.0" and v.replycode == "250"
    assert v.envelope_id == "campaign-88-contact-1201"
    # the returned To: lists another address; it must not show up as failed
    assert [x.recipient for x in parsed.verdicts] == ["happy@customer.example"]


def test_two_recipients_with_envid(fixture_bytes):
    parsed = parse(fixture_bytes("two_rcpts_envid.msg"))
    got = {(v.recipient, v.reason, v.status, v.replycode, v.hardbounce) for v in parsed.verdicts}
    assert got == {
        ("full@bigisp.example", "mailboxfull", "5.2.2", "552", False),
        ("ghost@bigisp.example", "userunknown", "5.1.1", "550", True),
    }
    assert {v.envelope_id for v in parsed.verdicts} == {"env-2026-0307-42"}
    assert {v.category for v in parsed.verdicts} == {"quota-issues", "bad-mailbox"}


def test_rfc6533_global_dsn_with_utf8_address(fixture_bytes):
    v = only(parse(fixture_bytes("global_dsn_utf8.msg")))
    assert v.recipient == "用户@例子.example"
    assert v.status == "5.1.1" and v.reason == "userunknown"
    assert v.diagnostic == "550 5.1.1 <用户@例子.example>: unknown user"
    assert v.original_message_id == "intl-1@shop.example"


def test_dsn_with_auto_submitted_header_is_not_an_autoreply(fixture_bytes):
    parsed = parse(fixture_bytes("postfix_sync_5.1.1.msg"))
    assert all(v.kind != "autoreply" for v in parsed.verdicts)


def test_dsn_part_without_multipart_report_and_xtext_address():
    raw = (
        b"From: MAILER-DAEMON@mx.example\r\nTo: bounces+x@shop.example\r\n"
        b"Subject: Delivery Status Notification\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        b"--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example\r\n\r\n"
        b"Final-Recipient: rfc822; a+2Bb@example.org\r\nAction: failed\r\nStatus: 5.0.0\r\n"
        b"Diagnostic-Code: smtp; 550 Requested action not taken: mailbox unavailable\r\n"
        b"--b1--\r\n"
    )
    v = only(parse(raw))
    assert v.recipient == "a+b@example.org"
    assert v.replycode == "550"
    assert v.return_path_token == "x"
