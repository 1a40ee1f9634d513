"""The dashboard in a real headless Chromium, served by the real waitress server.

Skipped when Chromium, chromedriver or selenium are missing (and CI is not
set); `tests/install-browser.sh` installs them. Each page is saved as a PNG in
test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bounceledger.db import Database
from bounceledger.ingest import suppress
from tests.web.conftest import (
    CORRECTED_RECIPIENT,
    LiveServer,
    screenshot,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def live(seeded: Database) -> Iterator[LiveServer]:
    server = start_server(seeded)
    yield server
    stop_server(server)


@pytest.fixture
def hostile_live(hostile: Database) -> Iterator[LiveServer]:
    server = start_server(hostile)
    yield server
    stop_server(server)


def _by_css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _wait(driver, condition) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(condition)


def _card(driver, metric: str) -> str:
    return _by_css(driver, f'[data-metric="{metric}"] .value')[0].text


def _console_errors(driver) -> list[str]:
    try:
        return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    except Exception:  # noqa: BLE001 - not every driver keeps a console log
        return []


def test_overview_totals(browser, live: LiveServer, backend: str) -> None:
    browser.get(live.url + "/")
    assert browser.title.startswith("Overview")
    assert _card(browser, "recipients") == "17"
    assert _card(browser, "accepted_first_hop") == "11"
    assert _card(browser, "corrected") == "3"
    assert _card(browser, "final_bounced") == "9"
    assert _card(browser, "bounce_rate") == "52.9%"
    # The stylesheet loaded (CSP allows 'self'): cards are laid out as a grid.
    assert browser.execute_script(
        "return getComputedStyle(document.querySelector('.cards')).display"
    ) == "grid"
    assert len(_by_css(browser, "figure.chart svg rect")) >= 3
    rows = _by_css(browser, "#by-campaign tbody tr")
    assert len(rows) == 1 and "52.9%" in rows[0].text
    screenshot(browser, f"overview-{backend}")


def test_search_corrected_recipient(browser, live: LiveServer, backend: str) -> None:
    from selenium.webdriver.common.keys import Keys

    browser.get(live.url + "/")
    box = _by_css(browser, ".topbar .search input")[0]
    box.send_keys(CORRECTED_RECIPIENT, Keys.ENTER)
    _wait(browser, lambda d: "/recipient?" in d.current_url and d.execute_script("return document.readyState") == "complete")
    assert browser.current_url.startswith(live.url + "/recipient?address=")
    heading = _by_css(browser, "h1")[0].text
    assert heading == CORRECTED_RECIPIENT
    events = [e.text for e in _by_css(browser, "#suppression ~ .delivery .timeline .event")]
    assert any("Accepted by the first hop" in e and "250 2.0.0" in e for e in events), events
    assert any("Bounce came back" in e and "550 5.1.1" in e for e in events), events
    assert any("Corrected: accepted → bounced" in e for e in events), events
    assert "the mailbox does not exist" in _by_css(browser, ".why")[0].text
    assert _by_css(browser, "#suppression")[0].text.startswith("Suppressed since")
    # The evidence is one click away.
    summary = _by_css(browser, "details.evidence summary")[0]
    summary.click()
    assert "status=sent (250 2.0.0" in _by_css(browser, "details.evidence[open] pre")[0].text
    screenshot(browser, f"recipient-{backend}")
    link = _by_css(browser, "a.raw-link")[0]
    browser.execute_script("arguments[0].scrollIntoView()", link)
    _by_css(browser, "details.evidence")[1].find_element("css selector", "summary").click()
    _by_css(browser, "a.raw-link")[0].click()
    _wait(browser, lambda d: "/messages/" in d.current_url and d.find_elements("css selector", "#raw-message"))
    assert "Final-Recipient: rfc822; unknown2@example.net" in _by_css(browser, "#raw-message")[0].text
    screenshot(browser, f"message-{backend}")


def test_reasons_and_suppressions_pages(browser, live: LiveServer, seeded: Database, backend: str) -> None:
    with seeded.session() as session:
        suppress.release(session, "unknown1@example.test", "the customer fixed the address")
        suppress.add(session, "complainer@example.org", "asked to be left alone")
    browser.get(live.url + "/reasons")
    first = _by_css(browser, "#reasons tbody tr")[0].text
    assert "userunknown" in first and "bad-mailbox" in first and "HARD" in first.upper()
    screenshot(browser, f"reasons-{backend}")
    _by_css(browser, "#reasons tbody tr a.reason")[0].click()
    _wait(browser, lambda d: d.find_elements("css selector", "#examples"))
    assert CORRECTED_RECIPIENT in _by_css(browser, "#examples")[0].text
    screenshot(browser, f"reason-examples-{backend}")
    browser.get(live.url + "/suppressions")
    assert "7 suppressions" in browser.page_source
    screenshot(browser, f"suppressions-{backend}")
    _by_css(browser, "select[name=active] option[value=no]")[0].click()
    _by_css(browser, "form.filters button")[0].click()
    _wait(browser, lambda d: "active=no" in d.current_url and d.execute_script("return document.readyState") == "complete")
    rows = _by_css(browser, "#suppressions tbody tr")
    assert len(rows) == 1 and "unknown1@example.test" in rows[0].text and "RELEASED" in rows[0].text.upper()
    assert "active=no" in _by_css(browser, "#csv-export")[0].get_attribute("href")


def test_hostile_returned_message_runs_nothing(browser, hostile_live: LiveServer, backend: str) -> None:
    url = hostile_live.url
    for name, path in (("recipient", "/recipient?address=ok7@example.net"), ("reason", "/reasons/userunknown")):
        browser.get(url + path)
        if path.startswith("/recipient"):
            for details in _by_css(browser, "details.evidence"):
                browser.execute_script("arguments[0].open = true", details)
        assert browser.execute_script("return window.__pwned === undefined")
        assert "PWNED" not in browser.title
        # The payload is on the page as text ...
        assert "<script>window.__pwned=1" in browser.find_element("tag name", "body").text
        # ... and nothing of it became markup.
        assert browser.execute_script(
            "return [...document.images].filter(i => (i.getAttribute('src') || '') === 'x').length"
        ) == 0
        assert browser.execute_script(
            "return [...document.scripts].filter(s => s.textContent.includes('__pwned')).length"
        ) == 0
        assert browser.execute_script("return document.querySelectorAll('[onerror]').length") == 0
        screenshot(browser, f"hostile-{name}-{backend}")
    browser.get(url + "/recipient?address=ok7@example.net")
    message_link = _by_css(browser, "a.raw-link")[0].get_attribute("href")
    browser.get(message_link)
    assert browser.execute_script("return window.__pwned === undefined")
    assert "PWNED" not in browser.title
    assert 'onerror="window.__pwned=2' in _by_css(browser, "#raw-message")[0].text
    assert browser.execute_script("return document.querySelectorAll('img, [onerror]').length") == 0
    screenshot(browser, f"hostile-message-{backend}")
    browser.get(message_link + "/raw")
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.execute_script("return document.contentType") == "text/plain"
    assert not _console_errors(browser) or all("favicon" in e for e in _console_errors(browser))


def _loaded(driver, fragment: str) -> None:
    _wait(driver, lambda d: fragment in d.current_url and d.execute_script("return document.readyState") == "complete")


def _download(driver, link, folder) -> str:
    """Click a download link and return the text of the file the browser saved."""
    import csv  # noqa: F401 - the caller parses it
    import time

    folder.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})
    link.click()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if not p.name.endswith(".crdownload")]
        if done:
            return done[0].read_text(encoding="utf-8")
        time.sleep(0.1)
    raise AssertionError(f"nothing downloaded into {folder}")


CORRECTED = {"unknown2@example.net", "unknown5@example.net", "unknown6@example.net"}


def test_funnel_numbers_open_recipient_lists_with_csv(browser, live: LiveServer, backend: str, tmp_path) -> None:
    import csv
    import io

    browser.get(live.url + "/")
    # "Corrected to bounced later": the card's number opens the list of those recipients.
    _by_css(browser, '[data-metric="corrected"] .value a')[0].click()
    _loaded(browser, "/deliveries?metric=corrected")
    assert _by_css(browser, "h1")[0].text == "Corrected to bounced later"
    assert _by_css(browser, "#recipient-count")[0].text.startswith("3 recipients")
    rows = _by_css(browser, "#recipients tbody tr")
    assert {r.find_element("css selector", "td a").text for r in rows} == CORRECTED
    assert all("BOUNCED" in r.text.upper() and "CORRECTED" in r.text.upper() for r in rows)
    screenshot(browser, f"recipients-corrected-{backend}")
    # ... and exports exactly them as CSV.
    text = _download(browser, _by_css(browser, "#csv-export")[0], tmp_path / "corrected")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert {r["recipient"] for r in exported} == CORRECTED
    assert all(r["corrected"] == "True" and r["reason"] == "userunknown" for r in exported)

    # A campaign's numbers: the per-campaign table's "Final bounced" cell.
    browser.get(live.url + "/")
    cell = _by_css(browser, '#by-campaign a[data-metric-link="final_bounced"]')[0]
    assert cell.text == "9"
    browser.execute_script("arguments[0].scrollIntoView()", cell)
    cell.click()
    _loaded(browser, "metric=final_bounced")
    assert "campaign=nov-newsletter" in browser.current_url
    assert len(_by_css(browser, "#recipients tbody tr")) == 9
    assert _by_css(browser, "select[name=campaign] option[selected]")[0].text == "nov-newsletter"
    screenshot(browser, f"recipients-campaign-{backend}")

    # The list's own filters: another number, a day typed as the page shows it (ISO, UTC).
    day = _by_css(browser, "#recipients tbody tr td.nowrap")[1].text[:10]
    _by_css(browser, "select[name=metric] option[value=bounced]")[0].click()
    since = _by_css(browser, "input[name=since]")[0]
    assert since.get_attribute("type") == "text" and since.get_attribute("placeholder") == "YYYY-MM-DD"
    since.send_keys(day)
    _by_css(browser, "form.filters button")[0].click()
    _loaded(browser, f"since={day}")
    assert "metric=bounced" in browser.current_url
    assert _by_css(browser, "h1")[0].text == "Bounced"
    assert len(_by_css(browser, "#recipients tbody tr")) == 8
    text = _download(browser, _by_css(browser, "#csv-export")[0], tmp_path / "bounced")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert len(exported) == 8 and {r["state"] for r in exported} == {"bounced"}
    assert all(r["sent_at"].startswith(day) for r in exported)

    # A recipient in the list opens that recipient's page.
    link = next(a for a in _by_css(browser, "#recipients tbody td a") if a.text == "full1@example.test")
    link.click()
    _loaded(browser, "/recipient?address=full1")
    assert _by_css(browser, "h1")[0].text == "full1@example.test"
    assert _by_css(browser, ".why .badge.severity-permanent")  # refused for good, never "soft"


def test_campaign_day_numbers_and_a_bad_window(browser, live: LiveServer, backend: str) -> None:
    browser.get(live.url + "/")
    cell = _by_css(browser, '#by-campaign-day a[data-metric-link="expired"]')[0]
    browser.execute_script("arguments[0].scrollIntoView()", cell)
    cell.click()
    _loaded(browser, "metric=expired")
    rows = _by_css(browser, "#recipients tbody tr")
    assert len(rows) == 1 and "temp1@example.test" in rows[0].text and "EXPIRED" in rows[0].text.upper()
    # The day it came from is the window, written as the page shows days.
    since = _by_css(browser, "input[name=since]")[0].get_attribute("value")
    until = _by_css(browser, "input[name=until]")[0].get_attribute("value")
    assert since == until and len(since) == 10 and since[4] == "-" and since[7] == "-"
    # since after until: the page says why, it does not guess.
    field = _by_css(browser, "input[name=until]")[0]
    field.clear()
    field.send_keys("2000-01-01")
    _by_css(browser, "form.filters button")[0].click()
    _loaded(browser, "until=2000-01-01")
    assert "400" in _by_css(browser, "h1")[0].text
    assert "is after until 2000-01-01" in _by_css(browser, ".lede")[0].text
    screenshot(browser, f"recipients-bad-window-{backend}")
