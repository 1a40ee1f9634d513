"""JSON lines: bounceledger's own schema and KumoMTA log records."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import ParseOptions, make_parser
from bounceledger.ingest.sendlog.jsonl import JsonlParser
from tests.sendlog.helpers import FIXTURES, REFERENCE

OWN = FIXTURES / "jsonl_own.jsonl"
KUMO = FIXTURES / "kumo_log.jsonl"


def jsonl(**options: object) -> JsonlParser:
    p = make_parser("jsonl", ParseOptions(reference_time=REFERENCE, **options))  # type: ignore[arg-type]
    assert isinstance(p, JsonlParser)
    return p


def parse(path: object) -> tuple[JsonlParser, list[Attempt]]:
    p = jsonl()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)  # type: ignore[attr-defined]
    return p, [a for line in lines for a in p.feed(line)]


def test_own_schema() -> None:
    p, attempts = parse(OWN)
    assert [(a.recipient, a.verdict, a.first_hop) for a in attempts] == [
        ("alice.smith@gmail.com", "accepted", True),
        ("bob@fabrikam.example", "rejected", True),
        ("dave@grey.example", "deferred", True),  # verdict from the reply in "text"
        ("ops@shop.example", "accepted", False),  # content filter port: internal
        ("carol@slow.example", "expired", True),  # first_hop given explicitly
    ]
    a, b, d, ops, _ = attempts
    assert a.at == datetime(2025, 3, 3, 9, 14, 6, tzinfo=timezone.utc)
    assert (a.queue_id, a.message_id, a.sender, a.envelope_id) == (
        "q-1", "nl-2031.77@news.shop.example", "bounces+Tk9uZQ@news.shop.example", "ENV-1234",
    )
    assert (a.relay_host, a.relay_ip, a.relay_port, a.replycode, a.status) == (
        "gmail-smtp-in.l.google.com", "142.250.102.26", 25, "250", "2.0.0",
    )
    assert b.at == datetime.fromtimestamp(1741000000, timezone.utc)
    assert (b.replycode, b.smtp_stage) == ("550", "RCPT TO")
    assert d.at == datetime(2025, 3, 3, 9, 14, 9, tzinfo=timezone.utc)  # +01:00 offset honoured
    assert (d.replycode, d.status, d.text) == ("451", "4.7.1", "Greylisted, try again later")
    assert (ops.relay_ip, ops.relay_port) == ("127.0.0.1", 10024)
    # no verdict/code, array, bad time, broken JSON
    assert p.skipped == 4 and len(p.samples) == 4


def test_own_schema_naive_time_uses_configured_zone() -> None:
    line = json.dumps({"time": "2025-03-03T10:00:00", "recipient": "a@b.example", "replycode": 250})
    (a,) = jsonl(timezone="Europe/Paris").feed(line)
    assert a.at == datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
    (m,) = jsonl().feed(json.dumps({"time": 1741000000123, "recipient": "a@b.example", "status": "5.1.1"}))
    assert m.verdict == "rejected" and m.at.microsecond == 123000  # epoch milliseconds


def test_own_schema_ignores_wrong_types() -> None:
    line = json.dumps({
        "time": 1741000000, "recipient": "a@b.example", "verdict": "accepted", "relay_port": "x",
        "replycode": ["250"], "sender": 5, "first_hop": "yes", "queue_id": {"a": 1},
    })
    (a,) = jsonl().feed(line)
    assert (a.relay_port, a.replycode, a.sender, a.first_hop, a.queue_id) == (None, None, None, True, None)


def test_kumo_records() -> None:
    p, attempts = parse(KUMO)
    assert [(a.recipient, a.verdict, a.first_hop, a.delivery_agent) for a in attempts] == [
        ("alice.smith@gmail.com", "accepted", True, "esmtp"),
        ("bob@fabrikam.example", "rejected", True, "esmtp"),
        ("dave@grey.example", "deferred", True, "esmtp"),
        ("carol@slow.example", "expired", True, None),
        ("held@example.org", "rejected", False, "admin"),
        ("frank@contoso.example", "rejected", False, "oob"),
        ("inbox@shop.example", "accepted", False, "maildir"),
    ]
    assert p.skipped == 0
    a, b, d = attempts[:3]
    # the Reception record supplied the Message-ID
    assert (a.queue_id, a.message_id, a.sender) == (
        "1d98076abbbc11ed940250ebf67f93bd", "nl-2031.77@news.shop.example", "bounces+Tk9uZQ@news.shop.example",
    )
    assert (a.relay_host, a.relay_ip, a.relay_port) == ("gmail-smtp-in.l.google.com", "142.250.102.26", 25)
    assert (a.replycode, a.status, a.smtp_stage, a.next_hop_queue_id) == (
        "250", "2.0.0", "end of DATA", "8a5475ccbbc611eda12250ebf67f93bd",
    )
    assert a.at == datetime.fromtimestamp(1741000006, timezone.utc)
    assert (b.message_id, b.smtp_stage, b.status) == ("tx-9@shop.example", "RCPT TO", "5.1.1")
    assert (d.relay_ip, d.relay_port, d.at) == ("2001:db8::77", 25, datetime(2025, 3, 3, 9, 14, 9, tzinfo=timezone.utc))


def test_kumo_recipient_list_and_missing_fields() -> None:
    p = jsonl()
    rec = {"type": "Delivery", "id": "x1", "recipient": ["A@b.example", "c@d.example"], "timestamp": 1741000000,
           "response": {"code": 250, "enhanced_code": None, "content": "ok", "command": None}}
    assert [a.recipient for a in p.feed(json.dumps(rec))] == ["a@b.example", "c@d.example"]
    assert p.feed(json.dumps({"type": "Delivery", "id": "x2", "timestamp": 1741000000})) == []
    assert p.feed(json.dumps({"type": "Delay", "id": "x3"})) == []
    assert p.skipped == 1


GOOD = json.dumps({"type": "Bounce", "id": "abc", "sender": "s@x", "recipient": "a@b.example", "timestamp": 1741000000,
                   "response": {"code": 550, "enhanced_code": {"class": 5, "subject": 1, "detail": 1},
                                "content": "no such user", "command": "RCPT TO"},
                   "peer_address": {"name": "mx.b.example", "addr": "192.0.2.1"}})


def test_every_prefix_of_a_line_is_safe() -> None:
    p = jsonl()
    for cut in range(len(GOOD) + 1):
        for a in p.feed(GOOD[:cut]):
            assert isinstance(a, Attempt)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
KEYS = ["time", "recipient", "verdict", "replycode", "status", "text", "relay_port", "first_hop", "type", "id",
        "timestamp", "response", "peer_address", "headers", "message_id", "sender"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8), st.sampled_from(["Delivery", "OOB", "Reception", None]))
def test_arbitrary_objects_never_raise(obj: dict[str, object], kind: str | None) -> None:
    p = jsonl()
    if kind is not None:
        obj = {**obj, "type": kind, "id": obj.get("id", "x")}
    for a in p.feed(json.dumps(obj)):
        assert a.at.utcoffset() is not None and a.recipient == a.recipient.lower()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    p = jsonl()
    p.feed(text)
    p.feed("{" + text)
    p.feed(GOOD.replace("no such user", text.replace('"', "")[:40]))


def test_kumo_bounce_classification_is_kept_as_the_mtas_own() -> None:
    _, attempts = parse(KUMO)
    assert {a.recipient: a.mta_category for a in attempts}["bob@fabrikam.example"] == "InvalidRecipient"
    assert {a.recipient: a.mta_category for a in attempts}["frank@contoso.example"] == "QuotaIssues"


def test_own_schema_campaign_and_match_header() -> None:
    line = ('{"time": 1741000000, "recipient": "a@example.org", "replycode": 250, "campaign": " spring ",'
            ' "headers": {"X-Mailer-Ref": "r-1", "X-Other": "x"}}')
    [plain] = jsonl().feed(line)
    assert (plain.campaign, plain.header_ref) == ("spring", None)  # no match header configured
    [matched] = jsonl(match_headers=("X-Missing", "x-mailer-ref")).feed(line)
    assert matched.header_ref == "x-mailer-ref:r-1"
