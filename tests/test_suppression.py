"""The suppression list: policy rules, and the list kept in step with the ledger."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from bounceledger import pipeline, polling, queries
from bounceledger.db import Database
from bounceledger.ingest import suppress
from bounceledger.models.suppression import Outcome, SuppressionPolicy, decide_suppression

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def outcome(i: int, state: str, days: float, reason: str = "mailboxfull", status: str = "4.2.2") -> Outcome:
    return Outcome(i, state, T0 + timedelta(days=days), reason, status or None, (status[:1] + "50") if status else None)


def test_hard_bounce_suppresses_at_once_and_for_good() -> None:
    decision = decide_suppression([outcome(1, "bounced", 0, "userunknown", "5.1.1")], SuppressionPolicy())
    assert decision is not None and decision.reason == "hardbounce" and decision.expires_at is None


def test_complaint_outranks_bounces() -> None:
    decision = decide_suppression(
        [outcome(1, "bounced", 0, "userunknown", "5.1.1"), outcome(2, "complained", 1, "feedback", "")],
        SuppressionPolicy(),
    )
    assert decision is not None and decision.reason == "complaint" and decision.delivery_id == 2


def test_soft_bounces_need_n_within_m_days() -> None:
    policy = SuppressionPolicy(soft_bounce_limit=3, soft_bounce_window=timedelta(days=30))
    assert decide_suppression([outcome(1, "bounced", 0), outcome(2, "expired", 10)], policy) is None
    spread = [outcome(1, "bounced", 0), outcome(2, "bounced", 20), outcome(3, "bounced", 40)]
    assert decide_suppression(spread, policy) is None
    close = [*spread, outcome(4, "bounced", 45)]
    decision = decide_suppression(close, policy)
    assert decision is not None and decision.reason == "softbounce"
    assert decision.since == T0 + timedelta(days=45)
    assert decision.expires_at == decision.since + timedelta(days=30)


def test_ledger_keeps_the_list(database: Database, sendlog, maildir) -> None:  # type: ignore[no-untyped-def]
    pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    with database.session() as session:
        listed = {row.address: row.reason for row in suppress.active_list(session)}
    assert listed == {"nobody@corp.example.com": "hardbounce"}  # the synchronous 550 5.1.1

    polling.poll(database, maildir)
    with database.session() as session:
        listed = {row.address: row.reason for row in suppress.active_list(session)}
        assert listed == {"nobody@corp.example.com": "hardbounce", "bob@mail.example.org": "hardbounce"}
        assert suppress.release(session, "Bob@mail.example.org", "address fixed by the customer")
    with database.session() as session:
        assert suppress.lookup(session, "bob@mail.example.org") is None
        result = queries.lookup(session, "bob@mail.example.org")
    assert result["suppressed"] is False
    [audit] = result["suppression_history"]
    assert (audit["kind"], audit["outcome"], audit["detail"]) == ("suppression", "released", "address fixed by the customer")

    # Re-reading the same bounce does not undo the release.
    pipeline.retry_orphans(database)
    with database.session() as session:
        assert suppress.lookup(session, "bob@mail.example.org") is None


def test_cli_export_and_check(database_url: str, sendlog, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.test_cli import bl

    db = ["--database-url", database_url]
    bl(*db, "ingest-log", str(sendlog), cwd=tmp_path)
    rows = json.loads(bl(*db, "suppressions", "--json", cwd=tmp_path).stdout)
    assert [r["address"] for r in rows] == ["nobody@corp.example.com"]
    csv_text = bl(*db, "suppressions", "--csv", cwd=tmp_path).stdout.splitlines()
    assert csv_text[0] == "address,reason,since,expires_at" and csv_text[1].startswith("nobody@corp.example.com,hardbounce,")
    check = json.loads(bl(*db, "suppressions", "check", "NOBODY@corp.example.com", "--json", cwd=tmp_path).stdout)
    assert check["suppressed"] is True and check["reason"] == "hardbounce"
    not_listed = bl(*db, "suppressions", "check", "alice@mail.example.org", "--json", cwd=tmp_path, check=False)
    assert not_listed.returncode == 1  # not suppressed: exit 1, as a script tests it
    assert json.loads(not_listed.stdout)["suppressed"] is False
    bl(*db, "suppressions", "add", "alice@mail.example.org", "--note", "asked by phone", cwd=tmp_path)
    assert json.loads(bl(*db, "suppressions", "check", "alice@mail.example.org", "--json", cwd=tmp_path).stdout)["reason"] == "manual"
    failed = bl(*db, "suppressions", "remove", "carol@slow.example.net", "--note", "x", cwd=tmp_path, check=False)
    assert failed.returncode == 1 and "not on the suppression list" in failed.stderr
