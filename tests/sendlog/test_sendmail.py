"""Sendmail syslog: from=/to= correlation, stat= verdicts, DSN links, expiry."""

from __future__ import annotations

import random
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import ParseOptions, make_parser
from bounceledger.ingest.sendlog.sendmail import SendmailParser
from tests.sendlog.helpers import FIXTURES, REFERENCE

LOG = FIXTURES / "sendmail_maillog.log"
QID = "5239E5aT002301"
HEAD = "Mar  3 09:14:06 out1 sm-mta[2310]: "


def sendmail(**options: object) -> SendmailParser:
    p = make_parser("sendmail", ParseOptions(reference_time=REFERENCE, **options))  # type: ignore[arg-type]
    assert isinstance(p, SendmailParser)
    return p


def fixture() -> tuple[SendmailParser, list[Attempt]]:
    p = sendmail()
    lines = LOG.read_text(encoding="utf-8").splitlines(keepends=True)
    return p, [a for line in lines for a in p.feed(line)]


def test_fixture_summary() -> None:
    p, attempts = fixture()
    assert [(a.queue_id, a.recipient, a.verdict, a.first_hop) for a in attempts] == [
        (QID, "alice.smith@gmail.com", "accepted", True),
        (QID, "second@gmail.com", "accepted", True),  # two recipients on one to= line
        (QID, "bob@fabrikam.example", "rejected", True),
        (QID, "carol@slow.example", "deferred", True),
        (QID, "dave@grey.example", "deferred", True),
        ("5239E9aT002311", "bounces+tk9uzq@news.shop.example", "accepted", False),  # mailer=local
        ("5239EBm6002400", "ops@shop.example", "accepted", False),  # MSP -> local MTA
        ("5239EBaT002401", "tickets@shop.example", "accepted", False),  # mailer=prog
        (QID, "dave@grey.example", "accepted", True),
        (QID, "erin@contoso.example", "rejected", True),
        (QID, "carol@slow.example", "expired", True),
    ]
    assert p.skipped == 1 and p.samples == ["this is not a log line at all"]
    assert len({(a.raw, a.recipient) for a in attempts}) == len(attempts)


def test_correlation_and_fields() -> None:
    _, attempts = fixture()
    a = attempts[0]
    assert (a.message_id, a.sender) == ("nl-2031.77@news.shop.example", "bounces+Tk9uZQ@news.shop.example")
    assert (a.relay_host, a.relay_ip, a.status, a.replycode) == ("gmail-smtp-in.l.google.com", "142.250.102.26", "2.0.0", None)
    assert a.text.startswith("OK  1709457246") and a.delivery_agent == "esmtp"
    assert a.at == datetime(2025, 3, 3, 9, 14, 6, tzinfo=timezone.utc)
    bob = attempts[2]
    assert (bob.status, bob.replycode, bob.text) == ("5.1.1", None, "User unknown")
    carol, dave = attempts[3], attempts[4]
    assert (carol.relay_host, carol.relay_ip, carol.status, carol.text) == (
        "mx.slow.example", None, "4.0.0", "Connection refused by mx.slow.example.",
    )
    assert (dave.replycode, dave.status) == ("451", "4.7.1")
    assert dave.text.startswith("<dave@grey.example>: Recipient address rejected")
    assert attempts[6].next_hop_queue_id == "5239EBaT002401"  # "X Message accepted for delivery"
    assert attempts[8].next_hop_queue_id == "4TqWzK1Jc9z2xRm"
    assert attempts[9].relay_ip == "2001:db8::25"  # [IPv6:...]


def test_dsn_links_and_expiry() -> None:
    p, attempts = fixture()
    link = p.dsn_links["5239E9aT002311"]
    assert (link.original_queue_id, link.kind, link.addressee, link.original_message_id) == (
        QID, "non-delivery", "sender", "nl-2031.77@news.shop.example",
    )
    expired = attempts[-1]
    assert expired.at == datetime(2025, 3, 8, 9, 14, 12, tzinfo=timezone.utc)
    assert (expired.relay_host, expired.status) == ("mx.slow.example", "4.0.0")
    assert expired.raw.endswith("Cannot send message for 5 days")


def test_delay_warning_and_postmaster_links() -> None:
    p = sendmail()
    p.feed(HEAD + f"{QID}: 5239E9aT009999: DSN: Warning: could not send message for past 4 hours")
    p.feed(HEAD + f"{QID}: 5239E9aT009998: postmaster notify: User unknown")
    assert p.dsn_links["5239E9aT009999"].kind == "delay"
    assert p.dsn_links["5239E9aT009998"].addressee == "postmaster"


def test_queued_is_not_an_attempt_and_reply_field_is_used() -> None:
    p = sendmail()
    assert p.feed(HEAD + f"{QID}: to=<a@b.example>, delay=00:00:00, mailer=esmtp, pri=1, stat=queued") == []
    (a,) = p.feed(
        HEAD + f"{QID}: to=<a@b.example>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=1, "
        "relay=mx.b.example. [192.0.2.1], reply=550 5.7.1 Blocked by policy, dsn=5.7.1, stat=Service unavailable"
    )
    assert (a.verdict, a.replycode, a.status, a.text) == ("rejected", "550", "5.7.1", "Blocked by policy")
    assert p.skipped == 0


def test_timezone_and_other_programs() -> None:
    (a,) = sendmail(timezone="America/New_York").feed(
        HEAD + f"{QID}: to=a@b.example, delay=00:00:01, mailer=esmtp, pri=1, relay=mx. [192.0.2.1], dsn=2.0.0, stat=Sent"
    )
    assert a.at == datetime(2025, 3, 3, 14, 14, 6, tzinfo=timezone.utc)
    p = sendmail()
    assert p.feed("Mar  3 09:14:06 out1 postfix/sendmail[1]: fatal: whatever") == []
    assert p.feed("Mar  3 09:14:06 out1 sm-mta[1]: STARTTLS=client, relay=mx. [192.0.2.1], version=TLSv1.3") == []
    assert p.skipped == 0


def test_state_is_capped() -> None:
    p = sendmail(max_tracked_queue_ids=40)
    rng = random.Random(5)
    for i in range(2_000):
        qid = f"5239E{rng.getrandbits(20):05X}{i:05d}"
        p.feed(HEAD + f"{qid}: from=<s@x.example>, size=1, class=0, nrcpts=1, msgid=<{i}@x>, proto=ESMTP")
        p.feed(HEAD + f"{qid}: to=<r{i}@y.example>, delay=00:00:01, mailer=esmtp, pri=1, relay=y., dsn=4.0.0, stat=Deferred")
        p.feed(HEAD + f"{qid}: N{qid[1:]}: DSN: Warning: could not send message for past 4 hours")
        assert p.tracked_queue_ids <= 40 and len(p.dsn_links) <= 40


GOOD = (
    HEAD + f"{QID}: to=<a@b.example>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=1, "
    "relay=mx.b.example. [192.0.2.1], dsn=4.2.0, stat=Deferred: 451 4.2.0 try later"
)


def test_every_prefix_of_a_line_is_safe() -> None:
    p = sendmail()
    for cut in range(len(GOOD) + 1):
        for a in p.feed(GOOD[:cut]):
            assert isinstance(a, Attempt)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    p = sendmail()
    p.feed(text)
    p.feed(HEAD + f"{QID}: to=" + text)
    p.feed(HEAD + f"{QID}: from=" + text)
    p.feed(HEAD + f"{QID}: 5239E9aT009999: DSN: " + text)
    p.feed(GOOD.replace("451 4.2.0 try later", text[:40]))
    p.feed(None)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD) - 1), st.characters())
def test_mutated_lines_never_raise(pos: int, ch: str) -> None:
    for a in sendmail().feed(GOOD[:pos] + ch + GOOD[pos + 1 :]):
        assert a.at.utcoffset() is not None


# Sendmail 8.17 at LogLevel 9 and 14, as written: reply= (with commas in the
# remote's text) before stat=, and a dsn= that is Sendmail's own mapping.
_REAL_ITEMS = [
    "ctladdr=s@x.example (0/0)", "delay=00:00:03", "xdelay=00:00:00", "mailer=esmtp", "pri=270435",
    "relay=mx.b.example. [192.0.2.1]", "dsn=4.3.0",
    "reply=451 4.2.0 <t@b.example>: Recipient address rejected: Temporary failure, try again later",
]


@settings(max_examples=150, deadline=None)
@given(st.permutations(_REAL_ITEMS), st.booleans())
def test_delivery_items_in_any_order(items: list[str], stat_last: bool) -> None:
    stat = "stat=Deferred: 451 4.2.0 <t@b.example>: Recipient address rejected: Temporary failure, try again later"
    body = ", ".join(["to=t@b.example", *items, stat] if stat_last else ["to=t@b.example", stat, *items])
    [a] = make_parser("sendmail", ParseOptions(reference_time=REFERENCE)).feed(HEAD + f"{QID}: {body}")
    assert (a.verdict, a.replycode, a.status, a.relay_host, a.relay_ip, a.first_hop) == (
        "deferred", "451", "4.2.0", "mx.b.example", "192.0.2.1", True)
    assert a.text.endswith("try again later")


def test_remote_enhanced_status_wins_over_dsn_mapping() -> None:
    """A 554 5.7.1 is logged with dsn=5.0.0: the remote said 5.7.1."""
    line = (HEAD + f"{QID}: to=block@b.example, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=1, "
            "relay=[127.0.0.1] [127.0.0.1], dsn=5.0.0, reply=554 5.7.1 <block@b.example>: Recipient address "
            "rejected: Rejected by policy, stat=Service unavailable")
    [a] = make_parser("sendmail", ParseOptions(reference_time=REFERENCE)).feed(line)
    assert (a.verdict, a.replycode, a.status, a.relay_host, a.relay_ip, a.first_hop) == (
        "rejected", "554", "5.7.1", "127.0.0.1", "127.0.0.1", True)
