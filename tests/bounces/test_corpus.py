"""Accuracy checks on the shared real corpora (skipped when absent).

The corpus lives outside the repository (``<repo>/../shared/corpus``) and is
never copied in; these tests only read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.bounces import parse

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
