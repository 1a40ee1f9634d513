"""The read-only web dashboard: a Flask app served by waitress.

Everything it shows comes from the ledger, and much of that (diagnostic
texts, subjects, addresses, whole returned messages) was written by whoever
sent us the bounce. So: Jinja2 autoescapes every template, no template marks
such data safe, raw messages are shown in a ``<pre>`` or served as
``text/plain``, and every response carries a strict Content-Security-Policy
(``script-src 'self'``, no inline script or style) and ``nosniff``.

The pages never write: they read through an engine of their own whose
connections are read-only (``PRAGMA query_only`` on SQLite,
``default_transaction_read_only`` on PostgreSQL), and they only answer GET
and HEAD. The one exception is the write API for other programs
(:mod:`bounceledger.web.api_write`): bearer token only, off without one.

Login is optional: with a token, every request needs ``Authorization:
Bearer TOKEN`` or HTTP basic auth with the token as the password (any user
name), so a browser prompts for it. :func:`serve` refuses to listen beyond
the loopback interface without a token.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import socket
from base64 import b64decode
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from bounceledger.config import ConfigError, Settings
from bounceledger.db import Database, connect_errors, make_engine

log = logging.getLogger("bounceledger.web")

TOKEN_ENV = "BOUNCELEDGER_WEB_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class ServeError(ConfigError):
    """The dashboard cannot start as asked; the message is safe to print."""


# ----------------------------------------------------------------- database


def _sqlite_query_only(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def read_only_engine(settings: Settings) -> Engine:
    """An engine of the dashboard's own whose connections cannot write."""
    url = settings.database()
    if url.get_backend_name() == "sqlite":
        engine = make_engine(url)  # WAL: read while the scheduler writes
        event.listen(engine, "connect", _sqlite_query_only)
        return engine
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        connect_args["options"] = "-c default_transaction_read_only=on"
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


class ReadOnlyLedger:
    """Sessions on a read-only engine for the same settings as a :class:`Database`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = read_only_engine(settings)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with connect_errors(self.settings), self.sessions() as session:
            try:
                yield session
            finally:
                session.rollback()  # nothing to commit: the app only reads

    def dispose(self) -> None:
        self.engine.dispose()


# ----------------------------------------------------------------- auth


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def _authorised(token: str) -> bool:
    presented = _presented_token()
    return presented is not None and hmac.compare_digest(presented.encode(), token.encode())


def _unauthorised() -> Response:
    """401: a browser prompts (basic); the JSON API answers in its error shape."""
    if request.path.startswith("/api/"):
        response = jsonify({"error": "Unauthorized", "detail": "send the token as 'Authorization: Bearer TOKEN'"})
        response.status_code = 401
    else:
        response = Response("authentication required\n", status=401, mimetype="text/plain")
    response.headers["WWW-Authenticate"] = 'Basic realm="bounceledger", charset="UTF-8"'
    return response


# ----------------------------------------------------------------- app


def create_app(database: Database | Settings, token: str | None = None) -> Flask:
    """The dashboard for one ledger; ``token`` (if any) is required on every request."""
    from bounceledger.web.api_write import blueprint as write_api
    from bounceledger.web.health import PUBLIC_ENDPOINTS
    from bounceledger.web.health import blueprint as health
    from bounceledger.web.openapi import blueprint as openapi
    from bounceledger.web.versioned_json import VersionedJSONProvider
    from bounceledger.web.views import blueprint

    settings = database.settings if isinstance(database, Database) else database
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config["LEDGER"] = ReadOnlyLedger(settings)
    app.config["WEB_TOKEN"] = token or None
    app.config["JSON_SORT_KEYS"] = False
    app.json = VersionedJSONProvider(app)  # every JSON response carries "schema"; keys keep their order
    app.jinja_env.autoescape = True  # every template, whatever its name
    app.register_blueprint(blueprint)
    app.register_blueprint(write_api)
    app.register_blueprint(health)
    app.register_blueprint(openapi)

    @app.before_request
    def _check_auth() -> Response | None:
        required = app.config["WEB_TOKEN"]
        if required and request.endpoint not in PUBLIC_ENDPOINTS and not _authorised(required):
            return _unauthorised()
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def ledger() -> ReadOnlyLedger:
    from flask import current_app

    return current_app.config["LEDGER"]  # type: ignore[no-any-return]


# ----------------------------------------------------------------- serving


def is_loopback(host: str) -> bool:
    """True when ``host`` only ever means this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]")
    if not name:
        return False  # "" binds every interface
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def resolve_token(token: str | None) -> str | None:
    """The token given, else ``$BOUNCELEDGER_WEB_TOKEN``, else None (no login)."""
    return token or os.environ.get(TOKEN_ENV) or None


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise ServeError(
            f"refusing to serve the dashboard on {host or 'all interfaces'} without a login token: "
            f"set {TOKEN_ENV} (or pass a token), or listen on 127.0.0.1"
        )


def make_server(
    database: Database | Settings,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    *,
    threads: int = 4,
) -> Any:
    """A waitress server for the dashboard, bound but not yet running (``.run()``), logging each request.

    ``port=0`` picks a free port (``server.effective_port``).
    """
    from waitress import create_server

    from bounceledger.web.access_log import AccessLog

    token = resolve_token(token)
    check_bind(host, token)
    app = create_app(database, token)
    try:
        server = create_server(AccessLog(app), host=host, port=port, threads=threads, ident="bounceledger")
    except OSError as exc:
        app.config["LEDGER"].dispose()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server.flask_app = app
    return server


def shutdown(server: Any, timeout: float = 5.0) -> None:
    """Stop a server from :func:`make_server` running in another thread.

    Its sockets are closed by the thread that runs its loop (handed over
    through waitress's trigger): closed from here, they could vanish under
    that loop's ``select`` and end it with "Bad file descriptor". A loop
    that does not answer within ``timeout`` (never started, or gone) has
    them closed here.
    """
    import threading

    from waitress import wasyncore

    server.task_dispatcher.shutdown()
    closed = threading.Event()

    def close_in_loop() -> None:
        try:
            server.close()
            wasyncore.close_all(server._map)
        finally:
            closed.set()

    try:
        server.trigger.pull_trigger(close_in_loop)
    except OSError:  # the trigger is closed already: no loop to hand the closing to
        close_in_loop()
    if not closed.wait(timeout):
        close_in_loop()
    server.flask_app.config["LEDGER"].dispose()


def serve(
    database: Database | Settings,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    *,
    threads: int = 4,
) -> None:
    """Serve the dashboard until interrupted.

    Raises :class:`ServeError` (a :class:`~bounceledger.config.ConfigError`)
    for a non-loopback ``host`` without a token, or a port already taken.
    """
    from bounceledger.web.access_log import enable_by_default

    server = make_server(database, host, port, token, threads=threads)
    enable_by_default()  # one line a request (bounceledger.web.access), even at the default level
    log.warning(
        "bounceledger dashboard on http://%s:%s/ (%s)",
        host if ":" not in host else f"[{host}]",
        server.effective_port,
        "login required" if resolve_token(token) else "no login: loopback only",
    )
    try:
        server.run()
    finally:
        server.close()
        server.flask_app.config["LEDGER"].dispose()
