"""Exim main log: every event flag, correlation by message id, first-hop rules."""

from __future__ import annotations

import random
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import ParseOptions, make_parser
from bounceledger.ingest.sendlog.exim import EximParser
from tests.sendlog.helpers import FIXTURES, REFERENCE

LOG = FIXTURES / "exim_mainlog.log"
MID = "1tp3Xa-000Abc-9Q"


def exim(**options: object) -> EximParser:
    p = make_parser("exim", ParseOptions(reference_time=REFERENCE, **options))  # type: ignore[arg-type]
    assert isinstance(p, EximParser)
    return p


def feed(p: EximParser, lines: list[str]) -> list[Attempt]:
    return [a for line in lines for a in p.feed(line)]


def fixture() -> tuple[EximParser, list[Attempt]]:
    p = exim()
    return p, feed(p, LOG.read_text(encoding="utf-8").splitlines(keepends=True))


def test_fixture_summary() -> None:
    p, attempts = fixture()
    assert [(a.recipient, a.verdict, a.first_hop) for a in attempts] == [
        ("alice.smith@gmail.com", "accepted", True),
        ("bob@fabrikam.example", "rejected", True),
        ("carol@slow.example", "deferred", True),
        ("dave@grey.example", "deferred", True),
        ("bounces+tk9uzq@news.shop.example", "accepted", False),  # local delivery of the bounce
        ("dave@grey.example", "accepted", True),
        ("carol@slow.example", "deferred", True),  # retry time not reached
        ("carol@slow.example", "expired", True),
        ("null@shop.example", "accepted", False),  # :blackhole:
        ("tickets@shop.example", "accepted", False),  # pipe
        ("scan@shop.example", "accepted", False),  # content filter on 127.0.0.1:10024
        ("gone@contoso.example", "rejected", True),
        ("nobody@nowhere.example", "rejected", True),
        ("second@gmail.com", "accepted", True),  # "->" line
    ]
    assert p.skipped == 1 and p.samples == ["this is not a log line at all"]
    assert p.tracked_queue_ids == 1  # the last message has no Completed line
    assert all(a.at.tzinfo is not None and a.at.utcoffset().total_seconds() == 0 for a in attempts)  # type: ignore[union-attr]
    assert all(a.raw and "\n" not in a.raw for a in attempts)


def test_delivered_with_confirmation() -> None:
    _, attempts = fixture()
    a = attempts[0]
    assert (a.queue_id, a.message_id, a.sender) == (MID, "nl-2031.77@news.shop.example", "bounces+Tk9uZQ@news.shop.example")
    assert (a.relay_host, a.relay_ip, a.relay_port) == ("gmail-smtp-in.l.google.com", "142.250.102.26", 25)
    assert (a.replycode, a.status) == ("250", "2.0.0")
    assert a.text.startswith("OK  1709457246")
    assert a.delivery_agent == "remote_smtp"
    assert a.at == datetime(2025, 3, 3, 9, 14, 6, tzinfo=timezone.utc)
    # "250 OK id=..." names the next hop's message id
    assert attempts[5].next_hop_queue_id == "1tp3Zz-0001234567-AbC"
    assert attempts[10].next_hop_queue_id == "9E1F0C0840"


def test_failed_with_remote_reply_multiline() -> None:
    _, attempts = fixture()
    b = attempts[1]
    assert (b.replycode, b.status, b.smtp_stage) == ("550", "5.1.1", "RCPT TO")
    assert b.text == "<bob@fabrikam.example>: Recipient address rejected: User unknown in local recipient table"
    assert b.orig_recipient == "sales@shop.example"
    assert (b.relay_host, b.relay_ip) == ("mx1.fabrikam.example", "198.51.100.20")


def test_deferred_forms() -> None:
    _, attempts = fixture()
    carol, dave = attempts[2], attempts[3]
    assert (carol.relay_host, carol.relay_ip, carol.replycode, carol.text) == (
        "mx.slow.example", "203.0.113.45", None, "Connection refused",
    )
    # older Exims name the host inside the message
    assert (dave.relay_host, dave.relay_ip, dave.relay_port) == ("mail.grey.example", "192.0.2.77", None)
    assert (dave.replycode, dave.status, dave.smtp_stage) == ("451", "4.7.1", "RCPT TO")
    assert dave.text.endswith("Greylisted, see https://grey.example/help")


def test_retry_timeout_expires_with_last_real_reply() -> None:
    _, attempts = fixture()
    expired = attempts[7]
    assert expired.verdict == "expired"
    assert (expired.relay_host, expired.text) == ("mx.slow.example", "Connection refused")
    assert expired.raw.endswith("retry timeout exceeded")
    assert expired.at == datetime(2025, 3, 7, 9, 20, tzinfo=timezone.utc)


def test_end_of_data_and_ipv6_and_unrouteable() -> None:
    _, attempts = fixture()
    spam, unroute = attempts[11], attempts[12]
    assert (spam.relay_ip, spam.relay_port, spam.smtp_stage, spam.replycode, spam.status) == (
        "2001:db8::25", 25, "end of DATA", "554", "5.7.1",
    )
    assert (unroute.relay_host, unroute.text, unroute.delivery_agent) == (None, "Unrouteable address", None)


def test_bounce_arrival_links_to_the_original() -> None:
    p, _ = fixture()
    link = p.dsn_links["1tp3Yb-000Abd-2R"]
    assert (link.original_queue_id, link.original_message_id) == (MID, "nl-2031.77@news.shop.example")


def test_long_ids_timezone_and_syslog_prefix() -> None:
    line = (
        "2025-03-03 10:14:06.123 +0100 [4242] 1tp3Xa-0001234567-AbCd => a@b.example R=dnslookup "
        'T=remote_smtp H=mx.b.example [192.0.2.1] C="250 ok"'
    )
    (a,) = exim().feed(line)
    assert a.queue_id == "1tp3Xa-0001234567-AbCd"
    assert a.at == datetime(2025, 3, 3, 9, 14, 6, 123000, tzinfo=timezone.utc)
    # no offset in the stamp: the configured zone applies
    (b,) = exim(timezone="Europe/Berlin").feed("2025-03-03 10:14:06 1tp3Xa-000123-Ab => a@b.example R=d T=remote_smtp H=mx [192.0.2.1]")
    assert b.at == datetime(2025, 3, 3, 9, 14, 6, tzinfo=timezone.utc)
    # logged through syslog, with and without Exim's own stamp
    (c,) = exim().feed("Mar  3 09:14:06 mx exim[77]: 2025-03-03 09:14:06 1tp3Xa-000123-Ab ** a@b.example: Unrouteable address")
    (d,) = exim().feed("Mar  3 09:14:06 mx exim[77]: 1tp3Xa-000123-Ab ** a@b.example: Unrouteable address")
    assert c.at == d.at == datetime(2025, 3, 3, 9, 14, 6, tzinfo=timezone.utc)
    # another daemon in the same mail.log is not a skip
    p = exim()
    assert p.feed("Mar  3 09:14:06 mx dovecot[1]: imap-login: Login") == [] and p.skipped == 0


def test_sender_on_delivery_wins_and_tls_fields_are_stepped_over() -> None:
    line = (
        "2025-03-03 09:14:06 1tp3Xa-000123-Ab => A@B.example F=<s@x.example> R=dnslookup T=remote_smtp "
        'H=mx.b.example [192.0.2.1]:587 I=[10.0.0.1]:41000 X=TLS1.3:X:256 CV=yes DN="C=US,O=Example \\"Mail\\"" K '
        'C="250 2.0.0 Ok: queued as 4TqX2B0kHnz9vLp" QT=2s DT=1s'
    )
    (a,) = exim().feed(line)
    assert (a.recipient, a.sender, a.relay_port, a.replycode, a.next_hop_queue_id) == (
        "a@b.example", "s@x.example", 587, "250", "4TqX2B0kHnz9vLp",
    )


def test_impossible_date_is_a_skip_and_chatter_is_not() -> None:
    p = exim()
    assert p.feed("2025-02-30 09:14:06 1tp3Xa-000123-Ab => a@b.example R=d T=remote_smtp") == []
    assert p.skipped == 1
    assert p.feed("2025-03-03 09:14:06 SMTP connection from [192.0.2.1] lost") == []
    assert p.feed("2025-03-03 09:14:06 1tp3Xa-000123-Ab Message is frozen") == []
    assert p.skipped == 1


def test_state_is_capped() -> None:
    p = exim(max_tracked_queue_ids=50)
    rng = random.Random(3)
    for i in range(2_000):
        mid = f"1tp{rng.getrandbits(16):04x}-{i:06d}-Ab"
        p.feed(f"2025-03-03 09:14:06 {mid} <= s@x.example H=h [10.0.0.1] P=esmtp S=1 id={i}@x")
        p.feed(f"2025-03-03 09:14:06 {mid} == r{i}@y.example R=d T=remote_smtp defer (111): Connection refused")
        p.feed(f"2025-03-03 09:14:06 {mid} <= <> R={mid} U=exim P=local S=1")
        assert p.tracked_queue_ids <= 50 and len(p.dsn_links) <= 50


GOOD = (
    "2025-03-03 09:14:06 1tp3Xa-000123-Ab ** a@b.example R=dnslookup T=remote_smtp H=mx.b.example [192.0.2.1]: "
    "SMTP error from remote mail server after RCPT TO:<a@b.example>: 550 5.1.1 unknown"
)


def test_every_prefix_of_a_line_is_safe() -> None:
    p = exim()
    for cut in range(len(GOOD) + 1):
        for a in p.feed(GOOD[:cut]):
            assert isinstance(a, Attempt)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    p = exim()
    p.feed(text)
    p.feed("2025-03-03 09:14:06 1tp3Xa-000123-Ab => " + text)
    p.feed("2025-03-03 09:14:06 1tp3Xa-000123-Ab ** a@b R=x T=y: " + text)
    p.feed("2025-03-03 09:14:06 1tp3Xa-000123-Ab <= " + text)
    p.feed(GOOD.replace("550 5.1.1 unknown", text[:40]))
    p.feed(text.encode("utf-8", "surrogatepass"))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD) - 1), st.characters())
def test_mutated_lines_never_raise(pos: int, ch: str) -> None:
    for a in exim().feed(GOOD[:pos] + ch + GOOD[pos + 1 :]):
        assert a.at.utcoffset() is not None


# Items a delivery line may carry under log_selector (Exim spec 4.96, 53.15):
# any subset, in any order, must leave the host, the confirmation and the
# first-hop verdict as they are.
_ITEMS = [
    "F=<s@x.example>", "P=<s@x.example>", "S=2048", "I=[10.0.0.1]:41866",
    "X=TLS1.3:TLS_AES_256_GCM_SHA384:256", "CV=yes", 'DN="C=US,O=Example,CN=mx.example"',
    "K", "PRDR", "QT=1.5s", "DT=0.2s", "M8S=0", "A=plain:sender", "SNI=mx.b.example", "ID=abc",
]


@settings(max_examples=200, deadline=None)
@given(st.permutations(_ITEMS + ["R=dnslookup", "T=remote_smtp", "H=mx.b.example [192.0.2.1]:25",
                                 'C="250 2.0.0 Ok: queued as 4Xy"']),
       st.integers(min_value=0, max_value=len(_ITEMS) + 4))
def test_delivered_line_in_any_field_order(items: list[str], keep: int) -> None:
    needed = {"R=dnslookup", "T=remote_smtp", "H=mx.b.example [192.0.2.1]:25", 'C="250 2.0.0 Ok: queued as 4Xy"'}
    chosen = [i for n, i in enumerate(items) if i in needed or n < keep]
    line = f"2025-03-03 09:14:06 {MID} => a@b.example " + " ".join(chosen)
    [a] = exim().feed(line)
    assert (a.verdict, a.relay_host, a.relay_ip, a.relay_port, a.first_hop) == (
        "accepted", "mx.b.example", "192.0.2.1", 25, True)
    assert (a.replycode, a.status, a.delivery_agent) == ("250", "2.0.0", "remote_smtp")


def test_failure_with_interface_and_trailing_deliver_time() -> None:
    """Exim 4.96 with +all, as written: I= ends in the colon that opens the
    message, and DT= comes after the message."""
    [a] = exim().feed(
        f"2025-03-03 09:14:06.387 [21565] {MID} ** u@b.example F=<s@x.example> P=<s@x.example> "
        "R=to_mx T=remote_smtp H=127.0.0.1 [127.0.0.1]:2525 I=[127.0.0.1]:41866: SMTP error from remote "
        "mail server after RCPT TO:<u@b.example>: 550 5.1.1 <u@b.example>: User unknown DT=0.000s")
    assert (a.verdict, a.replycode, a.status, a.relay_host, a.relay_ip, a.relay_port, a.first_hop) == (
        "rejected", "550", "5.1.1", "127.0.0.1", "127.0.0.1", 2525, True)
    assert a.text.endswith("User unknown") and a.smtp_stage is not None


def test_second_message_on_a_connection_and_bare_ip_host() -> None:
    """53.7: "an asterisk follows the remote IP address (and port if enabled)"."""
    p = exim()
    [a] = p.feed(f"2025-03-03 09:14:06 {MID} => a@b.example R=r T=remote_smtp S=10 H=[192.0.2.7]:25* C=\"250 ok\"")
    assert (a.relay_host, a.relay_ip, a.relay_port, a.first_hop) == (None, "192.0.2.7", 25, True)
    [b] = p.feed(f"2025-03-03 09:14:06 {MID} -> c@b.example R=r T=remote_smtp H=mx.b.example [192.0.2.7]* C=\"250 ok\"")
    assert (b.relay_host, b.relay_ip, b.first_hop) == ("mx.b.example", "192.0.2.7", True)


def test_arrival_subject_cannot_fake_the_message_id() -> None:
    p = exim()
    p.feed(f'2025-03-03 09:14:06 {MID} <= s@x.example U=root P=local S=5 T="see id=fake R=1zzzzz-000000-zz" '
           "id=real@x.example")
    [a] = p.feed(f"2025-03-03 09:14:07 {MID} => a@b.example R=r T=remote_smtp H=mx.b.example [192.0.2.1]")
    assert a.message_id == "real@x.example"


def test_ipv6_hosts_in_any_field_order() -> None:
    p = exim()
    [a] = p.feed(f"2025-03-03 09:14:06 {MID} => a@b.example R=r T=remote_smtp S=9 H=mx.b.example "
                 '[2001:db8::25]:25 I=[2001:db8::1]:50000 C="250 ok"')
    assert (a.relay_host, a.relay_ip, a.relay_port, a.first_hop) == ("mx.b.example", "2001:db8::25", 25, True)
    [b] = p.feed(f"2025-03-03 09:14:06 {MID} ** c@b.example R=r T=remote_smtp H=[2001:db8::25]: "
                 "SMTP error from remote mail server after RCPT TO:<c@b.example>: 550 5.1.1 unknown")
    assert (b.verdict, b.relay_ip, b.replycode, b.status, b.first_hop) == ("rejected", "2001:db8::25", "550", "5.1.1", True)
