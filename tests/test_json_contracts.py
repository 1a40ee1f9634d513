"""The JSON contracts, whole: every key of every shape other programs read.

``parse --json``, ``lookup --json``, ``report --json``, ``sendlog parse --json``,
``explain --json``, ``suppressions --json`` and every ``/api`` route of the
dashboard are compared with the key sets written out below, at every level, so
removing or renaming any key fails a test (the README promises fields are
added, never renamed or dropped). A key added on purpose is added here too.
Every output's top level also carries ``"schema": 1`` (:func:`top`); where an
output is a bare array (``suppressions --json``), each of its objects does.

The commands run as a user runs them (a subprocess); the API is asked over
HTTP from the real waitress server on 127.0.0.1. The ledger is the bundled
samples through the real pipeline, plus a returned message that matches no
send and a suppression added and released by hand, so every list in every
shape has rows to check; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bounceledger
from bounceledger.db import Database
from bounceledger.ingest import suppress
from tests.bounces.test_one_classifier import dsn
from tests.web.conftest import CORRECTED_RECIPIENT, LiveServer, seed, start_server, stop_server

SAMPLES = Path(bounceledger.__file__).resolve().parent / "samples"
SENDLOG_FIXTURES = Path(__file__).parent / "sendlog" / "fixtures"

# ----------------------------------------------------------------- the contracts

FILTERS = {"campaign", "since", "until"}

# parse --json
PARSE_MESSAGE = {"file", "outcome", "error", "records", "skipped"}
PARSE_RECORD = {
    "kind", "recipient", "action", "status", "replycode", "reason", "hardbounce", "category", "diagnostic",
    "remote_mta", "reporting_mta", "envelope_id", "original_message_id", "next_hop_queue_id", "feedback_type",
}

# sendlog parse --json
SENDLOG_ATTEMPT = {
    "time", "queue_id", "message_id", "sender", "recipient", "orig_recipient", "relay_host", "relay_ip",
    "relay_port", "replycode", "status", "verdict", "text", "smtp_stage", "next_hop_queue_id", "envelope_id",
    "campaign", "header_ref", "mta_category", "delivery_agent", "first_hop",
}
SENDLOG_EXPLAINED = SENDLOG_ATTEMPT | {"first_hop_reason"}

# explain --json
EXPLAIN = {"code", "replycode", "status", "meaning", "reason", "category", "hardbounce", "permanent", "outcome"}

# lookup --json
LOOKUP = {
    "address", "deliveries", "unmatched_verdicts", "suppression_history", "suppressed", "suppression", "past_suppression",
}
DELIVERY = {
    "message_id", "queue_id", "sender", "recipient", "state", "reason", "status", "replycode", "detail", "corrected",
    "first_hop_host", "first_attempt_at", "state_at", "events", "delivery_id", "campaign", "sent_at", "explanation",
    "first_hop_organisation", "provisional_until", "settled_at",
}
EVENT = {
    "kind", "source", "at", "outcome", "status", "replycode", "reason", "detail", "remote_host", "first_hop",
    "from_state", "to_state", "match_key", "returned_message_id", "reporting_mta", "explanation",
}
EXPLANATION = {"reason", "category", "hard", "meaning", "severity"}
SUPPRESSION = {
    "address", "reason", "since", "expires_at", "note", "active", "released_at", "expired", "updated_at",
    "source_delivery_id",
}

# report --json (the CLI's adds the funnel and the reasons to what /api/v1/report answers)
REPORT = {
    "suppressed", "deliveries", "states", "corrected", "sent_messages", "returned_messages", "events", "orphans",
    "stale_orphans", "webhooks", "filters", "unfiltered",
}
# report's webhooks, and webhooks --json's endpoints
WEBHOOK_ENDPOINT = {
    "name", "url", "cursor", "backlog", "delivered", "failures", "failing_seq", "attempts", "next_attempt_at",
    "last_status", "last_error", "last_success_at", "dead_letters",
}
WEBHOOKS = {"endpoints", "dead_letters"}
WEBHOOK_DEAD_LETTER = {"endpoint", "seq", "webhook_id", "attempts", "first_failure_at", "dead_at", "last_status", "last_error"}
REPORT_CLI = REPORT | {"funnel", "reasons", "first_hop_organisations"}
STATES = {"accepted", "deferred", "bounced", "delivered", "complained", "expired", "settled", "pending"}
RETURNED = {"processed", "unparsed", "ignored", "duplicate", "error"}
FUNNEL = {"filters", "totals", "by_day", "by_campaign", "by_campaign_day"}
COUNTS = {
    "messages", "recipients", "accepted_first_hop", "corrected", "bounced", "expired", "complained", "delivered",
    "accepted", "deferred", "pending", "final_bounced", "bounce_rate", "bounce_rate_first_hop", "complaint_rate",
    "settled",
}
REASONS = {"filters", "total", "reasons", "categories"}
REASON_ROW = {
    "reason", "category", "count", "corrected", "states", "statuses", "severities", "hard", "share", "meaning",
}
CATEGORY_ROW = {"category", "count", "share"}
# report --json's first_hop_organisations, and /api/v1/organisations
ORGANISATIONS = {"filters", "enabled", "default_window_minutes", "min_samples", "safety_factor", "organisations"}
ORGANISATION_ROW = {
    "organisation", "accepted", "provisional", "settled", "corrected", "correction_rate", "latency_count",
    "latency_p50_minutes", "latency_p95_minutes", "latency_p99_minutes", "window_minutes", "window_basis",
    "late_surprises", "provisional_until",
}

# suppressions --json, suppressions check --json
SUPPRESSION_CHECKED = {"address", "suppressed"} | SUPPRESSION
# suppressions import --json
SUPPRESSIONS_IMPORT = {"file", "rows", "added", "changed", "unchanged", "problems", "recognised"}
# forget --json
FORGET = {
    "address", "dry_run", "deliveries", "events", "orphans_removed", "messages_emptied", "other_rows",
    "suppression_kept_as_hash",
}

# the dashboard's API
API_OVERVIEW = FUNNEL | {"campaigns"}
API_LOOKUP_EVENT = EVENT | {"id", "evidence", "log_line", "returned_subject"}
API_REASONS = REASONS | {"by_day"}
REASONS_BY_DAY = {"filters", "reasons", "days"}
REASONS_DAY = {"day", "counts"}
API_REASON = {"reason", "examples"}
API_SUPPRESSIONS = {"filters", "total", "limit", "offset", "suppressions", "reasons"}
SUPPRESSION_FILTERS = {"q", "reason", "active", "since"}
API_MESSAGE = {
    "id", "message_id", "subject", "source", "source_ref", "outcome", "error", "size", "sha256", "received_at",
    "duplicate_count", "events", "raw_url",
}
MESSAGE_EVENT = {"recipient", "kind", "outcome", "status", "reason", "matched"}
API_DELIVERIES = {"filters", "metric", "label", "total", "limit", "offset", "recipients"}
RECIPIENT_ROW = {
    "delivery_id", "recipient", "state", "reason", "status", "replycode", "corrected", "campaign", "message_id",
    "sent_at", "state_at", "detail",
}
#: A reason's examples are recipient rows too.
REASON_EXAMPLE = RECIPIENT_ROW
API_ERROR = {"error", "detail"}

# changes --json (one entry a line), GET /api/v1/changes, and each webhook's data
CHANGE = {
    "seq", "type", "recorded_at", "at", "delivery_id", "recipient", "message", "from_state", "to_state", "reason",
    "category", "hard", "status", "replycode", "detail", "evidence", "note",
}
CHANGE_MESSAGE = {"message_id", "queue_id", "campaign", "match_header", "token", "envelope_id", "sender"}
CHANGE_EVIDENCE = {
    "kind", "source", "outcome", "at", "remote_host", "match_key", "returned_message_id", "reporting_mta", "line",
}
API_CHANGES = {"changes", "next_after", "last_seq"}
# suppressions --since SEQ --json (a bare array, as suppressions --json is), and its CSV columns
SUPPRESSION_CHANGE = {"seq", "change", "address", "reason", "at", "note"}
# report --recipients --json (one recipient a line) and the CSV columns of --csv and the dashboard download
RECIPIENT_CSV = ["recipient", "state", "reason", "status", "replycode", "corrected", "campaign", "message_id", "sent_at",
                 "state_at", "detail", "delivery_id"]


#: What every JSON output adds at its top level: the version of these shapes.
SCHEMA = {"schema"}


def top(obj: Any, expected: set[str], where: str) -> None:
    """A whole output (or one line of a JSON-lines output): its keys plus ``"schema": 1``."""
    keys(obj, expected | SCHEMA, where)
    assert obj["schema"] == 1, f"{where}: schema {obj['schema']!r}"


def each_top(rows: list[Any], expected: set[str], where: str) -> None:
    assert rows, f"{where}: empty, so nothing was checked"
    for index, row in enumerate(rows):
        top(row, expected, f"{where}[{index}]")


def keys(obj: Any, expected: set[str], where: str) -> None:
    """The whole key set: a key missing or one not in the contract fails, and says which."""
    assert isinstance(obj, dict), f"{where}: not an object: {obj!r}"
    got = set(obj)
    assert got == expected, f"{where}: missing {sorted(expected - got)}, not in the contract {sorted(got - expected)}"


def each(rows: list[Any], expected: set[str], where: str) -> None:
    assert rows, f"{where}: empty, so nothing was checked"
    for index, row in enumerate(rows):
        keys(row, expected, f"{where}[{index}]")


# ----------------------------------------------------------------- running things


def bl(*args: str, cwd: Path, code: int = 0) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ},
    )
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


#: A report for an address the send log never mentions: stays unmatched.
ORPHAN = "user@example.net"


@pytest.fixture
def ledger(database: Database, tmp_path: Path) -> Database:
    extra = tmp_path / "orphan.eml"
    extra.write_bytes(dsn("5.1.1", "550 5.1.1 <user@example.net>: no such user"))
    seed(database, tmp_path / "work", (extra,))
    with database.session() as session:
        assert suppress.release(session, "unknown1@example.test", "fixed by support")
    return database


# ----------------------------------------------------------------- commands without a database


def test_parse_json(tmp_path: Path) -> None:
    messages = json_lines(bl("parse", str(SAMPLES / "returned"), "--json", cwd=tmp_path))
    each_top(messages, PARSE_MESSAGE, "parse")
    each([r for m in messages for r in m["records"]], PARSE_RECORD, "parse.records")
    kinds = {r["kind"] for m in messages for r in m["records"]}
    assert {"bounce", "delay", "success"} <= kinds  # every kind the samples have, each checked


def test_sendlog_parse_json(tmp_path: Path) -> None:
    for fixture in ("outbound_mixed.log", "exim_mainlog.log", "pmta_acct.csv", "jsonl_own.jsonl"):
        path = str(SENDLOG_FIXTURES / fixture)
        each_top(json_lines(bl("sendlog", "parse", path, "--json", cwd=tmp_path)), SENDLOG_ATTEMPT, f"sendlog {fixture}")
        explained = json_lines(bl("sendlog", "parse", path, "--json", "--explain-first-hop", cwd=tmp_path))
        each_top(explained, SENDLOG_EXPLAINED, f"sendlog --explain-first-hop {fixture}")


def test_explain_json(tmp_path: Path) -> None:
    for args in (["5.7.1"], ["550", "5.1.1"], ["250"], ["452-4.2.2", "5.2.2"]):
        each_top(json_lines(bl("explain", *args, "--json", cwd=tmp_path)), EXPLAIN, f"explain {args}")


# ----------------------------------------------------------------- commands on the ledger


def test_lookup_json(ledger: Database, database_url: str, tmp_path: Path) -> None:
    db = ["--database-url", database_url]
    data = json.loads(bl(*db, "lookup", CORRECTED_RECIPIENT, "--json", cwd=tmp_path))
    top(data, LOOKUP, "lookup")
    each(data["deliveries"], DELIVERY, "lookup.deliveries")
    delivery = data["deliveries"][0]
    each(delivery["events"], EVENT, "lookup.deliveries.events")
    keys(delivery["explanation"], EXPLANATION, "lookup.deliveries.explanation")
    keys(next(e for e in delivery["events"] if e["explanation"])["explanation"], EXPLANATION, "lookup.events.explanation")
    keys(data["suppression"], SUPPRESSION, "lookup.suppression")
    released = json.loads(bl(*db, "lookup", "unknown1@example.test", "--json", cwd=tmp_path))
    top(released, LOOKUP, "lookup (released)")
    keys(released["past_suppression"], SUPPRESSION, "lookup.past_suppression")
    each(released["suppression_history"], EVENT, "lookup.suppression_history")
    orphan = json.loads(bl(*db, "lookup", ORPHAN, "--json", cwd=tmp_path))
    top(orphan, LOOKUP, "lookup (unmatched)")
    each(orphan["unmatched_verdicts"], EVENT, "lookup.unmatched_verdicts")
    assert orphan["deliveries"] == []


def _report_body(data: dict[str, Any], where: str) -> None:
    keys(data["states"], STATES, f"{where}.states")
    keys(data["returned_messages"], RETURNED, f"{where}.returned_messages")
    keys(data["filters"], FILTERS, f"{where}.filters")
    assert isinstance(data["unfiltered"], list)


def _funnel(data: dict[str, Any], where: str) -> None:
    keys(data["filters"], FILTERS, f"{where}.filters")
    keys(data["totals"], COUNTS, f"{where}.totals")
    each(data["by_day"], COUNTS | {"day"}, f"{where}.by_day")
    each(data["by_campaign"], COUNTS | {"campaign"}, f"{where}.by_campaign")
    each(data["by_campaign_day"], COUNTS | {"campaign", "day"}, f"{where}.by_campaign_day")


def _reasons(data: dict[str, Any], where: str) -> None:
    keys(data["filters"], FILTERS, f"{where}.filters")
    each(data["reasons"], REASON_ROW, f"{where}.reasons")
    each(data["categories"], CATEGORY_ROW, f"{where}.categories")


def _changes(entries: list[Any], where: str, *, versioned: bool) -> None:
    """Every entry whole; the nested message and evidence whole wherever they are there."""
    (each_top if versioned else each)(entries, CHANGE, where)
    types = {entry["type"] for entry in entries}
    assert {"delivery.accepted", "delivery.bounced", "delivery.corrected", "suppression.added",
            "suppression.released"} <= types, f"{where}: the seeded ledger's changes are not all there: {types}"
    for index, entry in enumerate(entries):
        if entry["message"] is not None:
            keys(entry["message"], CHANGE_MESSAGE, f"{where}[{index}].message")
        if entry["evidence"] is not None:
            keys(entry["evidence"], CHANGE_EVIDENCE, f"{where}[{index}].evidence")
    assert any(e["evidence"] for e in entries) and any(e["message"] for e in entries), f"{where}: nothing nested checked"


def test_changes_json(ledger: Database, database_url: str, tmp_path: Path) -> None:
    entries = json_lines(bl("--database-url", database_url, "changes", "--json", cwd=tmp_path))
    _changes(entries, "changes", versioned=True)


def _organisations(data: dict[str, Any], where: str, *, whole: bool = False) -> None:
    (top if whole else keys)(data, ORGANISATIONS, where)
    keys(data["filters"], FILTERS, f"{where}.filters")
    each(data["organisations"], ORGANISATION_ROW, f"{where}.organisations")


def test_report_json(ledger: Database, database_url: str, tmp_path: Path) -> None:
    db = ["--database-url", database_url]
    for extra in ([], ["--campaign", "nov-newsletter"], ["--since", "2000-01-01", "--until", "2999-12-31"]):
        data = json.loads(bl(*db, "report", "--json", *extra, cwd=tmp_path))
        top(data, REPORT_CLI, f"report {extra}")
        _report_body(data, "report")
        keys(data["funnel"], FUNNEL, "report.funnel")
        _funnel(data["funnel"], "report.funnel")
        keys(data["reasons"], REASONS, "report.reasons")
        _reasons(data["reasons"], "report.reasons")
        _organisations(data["first_hop_organisations"], "report.first_hop_organisations")


def test_suppressions_json(ledger: Database, database_url: str, tmp_path: Path) -> None:
    db = ["--database-url", database_url]
    listed = json.loads(bl(*db, "suppressions", "--json", cwd=tmp_path))
    assert isinstance(listed, list), "suppressions --json stays a bare array: the version is in each element"
    each_top(listed, SUPPRESSION, "suppressions")
    top(json.loads(bl(*db, "suppressions", "check", CORRECTED_RECIPIENT, "--json", cwd=tmp_path)),
        SUPPRESSION_CHECKED, "suppressions check (suppressed)")
    top(json.loads(bl(*db, "suppressions", "check", "ok1@example.test", "--json", cwd=tmp_path, code=1)),
        {"address", "suppressed"}, "suppressions check (not suppressed)")


def test_suppressions_since_json_and_csv(ledger: Database, database_url: str, tmp_path: Path) -> None:
    db = ["--database-url", database_url]
    changed = json.loads(bl(*db, "suppressions", "--since", "0", "--json", cwd=tmp_path))
    assert isinstance(changed, list)
    each_top(changed, SUPPRESSION_CHANGE, "suppressions --since")
    assert {row["change"] for row in changed} == {"added", "released"}
    assert [row["seq"] for row in changed] == sorted({row["seq"] for row in changed})
    released = [row for row in changed if row["change"] == "released"]
    assert [(r["address"], r["note"]) for r in released] == [("unknown1@example.test", "fixed by support")]
    newest = changed[-1]["seq"]
    assert json.loads(bl(*db, "suppressions", "--since", str(newest), "--json", cwd=tmp_path)) == []
    table = list(csv.reader(io.StringIO(bl(*db, "suppressions", "--since", "0", "--csv", cwd=tmp_path))))
    assert table[0] == ["seq", "change", "address", "reason", "at", "note"]
    assert [int(row[0]) for row in table[1:]] == [row["seq"] for row in changed]


def test_report_recipients_json_and_csv(ledger: Database, database_url: str, tmp_path: Path) -> None:
    db = ["--database-url", database_url]
    rows = json_lines(bl(*db, "report", "--recipients", "--campaign", "nov-newsletter", "--json", cwd=tmp_path))
    each_top(rows, RECIPIENT_ROW, "report --recipients")
    assert {row["campaign"] for row in rows} == {"nov-newsletter"}
    assert any(row["corrected"] and row["state"] == "bounced" for row in rows)
    table = list(csv.reader(io.StringIO(bl(*db, "report", "--recipients", "--campaign", "nov-newsletter", "--csv", cwd=tmp_path))))
    assert table[0] == RECIPIENT_CSV
    assert sorted(row[0] for row in table[1:]) == sorted(row["recipient"] for row in rows)
    everyone = json_lines(bl(*db, "report", "--recipients", "--json", cwd=tmp_path))
    assert {r["delivery_id"] for r in everyone} >= {r["delivery_id"] for r in rows}
    assert bl(*db, "report", "--recipients", "--campaign", "no-such-campaign", "--json", cwd=tmp_path) == ""


def test_suppressions_import_and_forget_json(ledger: Database, database_url: str, tmp_path: Path) -> None:
    db = ["--database-url", database_url]
    (tmp_path / "list.csv").write_text("address,note\nimported@example.org,from the CRM\nnot-an-address,x\n")
    top(json.loads(bl(*db, "suppressions", "import", "list.csv", "--json", cwd=tmp_path, code=1)),
        SUPPRESSIONS_IMPORT, "suppressions import")
    for extra in (["--dry-run"], []):
        top(json.loads(bl(*db, "forget", CORRECTED_RECIPIENT, "--json", *extra, cwd=tmp_path)), FORGET, f"forget {extra}")


# ----------------------------------------------------------------- the dashboard's API


@pytest.fixture
def api(ledger: Database) -> Iterator[LiveServer]:
    server = start_server(ledger)
    yield server
    stop_server(server)


def get(live: LiveServer, path: str, status: int = 200) -> Any:
    try:
        with urllib.request.urlopen(live.url + path, timeout=30) as response:
            assert response.status == status, path
            assert response.headers.get_content_type() == "application/json", path
            return json.load(response)
    except urllib.error.HTTPError as exc:
        assert exc.code == status, f"{path}: {exc.code}"
        assert exc.headers.get_content_type() == "application/json", path
        return json.load(exc)


#: Every /api route and the test below that holds its shape.
API_ROUTES = {
    "/api/v1/overview", "/api/v1/report", "/api/v1/lookup", "/api/v1/reasons", "/api/v1/reasons/<reason>",
    "/api/v1/suppressions", "/api/v1/messages/<int:message_id>", "/api/v1/messages/<int:message_id>/raw",
    "/api/v1/deliveries", "/api/v1/organisations", "/api/v1/changes",
    # the write API (POST, DELETE, with a token): tests/web/test_api_write.py holds its shapes
    "/api/v1/suppressions/<path:address>",
    # the API's own description (tests/test_openapi.py checks it against every route's real answers)
    "/api/v1/openapi.json",
    # the unversioned paths of before, answered with a 308 to /api/v1 (tests/test_api_v1.py)
    "/api/<path:rest>",
}


def test_every_api_route(api: LiveServer) -> None:
    routes = {rule.rule for rule in api.server.flask_app.url_map.iter_rules() if rule.rule.startswith("/api/")}  # type: ignore[attr-defined]
    assert routes == API_ROUTES, "a new /api route needs its key sets in this file"

    overview = get(api, "/api/v1/overview")
    top(overview, API_OVERVIEW, "/api/v1/overview")
    _funnel(overview, "/api/v1/overview")

    for query in ("", "?campaign=nov-newsletter", "?since=2000-01-01"):
        report = get(api, "/api/v1/report" + query)
        top(report, REPORT, f"/api/v1/report{query}")
        _report_body(report, "/api/v1/report")

    for query in ("", "?campaign=nov-newsletter"):
        _organisations(get(api, "/api/v1/organisations" + query), f"/api/v1/organisations{query}", whole=True)

    lookup = get(api, f"/api/v1/lookup?address={CORRECTED_RECIPIENT}")
    top(lookup, LOOKUP, "/api/v1/lookup")
    each(lookup["deliveries"], DELIVERY, "/api/v1/lookup.deliveries")
    each(lookup["deliveries"][0]["events"], API_LOOKUP_EVENT, "/api/v1/lookup.deliveries.events")
    keys(lookup["deliveries"][0]["explanation"], EXPLANATION, "/api/v1/lookup.deliveries.explanation")
    keys(lookup["suppression"], SUPPRESSION, "/api/v1/lookup.suppression")
    released = get(api, "/api/v1/lookup?address=unknown1@example.test")
    keys(released["past_suppression"], SUPPRESSION, "/api/v1/lookup.past_suppression")
    each(released["suppression_history"], API_LOOKUP_EVENT, "/api/v1/lookup.suppression_history")
    each(get(api, f"/api/v1/lookup?address={ORPHAN}")["unmatched_verdicts"], API_LOOKUP_EVENT, "/api/v1/lookup.unmatched_verdicts")

    reasons = get(api, "/api/v1/reasons")
    top(reasons, API_REASONS, "/api/v1/reasons")
    _reasons(reasons, "/api/v1/reasons")
    keys(reasons["by_day"], REASONS_BY_DAY, "/api/v1/reasons.by_day")
    keys(reasons["by_day"]["filters"], FILTERS, "/api/v1/reasons.by_day.filters")
    each(reasons["by_day"]["days"], REASONS_DAY, "/api/v1/reasons.by_day.days")

    reason = get(api, "/api/v1/reasons/userunknown")
    top(reason, API_REASON, "/api/v1/reasons/<reason>")
    keys(reason["reason"], EXPLANATION, "/api/v1/reasons/<reason>.reason")
    each(reason["examples"], REASON_EXAMPLE, "/api/v1/reasons/<reason>.examples")

    suppressions = get(api, "/api/v1/suppressions")
    top(suppressions, API_SUPPRESSIONS, "/api/v1/suppressions")
    keys(suppressions["filters"], SUPPRESSION_FILTERS, "/api/v1/suppressions.filters")
    each(suppressions["suppressions"], SUPPRESSION, "/api/v1/suppressions.suppressions")

    message_id = lookup["deliveries"][0]["events"][1]["returned_message_id"]
    message = get(api, f"/api/v1/messages/{message_id}")
    top(message, API_MESSAGE, "/api/v1/messages/<id>")
    each(message["events"], MESSAGE_EVENT, "/api/v1/messages/<id>.events")
    with urllib.request.urlopen(api.url + message["raw_url"], timeout=30) as raw:
        assert raw.headers.get_content_type() == "text/plain"  # the one /api route that is not JSON

    changes = get(api, "/api/v1/changes")
    top(changes, API_CHANGES, "/api/v1/changes")
    _changes(changes["changes"], "/api/v1/changes.changes", versioned=False)

    deliveries = get(api, "/api/v1/deliveries?metric=final_bounced")
    top(deliveries, API_DELIVERIES, "/api/v1/deliveries")
    keys(deliveries["filters"], FILTERS, "/api/v1/deliveries.filters")
    each(deliveries["recipients"], RECIPIENT_ROW, "/api/v1/deliveries.recipients")

    for path, status in (("/api/v1/messages/999999", 404), ("/api/v1/reasons/nosuch", 404), ("/api/v1/lookup", 400),
                         ("/api/v1/overview?since=2026-12-01&until=2026-11-01", 400), ("/api/v1/deliveries?metric=x", 400),
                         ("/api/v1/changes?types=delivery.nosuch", 400)):
        top(get(api, path, status), API_ERROR, path)
