"""The API lives under ``/api/v1``; the unversioned paths of before answer 308 to it.

A real waitress server on 127.0.0.1 over the bundled samples, on SQLite and
PostgreSQL. Redirects are read without following them (``http.client``), so
the status, the ``Location`` (query string kept) and what it then answers
are each checked; the dashboard's own pages link to the v1 paths directly.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bounceledger.db import Database
from tests.web.conftest import CORRECTED_RECIPIENT, LiveServer, seed, start_server, stop_server

TOKEN = "v1-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def live(database: Database, tmp_path: Path) -> Iterator[LiveServer]:
    seed(database, tmp_path)
    server = start_server(database, TOKEN)
    yield server
    stop_server(server)


def request(live: LiveServer, method: str, path: str, headers: dict[str, str] | None = None,
            body: bytes | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    parts = urlsplit(live.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers if headers is not None else BEARER)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


#: Every read route as it was first published, and its v1 path.
OLD_PATHS = [
    "/api/overview", "/api/report?campaign=nov-newsletter", "/api/organisations?since=2000-01-01",
    "/api/deliveries?metric=final_bounced&limit=3&offset=1", f"/api/lookup?address={CORRECTED_RECIPIENT}",
    "/api/reasons", "/api/reasons/userunknown?limit=2", "/api/suppressions?active=yes", "/api/messages/1",
    "/api/messages/1/raw",
]


def test_old_paths_redirect_to_v1_with_their_query(live: LiveServer) -> None:
    for old in OLD_PATHS:
        new = old.replace("/api/", "/api/v1/", 1)
        status, headers, _ = request(live, "GET", old)
        assert status == 308, old  # permanent, and a client must keep its method and body
        assert headers["Location"] in (new, live.url + new), (old, headers["Location"])
        status, moved, body = request(live, "GET", new)
        assert status == 200, new
        if moved.get_content_type() == "application/json":
            assert json.loads(body)["schema"] == 1
        assert request(live, "HEAD", old)[0] == 308


def test_v1_is_not_redirected_again(live: LiveServer) -> None:
    for path in ("/api/v1/nosuch", "/api/v1", "/api/v1/"):
        status, headers, body = request(live, "GET", path)
        assert status == 404, path
        assert headers.get_content_type() == "application/json"
        assert json.loads(body) == {"schema": 1, "error": "Not Found", "detail": json.loads(body)["detail"]}
    assert request(live, "GET", "/api/nosuch")[0] == 308  # then a 404 at its v1 path


def test_the_old_paths_still_need_the_token(live: LiveServer) -> None:
    status, headers, body = request(live, "GET", "/api/overview", headers={})
    assert status == 401 and headers.get_content_type() == "application/json"
    assert set(json.loads(body)) == {"schema", "error", "detail"}
    assert TOKEN.encode() not in body


def test_the_write_api_was_always_v1(live: LiveServer) -> None:
    """The old tree never took writes, so there is nothing to redirect: a POST there is refused, not moved."""
    status, _, body = request(live, "POST", "/api/suppressions", BEARER | {"Content-Type": "application/json"},
                              json.dumps({"address": "x@example.org", "note": "n"}).encode())
    assert status == 405 and json.loads(body)["error"] == "Method Not Allowed"


def test_the_dashboard_links_to_v1(live: LiveServer) -> None:
    status, _, body = request(live, "GET", "/")
    assert status == 200
    links = set(re.findall(r'href="(/api/[^"]*)"', body.decode()))
    assert links == {"/api/v1/overview"}
