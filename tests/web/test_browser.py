"""The dashboard in a real headless Chromium, served by the real waitress server.

Skipped when Chromium, chromedriver or selenium are missing (and CI is not
set); `tests/install-browser.sh` installs them. Each page is saved as a PNG in
test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bounceledger.db import Database
from ingest import suppress
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
