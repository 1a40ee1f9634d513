"""Settlement as people see it: ``lookup``, ``report`` (text and JSON), the
recipient page and the overview, on a ledger with a learned history, one
provisional delivery sent minutes ago, one settled and one corrected after
settling. Commands run as subprocesses; pages come from the real app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bounceledger.db import Database
from bounceledger.ingest import settlement
from bounceledger.ingest.settlement import SettlementPolicy
from tests.settlement_history import OUTLOOK, PROOFPOINT, Send, history, record_bounces, record_sends


def bl(database_url: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", "--database-url", database_url, *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def words(at: datetime) -> str:
    """What a face must print: HH:MM UTC today, with the day otherwise."""
    today = datetime.now(timezone.utc).date()
    return f"{at:%H:%M} UTC" if at.date() == today else f"{at:%Y-%m-%d %H:%M} UTC"


@pytest.fixture
def ledger(database: Database) -> Iterator[dict[str, Any]]:
    history(database)  # pphosted.com and mimecast.com learned, outlook.com on the default window
    now = datetime.now(timezone.utc).replace(microsecond=0)
    fresh = Send(5000, "fresh@outlook-customer.example", OUTLOOK.relays[0], now - timedelta(minutes=10))
    old = Send(5001, "old@corp-customer.example", PROOFPOINT.relays[0], now - timedelta(days=3))
    surprised = Send(5002, "surprised@corp-customer.example", PROOFPOINT.relays[1], now - timedelta(days=3, minutes=2))
    record_sends(database, [fresh, old, surprised])
    with database.session() as session:
        assert settlement.settle_due(session, SettlementPolicy(), now, database.rules) == 2
        windows = settlement.learn_windows(session, SettlementPolicy())
    record_bounces(database, [(surprised, now - timedelta(hours=1))])
    yield {
        "fresh": fresh, "old": old, "surprised": surprised,
        "fresh_until": fresh.at + timedelta(hours=2),
        "old_settled": old.at + windows.for_host(old.relay).length,
    }


def test_lookup_says_provisional_until_and_settled_at(ledger: dict[str, Any], database_url: str, tmp_path: Path) -> None:
    fresh, old = ledger["fresh"], ledger["old"]
    text = bl(database_url, "lookup", fresh.recipient, cwd=tmp_path)
    assert f"{fresh.recipient}  message {fresh.message_id}: ACCEPTED" in text
    assert f"  provisional until {words(ledger['fresh_until'])}: the first hop (outlook.com) said 250" in text
    data = json.loads(bl(database_url, "lookup", fresh.recipient, "--json", cwd=tmp_path))["deliveries"][0]
    assert data["provisional_until"] == ledger["fresh_until"].isoformat().replace("+00:00", "Z")
    assert (data["settled_at"], data["first_hop_organisation"]) == (None, "outlook.com")

    text = bl(database_url, "lookup", old.recipient, cwd=tmp_path)
    assert f"{old.recipient}  message {old.message_id}: SETTLED" in text
    assert f"  settled at {words(ledger['old_settled'])}: no bounce came back within the first hop's window" in text
    assert "provisional until" not in text
    data = json.loads(bl(database_url, "lookup", old.recipient, "--json", cwd=tmp_path))["deliveries"][0]
    assert (data["state"], data["provisional_until"]) == ("settled", None)
    assert data["settled_at"] == ledger["old_settled"].isoformat().replace("+00:00", "Z")
    assert [e["outcome"] for e in data["events"]] == ["accepted", "settled"]

    text = bl(database_url, "lookup", ledger["surprised"].recipient, cwd=tmp_path)
    assert "BOUNCED" in text and "[corrected]" in text and "settled at" not in text


def test_report_shows_each_first_hop_organisation(ledger: dict[str, Any], database_url: str, tmp_path: Path) -> None:
    data = json.loads(bl(database_url, "report", "--json", cwd=tmp_path))
    assert data["states"]["settled"] == 1 and data["funnel"]["totals"]["settled"] == 1
    section = data["first_hop_organisations"]
    assert (section["enabled"], section["default_window_minutes"], section["min_samples"], section["safety_factor"]) == (
        True, 120.0, 20, 1.5)
    rows = {row["organisation"]: row for row in section["organisations"]}
    assert set(rows) == {"pphosted.com", "mimecast.com", "outlook.com"}
    proofpoint = rows["pphosted.com"]
    assert (proofpoint["accepted"], proofpoint["corrected"], proofpoint["settled"], proofpoint["provisional"]) == (202, 201, 1, 0)
    assert proofpoint["correction_rate"] == round(201 / 202, 6)
    assert (proofpoint["latency_count"], proofpoint["window_basis"], proofpoint["late_surprises"]) == (201, "learned", 1)
    assert proofpoint["latency_p50_minutes"] < proofpoint["latency_p95_minutes"] < proofpoint["latency_p99_minutes"]
    assert proofpoint["window_minutes"] == pytest.approx(proofpoint["latency_p99_minutes"] * 1.5, abs=0.2)
    outlook = rows["outlook.com"]
    assert (outlook["window_basis"], outlook["window_minutes"], outlook["provisional"], outlook["late_surprises"]) == (
        "default", 120.0, 1, 0)
    assert outlook["provisional_until"] == ledger["fresh_until"].isoformat().replace("+00:00", "Z")

    text = bl(database_url, "report", cwd=tmp_path)
    assert "per first-hop organisation" in text
    [line] = [x for x in text.splitlines() if x.strip().startswith("pphosted.com")]
    assert line.split()[:3] == ["pphosted.com", "202", "201"] and line.split()[-2:] == ["learned", "1"]
    [line] = [x for x in text.splitlines() if x.strip().startswith("outlook.com")]
    assert line.split()[-3:] == ["120", "default", "0"]

    csv_rows = bl(database_url, "report", "--csv", cwd=tmp_path).splitlines()
    header = csv_rows[0].split(",")
    assert header[-2:] == ["accepted", "settled"]
    assert sum(int(row.split(",")[header.index("settled")]) for row in csv_rows[1:]) == 1

    campaign = json.loads(bl(database_url, "report", "--json", "--campaign", "no-such-campaign", cwd=tmp_path))
    scoped = {row["organisation"]: row for row in campaign["first_hop_organisations"]["organisations"]}
    assert scoped["pphosted.com"]["accepted"] == 0 and scoped["pphosted.com"]["window_basis"] == "learned"


def test_lookup_with_settlement_off_promises_no_end(ledger: dict[str, Any], database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "off.toml"
    config.write_text("[settlement]\nenabled = false\n")
    data = json.loads(bl(database_url, "--config", str(config), "lookup", ledger["fresh"].recipient, "--json", cwd=tmp_path))
    assert (data["deliveries"][0]["state"], data["deliveries"][0]["provisional_until"]) == ("accepted", None)
    assert "provisional until" not in bl(database_url, "--config", str(config), "lookup", ledger["fresh"].recipient, cwd=tmp_path)
    report = json.loads(bl(database_url, "--config", str(config), "report", "--json", cwd=tmp_path))["first_hop_organisations"]
    assert report["enabled"] is False
    assert all(row["provisional_until"] is None for row in report["organisations"])


def test_dashboard_pages_show_settlement(ledger: dict[str, Any], database: Database) -> None:
    from bounceledger.web import create_app

    app = create_app(database)
    client = app.test_client()
    try:
        page = client.get("/recipient", query_string={"address": ledger["fresh"].recipient}).get_data(as_text=True)
        assert f"Provisional until {words(ledger['fresh_until'])}" in page
        page = client.get("/recipient", query_string={"address": ledger["old"].recipient}).get_data(as_text=True)
        assert "Settled at" in page and "Settled: no bounce within the first hop's window" in page
        assert "settlement window passed" in page
        page = client.get("/").get_data(as_text=True)
        assert 'id="by-organisation"' in page and "pphosted.com" in page and "(learned)" in page
        assert f"still provisional, until {words(ledger['fresh_until'])} at the latest" in page
        api = client.get("/api/v1/organisations").get_json()
        assert {row["organisation"] for row in api["organisations"]} == {"pphosted.com", "mimecast.com", "outlook.com"}
    finally:
        app.config["LEDGER"].dispose()
