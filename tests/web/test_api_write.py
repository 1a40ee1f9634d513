"""``/api/v1/suppressions``: other programs add and release suppressions over HTTP.

A real waitress server on 127.0.0.1 with a token, on SQLite and PostgreSQL.
The token goes in a bearer header only: basic auth (which the pages take)
and cookies write nothing. Every change is the audit event ``suppressions
add``/``remove`` records; the same request again changes nothing.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import Message
from typing import Any

import pytest
from sqlalchemy import select

from bounceledger.db import Database
from bounceledger.forget import forget
from bounceledger.ingest import suppress
from bounceledger.models import Event, Suppression
from tests.test_json_contracts import API_ERROR, SUPPRESSION
from tests.web.conftest import LiveServer, start_server, stop_server

TOKEN = "s3cret-token-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}
ADDED = {"address", "change", "suppression", "previously_suppressed"}
RELEASED = {"address", "change", "suppression"}
PREVIOUSLY = {"reason", "since", "expires_at", "active", "released_at", "forgotten_at"}


@pytest.fixture
def live(database: Database) -> Iterator[LiveServer]:
    server = start_server(database, TOKEN)
    yield server
    stop_server(server)


def call(live: LiveServer, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> tuple[int, Message, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(live.url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, head, payload = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, head, payload = exc.code, exc.headers, exc.read()
    assert head.get("Set-Cookie") is None  # nothing to forge a request with
    try:
        parsed = json.loads(payload)
    except ValueError:
        return status, head, payload.decode()
    assert parsed.pop("schema") == 1  # every JSON answer says its version; the rest is the shape checked below
    return status, head, parsed


def _audit(database: Database) -> list[tuple[str | None, str, str | None]]:
    with database.session() as session:
        return [(e.recipient, e.outcome, e.detail) for e in session.scalars(select(Event).where(Event.kind == "suppression").order_by(Event.id))]


def test_add_and_release(live: LiveServer, database: Database) -> None:
    body = {"address": "API1@example.org", "note": "bounced in billing", "expires_at": "2031-01-01"}
    status, _, added = call(live, "POST", "/api/v1/suppressions", body, BEARER | JSON)
    assert status == 201, added
    assert set(added) == ADDED and set(added["suppression"]) == SUPPRESSION
    assert (added["address"], added["change"], added["previously_suppressed"]) == ("api1@example.org", "added", None)
    assert added["suppression"]["expires_at"] == "2031-01-01T00:00:00Z" and added["suppression"]["active"]
    with database.session() as session:
        assert suppress.lookup(session, "api1@example.org") is not None
    assert _audit(database) == [("api1@example.org", "added", "bounced in billing")]

    status, _, again = call(live, "POST", "/api/v1/suppressions", body, BEARER | JSON)
    assert (status, again["change"]) == (200, "unchanged")
    assert len(_audit(database)) == 1  # the same request again records nothing

    status, _, released = call(live, "DELETE", "/api/v1/suppressions/api1@example.org?note=paid", headers=BEARER)
    assert status == 200, released
    assert set(released) == RELEASED and set(released["suppression"]) == SUPPRESSION
    assert released["change"] == "released" and not released["suppression"]["active"]
    assert _audit(database)[-1] == ("api1@example.org", "released", "paid")
    status, _, gone = call(live, "DELETE", "/api/v1/suppressions/api1@example.org", {"note": "again"}, BEARER | JSON)
    assert (status, set(gone)) == (404, API_ERROR)
    assert gone["detail"] == "api1@example.org is not on the suppression list"
    # each change is a change-feed entry too, once (the unchanged repeat is none)
    status, _, fed = call(live, "GET", "/api/v1/changes?types=suppression.*", headers=BEARER)
    assert status == 200
    assert [(c["type"], c["recipient"], c["reason"], c["note"]) for c in fed["changes"]] == [
        ("suppression.added", "api1@example.org", "manual", "bounced in billing"),
        ("suppression.released", "api1@example.org", "manual", "paid"),
    ]


def test_only_a_bearer_token_writes(live: LiveServer, database: Database) -> None:
    body = {"address": "api2@example.org", "note": "x"}
    basic = {"Authorization": "Basic " + base64.b64encode(f"any:{TOKEN}".encode()).decode()}
    assert call(live, "GET", "/api/v1/overview", headers=basic)[0] == 200  # basic opens the pages ...
    status, head, refused = call(live, "POST", "/api/v1/suppressions", body, basic | JSON)
    assert (status, set(refused)) == (401, API_ERROR)  # ... but never writes
    assert head.get("WWW-Authenticate", "").startswith("Bearer")
    for headers in ({}, {"Cookie": f"token={TOKEN}"}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        assert call(live, "POST", "/api/v1/suppressions", body, headers | JSON)[0] == 401, headers
        assert call(live, "DELETE", "/api/v1/suppressions/api2@example.org?note=x", headers=headers)[0] == 401
    # a plain HTML form cannot post it either: not JSON
    form = call(live, "POST", "/api/v1/suppressions", headers=BEARER | {"Content-Type": "application/x-www-form-urlencoded"},
                raw=b"address=api2%40example.org&note=x")
    assert (form[0], set(form[2])) == (415, API_ERROR)
    with database.session() as session:
        assert session.scalars(select(Suppression)).all() == []
    assert _audit(database) == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"address": "api3@example.org"}, "note is required: say why, for the audit trail"),
        ({"address": "api3@example.org", "note": " "}, "note is required: say why, for the audit trail"),
        ({"address": "not-an-address", "note": "x"}, "not an e-mail address (local@domain): 'not-an-address'"),
        ({"address": "api3@example.org", "note": "x", "expiry": "2031-01-01"},
         "unknown field 'expiry' (fields: address, note, reason, since, expires_at)"),
        ({"address": "api3@example.org", "note": "x", "reason": "unsubscribed"},
         "reason must be one of manual, hardbounce, softbounce, complaint (free text goes in note): 'unsubscribed'"),
        ({"address": "api3@example.org", "note": "x", "expires_at": 2031}, "expires_at must be a string, not int"),
        (["api3@example.org"], "the body must be a JSON object"),
    ],
)
def test_bad_requests_say_why(live: LiveServer, database: Database, body: Any, detail: str) -> None:
    status, _, error = call(live, "POST", "/api/v1/suppressions", body, BEARER | JSON)
    assert (status, error) == (400, {"error": "Bad Request", "detail": detail})
    assert _audit(database) == []


def test_release_needs_a_note_and_an_address(live: LiveServer) -> None:
    status, _, error = call(live, "DELETE", "/api/v1/suppressions/api4@example.org", headers=BEARER)
    assert (status, error["detail"]) == (400, "note is required: say why, for the audit trail")
    status, _, error = call(live, "DELETE", "/api/v1/suppressions/nobody?note=x", headers=BEARER)
    assert (status, error["detail"]) == (400, "not an e-mail address (local@domain): 'nobody'")


def test_a_forgotten_address_added_again_is_recognised(live: LiveServer, database: Database) -> None:
    body = {"address": "api5@example.org", "note": "complained by phone", "reason": "complaint"}
    assert call(live, "POST", "/api/v1/suppressions", body, BEARER | JSON)[0] == 201
    with database.session() as session:
        forget(session, "api5@example.org", datetime.now(timezone.utc))
    status, _, added = call(live, "POST", "/api/v1/suppressions", body, BEARER | JSON)
    assert (status, added["change"]) == (201, "added")
    assert set(added["previously_suppressed"]) == PREVIOUSLY
    assert added["previously_suppressed"]["reason"] == "complaint" and added["previously_suppressed"]["active"]


def test_without_a_token_writing_is_off(database: Database) -> None:
    live = start_server(database)  # loopback without login: the pages are open, the write API is not
    try:
        status, _, error = call(live, "POST", "/api/v1/suppressions", {"address": "api6@example.org", "note": "x"}, JSON)
        assert (status, set(error)) == (403, API_ERROR)
        assert error["detail"].startswith("the write API is off: serve with a token")
    finally:
        stop_server(live)
