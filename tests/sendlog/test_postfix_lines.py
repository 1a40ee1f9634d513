"""One Postfix line kind at a time, on hand-written lines."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.sendlog.helpers import feed_all, one, postfix

H = "Mar  3 09:14:06 out1"  # a syslog header prefix


def test_sent_with_queued_as() -> None:
    line = (
        f"{H} postfix/smtp[2310]: D67AC2162D1: to=<ok@Example.NET>, relay=mx.example.net[192.0.2.10]:25, "
        "delay=0.4, delays=0.1/0.01/0.1/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as E6DAC216331)\n"
    )
    a = one(line)
    assert a.at == datetime(2025, 3, 3, 9, 14, 6, tzinfo=timezone.utc)
    assert a.recipient == "ok@example.net"
    assert a.verdict == "accepted"
    assert a.queue_id == "D67AC2162D1"
    assert (a.relay_host, a.relay_ip, a.relay_port) == ("mx.example.net", "192.0.2.10", 25)
    assert (a.replycode, a.status) == ("250", "2.0.0")
    assert a.text == "Ok: queued as E6DAC216331"
    assert a.next_hop_queue_id == "E6DAC216331"
    assert a.delivery_agent == "smtp"
    assert a.first_hop is True
    assert a.raw == line.rstrip("\n")
    assert a.smtp_stage is None


def test_bounced_with_host_said_and_stage() -> None:
    a = one(
        f"{H} postfix/smtp[2311]: 3F1A2C0815: to=<bob@fabrikam.example>, orig_to=<Sales@shop.example>, "
        "relay=mx1.fabrikam.example[198.51.100.20]:25, delay=1.4, delays=0.1/0.02/0.8/0.5, dsn=5.1.1, "
        "status=bounced (host mx1.fabrikam.example[198.51.100.20] said: 550 5.1.1 <bob@fabrikam.example>: "
        "Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command))"
    )
    assert a.verdict == "rejected"
    assert a.orig_recipient == "sales@shop.example"
    assert (a.replycode, a.status, a.smtp_stage) == ("550", "5.1.1", "RCPT TO")
    assert a.text == "<bob@fabrikam.example>: Recipient address rejected: User unknown in local recipient table"
    assert a.next_hop_queue_id is None


def test_multiline_reply_markers_are_folded_into_text() -> None:
    a = one(
        f"{H} postfix/smtp[1]: 4E74613FE76: to=<x@gmail.example>, relay=gmail-smtp-in.l.google.example"
        "[2607:f8b0:400e:c04::1b]:25, delay=1.9, delays=0.05/0/1.1/0.71, dsn=5.7.1, status=bounced "
        "(host gmail-smtp-in.l.google.example[2607:f8b0:400e:c04::1b] said: 550-5.7.1 Our system has detected "
        "that this 550-5.7.1 message is likely unsolicited mail. 550 5.7.1 Please read the guidelines. "
        "qc12si8475009 - gsmtp (in reply to end of DATA command))"
    )
    assert a.relay_ip == "2607:f8b0:400e:c04::1b"
    assert a.relay_port == 25
    assert (a.replycode, a.status, a.smtp_stage) == ("550", "5.7.1", "end of DATA")
    assert a.text == (
        "Our system has detected that this message is likely unsolicited mail. "
        "Please read the guidelines. qc12si8475009 - gsmtp"
    )


def test_deferred_without_reply_code_relay_none() -> None:
    a = one(
        f"{H} postfix/smtp[2312]: 3F1A2C0815: to=<carol@slow.example>, relay=none, delay=2.1, "
        "delays=0.1/0.01/2/0, dsn=4.4.1, status=deferred (connect to mx.slow.example[203.0.113.45]:25: "
        "Connection refused)"
    )
    assert a.verdict == "deferred"
    assert a.replycode is None
    assert a.status == "4.4.1"
    assert a.text == "connect to mx.slow.example[203.0.113.45]:25: Connection refused"
    # relay=none, but the text names the peer that refused.
    assert (a.relay_host, a.relay_ip, a.relay_port) == ("mx.slow.example", "203.0.113.45", 25)
    assert a.first_hop is True


def test_deferred_dns_failure_has_no_relay() -> None:
    a = one(
        f"{H} postfix/smtp[1]: 3F1A2C0815: to=<x@nxdomain.example>, relay=none, delay=0.1, "
        "delays=0/0/0.1/0, dsn=4.4.3, status=deferred (Host or domain name not found. Name service error "
        "for name=nxdomain.example type=MX: Host not found, try again)"
    )
    assert (a.relay_host, a.relay_ip, a.relay_port, a.replycode) == (None, None, None, None)
    assert a.status == "4.4.3"
    assert a.first_hop is True


def test_lost_connection_stage() -> None:
    a = one(
        f"{H} postfix/smtp[1]: 3F1A2C0815: to=<c@slow.example>, relay=mx.slow.example[203.0.113.45]:25, "
        "delay=307, delays=302/0.01/5/0, dsn=4.4.2, status=deferred (lost connection with "
        "mx.slow.example[203.0.113.45] while sending RCPT TO)"
    )
    assert a.smtp_stage == "RCPT TO"
    assert a.replycode is None


def test_softbounce_is_deferred() -> None:
    a = one(
        f"{H} postfix/smtp[1]: 4TqX2B0kHnz9vLp: to=<f@strict.example>, relay=mx.strict.example[198.51.100.9]:25, "
        "delay=6, delays=0.05/0/5.5/0.45, dsn=5.7.1, status=SOFTBOUNCE (host mx.strict.example[198.51.100.9] "
        "said: 554 5.7.1 Service unavailable (in reply to RCPT TO command))"
    )
    assert a.verdict == "deferred"
    assert a.queue_id == "4TqX2B0kHnz9vLp"
    assert a.replycode == "554"


def test_old_postfix_without_dsn_field() -> None:
    a = one(
        f"{H} postfix/smtp[1]: 1A2B3C4D5E: to=<a@b.example>, relay=mx.b.example[192.0.2.1]:25, "
        "delay=2, status=sent (250 Ok)"
    )
    assert a.status is None
    assert a.replycode == "250"
    assert a.text == "Ok"


def test_conn_use_field_is_tolerated() -> None:
    a = one(
        f"{H} postfix/smtp[1]: 1A2B3C4D5E: to=<a@b.example>, relay=mx.b.example[192.0.2.1]:25, conn_use=3, "
        "delay=0.2, delays=0/0/0/0.2, dsn=2.0.0, status=sent (250 2.0.0 OK id=1rXyZa-0003kL-2b)"
    )
    assert a.status == "2.0.0"
    assert a.next_hop_queue_id == "1rXyZa-0003kL-2b"  # Exim's id= form


@pytest.mark.parametrize(
    ("prog", "relay", "first_hop"),
    [
        ("postfix/local", "local", False),
        ("postfix/virtual", "virtual", False),
        ("postfix/pipe", "dovecot", False),
        ("postfix/error", "none", False),
        ("postfix/discard", "none", False),
        ("postfix/lmtp", "127.0.0.1[127.0.0.1]:10024", False),
        ("postfix/lmtp", "inbox.example[private/dovecot-lmtp]", False),
        ("postfix/smtp", "127.0.0.1[127.0.0.1]:10025", False),
        ("postfix/smtp", "127.0.0.1[127.0.0.1]:2525", True),  # a test rig's "remote" MX
        ("postfix/relay", "smarthost.isp.example[192.0.2.25]:587", True),
        ("pfA/amavisfeed", "127.0.0.1[127.0.0.1]:10024", False),
    ],
)
def test_first_hop_by_agent_and_relay(prog: str, relay: str, first_hop: bool) -> None:
    a = one(
        f"{H} {prog}[1]: 0F5383D: to=<tom@example.com>, relay={relay}, delay=0.1, delays=0/0/0/0.1, "
        "dsn=2.0.0, status=sent (delivered somewhere)"
    )
    assert a.first_hop is first_hop
    assert a.delivery_agent == prog.rsplit("/", 1)[1]


def test_socket_relay_keeps_host_not_ip() -> None:
    a = one(
        f"{H} postfix/lmtp[1]: AD6E41CDC05C: to=<admin@example.com>, relay=sub1.example.com[private/dovecot-lmtp], "
        "delay=0.15, delays=0.04/0/0.02/0.08, dsn=2.0.0, status=sent (250 2.0.0 <admin@example.com> qYyyBMsl Saved)"
    )
    assert (a.relay_host, a.relay_ip, a.relay_port) == ("sub1.example.com", None, None)
    assert a.first_hop is False


def test_bare_addresses_in_local_delivery() -> None:
    a = one(
        f"{H} postfix/local[1]: 2A22C263F6: to=User@Host.example.com, orig_to=root@localhost, relay=local, "
        'delay=0.07, delays=0.04/0/0/0.03, dsn=2.0.0, status=sent (delivered to command: procmail -a "$EXTENSION")'
    )
    assert a.recipient == "user@host.example.com"
    assert a.orig_recipient == "root@localhost"
    assert a.relay_host == "local"
    assert a.text == 'delivered to command: procmail -a "$EXTENSION"'


def test_custom_internal_relays_replace_defaults() -> None:
    line = (
        f"{H} postfix/smtp[1]: 1A2B3C4D5E: to=<a@b.example>, relay=hub.corp.example[10.1.2.3]:25, "
        "delay=0.2, delays=0/0/0/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 99AA)"
    )
    assert one(line).first_hop is True
    assert one(line, internal_relays=("*.corp.example",)).first_hop is False
    assert one(line, internal_relays=("10.1.*:25",)).first_hop is False
    assert one(line, internal_relays=("10.1.*:587",)).first_hop is True


def test_verify_probe_yields_nothing_and_is_not_skipped() -> None:
    p = postfix()
    assert p.feed(
        f"{H} postfix/smtp[1]: 1C0DE2F00A: to=<probe@verify.example>, relay=mx.verify.example[192.0.2.5]:25, "
        "delay=0.3, delays=0/0/0.2/0.1, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)"
    ) == []
    assert p.skipped == 0


@pytest.mark.parametrize(
    "line",
    [
        f"{H} postfix/smtpd[2401]: connect from unknown[203.0.113.200]",
        f"{H} postfix/smtpd[2401]: 3F1A2C0815: client=app7.corp.example[10.20.0.7]",
        f"{H} postfix/smtpd[2401]: NOQUEUE: reject: RCPT from unknown[203.0.113.200]: 554 5.7.1 <s@v.example>: "
        "Relay access denied; from=<x@spam.example> to=<s@v.example> proto=ESMTP helo=<spam.example>",
        f"{H} postfix/smtpd[2401]: disconnect from unknown[203.0.113.200] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
        f"{H} postfix/postfix-script[2210]: starting the Postfix mail system",
        f"{H} postfix/master[2212]: daemon started -- version 3.8.6, configuration /etc/postfix",
        f"{H} postfix/smtp[1]: warning: TLS library problem: error:0A000126:SSL routines::unexpected eof",
        f"{H} postfix/cleanup[1]: D8B07E3DB6: warning: header Subject: hi from x[192.0.2.1]; "
        "from=<a@b> to=<c@d> proto=ESMTP",
        f"{H} postfix/smtp[1]: ED59C3D: host mail2.example.com[192.0.2.23] said: 450 4.7.1 <u@example.com>: "
        "Greylisted (in reply to RCPT TO command)",
        f"{H} postfix/qmgr[1]: ED06590130AA1C9D6D862: skipped, still being delivered",
        f"{H} dovecot[900]: lmtp(ops)<123><abc>: msgid=<x@y>: saved mail to INBOX",
        f"{H} opendkim[77]: 3F1A2C0815: DKIM-Signature field added (s=mail, d=shop.example)",
    ],
)
def test_valid_non_attempt_lines_are_neither_attempts_nor_skipped(line: str) -> None:
    p = postfix()
    assert p.feed(line) == []
    assert p.skipped == 0


def test_message_id_and_sender_correlate() -> None:
    p = postfix()
    attempts = feed_all(
        p,
        [
            f"{H} postfix/cleanup[1]: 0F5383D: message-id=<544D2523.30609@rhsoft.example>",
            f"{H} postfix/qmgr[1]: 0F5383D: from=<Bounces+AbC@list.example>, size=5360, nrcpt=1 (queue active)",
            f"{H} postfix/smtp[1]: 0F5383D: to=<tom@example.com>, relay=mx.example.com[192.0.2.2]:25, "
            "delay=4.3, delays=4.1/0.01/0/0.15, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as AB12)",
        ],
    )
    assert [(a.message_id, a.sender) for a in attempts] == [
        ("544D2523.30609@rhsoft.example", "Bounces+AbC@list.example")  # sender kept as written
    ]


def test_empty_message_id_is_none_and_encoded_one_kept() -> None:
    p = postfix()
    p.feed(f"{H} postfix/cleanup[1]: 4104E3D: message-id=<>")
    p.feed(f"{H} postfix/cleanup[1]: ADD961003206D: message-id==?UTF-8?B?PDE5?=")
    tail = ", relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to x[192.0.2.1]:25: timeout)"
    a = p.feed(f"{H} postfix/smtp[1]: 4104E3D: to=<a@b.example>{tail}")[0]
    b = p.feed(f"{H} postfix/smtp[1]: ADD961003206D: to=<a@b.example>{tail}")[0]
    assert a.message_id is None
    assert b.message_id == "=?UTF-8?B?PDE5?="


def test_removed_forgets_state_so_reused_short_ids_do_not_leak() -> None:
    p = postfix()
    sent = (
        f"{H} postfix/smtp[1]: 0F5383D: to=<a@b.example>, relay=mx.b.example[192.0.2.1]:25, delay=1, "
        "delays=1/0/0/0, dsn=2.0.0, status=sent (250 Ok)"
    )
    p.feed(f"{H} postfix/cleanup[1]: 0F5383D: message-id=<first@x>")
    assert p.feed(sent)[0].message_id == "first@x"
    p.feed(f"{H} postfix/qmgr[1]: 0F5383D: removed")
    assert p.tracked_queue_ids == 0
    assert p.feed(sent)[0].message_id is None


def test_expiry_produces_expired_attempts_for_pending_recipients_only() -> None:
    p = postfix()
    deferred = (
        "relay=mx.slow.example[203.0.113.45]:25, delay=1, delays=1/0/0/0, dsn=4.2.0, status=deferred "
        "(host mx.slow.example[203.0.113.45] said: 451 4.2.0 try later (in reply to RCPT TO command))"
    )
    feed_all(
        p,
        [
            f"{H} postfix/cleanup[1]: 3F1A2C0815: message-id=<m@x>",
            f"{H} postfix/qmgr[1]: 3F1A2C0815: from=<s@x>, size=1, nrcpt=2 (queue active)",
            f"{H} postfix/smtp[1]: 3F1A2C0815: to=<a@slow.example>, {deferred}",
            f"{H} postfix/smtp[1]: 3F1A2C0815: to=<b@slow.example>, {deferred}",
            f"{H} postfix/smtp[1]: 3F1A2C0815: to=<b@slow.example>, relay=mx.slow.example[203.0.113.45]:25, "
            "delay=9, delays=9/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 77)",
        ],
    )
    expiry = "Mar  5 09:14:12 out1 postfix/qmgr[1]: 3F1A2C0815: from=<s@x>, status=expired, returned to sender"
    expired = p.feed(expiry + "\n")
    assert len(expired) == 1
    e = expired[0]
    assert (e.recipient, e.verdict, e.queue_id, e.message_id, e.sender) == (
        "a@slow.example", "expired", "3F1A2C0815", "m@x", "s@x",
    )
    assert e.at == datetime(2025, 3, 5, 9, 14, 12, tzinfo=timezone.utc)
    # The last deferral's details are what the returned DSN will report.
    assert (e.replycode, e.status, e.text, e.relay_host) == ("451", "4.2.0", "try later", "mx.slow.example")
    assert e.raw == expiry
    assert p.feed(expiry) == []  # nothing pending any more


def test_expiry_without_known_deferrals_yields_nothing() -> None:
    p = postfix()
    assert p.feed(f"{H} postfix/qmgr[1]: 585BC3F: from=<>, status=expired, returned to sender") == []
    assert p.skipped == 0


def test_to_line_with_status_expired() -> None:
    a = one(
        f"{H} postfix/error[1]: I1B2C3D409: to=<d76@example.test>, relay=none, delay=432000, "
        "delays=0/0/0/0, dsn=4.4.1, status=expired, returned to sender"
    )
    assert a.verdict == "expired"
    assert a.text == "returned to sender"
    assert a.first_hop is False  # the error agent


def test_bounce_notification_links() -> None:
    p = postfix()
    p.feed(f"{H} postfix/cleanup[1]: 17CCA8044: message-id=<orig@x>")
    p.feed(f"{H} postfix/bounce[1]: 17CCA8044: sender non-delivery notification: ADD2F8052")
    p.feed(f"{H} postfix/bounce[1]: 264FE1A18: sender delay notification: 0A87A1A08")
    p.feed(f"{H} postfix/bounce[1]: 482E4404AC8: postmaster non-delivery notification: 47335405A44")
    link = p.dsn_links["ADD2F8052"]
    assert (link.original_queue_id, link.kind, link.addressee, link.original_message_id) == (
        "17CCA8044", "non-delivery", "sender", "orig@x",
    )
    assert link.at == datetime(2025, 3, 3, 9, 14, 6, tzinfo=timezone.utc)
    assert p.dsn_links["0A87A1A08"].kind == "delay"
    assert p.dsn_links["47335405A44"].addressee == "postmaster"


@pytest.mark.parametrize(
    "prefix",
    [
        "Mar  3 09:14:06 out1 pfA/smtp[10602]:",
        "Mar  3 09:14:06 out1 postfix-out/smtp[10602]:",
        "Mar  3 09:14:06 out1 postfix/submission/smtp[10602]:",
        "<22>Mar  3 09:14:06 out1 postfix/smtp[10602]:",
        "Mar  3 09:14:06 out1 postfix/smtp:",
        "2025-03-03T09:14:06.250000+00:00 out1 postfix/smtp[10602]:",
        "2025-03-03T09:14:06Z out1 postfix/smtp[10602]:",
        "2025-03-03T10:14:06+0100 out1 postfix/smtp[10602]:",
        "<22>2025-03-03T09:14:06.25Z out1 postfix/smtp[10602]:",
        "<22>1 2025-03-03T09:14:06.25Z out1 postfix/smtp 10602 - -",
        '<22>1 2025-03-03T09:14:06.25Z out1 postfix/smtp 10602 - [meta seq="1" x="a\\]b"]',
    ],
)
def test_header_variants(prefix: str) -> None:
    a = one(
        f"{prefix} D67AC2162D1: to=<ok@example.net>, relay=mx.example.net[192.0.2.10]:25, "
        "delay=0.4, delays=0.1/0.01/0.1/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as E6DAC216331)"
    )
    assert a.at.replace(microsecond=0) == datetime(2025, 3, 3, 9, 14, 6, tzinfo=timezone.utc)
    assert a.delivery_agent == "smtp"
    assert a.queue_id == "D67AC2162D1"
    assert a.at.tzinfo is timezone.utc or a.at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_rfc5424_byte_order_mark_before_message() -> None:
    a = one(
        "<22>1 2025-03-03T09:14:06Z out1 postfix/smtp 10602 - - \ufeffD67AC2162D1: to=<ok@example.net>, "
        "relay=mx.example.net[192.0.2.10]:25, delay=0.4, delays=0.1/0.01/0.1/0.2, dsn=2.0.0, status=sent (250 Ok)"
    )
    assert a.queue_id == "D67AC2162D1"


def test_crlf_is_stripped_from_raw() -> None:
    line = (
        f"{H} postfix/smtp[1]: D67AC2162D1: to=<ok@example.net>, relay=mx.example.net[192.0.2.10]:25, "
        "delay=0.4, delays=0.1/0.01/0.1/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)\r\n"
    )
    assert one(line).raw == line[:-2]


def test_truncated_attempt_line_still_yields_what_it_can() -> None:
    a = one(
        f"{H} postfix/smtp[1]: D67AC2162D1: to=<x@example.net>, relay=mx.example.net[192.0.2.10]:25, "
        "delay=0.4, delays=0.1/0.01/0.1/0.2, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.10] said: 550 5.1"
    )
    assert a.verdict == "rejected"
    assert a.status == "5.1.1"
    assert a.replycode == "550"
