"""``/api/v1/openapi.json`` against the real API.

The document is fetched from a real waitress server on 127.0.0.1 (with a
token, so its auth is exercised too), and every documented operation is
called for real, on SQLite and PostgreSQL: each answer's status must be one
the document lists for that operation and its body must validate against
the documented schema. The test validates with a stricter copy of the
schemas (``additionalProperties: false`` wherever properties are named), so
a key the document forgot fails just like a key the server forgot; and
every documented (path, method, status) must have been answered at least
once. A second check compares the app's ``/api/v1`` routes with the
document's paths, both ways.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from bounceledger.db import Database
from bounceledger.ingest import suppress
from tests.bounces.test_one_classifier import dsn
from tests.web.conftest import CORRECTED_RECIPIENT, LiveServer, seed, start_server, stop_server

TOKEN = "openapi-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BASIC = {"Authorization": "Basic " + base64.b64encode(f"someone:{TOKEN}".encode()).decode()}
JSON = {"Content-Type": "application/json"}
ORPHAN = "user@example.net"
#: Documented, but only a database that goes away mid-request answers it: see tests/test_health.py for that.
NOT_CALLED_STATUSES = {"503"}


@pytest.fixture
def ledger(database: Database, tmp_path: Path) -> Database:
    extra = tmp_path / "orphan.eml"
    extra.write_bytes(dsn("5.1.1", "550 5.1.1 <user@example.net>: no such user"))
    seed(database, tmp_path / "work", (extra,))
    with database.session() as session:
        assert suppress.release(session, "unknown1@example.test", "fixed by support")
    return database


@pytest.fixture
def servers(ledger: Database) -> Iterator[tuple[LiveServer, LiveServer]]:
    """One server with a token (the API as it is deployed) and one without (writes off)."""
    with_token = start_server(ledger, TOKEN)
    without = start_server(ledger)
    yield with_token, without
    stop_server(with_token)
    stop_server(without)


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes


def call(live: LiveServer, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> Answer:
    request = urllib.request.Request(live.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.headers.get_content_type(), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers.get_content_type(), exc.read())


def strict(document: dict[str, Any]) -> dict[str, Any]:
    """The document with ``additionalProperties: false`` on every schema that names its properties."""
    out = copy.deepcopy(document)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                node.setdefault("additionalProperties", False)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(out["components"])
    walk(out["paths"])
    return out


@dataclass
class Checker:
    """Validates answers against the document and remembers which (path, method, status) were seen."""

    document: dict[str, Any]
    seen: set[tuple[str, str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.strict = strict(self.document)

    def check(self, answer: Answer, template: str, method: str, where: str) -> Any:
        responses = self.strict["paths"][template][method]["responses"]
        status = str(answer.status)
        assert status in responses, f"{where}: {status} is not documented for {method.upper()} {template}: {answer.body[:200]!r}"
        content = responses[status].get("content", {})
        assert answer.content_type in content, f"{where}: {answer.content_type} not documented for {status}"
        self.seen.add((template, method, status))
        if answer.content_type != "application/json":
            return answer.body
        data = json.loads(answer.body)
        schema = {"allOf": [content["application/json"]["schema"]], "components": self.strict["components"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
        assert not errors, f"{where}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}" for e in errors[:5]
        )
        return data

    def documented(self) -> set[tuple[str, str, str]]:
        return {
            (path, method, status)
            for path, operations in self.document["paths"].items()
            for method, operation in operations.items()
            for status in operation["responses"]
            if status not in NOT_CALLED_STATUSES
        }


def fetch_document(live: LiveServer) -> dict[str, Any]:
    answer = call(live, "GET", "/api/v1/openapi.json", BEARER)
    assert (answer.status, answer.content_type) == (200, "application/json")
    document = json.loads(answer.body)
    assert document["openapi"] == "3.1.0"
    assert document["x-bounceledger-schema"] == 1 and document["info"]["version"] == "1"
    assert set(document) == {"openapi", "info", "x-bounceledger-schema", "jsonSchemaDialect", "security", "paths",
                             "components"}, "OpenAPI allows only its own keys and x- extensions at the top"
    for name, schema in document["components"]["schemas"].items():
        Draft202012Validator.check_schema({**schema, "components": document["components"]})  # each a valid JSON Schema
    return document


def _concrete(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def test_every_documented_answer_is_the_real_one(servers: tuple[LiveServer, LiveServer]) -> None:
    live, tokenless = servers
    document = fetch_document(live)
    checker = Checker(document)
    v1 = "/api/v1"

    def get(template: str, query: str = "", *, headers: dict[str, str] | None = None, values: dict[str, str] | None = None,
            server: LiveServer | None = None) -> Any:
        path = _concrete(template, values or {}) + query
        answer = call(server or live, "GET", path, BEARER if headers is None else headers)
        return checker.check(answer, template, "get", f"GET {path}")

    overview = get(f"{v1}/overview")
    assert overview["totals"]["recipients"] > 0
    get(f"{v1}/overview", "?campaign=nov-newsletter&since=2000-01-01&until=2999-12-31")
    get(f"{v1}/overview", "?since=2026-12-01&until=2026-11-01")
    for template in ("report", "organisations", "reasons"):
        get(f"{v1}/{template}")
        get(f"{v1}/{template}", "?campaign=nov-newsletter")
        get(f"{v1}/{template}", "?until=not-a-day")
    for metric in ("final_bounced", "corrected", "accepted", "recipients"):
        assert get(f"{v1}/deliveries", f"?metric={metric}")["metric"] == metric
    get(f"{v1}/deliveries", "?metric=nonsense")

    lookup = get(f"{v1}/lookup", f"?address={CORRECTED_RECIPIENT}")
    assert lookup["deliveries"] and lookup["suppression"]
    assert get(f"{v1}/lookup", "?address=unknown1@example.test")["past_suppression"]
    assert get(f"{v1}/lookup", f"?address={ORPHAN}")["unmatched_verdicts"]
    assert get(f"{v1}/lookup", "?address=nobody@nowhere.example")["deliveries"] == []
    get(f"{v1}/lookup")

    reason = f"{v1}/reasons/{{reason}}"
    assert get(reason, values={"reason": "userunknown"})["examples"]
    get(reason, "?since=nope", values={"reason": "userunknown"})
    get(reason, values={"reason": "nosuch"})

    assert get(f"{v1}/suppressions")["suppressions"]
    assert get(f"{v1}/suppressions", "?active=no&limit=1")["suppressions"]
    get(f"{v1}/suppressions", "?active=maybe")

    message_id = str(next(e["returned_message_id"] for e in lookup["deliveries"][0]["events"] if e["returned_message_id"]))
    for template in (f"{v1}/messages/{{message_id}}", f"{v1}/messages/{{message_id}}/raw"):
        get(template, values={"message_id": message_id})
        get(template, values={"message_id": "999999"})

    changes = get(f"{v1}/changes", "?limit=5")
    assert changes["changes"] and changes["next_after"] == changes["changes"][-1]["seq"]
    assert get(f"{v1}/changes", f"?after={changes['next_after']}&types=delivery.corrected,suppression.added")["changes"]
    get(f"{v1}/changes", "?campaign=nov-newsletter&limit=1")
    get(f"{v1}/changes", "?types=delivery.nosuch")
    get(f"{v1}/changes", "?after=-1")

    get(f"{v1}/openapi.json")

    # the writes, over the bearer header only
    add, release = f"{v1}/suppressions", f"{v1}/suppressions/{{address}}"

    def write(method: str, template: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
              server: LiveServer | None = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        answer = call(server or live, method, path, BEARER | JSON if headers is None else headers, data)
        return checker.check(answer, template, method.lower(), f"{method} {path}")

    entry = {"address": "api@example.org", "note": "asked by the CRM", "reason": "manual", "expires_at": "2999-01-01"}
    assert write("POST", add, add, entry)["change"] == "added"
    assert write("POST", add, add, entry)["change"] == "unchanged"
    write("POST", add, add, {"address": "api@example.org"})
    write("POST", add, add, entry, headers=BASIC | JSON)
    write("POST", add, add, raw=b"address=x@example.org", headers=BEARER | {"Content-Type": "application/x-www-form-urlencoded"})
    write("POST", add, add, entry, server=tokenless, headers=JSON)
    one = f"{v1}/suppressions/api@example.org"
    write("DELETE", release, one, raw=b"note=x", headers=BEARER | {"Content-Type": "text/plain"})
    write("DELETE", release, f"{v1}/suppressions/not-an-address?note=x", headers=BEARER)
    write("DELETE", release, one, headers=BEARER)  # no note
    assert write("DELETE", release, one + "?note=paid", headers=BEARER)["change"] == "released"
    write("DELETE", release, one, {"note": "again"})
    write("DELETE", release, one + "?note=x", headers=BASIC)
    write("DELETE", release, one + "?note=x", headers={}, server=tokenless)

    # without the token every operation is refused, in the documented shape
    for template, operations in document["paths"].items():
        path = _concrete(template, {"reason": "userunknown", "message_id": message_id, "address": "api@example.org"})
        for method in operations:
            checker.check(call(live, method.upper(), path, {}), template, method, f"{method.upper()} {path} (no token)")

    missing = checker.documented() - checker.seen
    assert not missing, f"documented but never answered: {sorted(missing)}"


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_v1_route_is_documented_and_nothing_else(servers: tuple[LiveServer, LiveServer]) -> None:
    live, _ = servers
    document = fetch_document(live)
    app = live.server.flask_app  # type: ignore[attr-defined]
    routes = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert routes == documented, (
        f"routes without a description: {sorted(routes - documented)}; described but not routed: {sorted(documented - routes)}"
    )
    parameters = {
        (path, p["name"]) for path, operations in document["paths"].items() for op in operations.values()
        for p in op.get("parameters", []) if p["in"] == "path"
    }
    assert parameters == {(path, name) for path, _ in routes for name in re.findall(r"\{(\w+)\}", path)}
