"""Pages and the JSON API (under ``/api/v1``). Every handler reads; none writes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from werkzeug.exceptions import BadRequest, HTTPException

from bounceledger import queries as cli_queries
from bounceledger import changes, csv_export, reports
from bounceledger.db import DatabaseError
from bounceledger.ingest.settlement import SettlementPolicy, settlement_words
from bounceledger.web import chart
from bounceledger.web import queries as web_queries
from bounceledger.web.app import ledger
from bounceledger.webhooks import store as webhook_store

blueprint = Blueprint("web", __name__)

#: Where the JSON API lives: a change that is not an addition gets a new prefix (and schema version).
API = "/api/v1"

CAMPAIGN_DAY_ROWS = 200  # rows of the campaign x day table on the overview page (the API has all)


# ----------------------------------------------------------------- inputs


def _date_arg(name: str) -> date | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: not a date (YYYY-MM-DD): {value[:40]}") from None


def _filters() -> dict[str, Any]:
    campaign = (request.args.get("campaign") or "").strip() or None
    filters = {"campaign": campaign, "since": _date_arg("since"), "until": _date_arg("until")}
    try:
        reports.Filters(**filters)
    except reports.FilterError as exc:
        raise BadRequest(str(exc)) from None
    return filters


def _metric() -> str:
    metric = (request.args.get("metric") or "").strip()
    if metric not in reports.METRICS:
        raise BadRequest(f"metric: one of {', '.join(reports.METRICS)}")
    return metric


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        return max(low, min(high, int(value)))
    except ValueError:
        raise BadRequest(f"{name}: not a number") from None


def _suppression_filters() -> web_queries.SuppressionFilters:
    active = (request.args.get("active") or "").strip().lower()
    if active not in ("", "all", "yes", "no", "true", "false", "1", "0"):
        raise BadRequest("active: one of yes, no, all")
    return web_queries.SuppressionFilters(
        q=(request.args.get("q") or "").strip() or None,
        reason=(request.args.get("reason") or "").strip() or None,
        active=None if active in ("", "all") else active in ("yes", "true", "1"),
        since=_date_arg("since"),
    )


# ----------------------------------------------------------------- charts


def _overview_charts(days: list[dict[str, Any]]) -> dict[str, chart.Chart]:
    labels = [d["day"] for d in days]
    outcomes = chart.stacked_bars(
        labels,
        [
            chart.Series("delivered / accepted", [d["accepted"] + d["settled"] + d["delivered"] for d in days], "series-ok"),
            chart.Series("corrected to bounced later", [d["corrected"] for d in days], "series-corrected"),
            chart.Series(
                "bounced by first hop / expired",
                [d["final_bounced"] - d["corrected"] for d in days],
                "series-bounced",
            ),
            chart.Series("complained", [d["complained"] for d in days], "series-complained"),
            chart.Series("deferred / pending", [d["deferred"] + d["pending"] for d in days], "series-waiting"),
        ],
    )
    rates = chart.lines(
        labels,
        [
            chart.Series("bounce rate the first hop showed", [d["bounce_rate_first_hop"] for d in days], "series-firsthop"),
            chart.Series("final bounce rate (corrected)", [d["bounce_rate"] for d in days], "series-final"),
        ],
    )
    return {"outcomes": outcomes, "rates": rates}


def _reason_chart(data: dict[str, Any]) -> chart.Chart:
    labels = [d["day"] for d in data["days"]]
    return chart.stacked_bars(
        labels,
        [
            chart.Series(name, [d["counts"][name] for d in data["days"]], f"series-{i}")
            for i, name in enumerate(data["reasons"])
        ],
    )


# ----------------------------------------------------------------- pages


@blueprint.app_context_processor
def _globals() -> dict[str, Any]:
    return {"no_campaign": reports.NO_CAMPAIGN}


@blueprint.app_template_filter("pct")
def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


@blueprint.app_template_filter("num")
def _num(value: int | float | None) -> str:
    return "–" if value is None else f"{value:,}"


@blueprint.app_template_filter("pretty")
def _pretty(value: Any) -> str:
    """Indented JSON as a plain string: the template escapes it like any text."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@blueprint.app_template_filter("when")
def _when(value: str | None) -> str:
    """ISO UTC (``...Z``) to ``YYYY-MM-DD HH:MM:SS UTC``."""
    if not value:
        return "–"
    return value.replace("T", " ").replace("Z", "").split(".")[0] + " UTC"


@blueprint.app_template_filter("hhmm")
def _hhmm(value: str | None) -> str:
    """``HH:MM UTC``, with the day when it is not today (UTC)."""
    if not value:
        return "–"
    return settlement_words(datetime.fromisoformat(value.replace("Z", "+00:00")))


def _settlement_policy() -> SettlementPolicy:
    return SettlementPolicy.from_settings(ledger().settings)


@blueprint.get("/")
def overview() -> str:
    filters = _filters()
    with ledger().session() as session:
        data = reports.overview(session, **filters)
        campaigns = reports.campaigns(session)
        organisations = reports.first_hop_organisations(session, _settlement_policy(), **filters)
        webhooks = webhook_store.status(session)
    return render_template(
        "overview.html",
        webhooks=webhooks,
        data=data,
        filters=filters,
        campaigns=campaigns,
        organisations=organisations,
        charts=_overview_charts(data["by_day"]),
        table_limit=CAMPAIGN_DAY_ROWS,
        page="overview",
    )


@blueprint.get("/recipient")
def recipient() -> str:
    address = (request.args.get("address") or "").strip()
    result = None
    if address:
        with ledger().session() as session:
            result = web_queries.recipient(session, address, _settlement_policy())
    return render_template("recipient.html", address=address, result=result, page="recipient")


@blueprint.get("/reasons")
def reasons() -> str:
    filters = _filters()
    with ledger().session() as session:
        data = reports.reasons(session, **filters)
        over_time = reports.reasons_by_day(session, **filters)
        campaigns = reports.campaigns(session)
    return render_template(
        "reasons.html",
        data=data,
        filters=filters,
        campaigns=campaigns,
        chart=_reason_chart(over_time),
        page="reasons",
    )


@blueprint.get("/reasons/<reason>")
def reason(reason: str) -> str:
    filters = _filters()
    limit = _int_arg("limit", 50, 1, 500)
    with ledger().session() as session:
        if not reports.is_known_reason(session, reason):
            abort(404, description=f"no such reason: {reason}")
        examples = reports.reason_examples(session, reason, limit=limit, **filters)
        summary = next((r for r in reports.reasons(session, **filters)["reasons"] if r["reason"] == reason), None)
    return render_template(
        "reason.html",
        reason=reason,
        summary=summary,
        described=reports.describe_reason(reason),
        examples=examples,
        filters=filters,
        limit=limit,
        page="reasons",
    )


@blueprint.get("/suppressions")
def suppressions() -> str:
    filters = _suppression_filters()
    page_size = _int_arg("limit", 100, 1, 1000)
    offset = _int_arg("offset", 0, 0, 10**9)
    with ledger().session() as session:
        data = web_queries.suppressions(session, filters, limit=page_size, offset=offset)
    return render_template(
        "suppressions.html",
        data=data,
        args={k: v for k, v in request.args.items() if k in ("q", "reason", "active", "since") and v},
        page="suppressions",
    )


@blueprint.get("/deliveries")
def deliveries() -> str:
    filters = _filters()
    metric = _metric()
    page_size = _int_arg("limit", 100, 1, 1000)
    offset = _int_arg("offset", 0, 0, 10**9)
    with ledger().session() as session:
        data = reports.recipients(session, metric, limit=page_size, offset=offset, **filters)
        campaigns = reports.campaigns(session)
    return render_template(
        "deliveries.html",
        data=data,
        filters=filters,
        campaigns=campaigns,
        metrics=reports.METRICS,
        args={k: v for k, v in request.args.items() if k in ("metric", "campaign", "since", "until") and v},
        page="overview",
    )


CSV_FIELDS = ("address", "reason", "active", "since", "expires_at", "released_at", "note", "source_delivery_id")


def _csv_response(fields: tuple[str, ...], produce: Any, filename: str) -> Response:
    """``produce(session)``'s rows as a streamed CSV download, one ledger session for all of them."""
    store = ledger()

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(fields)
        with store.session() as session:
            for row in produce(session):
                writer.writerow([csv_export.cell(row[f]) for f in fields])
                if buffer.tell() > 64_000:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(rows()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@blueprint.get("/suppressions.csv")
def suppressions_csv() -> Response:
    filters = _suppression_filters()
    return _csv_response(
        CSV_FIELDS, lambda session: web_queries.iter_suppressions(session, filters), "suppressions.csv"
    )


@blueprint.get("/deliveries.csv")
def deliveries_csv() -> Response:
    filters = _filters()
    metric = _metric()
    parts = [metric, filters["campaign"], filters["since"], filters["until"]]
    name = "-".join(str(p) for p in parts if p)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return _csv_response(
        csv_export.DELIVERY_FIELDS, lambda session: reports.iter_recipients(session, metric, **filters), f"recipients-{safe}.csv"
    )


@blueprint.get("/messages/<int:message_id>")
def message(message_id: int) -> str:
    with ledger().session() as session:
        found = web_queries.returned_message(session, message_id)
    if found is None:
        abort(404)
    text, cut = web_queries.raw_text(found.pop("raw"), web_queries.RAW_PAGE_LIMIT)
    return render_template("message.html", message=found, raw=text, cut=cut, page="recipient")


def _raw_response(message_id: int) -> Response:
    with ledger().session() as session:
        found = web_queries.returned_message(session, message_id)
    if found is None:
        abort(404)
    text, _ = web_queries.raw_text(found["raw"])
    response = Response(text, mimetype="text/plain")
    response.headers["Content-Disposition"] = f'inline; filename="returned-{message_id}.eml.txt"'
    return response


@blueprint.get("/messages/<int:message_id>/raw")
def message_raw(message_id: int) -> Response:
    return _raw_response(message_id)


# ----------------------------------------------------------------- JSON API


@blueprint.get("/api/<path:rest>")
def api_unversioned(rest: str) -> Response:
    """The API's first paths had no version: 308 to the same path under /api/v1, query string kept."""
    if rest == "v1" or rest.startswith("v1/"):
        abort(404)  # not an API route: redirecting would only nest the version
    query = request.query_string.decode("latin-1")
    return redirect(f"{API}/{quote(rest)}" + (f"?{query}" if query else ""), code=308)


@blueprint.get(API + "/overview")
def api_overview() -> Response:
    with ledger().session() as session:
        data = reports.overview(session, **_filters())
        data["campaigns"] = reports.campaigns(session)
    return jsonify(data)


@blueprint.get(API + "/report")
def api_report() -> Response:
    filters = _filters()
    store = ledger()
    stale_after = timedelta(hours=store.settings.orphan_report_after_hours)
    with store.session() as session:
        return jsonify(cli_queries.report(session, stale_after, **filters))


@blueprint.get(API + "/organisations")
def api_organisations() -> Response:
    """Per first-hop organisation: accepted, corrected, late-bounce latency and the settlement window."""
    with ledger().session() as session:
        return jsonify(reports.first_hop_organisations(session, _settlement_policy(), **_filters()))


@blueprint.get(API + "/deliveries")
def api_deliveries() -> Response:
    filters = _filters()
    metric = _metric()
    with ledger().session() as session:
        return jsonify(
            reports.recipients(
                session, metric, limit=_int_arg("limit", 200, 1, 5000), offset=_int_arg("offset", 0, 0, 10**9), **filters
            )
        )


@blueprint.get(API + "/lookup")
def api_lookup() -> Response:
    address = (request.args.get("address") or "").strip()
    if not address:
        raise BadRequest("address: required")
    with ledger().session() as session:
        return jsonify(web_queries.recipient(session, address, _settlement_policy()))


@blueprint.get(API + "/reasons")
def api_reasons() -> Response:
    filters = _filters()
    with ledger().session() as session:
        data = reports.reasons(session, **filters)
        data["by_day"] = reports.reasons_by_day(session, **filters)
    return jsonify(data)


@blueprint.get(API + "/reasons/<reason>")
def api_reason(reason: str) -> Response:
    filters = _filters()
    limit = _int_arg("limit", 50, 1, 500)
    with ledger().session() as session:
        if not reports.is_known_reason(session, reason):
            abort(404, description=f"no such reason: {reason}")
        examples = reports.reason_examples(session, reason, limit=limit, **filters)
    return jsonify({"reason": reports.describe_reason(reason), "examples": examples})


@blueprint.get(API + "/suppressions")
def api_suppressions() -> Response:
    filters = _suppression_filters()
    with ledger().session() as session:
        return jsonify(
            web_queries.suppressions(
                session, filters, limit=_int_arg("limit", 200, 1, 5000), offset=_int_arg("offset", 0, 0, 10**9)
            )
        )


@blueprint.get(API + "/changes")
def api_changes() -> Response:
    """The change feed after ``after`` (see bounceledger.changes); ``next_after`` resumes it."""
    after = _int_arg("after", 0, 0, 2**63 - 1)
    limit = _int_arg("limit", changes.DEFAULT_LIMIT, 1, changes.MAX_LIMIT)
    named = [t.strip() for t in (request.args.get("types") or "").split(",") if t.strip()]
    try:
        types = changes.check_types(named)
    except changes.UnknownType as exc:
        raise BadRequest(f"types: {exc}") from None
    campaign = (request.args.get("campaign") or "").strip() or None
    with ledger().session() as session:
        entries = changes.read(session, after, limit, types, campaign)
        last = changes.last_seq(session)
    return jsonify({"changes": entries, "next_after": entries[-1]["seq"] if entries else after, "last_seq": last})


@blueprint.get(API + "/messages/<int:message_id>")
def api_message(message_id: int) -> Response:
    with ledger().session() as session:
        found = web_queries.returned_message(session, message_id)
    if found is None:
        abort(404)
    found.pop("raw")
    found["raw_url"] = url_for("web.api_message_raw", message_id=message_id)
    return jsonify(found)


@blueprint.get(API + "/messages/<int:message_id>/raw")
def api_message_raw(message_id: int) -> Response:
    return _raw_response(message_id)


# ----------------------------------------------------------------- errors


def _wants_json() -> bool:
    return request.path.startswith("/api/")


@blueprint.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    if _wants_json():
        return jsonify({"error": exc.name, "detail": exc.description}), exc.code
    return render_template("error.html", code=exc.code, title=exc.name, detail=exc.description, page=None), exc.code


@blueprint.app_errorhandler(DatabaseError)
def _database_error(exc: DatabaseError) -> Any:
    if _wants_json():
        return jsonify({"error": "database unavailable", "detail": str(exc)}), 503
    return render_template("error.html", code=503, title="Database unavailable", detail=str(exc), page=None), 503
