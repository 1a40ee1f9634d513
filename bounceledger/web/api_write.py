"""Write endpoints for other programs: ``/api/v1/suppressions`` (POST adds, DELETE releases).

The only part of the dashboard's server that writes, so it asks more:

* The token goes in ``Authorization: Bearer TOKEN`` and nowhere else. HTTP
  basic auth (which the pages accept, so that a browser can log in) is
  refused here: a browser resends it by itself with every request to the
  site, and a page elsewhere could then post in the user's name. A bearer
  header is never sent by a browser on its own and no cookie is ever read,
  so there is no cross-site request forgery to defend against.
* Without a token (a dashboard on loopback without login) writing is off.
* A body must be JSON (``Content-Type: application/json``): a plain HTML
  form cannot send that without the browser's permission check first.

Writes open their own short-lived connection (the dashboard's engine is
read-only) and go through :func:`bounceledger.suppression_import.put` and
:func:`bounceledger.ingest.suppress.release`, so each change is the same audit event as
``suppressions add`` and ``remove`` on the command line.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select
from werkzeug.http import HTTP_STATUS_CODES

from bounceledger.db import Database
from bounceledger.forget import remembered_json
from bounceledger.queries import suppression_json
from bounceledger.suppression_import import EntryError, entry_from, put
from bounceledger.ingest import suppress
from bounceledger.ingest.keys import valid_address
from bounceledger.models import Suppression

blueprint = Blueprint("api_write", __name__, url_prefix="/api/v1/suppressions")

FIELDS = ("address", "note", "reason", "since", "expires_at")


def _error(status: int, message: str) -> Response:
    """The dashboard API's error shape: the status in words, and what to do."""
    response = jsonify({"error": HTTP_STATUS_CODES[status], "detail": message})
    response.status_code = status
    return response


@blueprint.before_request
def _bearer_only() -> Response | None:
    token = current_app.config.get("WEB_TOKEN")
    if not token:
        return _error(
            403, "the write API is off: serve with a token (--token-file or BOUNCELEDGER_WEB_TOKEN) to use it"
        )
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        response = _error(401, "send the token as 'Authorization: Bearer TOKEN' (basic auth cannot write)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="bounceledger"'
        return response
    return None


def _writer() -> Database:
    return Database(current_app.config["LEDGER"].settings, create=False)


def _body() -> dict[str, Any] | Response:
    if not request.is_json:
        return _error(415, "send the body as JSON (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        return _error(400, f"unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    return body


def _note(body: dict[str, Any]) -> str | Response:
    note = body.get("note")
    if not isinstance(note, str) or not note.strip():
        return _error(400, "note is required: say why, for the audit trail")
    return note.strip()


@blueprint.post("")
def add() -> Response:
    """Suppress an address (201 when that changed the list, 200 when it already said so)."""
    body = _body()
    if isinstance(body, Response):
        return body
    note = _note(body)
    if isinstance(note, Response):
        return note
    now = datetime.now(timezone.utc)
    try:
        entry = entry_from(body, now)
    except EntryError as exc:
        return _error(400, str(exc))
    database = _writer()
    try:
        with database.session() as session:
            done = put(session, entry, now, note)
            result = {
                "address": entry.address,
                "change": done.change,
                "suppression": suppression_json(done.row, now),
                "previously_suppressed": remembered_json(done.previously, now) if done.previously else None,
            }
    finally:
        database.dispose()
    response = jsonify(result)
    response.status_code = 200 if done.change == "unchanged" else 201
    return response


@blueprint.delete("/<path:address>")
def release(address: str) -> Response:
    """Release an address by hand; the note comes as ``?note=`` or in a JSON body."""
    body: dict[str, Any] = {"note": request.args.get("note")}
    if request.content_length:
        parsed = _body()
        if isinstance(parsed, Response):
            return parsed
        body = {**body, **{k: v for k, v in parsed.items() if v is not None}}
    note = _note(body)
    if isinstance(note, Response):
        return note
    normalised = valid_address(address)
    if normalised is None:
        return _error(400, f"not an e-mail address (local@domain): {address!r}")
    now = datetime.now(timezone.utc)
    database = _writer()
    try:
        with database.session() as session:
            if not suppress.release(session, normalised, note, now):
                return _error(404, f"{normalised} is not on the suppression list")
            row = session.scalar(select(Suppression).where(Suppression.address == normalised))
            result = {"address": normalised, "change": "released", "suppression": suppression_json(row, now)}
    finally:
        database.dispose()
    return jsonify(result)
