"""The OpenAPI 3.1 description of ``/api/v1``, served at ``/api/v1/openapi.json``.

Written as data beside the routes so that a client generator or a person can
read every path, parameter, auth scheme and response shape from one place.
``tests/test_openapi.py`` keeps it honest: every ``/api/v1`` route of the app
is described here and nothing else is, and the real answers of a running
server validate against these schemas, with no key left out of ``required``
and (in the test) no key the schema does not name.

The published schemas leave ``additionalProperties`` open on purpose: within
``"schema": 1`` keys are only ever added, and a client that validates our
answers must not break when one is.

The document itself is the one JSON answer without a ``"schema"`` key: its
form is fixed by OpenAPI, which allows extra top-level keys only as ``x-``
extensions, so it says its version as ``x-bounceledger-schema`` (and in
``info.version``). It needs the same login as the rest of the API.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from flask import Blueprint, Response, current_app

from bounceledger.ingest.feed import TYPES as FEED_TYPES
from bounceledger.schema_version import SCHEMA_KEY, SCHEMA_VERSION

API = "/api/v1"

Schema = dict[str, Any]

blueprint = Blueprint("openapi", __name__)

# ----------------------------------------------------------------- schema helpers

_SCALARS = {"string", "integer", "number", "boolean"}


def _t(kind: str | Schema) -> Schema:
    """``"string"``, ``"integer?"`` (``?``: may be null), or a schema as is."""
    if isinstance(kind, dict):
        return kind
    nullable = kind.endswith("?")
    base = kind.rstrip("?")
    if base in _SCALARS:
        return {"type": [base, "null"]} if nullable else {"type": base}
    target = {"$ref": f"#/components/schemas/{base}"}
    return {"oneOf": [target, {"type": "null"}]} if nullable else target


def obj(fields: dict[str, str | Schema], description: str | None = None) -> Schema:
    """An object whose every key is always there (``required`` lists them all)."""
    out: Schema = {"type": "object"}
    if description:
        out["description"] = description
    out["properties"] = {name: _t(kind) for name, kind in fields.items()}
    out["required"] = list(fields)
    return out


def answer(fields: dict[str, str | Schema], description: str | None = None) -> Schema:
    """A whole response body: ``fields`` plus the schema version every JSON answer carries."""
    return obj({SCHEMA_KEY: {"type": "integer", "const": SCHEMA_VERSION}, **fields}, description)


def arr(kind: str | Schema) -> Schema:
    return {"type": "array", "items": _t(kind)}


def mapping(kind: str | Schema, description: str) -> Schema:
    """An object keyed by data (a status code, a state): names are not fixed."""
    return {"type": "object", "description": description, "additionalProperties": _t(kind)}


ISO_TIME = {"type": "string", "description": "UTC, ISO 8601 with a Z"}
ISO_TIME_OR_NULL = {"type": ["string", "null"], "description": "UTC, ISO 8601 with a Z"}
DAY = {"type": "string", "format": "date"}

COUNT_FIELDS: dict[str, str | Schema] = {
    "messages": "integer", "recipients": "integer", "accepted_first_hop": "integer", "corrected": "integer",
    "bounced": "integer", "expired": "integer", "complained": "integer", "delivered": "integer",
    "accepted": "integer", "deferred": "integer", "pending": "integer", "final_bounced": "integer",
    "bounce_rate": "number", "bounce_rate_first_hop": "number", "complaint_rate": "number", "settled": "integer",
}

EVENT_FIELDS: dict[str, str | Schema] = {
    "kind": "string", "source": "string?", "at": ISO_TIME, "outcome": "string?", "status": "string?",
    "replycode": "string?", "reason": "string?", "detail": "string?", "remote_host": "string?",
    "first_hop": "boolean?", "from_state": "string?", "to_state": "string?", "match_key": "string?",
    "returned_message_id": "integer?", "reporting_mta": "string?", "explanation": "Explanation?",
}

SCHEMAS: dict[str, Schema] = {
    "Error": answer({"error": "string", "detail": "string"}, "The HTTP status in words, and what to do."),
    "Filters": obj({"campaign": "string?", "since": {"type": ["string", "null"], "format": "date"},
                    "until": {"type": ["string", "null"], "format": "date"}},
                   "The filters the answer was computed with (null: not filtered)."),
    "Counts": obj(COUNT_FIELDS, "Recipients by outcome, corrected by later bounces; rates are fractions."),
    "CountsByDay": obj({**COUNT_FIELDS, "day": DAY}),
    "CountsByCampaign": obj({**COUNT_FIELDS, "campaign": "string?"}),
    "CountsByCampaignDay": obj({**COUNT_FIELDS, "campaign": "string?", "day": DAY}),
    "Overview": answer({
        "filters": "Filters", "totals": "Counts", "by_day": arr("CountsByDay"), "by_campaign": arr("CountsByCampaign"),
        "by_campaign_day": arr("CountsByCampaignDay"), "campaigns": arr("string"),
    }),
    "Report": answer({
        "suppressed": "integer", "deliveries": "integer",
        "states": mapping("integer", "Deliveries per state (accepted, deferred, bounced, settled, ...)."),
        "corrected": "integer", "sent_messages": "integer",
        "returned_messages": mapping("integer", "Returned messages per outcome (processed, unparsed, ...)."),
        "events": "integer", "orphans": "integer", "stale_orphans": "integer",
        "webhooks": arr("WebhookEndpoint"), "filters": "Filters",
        "unfiltered": {"type": "array", "items": {"type": "string"},
                       "description": "Counts the filters cannot narrow (they are of the whole ledger)."},
    }),
    "WebhookEndpoint": obj({
        "name": "string", "url": "string", "cursor": "integer", "backlog": "integer", "delivered": "integer",
        "failures": "integer", "failing_seq": "integer?", "attempts": "integer", "next_attempt_at": ISO_TIME_OR_NULL,
        "last_status": "integer?", "last_error": "string?", "last_success_at": ISO_TIME_OR_NULL,
        "dead_letters": "integer",
    }, "One [[webhook]] endpoint: how far it has been sent, what is failing, its dead letters (not replayed)."),
    "OrganisationRow": obj({
        "organisation": "string?", "accepted": "integer", "provisional": "integer", "settled": "integer",
        "corrected": "integer", "correction_rate": "number", "latency_count": "integer",
        "latency_p50_minutes": "number?", "latency_p95_minutes": "number?", "latency_p99_minutes": "number?",
        "window_minutes": "number", "window_basis": "string", "late_surprises": "integer",
        "provisional_until": ISO_TIME_OR_NULL,
    }),
    "Organisations": answer({
        "filters": "Filters", "enabled": "boolean", "default_window_minutes": "number", "min_samples": "integer",
        "safety_factor": "number", "organisations": arr("OrganisationRow"),
    }),
    "RecipientRow": obj({
        "delivery_id": "integer", "recipient": "string", "state": "string", "reason": "string?",
        "status": "string?", "replycode": "string?", "corrected": "boolean", "campaign": "string?",
        "message_id": "string?", "sent_at": ISO_TIME_OR_NULL, "state_at": ISO_TIME_OR_NULL, "detail": "string?",
    }),
    "Deliveries": answer({
        "filters": "Filters", "metric": "string", "label": "string", "total": "integer", "limit": "integer",
        "offset": "integer", "recipients": arr("RecipientRow"),
    }),
    "ChangeMessage": obj({
        "message_id": "string?", "queue_id": "string?", "campaign": "string?", "match_header": "string?",
        "token": "string?", "envelope_id": "string?", "sender": "string?",
    }, "The identifiers a sending platform finds its own record of the send by."),
    "ChangeEvidence": obj({
        "kind": "string", "source": "string", "outcome": "string", "at": ISO_TIME, "remote_host": "string?",
        "match_key": "string?", "returned_message_id": "integer?", "reporting_mta": "string?", "line": "string?",
    }, "The log line or returned message that decided the change."),
    "Change": obj({
        "seq": "integer", "type": {"type": "string", "enum": list(FEED_TYPES)}, "recorded_at": ISO_TIME,
        "at": ISO_TIME_OR_NULL, "delivery_id": "integer?", "recipient": "string?", "message": "ChangeMessage?",
        "from_state": "string?", "to_state": "string", "reason": "string?", "category": "string?",
        "hard": "boolean?", "status": "string?", "replycode": "string?", "detail": "string?",
        "evidence": "ChangeEvidence?", "note": "string?",
    }, "One entry of the change feed, as changes --json prints it and webhooks send it."),
    "Changes": answer({"changes": arr("Change"), "next_after": "integer", "last_seq": "integer"}),
    "Explanation": obj({"reason": "string?", "category": "string?", "hard": "boolean", "meaning": "string?",
                        "severity": "string"}, "A reason or code in plain words."),
    "Event": obj({
        **EVENT_FIELDS, "id": "integer",
        "evidence": {"type": ["object", "null"], "description": "What the event was read from; its keys depend on the source."},
        "log_line": "string?", "returned_subject": "string?",
    }, "One entry of a recipient's history, with its evidence."),
    "Delivery": obj({
        "message_id": "string?", "queue_id": "string?", "sender": "string?", "recipient": "string",
        "state": "string", "reason": "string?", "status": "string?", "replycode": "string?", "detail": "string?",
        "corrected": "boolean", "first_hop_host": "string?", "first_attempt_at": ISO_TIME_OR_NULL,
        "state_at": ISO_TIME_OR_NULL, "events": arr("Event"), "delivery_id": "integer", "campaign": "string?",
        "sent_at": ISO_TIME_OR_NULL, "explanation": "Explanation?", "first_hop_organisation": "string?",
        "provisional_until": ISO_TIME_OR_NULL, "settled_at": ISO_TIME_OR_NULL,
    }),
    "Suppression": obj({
        "address": "string", "reason": "string", "since": ISO_TIME, "expires_at": ISO_TIME_OR_NULL,
        "note": "string?", "active": "boolean", "released_at": ISO_TIME_OR_NULL, "expired": "boolean",
        "updated_at": ISO_TIME_OR_NULL, "source_delivery_id": "integer?",
    }),
    "Lookup": answer({
        "address": "string", "deliveries": arr("Delivery"), "unmatched_verdicts": arr("Event"),
        "suppression_history": arr("Event"), "suppressed": "boolean", "suppression": "Suppression?",
        "past_suppression": "Suppression?",
    }),
    "ReasonRow": obj({
        "reason": "string?", "category": "string?", "count": "integer", "corrected": "integer",
        "states": mapping("integer", "Deliveries per final state."),
        "statuses": mapping("integer", "Deliveries per enhanced status code."),
        "severities": mapping("integer", "Deliveries per severity (hard, permanent, expired, ...)."),
        "hard": "boolean", "share": "number", "meaning": "string?",
    }),
    "CategoryRow": obj({"category": "string?", "count": "integer", "share": "number"}),
    "ReasonsByDay": obj({
        "filters": "Filters", "reasons": arr("string"),
        "days": arr(obj({"day": DAY, "counts": mapping("integer", "Final failures per reason that day.")})),
    }),
    "Reasons": answer({
        "filters": "Filters", "total": "integer", "reasons": arr("ReasonRow"), "categories": arr("CategoryRow"),
        "by_day": "ReasonsByDay",
    }),
    "Reason": answer({"reason": "Explanation", "examples": arr("RecipientRow")}),
    "Suppressions": answer({
        "filters": obj({"q": "string?", "reason": "string?", "active": "boolean?",
                        "since": {"type": ["string", "null"], "format": "date"}}),
        "total": "integer", "limit": "integer", "offset": "integer", "suppressions": arr("Suppression"),
        "reasons": arr("string"),
    }),
    "ReturnedMessage": answer({
        "id": "integer", "message_id": "string?", "subject": "string?", "source": "string?", "source_ref": "string?",
        "outcome": "string", "error": "string?", "size": "integer", "sha256": "string", "received_at": ISO_TIME_OR_NULL,
        "duplicate_count": "integer",
        "events": arr(obj({"recipient": "string?", "kind": "string", "outcome": "string?", "status": "string?",
                           "reason": "string?", "matched": "boolean"})),
        "raw_url": {"type": "string", "description": "The whole message as text/plain."},
    }),
    "PreviousSuppression": obj({
        "reason": "string", "since": ISO_TIME_OR_NULL, "expires_at": ISO_TIME_OR_NULL, "active": "boolean",
        "released_at": ISO_TIME_OR_NULL, "forgotten_at": ISO_TIME_OR_NULL,
    }, "A suppression of the address kept only as a hash after it was forgotten."),
    "SuppressionAdded": answer({
        "address": "string", "change": {"type": "string", "enum": ["added", "changed", "unchanged"]},
        "suppression": "Suppression", "previously_suppressed": "PreviousSuppression?",
    }),
    "SuppressionReleased": answer({
        "address": "string", "change": {"type": "string", "const": "released"}, "suppression": "Suppression",
    }),
    "SuppressionRequest": {
        "type": "object",
        "required": ["address", "note"],
        "properties": {
            "address": {"type": "string"},
            "note": {"type": "string", "description": "Why, for the audit trail."},
            "reason": {"type": "string", "enum": ["manual", "hardbounce", "softbounce", "complaint"]},
            "since": {"type": "string", "description": "ISO 8601 date or time"},
            "expires_at": {"type": "string", "description": "ISO 8601 date or time"},
        },
        "additionalProperties": False,
    },
    "ReleaseRequest": {
        "type": "object",
        "properties": {"note": {"type": "string", "description": "Why, for the audit trail (or ?note=)."}},
        "additionalProperties": False,
    },
}

# ----------------------------------------------------------------- operations


def _json(name: str, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": _t(name)}}}


def _error(description: str) -> Schema:
    return _json("Error", description)


UNAUTHORISED = _error("The server has a token and the request did not carry it.")
BAD_REQUEST = _error("A parameter is not valid (the detail says which).")
NOT_FOUND = _error("No such thing.")


def _query(name: str, description: str, schema: Schema | None = None, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def _path(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


FILTERS = [
    _query("campaign", "Only this campaign."),
    _query("since", "Sent on or after this day (UTC).", DAY),
    _query("until", "Sent on or before this day (UTC).", DAY),
]


def _page(default: int, most: int) -> list[Schema]:
    return [
        _query("limit", f"Rows per page (default {default}, at most {most}).", {"type": "integer", "minimum": 1}),
        _query("offset", "Rows to skip.", {"type": "integer", "minimum": 0}),
    ]


METRICS = ["recipients", "accepted_first_hop", "corrected", "final_bounced", "bounced", "expired", "complained",
           "delivered", "accepted", "deferred", "pending"]


def _get(summary: str, ok: str, parameters: list[Schema] | None = None, **errors: Schema) -> Schema:
    responses: dict[str, Schema] = {"200": _json(ok, summary)}
    responses.update({code.lstrip("_"): schema for code, schema in errors.items()})
    responses["401"] = UNAUTHORISED
    operation: Schema = {"summary": summary, "responses": dict(sorted(responses.items()))}
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


PATHS: dict[str, Schema] = {
    f"{API}/overview": _get("Recipients by outcome: totals, per day, per campaign, per campaign and day.",
                            "Overview", FILTERS, _400=BAD_REQUEST),
    f"{API}/report": _get("Ledger counts, as report --json without its funnel and reasons.", "Report", FILTERS,
                          _400=BAD_REQUEST),
    f"{API}/organisations": _get("Per first-hop organisation: corrections, late-bounce latency, settlement window.",
                                 "Organisations", FILTERS, _400=BAD_REQUEST),
    f"{API}/changes": _get(
        "The change feed after a sequence number, oldest first; pass next_after back to resume.", "Changes",
        [_query("after", "Only entries after this sequence number (default 0).", {"type": "integer", "minimum": 0}),
         _query("limit", "At most this many (default 1000, at most 10000).", {"type": "integer", "minimum": 1}),
         _query("types", "Comma-separated entry types, e.g. delivery.corrected,suppression.* (default: all)."),
         _query("campaign", "Only deliveries of this campaign.")],
        _400=BAD_REQUEST),
    f"{API}/deliveries": _get(
        "The recipients behind one number of the overview.", "Deliveries",
        [_query("metric", "Which number.", {"type": "string", "enum": METRICS}, required=True), *FILTERS,
         *_page(200, 5000)],
        _400=BAD_REQUEST),
    f"{API}/lookup": _get("Every delivery to an address, its timeline with evidence, and its suppression.", "Lookup",
                          [_query("address", "The recipient address.", required=True)], _400=BAD_REQUEST),
    f"{API}/reasons": _get("Final failures by reason and category, and per day.", "Reasons", FILTERS,
                           _400=BAD_REQUEST),
    f"{API}/reasons/{{reason}}": _get(
        "One reason in plain words and the recipients that failed for it.", "Reason",
        [_path("reason", {"type": "string"}, "A reason name, e.g. userunknown."), *FILTERS,
         _query("limit", "Examples (default 50, at most 500).", {"type": "integer", "minimum": 1})],
        _400=BAD_REQUEST, _404=NOT_FOUND),
    f"{API}/suppressions": _get(
        "The suppression list, filtered and paged.", "Suppressions",
        [_query("q", "Addresses containing this text."), _query("reason", "Only this reason."),
         _query("active", "yes, no or all (default).", {"type": "string", "enum": ["yes", "no", "all"]}),
         _query("since", "Suppressed on or after this day.", DAY), *_page(200, 5000)],
        _400=BAD_REQUEST),
    f"{API}/messages/{{message_id}}": _get(
        "A returned message's metadata and the recipients it spoke about.", "ReturnedMessage",
        [_path("message_id", {"type": "integer"}, "The returned message's id (an event's returned_message_id).")],
        _404=NOT_FOUND),
    f"{API}/messages/{{message_id}}/raw": {"get": {
        "summary": "The whole returned message as text.",
        "parameters": [_path("message_id", {"type": "integer"}, "The returned message's id.")],
        "responses": {
            "200": {"description": "The message as received.", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": UNAUTHORISED,
            "404": NOT_FOUND,
        },
    }},
    f"{API}/openapi.json": {"get": {
        "summary": "This document.",
        "responses": {
            "200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object"}}}},
            "401": UNAUTHORISED,
        },
    }},
    f"{API}/suppressions/{{address}}": {"delete": {
        "summary": "Release an address by hand (an audit event, like suppressions remove).",
        "security": [{"bearer": []}],
        "parameters": [_path("address", {"type": "string"}, "The address to release."),
                       _query("note", "Why, for the audit trail (or in the JSON body).")],
        "requestBody": {"required": False, "content": {"application/json": {"schema": _t("ReleaseRequest")}}},
        "responses": {
            "200": _json("SuppressionReleased", "Released."),
            "400": _error("No note, or not an address."),
            "401": _error("No bearer token, or a wrong one (basic auth cannot write)."),
            "403": _error("The server runs without a token: writing is off."),
            "404": _error("The address is not on the suppression list."),
            "415": _error("A body that is not JSON."),
        },
    }},
}
PATHS[f"{API}/suppressions"]["post"] = {
    "summary": "Suppress an address (an audit event, like suppressions add); the same request again changes nothing.",
    "security": [{"bearer": []}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": _t("SuppressionRequest")}}},
    "responses": {
        "200": _json("SuppressionAdded", "The list already said so: nothing changed."),
        "201": _json("SuppressionAdded", "Added, or its reason or expiry changed."),
        "400": _error("A field is missing or not valid."),
        "401": _error("No bearer token, or a wrong one (basic auth cannot write)."),
        "403": _error("The server runs without a token: writing is off."),
        "415": _error("A body that is not JSON."),
    },
}

DESCRIPTION = f"""\
The bounceledger ledger over HTTP: what the dashboard shows, as JSON.

Every JSON answer carries `"{SCHEMA_KEY}": {SCHEMA_VERSION}`. Within this version keys are only added, never
renamed or dropped; every key a schema here names is always present (null when it has no value).
Errors are `{{"{SCHEMA_KEY}": {SCHEMA_VERSION}, "error": ..., "detail": ...}}` with the HTTP status. A
database that cannot be reached answers 503 in the same shape.

Login: when the server has a token (`--token-file` or BOUNCELEDGER_WEB_TOKEN), every route, this
document included, needs `Authorization: Bearer TOKEN` (or HTTP basic auth with the token as the
password, for browsers). Without a token the server listens on loopback only and needs no login.
The write routes take the bearer header only, and are off on a server without a token.

The unversioned paths of before (`/api/overview`, ...) answer 308 to the same path under `{API}`.
"""


@functools.cache
def document() -> dict[str, Any]:
    """The whole OpenAPI document (built once; callers get it read-only)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "bounceledger API", "version": str(SCHEMA_VERSION), "description": DESCRIPTION},
        "x-bounceledger-schema": SCHEMA_VERSION,
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "security": [{"bearer": []}, {"basic": []}, {}],
        "paths": copy.deepcopy(PATHS),
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "The server's token."},
                "basic": {"type": "http", "scheme": "basic",
                          "description": "Any user name, the token as the password (reading only)."},
            },
        },
    }


@blueprint.get(f"{API}/openapi.json")
def openapi_json() -> Response:
    # Not through jsonify: the version stamp would be a key OpenAPI does not allow here.
    return current_app.response_class(current_app.json.dumps(document()) + "\n", mimetype="application/json")
