"""/healthz and /readyz, on the dashboard and on `run --metrics-port`, against real servers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from bounceledger import health_server, metrics
from bounceledger.config import Settings
from bounceledger.db import Database
from tests.tcpproxy import TcpProxy
from tests.web.conftest import start_server, stop_server

READY_KEYS = {"schema", "ready", "failed", "checks"}


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def ready_body(body: bytes) -> dict[str, Any]:
    parsed = json.loads(body)
    assert set(parsed) == READY_KEYS
    return parsed  # type: ignore[no-any-return]


@pytest.fixture
def unmigrated_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A reachable database with no ledger schema: an empty SQLite file, or an empty PostgreSQL schema."""
    if backend == "sqlite":
        path = tmp_path / "empty.sqlite"
        engine = create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE unrelated (x INTEGER)"))
        engine.dispose()
        yield f"sqlite:///{path}"
        return
    base = make_url(request.getfixturevalue("postgres_migrated"))
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"{base.database}_empty"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_dashboard_ready_on_a_migrated_ledger_without_login(database: Database) -> None:
    live = start_server(database, token="s3cret-token")
    try:
        assert get(f"{live.url}/healthz")[::2] == (200, b"ok\n")
        status, content_type, body = get(f"{live.url}/readyz")
        assert status == 200 and content_type.startswith("application/json")
        parsed = ready_body(body)
        assert parsed["ready"] is True and parsed["failed"] == []
        assert set(parsed["checks"]) == {"database", "migrations"}
        assert parsed["checks"]["migrations"]["current"] == health_server.head_revision()
        assert get(f"{live.url}/")[0] == 401  # everything else still needs the token
    finally:
        stop_server(live)


def test_dashboard_unready_on_an_unmigrated_database(unmigrated_url: str) -> None:
    live = start_server(Settings(database_url=unmigrated_url))  # type: ignore[arg-type]
    try:
        assert get(f"{live.url}/healthz")[0] == 200
        status, _, body = get(f"{live.url}/readyz")
        assert status == 503
        parsed = ready_body(body)
        assert parsed["ready"] is False and parsed["failed"] == ["migrations"]
        assert parsed["checks"]["migrations"]["current"] is None
    finally:
        stop_server(live)


def test_readyz_follows_postgresql_stopped_behind_a_proxy(postgres_database_url: str) -> None:
    url = make_url(postgres_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    database = Database(Settings(database_url=url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)))
    server = health_server.start(database, 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert get(f"{base}/readyz")[0] == 200
        proxy.cut()
        status, _, body = get(f"{base}/readyz")
        assert status == 503
        assert ready_body(body)["failed"] == ["database", "migrations"]
        assert get(f"{base}/healthz")[0] == 200  # the process is still up
        proxy.start()
        assert get(f"{base}/readyz")[0] == 200
    finally:
        server.shutdown()
        server.server_close()
        proxy.cut()
        database.dispose()


def test_a_source_past_its_allowance_makes_run_unready(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "source_intervals", {"sendlog:/var/log/mail.log": 60.0})
    monkeypatch.setattr(metrics, "last_success", {"sendlog:/var/log/mail.log": 1000.0})
    ready, body = health_server.readiness(database)
    assert set(body["checks"]) == {"database", "migrations", "source sendlog:/var/log/mail.log"}
    assert ready is body["checks"]["source sendlog:/var/log/mail.log"]["ok"]
    checks = health_server.source_checks(now=1000.0 + 3 * 60 - 1)
    assert checks["source sendlog:/var/log/mail.log"]["ok"] is True
    checks = health_server.source_checks(now=1000.0 + 3 * 60 + 1)
    assert checks["source sendlog:/var/log/mail.log"]["ok"] is False


def test_a_taken_metrics_port_is_a_clear_error(database: Database) -> None:
    from bounceledger.config import ConfigError

    server = health_server.start(database, 0)
    try:
        with pytest.raises(ConfigError, match=r"--metrics-port \d+: cannot listen on 127.0.0.1:\d+"):
            health_server.start(database, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
