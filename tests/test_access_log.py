"""``serve``'s access log: ``bounceledger serve`` as a real subprocess, its stderr read after it stops.

One line a request on ``bounceledger.web.access`` with method, path, status,
size, duration and remote address; as JSON fields with ``--log-format json``.
Never the token, the Authorization header, the query string or an address
in the path. On SQLite and PostgreSQL (the ledger is the bundled samples).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bounceledger.db import Database
from tests.test_metrics import free_port
from tests.web.conftest import seed

TOKEN = "access-log-secret-token"
ADDRESS = "secret.person@example.org"


@dataclass
class Served:
    base: str
    stderr: str = ""
    returncode: int | None = None


def _ask(base: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, int]:
    request = urllib.request.Request(base + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, len(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, len(exc.read())


@pytest.fixture
def ledger_url(database: Database, database_url: str, tmp_path: Path) -> str:
    seed(database, tmp_path)
    return database_url


@contextmanager
def serve(database_url: str, tmp_path: Path, *options: str) -> Iterator[Served]:
    port = free_port()
    (tmp_path / "token").write_text(TOKEN + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "bounceledger", "--database-url", database_url, *options, "serve",
         "--port", str(port), "--token-file", str(tmp_path / "token")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )
    served = Served(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(served.base + "/healthz", timeout=5).read()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        _, served.stderr = process.communicate(timeout=60)
        served.returncode = process.returncode


BEARER = {"Authorization": f"Bearer {TOKEN}"}
BASIC = {"Authorization": "Basic " + base64.b64encode(f"support:{TOKEN}".encode()).decode()}


def _requests(base: str) -> list[tuple[str, str, int, int]]:
    """(method, path as logged, status, size) for each request made, in order."""
    asked = [
        ("GET", "/healthz", {}, "/healthz"),
        ("GET", "/api/v1/overview?campaign=nov-newsletter", BEARER, "/api/v1/overview"),
        ("GET", f"/api/v1/lookup?address={ADDRESS}", BEARER, "/api/v1/lookup"),
        ("GET", f"/recipient?address={ADDRESS}", BASIC, "/recipient"),
        ("GET", "/api/v1/overview", {}, "/api/v1/overview"),
        ("DELETE", f"/api/v1/suppressions/{ADDRESS}?note=gone", BEARER, "/api/v1/suppressions/[address]"),
        ("GET", "/deliveries.csv?metric=final_bounced", BEARER, "/deliveries.csv"),
    ]
    out = [(method, logged, *_ask(base, method, path, headers)) for method, path, headers, logged in asked]
    # urllib follows a 308 by itself: the log has the redirect, then the answer at /api/v1 (size -1: not checked)
    status, size = _ask(base, "GET", "/api/overview?since=2000-01-01", BEARER)
    assert status == 200
    return [*out, ("GET", "/api/overview", 308, -1), ("GET", "/api/v1/overview", 200, size)]


def _secrets_absent(stderr: str) -> None:
    for secret in (TOKEN, base64.b64encode(f"support:{TOKEN}".encode()).decode(), "Authorization", "Bearer",
                   ADDRESS, "campaign=", "note=gone"):
        assert secret not in stderr, secret


def _in_logged_order(made: list[tuple[str, str, int, int]], logged: list[str]) -> list[tuple[str, str, int, int]]:
    """The requests made, in the order their lines were logged.

    Each line is written by the server thread that answered, after the
    answer went out: the next request (made as soon as the answer came) can
    be logged first. Every logged line must still be one request made, once.
    """
    left = list(made)
    ordered = []
    for line in logged:
        found = next((r for r in left if f'"{r[0]} {r[1]}" {r[2]} ' in line), None)
        assert found is not None, (line, left)
        left.remove(found)
        ordered.append(found)
    return ordered


def test_text_access_log(ledger_url: str, tmp_path: Path) -> None:
    with serve(ledger_url, tmp_path) as served:
        made = _requests(served.base)
    assert served.returncode == 0, served.stderr  # waitress stops cleanly on an interrupt
    assert "Traceback" not in served.stderr
    lines = [line for line in served.stderr.splitlines() if " bounceledger.web.access: " in line]
    assert len(lines) == 1 + len(made), served.stderr  # the fixture's probe of /healthz, then ours
    for line, (method, path, status, size) in zip(lines[1:], _in_logged_order(made, lines[1:]), strict=True):
        assert " INFO bounceledger.web.access: 127.0.0.1 " in line, line
        assert f'"{method} {path}" {status} ' in line, (line, method, path, status)
        if size >= 0:
            assert f" {status} {size} " in line, (line, size)
        assert line.endswith("ms")
    _secrets_absent(served.stderr)


def test_json_access_log(ledger_url: str, tmp_path: Path) -> None:
    with serve(ledger_url, tmp_path, "--log-format", "json") as served:
        made = _requests(served.base)
    records = [json.loads(line) for line in served.stderr.splitlines()]  # every line is one object
    access = [r for r in records if r["logger"] == "bounceledger.web.access"]
    assert len(access) == 1 + len(made), served.stderr  # the fixture's probe of /healthz, then ours
    logged = [f'"{r["method"]} {r["path"]}" {r["status"]} ' for r in access[1:]]
    for record, (method, path, status, size) in zip(access[1:], _in_logged_order(made, logged), strict=True):
        assert set(record) == {"time", "level", "logger", "message", "method", "path", "status", "size",
                               "duration_ms", "remote_addr"}
        assert (record["method"], record["path"], record["status"], record["remote_addr"]) == (method, path, status, "127.0.0.1")
        assert size < 0 or record["size"] == size
        assert isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0
    _secrets_absent(served.stderr)


def test_a_quieter_level_hides_it(ledger_url: str, tmp_path: Path) -> None:
    with serve(ledger_url, tmp_path, "--log-level", "ERROR") as served:
        assert _ask(served.base, "GET", "/api/v1/overview", BEARER)[0] == 200
    assert "bounceledger.web.access" not in served.stderr
