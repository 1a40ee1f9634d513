"""Postfix lines in the shapes real installations write them, hand-written
from the Postfix documentation named beside each case: instance and service
names, IPv6 relays, IP-literal host names, connection-level deferrals,
address-verification probes and delivery fields in any order."""

from __future__ import annotations

import itertools

import pytest

from bounceledger.ingest.records import Attempt
from tests.sendlog.helpers import feed_all, one, postfix

H = "Mar  3 09:14:06 out1"
QID = "C1D2E3F4A5"


def _line(fields: str, prog: str = "postfix/smtp") -> str:
    return f"{H} {prog}[2310]: {QID}: {fields}"


# -- instance and service names ------------------------------------------------


@pytest.mark.parametrize(
    ("prog", "agent"),
    [
        # MULTI_INSTANCE_README: each instance has its own syslog_name, e.g. postfix-out.
        ("postfix-out/smtp", "smtp"),
        # postconf(5) syslog_name: any prefix an administrator sets.
        ("mycorp/smtp", "smtp"),
        # master.cf "-o syslog_name=postfix/submission" on a service.
        ("postfix/submission/smtp", "smtp"),
        # A transport named after its master.cf service: logs as postfix/relay.
        ("postfix-out/relay", "relay"),
    ],
)
def test_any_syslog_name_reads_the_same(prog: str, agent: str) -> None:
    a = one(
        _line(
            "to=<ok1@example.net>, relay=mx.example.net[192.0.2.10]:25, delay=0.4, "
            "delays=0.1/0/0.1/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4A1B2C)",
            prog,
        )
    )
    assert (a.verdict, a.replycode, a.status, a.delivery_agent, a.first_hop) == ("accepted", "250", "2.0.0", agent, True)
    assert (a.relay_host, a.relay_ip, a.relay_port) == ("mx.example.net", "192.0.2.10", 25)


# -- IPv6 and IP literals -------------------------------------------------------


def test_ipv6_relay() -> None:
    a = one(
        _line(
            "to=<ok1@example.net>, relay=mx.example.net[2001:db8::1]:25, delay=0.2, "
            "delays=0.1/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F8E7D)"
        )
    )
    assert (a.relay_host, a.relay_ip, a.relay_port, a.first_hop) == ("mx.example.net", "2001:db8::1", 25, True)
    assert a.next_hop_queue_id == "9F8E7D"


def test_ipv6_loopback_content_filter_is_not_a_first_hop() -> None:
    # A content filter on [::1]:10025 (FILTER_README) is an internal hand-off.
    a = one(
        _line(
            "to=<ok1@example.net>, relay=::1[::1]:10025, delay=0.2, delays=0.1/0/0.05/0.05, "
            "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 1A2B3C)"
        )
    )
    assert (a.relay_host, a.relay_ip, a.relay_port, a.first_hop) == ("::1", "::1", 10025, False)


@pytest.mark.parametrize(
    ("relay", "host"),
    [("192.0.2.1[192.0.2.1]:25", "192.0.2.1"), ("[192.0.2.1]:25", None), ("127.0.0.1[127.0.0.1]:2525", "127.0.0.1")],
)
def test_ip_literal_host_names_are_hosts(relay: str, host: str | None) -> None:
    a = one(
        _line(
            f"to=<unknown1@example.net>, relay={relay}, delay=0.2, delays=0.1/0/0.05/0.05, dsn=5.1.1, "
            "status=bounced (host x[192.0.2.1] said: 550 5.1.1 no such user (in reply to RCPT TO command))"
        )
    )
    assert a.relay_host == host
    assert a.relay_ip == relay.split("[", 1)[1].split("]", 1)[0]
    assert (a.verdict, a.replycode, a.status, a.first_hop) == ("rejected", "550", "5.1.1", True)


# -- connection-level deferrals (no SMTP reply) ----------------------------------


@pytest.mark.parametrize(
    ("detail", "host", "ip", "port", "stage"),
    [
        (
            "conversation with mx.example.net[192.0.2.5] timed out while receiving the initial server greeting",
            "mx.example.net", "192.0.2.5", None, "initial server greeting",
        ),
        (
            "delivery temporarily suspended: conversation with mx.example.net[192.0.2.5] timed out "
            "while performing the EHLO handshake",
            "mx.example.net", "192.0.2.5", None, "EHLO handshake",
        ),
        (
            "lost connection with mx.example.net[2001:db8::25] while sending RCPT TO",
            "mx.example.net", "2001:db8::25", None, "RCPT TO",
        ),
        (
            "lost connection with 192.0.2.7[192.0.2.7] while sending end of data -- message may be sent more than once",
            "192.0.2.7", "192.0.2.7", None, "end of data",
        ),
        (
            "connect to mx.example.net[2001:db8::1]:25: Network is unreachable",
            "mx.example.net", "2001:db8::1", 25, None,
        ),
    ],
)  # fmt: skip
def test_deferral_without_reply_takes_the_peer_from_the_text(
    detail: str, host: str, ip: str, port: int | None, stage: str | None
) -> None:
    a = one(_line(f"to=<temp1@example.net>, relay=none, delay=300, delays=0.1/0/300/0, dsn=4.4.2, status=deferred ({detail})"))
    assert (a.verdict, a.replycode, a.status) == ("deferred", None, "4.4.2")
    assert (a.relay_host, a.relay_ip, a.relay_port, a.smtp_stage) == (host, ip, port, stage)
    assert a.first_hop is True
    assert a.text == detail


def test_lost_connection_with_relay_field_keeps_the_relay() -> None:
    a = one(
        _line(
            "to=<temp1@example.net>, relay=mx.example.net[192.0.2.5]:25, delay=3, delays=0.1/0/3/0, dsn=4.4.2, "
            "status=deferred (lost connection with mx.example.net[192.0.2.5] while receiving the initial server greeting)"
        )
    )
    assert (a.relay_host, a.relay_ip, a.relay_port, a.first_hop) == ("mx.example.net", "192.0.2.5", 25, True)


# -- address verification ----------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        "to=<ok1@example.net>, relay=mx.example.net[192.0.2.5]:25, delay=0.2, delays=0.1/0/0.05/0.05, "
        "dsn=2.1.5, status=deliverable (250 2.1.5 Ok)",
        "to=<unknown1@example.net>, relay=mx.example.net[192.0.2.5]:25, delay=0.2, delays=0.1/0/0.05/0.05, "
        "dsn=5.1.1, status=undeliverable (host mx.example.net[192.0.2.5] said: 550 5.1.1 no such user "
        "(in reply to RCPT TO command))",
        # A probe's deferral is logged as "undeliverable" with a 4.x.x dsn.
        "to=<temp1@example.net>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=undeliverable "
        "(connect to mx.example.net[192.0.2.5]:25: Connection timed out)",
    ],
)
def test_address_verification_probe_is_no_attempt(fields: str) -> None:
    # verify(8): probe messages are discarded, never delivered, deferred or bounced.
    parser = postfix()
    assert parser.feed(_line(fields)) == []
    assert parser.probes == 1
    assert parser.skipped == 0


def test_probe_does_not_touch_a_real_delivery_of_the_same_recipient() -> None:
    parser = postfix()
    lines = [
        f"{H} postfix/qmgr[1]: {QID}: from=<bounces@sender.test>, size=900, nrcpt=1 (queue active)",
        _line(
            "to=<temp1@example.net>, relay=mx.example.net[192.0.2.5]:25, delay=1, delays=0/0/0/1, dsn=4.2.0, "
            "status=deferred (host mx.example.net[192.0.2.5] said: 451 4.2.0 later (in reply to RCPT TO command))"
        ),
        f"{H} postfix/smtp[2311]: D9E8F7A6B5: to=<temp1@example.net>, relay=mx.example.net[192.0.2.5]:25, "
        "delay=0.1, delays=0/0/0/0.1, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)",
        f"{H} postfix/qmgr[1]: {QID}: from=<bounces@sender.test>, status=expired, returned to sender",
    ]
    attempts = feed_all(parser, lines)
    assert [(a.recipient, a.verdict) for a in attempts] == [("temp1@example.net", "deferred"), ("temp1@example.net", "expired")]
    assert parser.probes == 1


# -- delivery fields in any order ---------------------------------------------------

_TO = "to=<ok1@example.net>"
_OTHERS = [
    "relay=mx.example.net[2001:db8::1]:25",
    "conn_use=2",
    "delays=0.1/0/0.1/0.2",
    "dsn=5.7.1",
    "status=bounced (host mx.example.net[2001:db8::1] said: 554 5.7.1 rejected, see=policy (id=1) "
    "(in reply to end of DATA command))",
]


def _key(a: Attempt) -> tuple[object, ...]:
    return (
        a.recipient, a.orig_recipient, a.verdict, a.relay_host, a.relay_ip, a.relay_port, a.replycode,
        a.status, a.text, a.smtp_stage, a.first_hop, a.queue_id,
    )  # fmt: skip


@pytest.mark.parametrize("orig_to", [None, "orig_to=<Alias@Sender.test>"])
def test_field_order_does_not_matter(orig_to: str | None) -> None:
    fields = [_TO, *_OTHERS] + ([orig_to] if orig_to else [])
    canonical = one(_line(", ".join(fields)))
    assert (canonical.replycode, canonical.status, canonical.smtp_stage) == ("554", "5.7.1", "end of DATA")
    assert canonical.text == "rejected, see=policy (id=1)"
    assert canonical.orig_recipient == ("alias@sender.test" if orig_to else None)
    seen = 0
    for order in itertools.permutations(fields):
        assert _key(one(_line(", ".join(order)))) == _key(canonical), order
        seen += 1
    assert seen == (5040 if orig_to else 720)  # every order of the fields


def test_reordered_fields_in_an_rfc5424_line() -> None:
    a = one(
        f"<22>1 2025-03-03T09:14:06.123+00:00 out1 postfix-out/smtp 2310 - - {QID}: "
        "status=deferred (host mx.example.net[192.0.2.5] said: 451 4.2.0 later (in reply to RCPT TO command)), "
        "dsn=4.2.0, to=<temp1@example.net>, relay=mx.example.net[192.0.2.5]:25, delay=1, delays=0/0/0/1"
    )
    assert (a.verdict, a.replycode, a.status, a.relay_host, a.relay_port) == ("deferred", "451", "4.2.0", "mx.example.net", 25)
    assert a.delivery_agent == "smtp"


def test_field_list_that_is_not_a_delivery_yields_nothing() -> None:
    parser = postfix()
    assert parser.feed(_line("relay=mx.example.net[192.0.2.5]:25, status=sent (250 Ok)")) == []  # no to=
    assert parser.feed(_line("to=<a@example.net>, relay=x, broken field, status=sent (250 Ok)")) == []
    assert parser.skipped == 0


# -- transports ---------------------------------------------------------------------


def test_rfc5424_with_bom_and_nil_procid() -> None:
    a = one(
        f"<22>1 2025-03-03T09:14:06Z out1 postfix/smtp - - - \ufeff{QID}: to=<ok1@example.net>, "
        "relay=mx.example.net[192.0.2.10]:25, delay=0.4, delays=0.1/0/0.1/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
    )
    assert (a.verdict, a.replycode, a.relay_port) == ("accepted", "250", 25)


def test_journal_marker_lines_are_not_skipped() -> None:
    parser = postfix()
    for marker in (
        "-- Logs begin at Mon 2025-03-03 00:00:01 UTC, end at Mon 2025-03-03 10:00:00 UTC. --",
        "-- Boot 0f1e2d3c4b5a69788796a5b4c3d2e1f0 --",
        "-- No entries --",
    ):
        assert parser.feed(marker) == []
    assert parser.skipped == 0
    assert parser.feed("-- not a marker") == []
    assert parser.skipped == 1
