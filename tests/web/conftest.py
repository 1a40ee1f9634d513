"""Fixtures for the dashboard: a ledger filled by the real pipeline, a live server, a browser.

The ledger is seeded exactly as ``bounceledger demo`` does it: the bundled
Postfix log through :func:`bounceledger.pipeline.ingest_logs`, the bundled
return-path Maildir through :func:`bounceledger.polling.poll`. Browser tests
drive Debian's Chromium through chromedriver (``tests/install-browser.sh``);
without them they are skipped locally and fail under CI.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import bounceledger
from bounceledger import pipeline
from bounceledger.db import Database
from bounceledger.polling import poll

SAMPLES = Path(bounceledger.__file__).resolve().parent / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
HOSTILE_DSN = FIXTURES / "hostile_dsn.msg"
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"

CHROMIUM = Path(os.environ.get("BOUNCELEDGER_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("BOUNCELEDGER_CHROMEDRIVER", "/usr/bin/chromedriver"))

# What the bundled samples put in the ledger (bounceledger demo prints the same).
SAMPLE_TOTALS = {
    "messages": 5,
    "recipients": 17,
    "accepted_first_hop": 11,
    "corrected": 3,
    "bounced": 8,
    "expired": 1,
    "final_bounced": 9,
    "complained": 0,
}
CORRECTED_RECIPIENT = "unknown2@example.net"


def _maildir(root: Path, extra: tuple[Path, ...] = ()) -> Path:
    """A copy of the bundled return-path Maildir, plus ``extra`` messages."""
    target = root / "returned"
    shutil.copytree(SAMPLES / "returned", target)
    for sub in ("new", "cur", "tmp"):
        (target / sub).mkdir(exist_ok=True)
    for index, path in enumerate(extra, start=1):
        shutil.copyfile(path, target / "new" / f"9{index:03d}.extra.msg")
    return target


def seed(database: Database, workdir: Path, extra: tuple[Path, ...] = ()) -> None:
    """Fill ``database`` through the real pipeline, as ``bounceledger demo`` does."""
    pipeline.ingest_logs(database, [str(SAMPLES / "sendlog" / "postfix.log")], "postfix")
    maildir = _maildir(workdir, extra)
    summary = poll(database, f"maildir:{maildir}?readonly=on")
    assert summary.unparsed == 0, summary.line()
    pipeline.retry_orphans(database)


@pytest.fixture
def seeded(database: Database, tmp_path: Path) -> Database:
    """The bundled samples, through the real pipeline, on the backend under test."""
    seed(database, tmp_path)
    return database


@pytest.fixture
def hostile(database: Database, tmp_path: Path) -> Database:
    """The samples plus a DSN whose every text field carries script and markup."""
    seed(database, tmp_path, (HOSTILE_DSN,))
    return database


@pytest.fixture
def client(seeded: Database) -> Iterator[object]:
    from bounceledger.web import create_app

    app = create_app(seeded)
    yield app.test_client()
    app.config["LEDGER"].dispose()


# ----------------------------------------------------------------- live server


@dataclass
class LiveServer:
    url: str
    server: object


def start_server(database: Database, token: str | None = None) -> LiveServer:
    from bounceledger.web import make_server

    server = make_server(database, "127.0.0.1", 0, token)
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    live = LiveServer(url=f"http://127.0.0.1:{server.effective_port}", server=server)
    live.thread = thread  # type: ignore[attr-defined]
    return live


def stop_server(live: LiveServer) -> None:
    from bounceledger.web import shutdown

    shutdown(live.server)
    live.thread.join(timeout=5)  # type: ignore[attr-defined]


# ----------------------------------------------------------------- browser


def _browser_missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        return f"browser tests need {', '.join(missing)} (run tests/install-browser.sh as root)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium, offline, with a fresh profile."""
    reason = _browser_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="bounceledger-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--window-size=1366,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: object, name: str) -> Path:
    """A full-page PNG of the current page in test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script(  # type: ignore[attr-defined]
        "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"
    )
    driver.set_window_size(1366, max(800, min(int(height) + 40, 6000)))  # type: ignore[attr-defined]
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    driver.set_window_size(1366, 1000)  # type: ignore[attr-defined]
    return path
