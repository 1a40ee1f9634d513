"""Liveness and readiness checks, and the small listener ``run --metrics-port`` serves them on.

``/healthz`` says the process is up; ``/readyz`` says it can do its job:
the database answers, its schema is at the migrations' head, and every
source job of this process succeeded within a few of its intervals. The
listener is stdlib ``http.server`` on loopback in a daemon thread: it must
never keep ``run`` from stopping, and it reads nothing but the ledger's
revision and the in-process job times.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bounceledger.config import ConfigError
from bounceledger.db import Database
from bounceledger.schema_version import versioned

log = logging.getLogger("bounceledger.health")

#: A source is stale when its last success is older than this many of its intervals.
STALE_INTERVALS = 3


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from bounceledger.db import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def database_checks(database: Any) -> dict[str, dict[str, Any]]:
    """Reachability and migration state of ``database`` (anything with ``.engine`` and ``.settings``)."""
    from alembic.runtime.migration import MigrationContext

    checks: dict[str, dict[str, Any]] = {}
    try:
        with database.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # noqa: BLE001 - any driver error means "not reachable"
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        checks["migrations"] = {"ok": False, "error": "database unreachable"}
        return checks
    checks["database"] = {"ok": True}
    head = head_revision()
    checks["migrations"] = {"ok": current == head, "current": current, "head": head}
    return checks


def source_checks(now: float | None = None) -> dict[str, dict[str, Any]]:
    """Each source job's freshness; a job not yet run is fine until its allowance has passed since start."""
    from bounceledger import metrics

    now = time.monotonic() if now is None else now
    checks: dict[str, dict[str, Any]] = {}
    for job, interval in metrics.source_intervals.items():
        since = metrics.last_success.get(job, metrics.started)
        age = now - since
        checks[f"source {job}"] = {
            "ok": age <= STALE_INTERVALS * interval,
            "seconds_since_success": round(age, 1),
            "allowed_seconds": STALE_INTERVALS * interval,
        }
    return checks


def readiness(database: Any, *, sources: bool = True) -> tuple[bool, dict[str, Any]]:
    """(ready, body): the body names every check and whether it passed."""
    checks = database_checks(database)
    if sources:
        checks.update(source_checks())
    failed = [name for name, check in checks.items() if not check["ok"]]
    return not failed, {"ready": not failed, "failed": failed, "checks": checks}


def _handler(database: Database) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            elif path == "/readyz":
                ready, body = readiness(database)
                self._send(200 if ready else 503, json.dumps(versioned(body)).encode() + b"\n", "application/json")
            elif path == "/metrics":
                from bounceledger import metrics

                text, content_type = metrics.render()
                self._send(200, text, content_type)
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            log.debug("metrics listener: " + format, *args)

    return Handler


def start(database: Database, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve /healthz, /readyz and /metrics in a daemon thread; ``port`` 0 picks a free one."""
    try:
        server = ThreadingHTTPServer((host, port), _handler(database))
    except OSError as exc:
        raise ConfigError(f"--metrics-port {port}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-listener", daemon=True).start()
    log.info("health and metrics on http://%s:%d/", host, server.server_address[1])
    return server
