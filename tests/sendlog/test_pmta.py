"""PowerMTA accounting CSV: header-driven columns, record types, quoting, times."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import ParseOptions, make_parser
from bounceledger.ingest.sendlog.pmta import PmtaParser
from tests.sendlog.helpers import FIXTURES, REFERENCE

CSV = FIXTURES / "pmta_acct.csv"


def pmta(**options: object) -> PmtaParser:
    p = make_parser("pmta", ParseOptions(reference_time=REFERENCE, **options))  # type: ignore[arg-type]
    assert isinstance(p, PmtaParser)
    return p


def fixture() -> tuple[PmtaParser, list[Attempt]]:
    p = pmta()
    lines = CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    return p, [a for line in lines for a in p.feed(line)]


def test_fixture_summary() -> None:
    p, attempts = fixture()
    assert [(a.recipient, a.verdict, a.first_hop, a.delivery_agent) for a in attempts] == [
        ("alice.smith@gmail.com", "accepted", True, "smtp"),
        ("bob@fabrikam.example", "rejected", True, "smtp"),
        ("dave@grey.example", "deferred", True, "smtp"),
        # tq without rcpt, r and f records: no attempt
        ("frank@contoso.example", "rejected", False, "remote-bounce"),
        ("erin@contoso.example", "accepted", True, None),  # after a second, narrower header
    ]
    assert p.skipped == 1 and p.samples == ["this,is,garbage"]


def test_delivered_fields() -> None:
    _, attempts = fixture()
    a = attempts[0]
    assert a.at == datetime.fromtimestamp(1741000000, timezone.utc)
    assert (a.sender, a.message_id, a.envelope_id) == (
        "bounces+Tk9uZQ@news.shop.example", "nl-2031.77@news.shop.example", "ENV-1234",
    )
    assert (a.relay_host, a.relay_ip, a.replycode, a.status) == ("gmail-smtp-in.l.google.com", "142.250.102.26", "250", "2.0.0")
    assert a.text.startswith("OK  1741000000")
    assert a.orig_recipient is None  # orcpt equals rcpt
    assert a.queue_id is None  # PowerMTA logs no queue id


def test_bounce_with_quoted_diag_and_iso_time() -> None:
    _, attempts = fixture()
    b = attempts[1]
    assert b.at == datetime(2025, 3, 3, 11, 26, 41, tzinfo=timezone.utc)
    assert (b.replycode, b.status) == ("550", "5.1.1")
    assert b.text == '<bob@fabrikam.example>: Recipient address rejected: User unknown, "bob" is gone'
    assert (b.relay_host, b.relay_ip) == ("mx1.fabrikam.example", "198.51.100.20")


def test_columns_in_any_order_and_long_type_names() -> None:
    p = pmta()
    p.feed("rcpt,dsnDiag,type,timeLogged,dsnMta\n")
    assert p.skipped == 1  # "type" must come first to be a header; this is a record without header
    p = pmta()
    p.feed("type,dsnDiag,rcpt,dsnMta,timeLogged,dsnStatus\n")
    (a,) = p.feed('bounce,"smtp;552 5.2.2 Mailbox full, try later",X@Y.example,mx.y.example (192.0.2.5),2025-03-03T10:00:00Z,5.2.2\n')
    assert (a.verdict, a.recipient, a.replycode, a.status, a.text, a.relay_ip) == (
        "rejected", "x@y.example", "552", "5.2.2", "Mailbox full, try later", "192.0.2.5",
    )
    (t,) = p.feed("t,smtp;Connection timed out,r@y.example,,1741000000,4.4.1 (no answer from host)\n")
    assert (t.verdict, t.replycode, t.status, t.text) == ("deferred", None, "4.4.1", "Connection timed out")


def test_remote_status_follows_dsn_action() -> None:
    p = pmta()
    p.feed("type,timeLogged,rcpt,dsnAction,dsnStatus,dsnDiag\n")
    (d,) = p.feed("rs,1741000000,a@b.example,delayed,4.4.7 (delivery time expired),smtp;451 4.4.7 later\n")
    assert (d.verdict, d.first_hop, d.delivery_agent) == ("deferred", False, "remote-status")
    assert p.feed("rs,1741000000,a@b.example,weird,,\n") == []


def test_headers_of_different_widths_interleave() -> None:
    p = pmta()
    p.feed("type,timeLogged,rcpt,dsnStatus\n")
    p.feed("type,timeLogged,rcpt,dsnStatus,dsnDiag,dsnMta\n")
    (short,) = p.feed("d,1741000000,a@b.example,2.0.0 (success)\n")
    (long_,) = p.feed("b,1741000000,c@d.example,5.1.1,smtp;550 no,mx.d.example (192.0.2.9)\n")
    assert (short.recipient, short.status) == ("a@b.example", "2.0.0")
    assert (long_.recipient, long_.relay_ip, long_.replycode) == ("c@d.example", "192.0.2.9", "550")


def test_bad_records_are_skipped() -> None:
    p = pmta()
    assert p.feed("d,1741000000,a@b.example\n") == []  # before any header
    p.feed("type,timeLogged,rcpt\n")
    assert p.feed("d,not-a-time,a@b.example\n") == []
    assert p.feed('d,1741000000,"unterminated\n') == []
    assert p.feed("zz,1741000000,a@b.example\n") == []
    assert p.feed("d,1741000000,\n") == []
    assert p.feed("# comment\n") == [] and p.feed("\n") == []
    assert p.skipped == 5


HEADER = "type,timeLogged,orig,rcpt,dsnStatus,dsnDiag,dsnMta,header_Message-Id"
GOOD = 'b,1741000000,s@x.example,a@b.example,5.1.1 (bad),"smtp;550 5.1.1 unknown, ""a""",mx (192.0.2.1),<m@x>'


def test_every_prefix_of_a_line_is_safe() -> None:
    p = pmta()
    p.feed(HEADER)
    for cut in range(len(GOOD) + 1):
        for a in p.feed(GOOD[:cut]):
            assert isinstance(a, Attempt)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    p = pmta()
    p.feed(text)
    p.feed(HEADER)
    p.feed(text)
    p.feed("d," + text)
    p.feed(GOOD.replace("550 5.1.1 unknown", text[:40]))
    p.feed("type," + text)
    p.feed(GOOD)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD) - 1), st.characters())
def test_mutated_lines_never_raise(pos: int, ch: str) -> None:
    p = pmta()
    p.feed(HEADER)
    for a in p.feed(GOOD[:pos] + ch + GOOD[pos + 1 :]):
        assert a.at.utcoffset() is not None


def test_job_id_is_the_campaign() -> None:
    _, attempts = fixture()
    assert {a.campaign for a in attempts if a.recipient == "alice.smith@gmail.com"} == {"spring-sale-2025"}


def test_bounce_category_is_kept_as_the_mtas_own() -> None:
    _, attempts = fixture()
    assert [(a.recipient, a.mta_category) for a in attempts] == [
        ("alice.smith@gmail.com", None),
        ("bob@fabrikam.example", "bad-mailbox"),
        ("dave@grey.example", "policy-related"),
        ("frank@contoso.example", "quota-issues"),
        ("erin@contoso.example", None),  # that header has no bounceCat column
    ]
