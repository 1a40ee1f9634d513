"""Accuracy on shared real-world material (skipped when it is not mounted):

* ``postfix-lines/cases.json``: 65 real Postfix messages with the fields a
  reference grok parser extracts; we check what we extract against them;
* ``real-postfix/postfix_*.log``: logs captured from a sender MTA and the
  remote MX it relays to.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.sendlog.helpers import CORPUS, feed_all, postfix

CASES = CORPUS / "postfix-lines" / "cases.json"
REAL_A = CORPUS / "real-postfix" / "postfix_A_sender_mta.log"
REAL_B = CORPUS / "real-postfix" / "postfix_B_remote_mx.log"

REF = datetime(2026, 11, 28, tzinfo=timezone.utc)
STAMP = "Nov 27 00:43:22 mx"
VERDICT = {"sent": "accepted", "deferred": "deferred", "bounced": "rejected"}
INTERNAL_RELAYS = re.compile(r"relay=(?:local|virtual|dovecot|[^,]*\[private/[^\]]*\])")


def _cases() -> list[dict[str, Any]]:
    if not CASES.exists():
        return []
    cases: list[dict[str, Any]] = json.loads(CASES.read_text(encoding="utf-8"))
    return cases


def _syslog(case: dict[str, Any]) -> str:
    return f"{STAMP} {case['program']}[4242]: {case['line']}"


def _probe(qid: str) -> str:
    """A sent line for ``qid``, to observe what the parser correlated."""
    return (
        f"{STAMP} postfix/smtp[1]: {qid}: to=<probe@example.org>, relay=mx.example.org[192.0.2.1]:25, "
        "delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
    )


def _response(fields: dict[str, Any]) -> str:
    for key in ("postfix_smtp_response", "postfix_local_response", "postfix_pipe_response", "postfix_error_response"):
        if key in fields:
            return str(fields[key])
    return ""


def _kv(fields: dict[str, Any], name: str) -> str | None:
    m = re.search(rf"(?:^|, ){name}=<?([^,>]*)>?", fields.get("postfix_keyvalue_data", ""))
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    found = _cases()
    if not found:
        pytest.skip(f"{CASES} not available")
    return found


def test_corpus_has_the_expected_size(cases: list[dict[str, Any]]) -> None:
    assert len(cases) == 65


def test_every_case_is_read_without_skips(cases: list[dict[str, Any]]) -> None:
    for case in cases:
        p = postfix(REF)
        p.feed(_syslog(case))
        assert p.skipped == 0, case["case"]


def test_delivery_cases(cases: list[dict[str, Any]]) -> None:
    checked = 0
    for case in cases:
        fields = case["fields"]
        status = fields.get("postfix_status")
        if status is None or "postfix_keyvalue_data" not in fields or status == "expired":
            continue
        attempts = postfix(REF).feed(_syslog(case))
        if status not in VERDICT:
            # Address-verification results are not deliveries.
            assert status.startswith(("deliverable", "undeliverable")), case["case"]
            assert attempts == [], case["case"]
            continue
        assert len(attempts) == 1, case["case"]
        a = attempts[0]
        name = case["case"]
        assert a.queue_id == fields["postfix_queueid"], name
        assert a.verdict == VERDICT[status], name
        assert a.recipient == (_kv(fields, "to") or "").lower(), name
        assert a.orig_recipient == ((_kv(fields, "orig_to") or "").lower() or None), name
        assert a.status == _kv(fields, "dsn"), name
        assert a.delivery_agent == case["program"].rsplit("/", 1)[1], name

        relay = _kv(fields, "relay") or ""
        rm = re.fullmatch(r"([^\[]+)\[([^\]]+)\](?::(\d+))?", relay)
        if rm:
            assert a.relay_host == rm.group(1), name
            assert a.relay_port == (int(rm.group(3)) if rm.group(3) else None), name
            if "/" not in rm.group(2):
                assert a.relay_ip == rm.group(2), name
        elif relay not in ("none", ""):
            assert a.relay_host == relay, name

        response = _response(fields)
        reply = response.split(" said: ", 1)[-1]
        code = re.match(r"([2-5]\d\d)[ -]", reply)
        assert a.replycode == (code.group(1) if code else None), name
        stage = re.search(r"\(in reply to (.+?) command\)$| while sending (.+)$", response)
        assert a.smtp_stage == (stage.group(1) or stage.group(2) if stage else None), name
        queued = re.search(r"queued as (\w+)", response)
        assert a.next_hop_queue_id == (queued.group(1) if queued else None), name
        assert a.text, name
        assert set(a.text.split()) <= set(response.split()), name

        internal = INTERNAL_RELAYS.search(fields["postfix_keyvalue_data"]) or a.delivery_agent in {
            "local", "virtual", "pipe", "error",
        }
        if a.delivery_agent == "error" and response.startswith("delivery temporarily suspended: "):
            # qmgr defers a throttled destination's recipients through the retry service (error(8));
            # the reason is about that remote destination (qmgr_deliver.c)
            internal = False
        assert a.first_hop is (not internal), name
        checked += 1
    assert checked == 14


def test_message_id_cases(cases: list[dict[str, Any]]) -> None:
    checked = 0
    for case in cases:
        fields = case["fields"]
        if "postfix_message-id" not in fields:
            continue
        p = postfix(REF)
        p.feed(_syslog(case))
        (a,) = p.feed(_probe(fields["postfix_queueid"]))
        assert a.message_id == (fields["postfix_message-id"] or None), case["case"]
        checked += 1
    assert checked == 4


def test_sender_and_expiry_cases(cases: list[dict[str, Any]]) -> None:
    checked = 0
    for case in cases:
        fields = case["fields"]
        if case["program"] != "postfix/qmgr" or "postfix_queueid" not in fields:
            continue
        qid = fields["postfix_queueid"]
        p = postfix(REF)
        if fields.get("postfix_status") == "expired":
            p.feed(
                f"{STAMP} postfix/smtp[1]: {qid}: to=<late@example.org>, relay=none, delay=1, delays=1/0/0/0, "
                "dsn=4.4.1, status=deferred (connect to mx.example.org[192.0.2.1]:25: Connection timed out)"
            )
            (e,) = p.feed(_syslog(case))
            assert (e.verdict, e.recipient, e.queue_id) == ("expired", "late@example.org", qid)
            assert e.sender == fields["postfix_from"]
        elif "postfix_keyvalue_data" in fields:
            assert p.feed(_syslog(case)) == []
            (a,) = p.feed(_probe(qid))
            assert a.sender == _kv(fields, "from")
        elif fields.get("postfix_message") == "removed":
            p.feed(f"{STAMP} postfix/cleanup[1]: {qid}: message-id=<x@y>")
            assert p.tracked_queue_ids == 1
            assert p.feed(_syslog(case)) == []
            assert p.tracked_queue_ids == 0
        else:
            assert p.feed(_syslog(case)) == []
        checked += 1
    assert checked == 5


def test_bounce_notification_cases(cases: list[dict[str, Any]]) -> None:
    links = 0
    for case in cases:
        fields = case["fields"]
        if "postfix_bounce_queueid" not in fields:
            continue
        p = postfix(REF)
        assert p.feed(_syslog(case)) == []
        link = p.dsn_links[fields["postfix_bounce_queueid"]]
        assert link.original_queue_id == fields["postfix_queueid"]
        assert link.kind == fields["postfix_bounce_reason"]
        assert link.addressee == fields["postfix_bounce_recipient"]
        links += 1
    assert links == 4


def test_other_cases_yield_no_attempts(cases: list[dict[str, Any]]) -> None:
    for case in cases:
        fields = case["fields"]
        if "postfix_status" in fields or case["program"] == "postfix/qmgr":
            continue
        assert postfix(REF).feed(_syslog(case)) == [], case["case"]


# -- real logs -----------------------------------------------------------------


def _real(path: Path) -> list[str]:
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


M1, M2, M3 = "m1.1795740202@sender.test", "m2@sender.test", "m3@sender.test"

# (queue id, recipient, verdict, message id, next-hop queue id, first hop),
# read off the log by hand.
EXPECTED_A = [
    ("D67AC2162D1", "temp1@example.test", "deferred", M1, None, True),
    ("D67AC2162D1", "unknown1@example.test", "rejected", M1, None, True),
    ("D67AC2162D1", "ok1@example.test", "accepted", M1, "FH1795740202932", True),
    ("D67AC2162D1", "ok2@example.net", "accepted", M1, "E6DAC216331", True),
    # accepted at the first hop; the remote MX bounces it later (log B).
    ("D67AC2162D1", "unknown2@example.net", "accepted", M1, "E6DAC216331", True),
    # DSNs delivered into the sender's own bounce mailbox via a content filter port.
    ("EE8DD216331", "bounces+m1@sender.test", "accepted", "20261127004322.ED944216382@mx.example.net", None, False),
    ("E7B35216341", "bounces+m1@sender.test", "accepted", "20261127004322.E7B35216341@mta.sender.test", None, False),
    ("D67AC2162D1", "temp1@example.test", "deferred", M1, None, True),
    ("D67AC2162D1", "temp1@example.test", "deferred", M1, None, True),
    ("0D2DA216062", "bounces+m1@sender.test", "accepted", "20261127004355.0D2DA216062@mta.sender.test", None, False),
    ("D67AC2162D1", "temp1@example.test", "deferred", M1, None, True),
    ("D67AC2162D1", "temp1@example.test", "deferred", M1, None, True),
    ("4975D216622", "ok3@example.test", "accepted", M2, "FH1795740260306", True),
    ("D67AC2162D1", "temp1@example.test", "deferred", M1, None, True),
    ("D67AC2162D1", "temp1@example.test", "deferred", M1, None, True),
    ("D67AC2162D1", "temp1@example.test", "expired", M1, None, True),
    ("598772160C2", "bounces+m1@sender.test", "accepted", "20261127004505.598772160C2@mta.sender.test", None, False),
    ("8D6B2216155", "unknown3@example.test", "rejected", M3, None, True),
    ("8D6B2216155", "unknown4@example.test", "rejected", M3, None, True),
    ("8D6B2216155", "ok5@example.net", "accepted", M3, "97FEB216157", True),
    ("8D6B2216155", "ok6@example.test", "accepted", M3, "FH1795740327620", True),
    ("99F4B21615A", "bounces+m3@sender.test", "accepted", "20261127004527.99F4B21615A@mta.sender.test", None, False),
    ("9A96E216156", "bounces+m3@sender.test", "accepted", "20261127004527.9A96E216156@mta.sender.test", None, False),
    ("A2CB9216156", "bounces+m3@sender.test", "accepted", "20261127004527.A2035216159@mx.example.net", None, False),
]


def test_real_sender_mta_log() -> None:
    lines = _real(REAL_A)
    p = postfix(REF)
    attempts = feed_all(p, lines)
    got = [(a.queue_id, a.recipient, a.verdict, a.message_id, a.next_hop_queue_id, a.first_hop) for a in attempts]
    assert got == EXPECTED_A
    assert p.skipped == 0
    assert p.tracked_queue_ids == 0  # every queue id was removed at the end

    by_rcpt = {a.recipient: a for a in attempts if a.verdict != "deferred"}
    assert by_rcpt["temp1@example.test"].at == datetime(2026, 11, 27, 0, 45, 5, tzinfo=timezone.utc)
    assert by_rcpt["temp1@example.test"].status == "4.2.0"
    assert by_rcpt["unknown1@example.test"].replycode == "550"
    assert by_rcpt["unknown1@example.test"].smtp_stage == "RCPT TO"
    assert by_rcpt["ok2@example.net"].relay_port == 2526
    assert {a.sender for a in attempts if a.queue_id == "D67AC2162D1"} == {"bounces+m1@sender.test"}
    assert {a.sender for a in attempts if a.queue_id == "E7B35216341"} == {""}  # null sender, as written
    for a in attempts:
        assert a.raw in (line.rstrip("\n") for line in lines)

    links = {k: (v.original_queue_id, v.kind) for k, v in p.dsn_links.items()}
    assert links == {
        "E7B35216341": ("D67AC2162D1", "non-delivery"),
        "0D2DA216062": ("D67AC2162D1", "delay"),
        "598772160C2": ("D67AC2162D1", "non-delivery"),
        "99F4B21615A": ("8D6B2216155", "non-delivery"),
        "9A96E216156": ("8D6B2216155", "delivery status"),
    }


def test_real_remote_mx_log_joins_through_next_hop_queue_id() -> None:
    a_attempts = feed_all(postfix(REF), _real(REAL_A))
    b_attempts = feed_all(postfix(REF), _real(REAL_B))
    b_by_key = {(b.queue_id, b.recipient): b for b in b_attempts}
    # ok2/unknown2 went to B as E6DAC216331; B then settled each recipient.
    hand_offs = [a for a in a_attempts if a.next_hop_queue_id == "E6DAC216331"]
    outcomes = {a.recipient: b_by_key[("E6DAC216331", a.recipient)].verdict for a in hand_offs}
    assert outcomes == {"ok2@example.net": "accepted", "unknown2@example.net": "rejected"}
    assert {b.message_id for b in b_attempts if b.queue_id == "E6DAC216331"} == {M1}
    # B's DSN relays back to A through A's content-filter listener: internal.
    back = [b for b in b_attempts if b.recipient == "bounces+m1@sender.test"]
    assert [(b.relay_port, b.first_hop, b.next_hop_queue_id) for b in back] == [(10025, False, "EE8DD216331")]
