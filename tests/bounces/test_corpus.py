"""Accuracy checks on the shared real corpora (skipped when absent).

The corpus lives outside the repository (``<repo>/../shared/corpus``) and is
never copied in; these tests only read it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bounceledger.ingest.bounces import parse

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

REAL = CORPUS / "real-postfix"
SISIMAI = CORPUS / "sisimai"


def _need(path):
    if not path.exists():
        pytest.skip(f"corpus not available: {path}")


@pytest.mark.parametrize(
    ("name", "kind", "recipients", "status", "reason"),
    [
        ("dsn_sender_mta_failed_5.1.1.eml", "bounce", ["unknown1@example.test"], "5.1.1", "userunknown"),
        ("dsn_async_remote_mx_failed_5.1.1.eml", "bounce", ["unknown2@example.net"], "5.1.1", "userunknown"),
        ("dsn_sender_mta_delayed_4.2.0.eml", "delay", ["temp1@example.test"], "4.2.0", None),
        ("dsn_sender_mta_expired_failed_4.2.0.eml", "bounce", ["temp1@example.test"], "4.2.0", "expired"),
        ("dsn_sender_mta_success_relayed.eml", "success", None, "2.0.0", "delivered"),
        ("dsn_remote_mx_success_relayed.eml", "success", ["ok5@example.net"], "2.0.0", "delivered"),
        ("dsn_sender_mta_two_rcpts_failed_envid.eml", "bounce", None, None, None),
    ],
)
def test_real_postfix_dsns(name, kind, recipients, status, reason):
    _need(REAL)
    parsed = parse((REAL / name).read_bytes())
    assert parsed.outcome == "bounce"
    assert {v.kind for v in parsed.verdicts} == {kind}
    if recipients is not None:
        assert [v.recipient for v in parsed.verdicts] == recipients
    for v in parsed.verdicts:
        if status:
            assert v.status == status
        if reason:
            assert v.reason == reason
        assert v.return_path_token
        assert v.original_message_id


def test_real_postfix_two_recipients_envid():
    _need(REAL)
    parsed = parse((REAL / "dsn_sender_mta_two_rcpts_failed_envid.eml").read_bytes())
    assert len(parsed.verdicts) == 2
    assert all(v.envelope_id for v in parsed.verdicts)
    assert all(v.hardbounce for v in parsed.verdicts if v.reason == "userunknown")


def test_real_postfix_async_queue_id_matches_sender_log():
    """B's DSN names the queue id that A's log printed as "queued as X"."""
    _need(REAL)
    parsed = parse((REAL / "dsn_async_remote_mx_failed_5.1.1.eml").read_bytes())
    (v,) = parsed.verdicts
    log = (REAL / "postfix_A_sender_mta.log").read_text(errors="replace")
    assert v.next_hop_queue_id and f"queued as {v.next_hop_queue_id}" in log


def test_sisimai_not_bounces_give_no_bounce():
    _need(SISIMAI / "not-bounces")
    for path in sorted((SISIMAI / "not-bounces").glob("*.eml")):
        parsed = parse(path.read_bytes())
        assert not [v for v in parsed.verdicts if v.kind in ("bounce", "delay")], path.name


def test_sisimai_set_never_raises_and_mostly_finds_records():
    _need(SISIMAI / "expected.json")
    expected = json.loads((SISIMAI / "expected.json").read_text())
    found = 0
    for name in expected:
        parsed = parse((SISIMAI / "eml" / name).read_bytes())
        assert parsed.outcome in ("bounce", "ignored", "unparsed")
        found += parsed.outcome == "bounce"
    assert found / len(expected) > 0.85


#: Regression floor on the shared corpus: files whose records (status, reply
#: code, reason, hard/soft) all match, scored as benchmarks/bounce_accuracy.py
#: scores them. The corpus is for regression only, never for writing rules.
SISIMAI_FILES_RIGHT_FLOOR = 0.97


def test_sisimai_set_files_fully_right_stay_above_the_floor():
    _need(SISIMAI / "expected.json")
    expected = json.loads((SISIMAI / "expected.json").read_text())
    right = 0
    wrong: list[str] = []
    for name, wanted in sorted(expected.items()):
        parsed = parse((SISIMAI / "eml" / name).read_bytes())
        got = Counter((v.status or "", v.replycode or "", v.reason, bool(v.hardbounce)) for v in parsed.verdicts)
        want = Counter((w["status"], w["replycode"], w["reason"], bool(w["hardbounce"])) for w in wanted)
        if got == want:
            right += 1
        else:
            wrong.append(name)
    share = right / len(expected)
    assert share >= SISIMAI_FILES_RIGHT_FLOOR, f"{right}/{len(expected)} files fully right; wrong: {wrong}"


def test_flufl_set_every_expected_address_is_found():
    folder = CORPUS / "flufl-bounce"
    _need(folder / "expected.json")
    expected = json.loads((folder / "expected.json").read_text())
    missing: dict[str, list[str]] = {}
    for name, entries in sorted(expected.items()):
        parsed = parse((folder / "messages" / name).read_bytes())
        # flufl lists the address a report names and the one before aliasing
        # ("expanded from"); the latter is the record's original_recipient
        got = {(a or "").lower() for v in parsed.verdicts if v.kind in ("bounce", "delay")
               for a in (v.recipient, v.original_recipient) if a}
        want = {a.lower() for e in entries for a in e["addresses"]}
        if not want <= got:
            missing[name] = sorted(want - got)
    assert missing == {}
