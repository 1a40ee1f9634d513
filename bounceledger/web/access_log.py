"""One log line per request ``serve`` answers, on logger ``bounceledger.web.access``.

Waitress logs no requests, and an operator needs to see who asked what and
how it went. The line is written when the server has sent the whole body
(the WSGI iterable's ``close``), so the size and duration are what the
client got, streamed CSV downloads included.

What is left out on purpose: the query string (it carries addresses and
search terms), any path segment that is an address (``DELETE
/api/v1/suppressions/ADDRESS``), and every header, so neither the token nor
the ``Authorization`` header can reach a log. An erased address must not
live on in the access log either.

With ``--log-format json`` the fields (method, path, status, size,
duration_ms, remote_addr) are keys of the JSON object, through the
project's formatter (:mod:`bounceledger.logsetup`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

ACCESS_LOGGER = "bounceledger.web.access"

log = logging.getLogger(ACCESS_LOGGER)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def loggable_path(path: str) -> str:
    """The request path with every segment that holds an address replaced; no query string."""
    return "/".join("[address]" if "@" in segment else segment for segment in path.split("/")) or "/"


def enable_by_default() -> None:
    """Show the access lines (INFO) at the default level, WARNING; a quieter level set on purpose hides them."""
    root = logging.getLogger().getEffectiveLevel()
    if log.level == logging.NOTSET and root <= logging.WARNING:
        log.setLevel(logging.INFO)


class _Logged:
    """The app's response body, counted as it is sent; logs the request when closed."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self._body = body
        self._done = done
        self._size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._size += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done(self._size)


class AccessLog:
    """WSGI middleware around the dashboard: one ``bounceledger.web.access`` line a request."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.monotonic()
        status: list[int] = [500]  # what the client gets when the app fails before answering

        def recording_start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = int(line.split(" ", 1)[0])
            return start_response(line, headers, exc_info)

        def done(size: int) -> None:
            if not log.isEnabledFor(logging.INFO):
                return
            method = environ.get("REQUEST_METHOD", "-")
            path = loggable_path(environ.get("PATH_INFO", "") or "/")
            remote = environ.get("REMOTE_ADDR") or "-"
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            log.info(
                '%s "%s %s" %s %s %.1fms', remote, method, path, status[0], size, duration_ms,
                extra={"method": method, "path": path, "status": status[0], "size": size,
                       "duration_ms": duration_ms, "remote_addr": remote},
            )

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            done(0)
            raise
        return _Logged(body, done)
