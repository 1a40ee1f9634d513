"""``/healthz`` and ``/readyz`` on the dashboard, open without login so a
load balancer or orchestrator can probe them; they reveal no ledger data."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

blueprint = Blueprint("health", __name__)

#: Endpoints the dashboard's token check lets through.
PUBLIC_ENDPOINTS = frozenset({"health.healthz", "health.readyz"})


@blueprint.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    from bounceledger.health_server import readiness
    from bounceledger.web.app import ledger

    # The dashboard runs no source jobs: freshness is the scheduler's to report.
    ready, body = readiness(ledger(), sources=False)
    return jsonify(body), 200 if ready else 503
