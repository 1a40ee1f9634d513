"""The dashboard through Flask's test client, on a ledger seeded by the real pipeline."""

from __future__ import annotations

import base64
import csv
import io
import re

import pytest
from sqlalchemy import select, text

from bounceledger import queries
from bounceledger.db import Database
from bounceledger.web import ServeError, create_app, make_server, serve
from bounceledger.web.app import (
    CONTENT_SECURITY_POLICY,
    TOKEN_ENV,
    check_bind,
    is_loopback,
    resolve_token,
)
from bounceledger.ingest import suppress
from bounceledger.models import Delivery, ReturnedMessage
from tests.web.conftest import CORRECTED_RECIPIENT, SAMPLE_TOTALS

PAGES = ["/", "/recipient", f"/recipient?address={CORRECTED_RECIPIENT}", "/reasons", "/reasons/userunknown", "/suppressions"]


def _card(html: str, metric: str) -> str:
    match = re.search(rf'data-metric="{metric}">.*?<span class="value">(?:<a [^>]*>)?([^<]*)(?:</a>)?</span>', html, re.S)
    assert match, metric
    return match.group(1)


# ----------------------------------------------------------------- pages


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_with_security_headers(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert "<script" not in body  # the dashboard runs no script at all
    assert " style=" not in body  # and no inline style (the CSP would block it)


def test_overview_totals(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert _card(html, "recipients") == "17"
    assert _card(html, "accepted_first_hop") == "11"
    assert _card(html, "corrected") == "3"
    assert _card(html, "final_bounced") == "9"
    assert _card(html, "bounce_rate") == "52.9%"
    assert _card(html, "complained") == "0"
    assert "first hop showed 35.3%" in html
    assert "<svg" in html and 'class="series-corrected"' in html  # the chart, server-side


def test_overview_filters(client) -> None:
    html = client.get("/?since=2999-01-01").get_data(as_text=True)
    assert _card(html, "recipients") == "0"
    assert client.get("/?since=yesterday").status_code == 400
    assert client.get("/api/v1/overview?until=bad").status_code == 400
    assert client.get("/api/v1/overview?campaign=nope").get_json()["totals"]["recipients"] == 0


def test_corrected_recipient_shows_acceptance_and_bounce(client) -> None:
    html = client.get("/recipient", query_string={"address": CORRECTED_RECIPIENT.upper()}).get_data(as_text=True)
    assert "Accepted by the first hop" in html
    assert "250 2.0.0" in html
    assert "Bounce came back" in html
    assert "550 5.1.1" in html
    assert "Corrected: accepted → bounced" in html
    assert "userunknown" in html and "bad-mailbox" in html and ">hard<" in html
    assert "the mailbox does not exist" in html  # explain("550 5.1.1"), in plain words
    assert re.search(r"Suppressed</strong> since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC — <span class=\"reason\">hardbounce", html)
    assert "status=sent (250 2.0.0 Ok: queued as" in html  # the log line, one click away
    match = re.search(r'href="/messages/(\d+)"', html)
    assert match, "a link to the returned message"
    raw_page = client.get(f"/messages/{match.group(1)}").get_data(as_text=True)
    assert "<pre class=\"raw\" id=\"raw-message\">" in raw_page
    assert "Final-Recipient: rfc822; unknown2@example.net" in raw_page


def test_unknown_address_and_message(client) -> None:
    html = client.get("/recipient?address=nobody@example.org").get_data(as_text=True)
    assert "No delivery to" in html
    assert client.get("/messages/99999").status_code == 404
    assert client.get("/api/v1/messages/99999").get_json()["error"] == "Not Found"


def test_suppressions_from_the_pipeline(seeded: Database) -> None:
    formula = "=cmd|' /c calc'!a0@example.net"
    with seeded.session() as session:
        assert suppress.release(session, "unknown1@example.test", "customer asked <b>nicely</b>")
        suppress.add(session, formula, "added by hand")
    app = create_app(seeded)
    client = app.test_client()
    # The hard bounces of the samples are on the list, each with the delivery that decided it.
    api = client.get("/api/v1/suppressions?active=yes").get_json()
    assert {s["address"] for s in api["suppressions"]} == {
        "unknown2@example.net", "unknown3@example.test", "unknown4@example.test",
        "unknown5@example.net", "unknown6@example.net", formula,
    }
    assert {s["reason"] for s in api["suppressions"]} == {"hardbounce", "manual"}
    assert set(api["reasons"]) == {"hardbounce", "manual"}
    released = client.get("/api/v1/suppressions?active=no").get_json()["suppressions"]
    assert [s["address"] for s in released] == ["unknown1@example.test"] and released[0]["released_at"]
    assert client.get("/api/v1/suppressions?q=example.test").get_json()["total"] == 3
    assert client.get("/api/v1/suppressions?q=%25").get_json()["total"] == 0  # LIKE wildcards are literal
    assert client.get("/api/v1/suppressions?reason=manual").get_json()["total"] == 1
    assert client.get("/api/v1/suppressions?since=2999-01-01").get_json()["total"] == 0
    listing = client.get("/suppressions?active=yes").get_data(as_text=True)
    assert "6 suppressions" in listing and "unknown1@example.test" not in listing
    assert "7 suppressions" in client.get("/suppressions").get_data(as_text=True)
    # Released by hand: not suppressed now, and the story is on the recipient page.
    html = client.get("/recipient?address=unknown1@example.test").get_data(as_text=True)
    assert "Not suppressed now." in html and "released by hand at" in html
    assert "Released from the suppression list" in html
    assert "customer asked &lt;b&gt;nicely&lt;/b&gt;" in html
    lookup = client.get("/api/v1/lookup", query_string={"address": "unknown1@example.test"}).get_json()
    assert lookup["suppressed"] is False and lookup["suppression"] is None
    assert lookup["past_suppression"]["reason"] == "hardbounce"
    assert [e["outcome"] for e in lookup["suppression_history"]] == ["released"]
    # CSV export, with spreadsheet formulas neutralised.
    response = client.get("/suppressions.csv?reason=manual")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["address"] for r in rows] == ["'" + formula]
    everything = list(csv.DictReader(io.StringIO(client.get("/suppressions.csv").get_data(as_text=True))))
    assert len(everything) == 7 and {"since", "expires_at", "released_at", "source_delivery_id"} <= set(everything[0])
    app.config["LEDGER"].dispose()


def test_empty_ledger_pages(database: Database) -> None:
    app = create_app(database)
    client = app.test_client()
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert "the list is empty so far" in client.get("/suppressions").get_data(as_text=True)
    assert "Not suppressed." in client.get("/recipient?address=a@example.net").get_data(as_text=True)
    app.config["LEDGER"].dispose()


# ----------------------------------------------------------------- API


def test_api_overview_shape(client) -> None:
    data = client.get("/api/v1/overview").get_json()
    assert list(data) == ["schema", "filters", "totals", "by_day", "by_campaign", "by_campaign_day", "campaigns"]
    for key, value in SAMPLE_TOTALS.items():
        assert data["totals"][key] == value
    row = data["by_campaign_day"][0]
    assert {"campaign", "day", "messages", "recipients", "accepted_first_hop", "corrected", "bounced", "expired",
            "complained", "final_bounced", "bounce_rate", "bounce_rate_first_hop"} <= set(row)
    assert data["campaigns"] == ["nov-newsletter"]


def test_api_lookup_extends_the_cli_contract(client, seeded: Database) -> None:
    data = client.get("/api/v1/lookup", query_string={"address": CORRECTED_RECIPIENT}).get_json()
    with seeded.session() as session:
        contract = queries.lookup(session, CORRECTED_RECIPIENT)
    assert set(contract) <= set(data)
    assert set(contract["deliveries"][0]) <= set(data["deliveries"][0])
    assert set(contract["deliveries"][0]["events"][0]) <= set(data["deliveries"][0]["events"][0])
    delivery = data["deliveries"][0]
    assert delivery["corrected"] is True and delivery["state"] == "bounced"
    assert [e["kind"] for e in delivery["events"]] == ["attempt", "verdict", "correction"]
    assert delivery["events"][0]["outcome"] == "accepted" and delivery["events"][0]["replycode"] == "250"
    assert delivery["explanation"]["category"] == "bad-mailbox" and delivery["explanation"]["hard"] is True
    assert delivery["events"][1]["returned_message_id"] is not None
    assert client.get("/api/v1/lookup").status_code == 400


def test_api_reasons_and_examples(client) -> None:
    data = client.get("/api/v1/reasons").get_json()
    assert data["total"] == 9 and data["reasons"][0]["reason"] == "userunknown"
    assert {"reason", "category", "hard", "count", "share", "corrected", "statuses", "meaning"} <= set(data["reasons"][0])
    assert data["by_day"]["reasons"][0] == "userunknown"
    examples = client.get("/api/v1/reasons/mailboxfull").get_json()
    assert examples["reason"]["category"] == "quota-issues"
    assert [e["recipient"] for e in examples["examples"]] == ["full1@example.test"]
    assert "full1@example.test" in client.get("/reasons/mailboxfull").get_data(as_text=True)


def test_api_raw_message_is_plain_text(client, seeded: Database) -> None:
    with seeded.session() as session:
        message_id, raw = session.execute(select(ReturnedMessage.id, ReturnedMessage.raw).order_by(ReturnedMessage.id)).first()
    response = client.get(f"/api/v1/messages/{message_id}/raw")
    assert response.mimetype == "text/plain" and response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_data() == raw
    meta = client.get(f"/api/v1/messages/{message_id}").get_json()
    assert meta["id"] == message_id and "raw" not in meta and meta["raw_url"].endswith("/raw")
    assert client.get("/api/v1/report").get_json()["deliveries"] == 17


# ----------------------------------------------------------------- hostile input


def test_hostile_dsn_is_escaped(hostile: Database) -> None:
    app = create_app(hostile)
    client = app.test_client()
    html = client.get("/recipient?address=ok7@example.net").get_data(as_text=True)
    assert "Bounce came back" in html and "Corrected: accepted → bounced" in html
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;window.__pwned=1" in html
    assert "&#34;&gt;&lt;img src=x onerror=" in html
    message_id = re.search(r'href="/messages/(\d+)"', html).group(1)
    page = client.get(f"/messages/{message_id}").get_data(as_text=True)
    assert "<script" not in page and "<img" not in page and "&lt;img src=x" in page
    examples = client.get("/reasons/userunknown").get_data(as_text=True)
    assert "<script" not in examples and "<img" not in examples and "ok7@example.net" in examples
    raw = client.get(f"/messages/{message_id}/raw")
    assert raw.mimetype == "text/plain" and b"<script>" in raw.get_data()
    app.config["LEDGER"].dispose()


# ----------------------------------------------------------------- read-only


def test_the_app_cannot_write(seeded: Database) -> None:
    app = create_app(seeded)
    with pytest.raises(Exception) as caught:
        with app.config["LEDGER"].session() as session:
            session.execute(text("UPDATE deliveries SET state = 'accepted'"))
    assert re.search(r"read.only|readonly", str(caught.value), re.I)
    client = app.test_client()
    assert client.post("/").status_code == 405
    assert client.post("/api/v1/lookup?address=x@example.net").status_code == 405
    with seeded.session() as session:
        assert session.scalar(select(Delivery.state).where(Delivery.recipient == CORRECTED_RECIPIENT)) == "bounced"
    app.config["LEDGER"].dispose()


# ----------------------------------------------------------------- login and binding


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_token_required_when_set(seeded: Database) -> None:
    app = create_app(seeded, token="s3cret-token")
    client = app.test_client()
    for path in ("/", "/api/v1/overview", "/static/style.css", "/messages/1/raw"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert "17" not in response.get_data(as_text=True)
    assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers=_basic("support", "wrong")).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/api/v1/overview", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert client.get("/", headers=_basic("support", "s3cret-token")).status_code == 200
    app.config["LEDGER"].dispose()


def test_no_token_no_login(client) -> None:
    assert client.get("/api/v1/overview").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.10", "10.1.2.3"])
def test_non_loopback_without_token_is_refused(host: str, database: Database, monkeypatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert not is_loopback(host)
    with pytest.raises(ServeError, match=TOKEN_ENV):
        serve(database, host, 0)
    with pytest.raises(ServeError, match="refusing to serve"):
        make_server(database, host, 0, None)
    check_bind(host, "a-token")  # with a token it would listen


def test_token_from_environment(monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert resolve_token(None) == "from-env"
    assert resolve_token("given") == "given"
    monkeypatch.delenv(TOKEN_ENV)
    assert resolve_token(None) is None


def test_serve_error_is_a_config_error() -> None:
    from bounceledger.config import ConfigError

    assert issubclass(ServeError, ConfigError)  # the CLI prints it as one line, exit 1


# ----------------------------------------------------------------- one truth in every face


def _badges(row_html: str) -> list[str]:
    return re.findall(r'class="badge severity-(\w+)"', row_html)


def test_reasons_never_badge_a_permanent_failure_soft(client) -> None:
    html = client.get("/reasons").get_data(as_text=True)
    rows = {
        re.search(r'class="reason"[^>]*>([^<]+)</a>', row).group(1): row
        for row in re.findall(r"<tr>\s*<td><a class=\"reason\".*?</tr>", html, re.S)
    }
    assert _badges(rows["userunknown"]) == ["hard"]
    assert _badges(rows["policyviolation"]) == ["permanent"]  # block1: 554 5.7.1, refused for good
    assert _badges(rows["mailboxfull"]) == ["permanent"]  # full1: 552 5.2.2, refused for good
    assert _badges(rows["expired"]) == ["expired"]
    assert "severity-temporary" not in html and "soft" not in html.lower().replace("microsoft", "")
    data = client.get("/api/v1/reasons").get_json()
    by_name = {r["reason"]: r for r in data["reasons"]}
    assert by_name["mailboxfull"]["severities"] == {"permanent": 1}
    assert by_name["userunknown"]["severities"] == {"hard": 6}
    # Every final failure whose code is a 5xx/5.x.x is badged hard or permanent, on every page.
    for reason in by_name:
        page = client.get(f"/reasons/{reason}").get_data(as_text=True)
        lede = page.split('<p class="lede">', 1)[1].split("</p>", 1)[0]
        assert "severity-temporary" not in lede, reason
    recipient = client.get("/recipient?address=full1@example.test").get_data(as_text=True)
    why = recipient.split('<div class="why">', 1)[1].split("</div>", 1)[0]
    assert _badges(why) == ["permanent"]


def test_unknown_reason_is_404(client) -> None:
    assert client.get("/reasons/nosuch").status_code == 404
    assert "no such reason" in client.get("/reasons/nosuch").get_data(as_text=True)
    response = client.get("/api/v1/reasons/nosuch")
    assert response.status_code == 404 and response.get_json()["error"] == "Not Found"
    # A reason the classifier can give, with no failures in the ledger: a page that says so.
    known = client.get("/reasons/blocked")
    assert known.status_code == 200 and "No failures with this reason" in known.get_data(as_text=True)
    assert client.get("/reasons/undefined").status_code == 200


METRIC_RECIPIENTS = {
    "corrected": {"unknown2@example.net", "unknown5@example.net", "unknown6@example.net"},
    "expired": {"temp1@example.test"},
    "final_bounced": {
        "unknown1@example.test", "unknown2@example.net", "unknown3@example.test", "unknown4@example.test",
        "unknown5@example.net", "unknown6@example.net", "full1@example.test", "block1@example.test",
        "temp1@example.test",
    },
}


def test_every_funnel_number_opens_its_recipients(client) -> None:
    totals = client.get("/api/v1/overview").get_json()["totals"]
    from bounceledger.reports import METRICS

    for metric in METRICS:
        listed = client.get("/api/v1/deliveries", query_string={"metric": metric, "limit": 500}).get_json()
        assert listed["total"] == totals[metric], metric
        assert len(listed["recipients"]) == totals[metric]
        if metric in METRIC_RECIPIENTS:
            assert {r["recipient"] for r in listed["recipients"]} == METRIC_RECIPIENTS[metric]
    corrected = client.get("/api/v1/deliveries?metric=corrected").get_json()["recipients"]
    assert all(r["corrected"] and r["state"] == "bounced" and r["campaign"] == "nov-newsletter" for r in corrected)
    # The overview's numbers are links to those lists, with the overview's filters.
    html = client.get("/").get_data(as_text=True)
    for metric in ("recipients", "accepted_first_hop", "corrected", "final_bounced", "bounced", "expired", "complained"):
        assert f'data-metric-link="{metric}" href="/deliveries?metric={metric}"' in html, metric
    campaign_row = html.split('id="by-campaign"', 1)[1].split("</table>", 1)[0]
    assert 'href="/deliveries?metric=corrected&amp;campaign=nov-newsletter"' in campaign_row
    day_row = html.split('id="by-campaign-day"', 1)[1].split("</table>", 1)[0]
    day = client.get("/api/v1/overview").get_json()["by_day"][0]["day"]
    assert f'href="/deliveries?metric=bounced&amp;campaign=nov-newsletter&amp;since={day}&amp;until={day}"' in day_row
    filtered = client.get(f"/?campaign=nov-newsletter&since={day}&until={day}").get_data(as_text=True)
    assert f'href="/deliveries?metric=corrected&amp;campaign=nov-newsletter&amp;since={day}&amp;until={day}"' in filtered
    # The page itself: the recipients, a CSV export with the same filters.
    page = client.get(f"/deliveries?metric=corrected&campaign=nov-newsletter&since={day}&until={day}").get_data(as_text=True)
    assert "Corrected to bounced later" in page and "3 recipients" in page
    for address in METRIC_RECIPIENTS["corrected"]:
        assert address in page
    assert f'href="/deliveries.csv?metric=corrected&amp;campaign=nov-newsletter&amp;since={day}&amp;until={day}"' in page
    assert "No recipients here" in client.get("/deliveries?metric=complained").get_data(as_text=True)


def test_recipient_lists_export_as_csv(client) -> None:
    response = client.get("/deliveries.csv?metric=final_bounced&campaign=nov-newsletter")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="recipients-final_bounced-nov-newsletter.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["recipient"] for r in rows} == METRIC_RECIPIENTS["final_bounced"]
    assert list(rows[0]) == [
        "recipient", "state", "reason", "status", "replycode", "corrected", "campaign", "message_id", "sent_at",
        "state_at", "detail", "delivery_id",
    ]
    by_address = {r["recipient"]: r for r in rows}
    assert by_address["unknown2@example.net"]["corrected"] == "True"
    assert by_address["unknown2@example.net"]["reason"] == "userunknown"
    assert by_address["temp1@example.test"]["state"] == "expired"
    assert all(r["sent_at"].endswith("Z") for r in rows)
    assert list(csv.DictReader(io.StringIO(client.get("/deliveries.csv?metric=complained").get_data(as_text=True)))) == []
    assert client.get("/deliveries.csv?metric=nosuch").status_code == 400
    assert client.get("/deliveries").status_code == 400  # which number?
    assert client.get("/api/v1/deliveries?metric=corrected&limit=1&offset=1").get_json()["recipients"][0]["corrected"]


def test_since_after_until_is_refused_everywhere(client) -> None:
    for path in ("/", "/reasons", "/deliveries?metric=recipients", "/deliveries.csv?metric=recipients",
                 "/api/v1/overview", "/api/v1/report", "/api/v1/reasons", "/api/v1/deliveries?metric=recipients"):
        joiner = "&" if "?" in path else "?"
        response = client.get(f"{path}{joiner}since=2026-12-01&until=2026-11-01")
        assert response.status_code == 400, path
        assert "since 2026-12-01 is after until 2026-11-01" in response.get_data(as_text=True), path


def test_dates_are_entered_as_they_are_shown(client) -> None:
    """One format, ISO and UTC: the filter fields take YYYY-MM-DD text, not the browser's locale date picker."""
    for path in ("/", "/reasons", "/suppressions", "/deliveries?metric=recipients"):
        html = client.get(path + ("&" if "?" in path else "?") + "since=2026-11-27").get_data(as_text=True)
        assert 'type="date"' not in html, path
        assert re.search(r'<input type="text" name="since" value="2026-11-27" placeholder="YYYY-MM-DD" pattern="[^"]+"', html), path
    day = client.get("/api/v1/overview").get_json()["by_day"][0]["day"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", day)
    html = client.get("/recipient", query_string={"address": CORRECTED_RECIPIENT}).get_data(as_text=True)
    shown = re.findall(r'<div class="when">([^<]+)</div>', html)
    assert shown and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", s) for s in shown)


def test_api_report_takes_the_overview_filters(client) -> None:
    whole = client.get("/api/v1/report").get_json()
    assert whole["deliveries"] == 17 and whole["filters"] == {"campaign": None, "since": None, "until": None}
    nothing = client.get("/api/v1/report?campaign=nope").get_json()
    assert nothing["deliveries"] == 0 and nothing["corrected"] == 0 and nothing["sent_messages"] == 0
    assert nothing["unfiltered"] == ["suppressed", "orphans", "stale_orphans"]
    later = client.get("/api/v1/report?since=2999-01-01").get_json()
    assert later["deliveries"] == 0 and later["returned_messages"]["processed"] == 0
