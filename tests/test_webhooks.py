"""Webhooks against a real HTTP receiver on loopback, on both databases.

The ledger is filled through the real pipeline (the bundled samples); the
receiver verifies every request with the ``standardwebhooks`` library. What
must hold whatever the receiver does (500s, timeouts, slow answers, being
down, a process killed mid-delivery): every change arrives at least once,
in sequence order (so in order per delivery), a re-sent change carries the
same ``webhook-id``, and nothing is skipped.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bounceledger import changes
from bounceledger.config import WebhookTarget
from bounceledger.db import Database
from bounceledger.webhooks import sender, signing, store
from tests.test_json_contracts import CHANGE, WEBHOOK_DEAD_LETTER, WEBHOOK_ENDPOINT, WEBHOOKS, each, top
from tests.test_json_contracts import bl as contract_bl
from tests.web.conftest import seed
from tests.webhook_receiver import Receiver, Received

SECRET = signing.new_secret()
#: The Standard Webhooks schedule, squeezed into milliseconds.
QUICK = tuple(timedelta(milliseconds=20) for _ in sender.RETRY_DELAYS)
ENVELOPE = {"schema", "type", "timestamp", "data"}


@pytest.fixture
def ledger(database: Database, tmp_path: Path) -> Database:
    seed(database, tmp_path / "seed")
    return database


@pytest.fixture
def receiver() -> Any:
    started = Receiver(SECRET).start()
    yield started
    started.stop()


def target(receiver: Receiver, **options: Any) -> WebhookTarget:
    return WebhookTarget(url=receiver.url, secret=SECRET, **{"timeout_seconds": 0.5} | options)


def feed(database: Database, **options: Any) -> list[dict[str, Any]]:
    with database.session() as session:
        return list(changes.read_all(session, 0, **options))


def status(database: Database, name: str) -> dict[str, Any]:
    with database.session() as session:
        return next(row for row in store.status(session) if row["name"] == name)


def drain(database: Database, hook: WebhookTarget, rounds: int = 200) -> list[sender.EndpointSummary]:
    """Run the sender until the endpoint has everything, as the scheduler would, waiting out back-offs."""
    runs = []
    for _ in range(rounds):
        runs.append(sender.deliver(database, hook, retry_delays=QUICK))
        if status(database, hook.key)["backlog"] == 0 and status(database, hook.key)["failing_seq"] is None:
            return runs
        time.sleep(0.03)
    raise AssertionError(f"not drained after {rounds} runs: {status(database, hook.key)}")


def assert_complete(received: list[Received], entries: list[dict[str, Any]], endpoint_id: int) -> None:
    """Every entry taken at least once; first arrivals in seq order; duplicates are the same message."""
    assert all(r.verified for r in received), "a request failed Standard Webhooks verification"
    taken = [r for r in received if 200 <= r.status < 300]
    first: dict[int, Received] = {}
    for r in taken:
        first.setdefault(r.seq, r)
    assert list(first) == [e["seq"] for e in entries], "missing, extra or out-of-order changes"
    for r in received:
        assert r.webhook_id == signing.webhook_id(endpoint_id, r.seq)
        assert r.body == first[r.seq].body


def test_every_change_arrives_signed_with_its_evidence(ledger: Database, receiver: Receiver) -> None:
    hook = target(receiver)
    (run,) = drain(ledger, hook)
    entries = feed(ledger)
    assert run.delivered == len(entries) > 20 and (run.failed, run.dead_lettered) == (0, 0)
    received = receiver.all()
    assert len(received) == len(entries)
    assert_complete(received, entries, status_id(ledger, hook))
    for r, entry in zip(received, entries):
        assert set(r.body) == ENVELOPE and r.body["schema"] == 1
        assert set(r.body["data"]) == CHANGE
        assert r.body["data"] == entry and r.body["type"] == entry["type"] and r.body["timestamp"] == entry["recorded_at"]
    corrected = [r.body["data"] for r in received if r.body["type"] == "delivery.corrected"]
    assert corrected and all(c["from_state"] == "accepted" and c["evidence"]["kind"] == "verdict" for c in corrected)
    # nothing new: nothing sent
    assert sender.deliver(ledger, hook).delivered == 0
    assert len(receiver.all()) == len(entries)


def status_id(database: Database, hook: WebhookTarget) -> int:
    from sqlalchemy import select

    from bounceledger.models import WebhookEndpoint

    with database.session() as session:
        return int(session.scalar(select(WebhookEndpoint.id).where(WebhookEndpoint.name == hook.key)) or 0)


def test_500s_timeouts_and_slow_answers_lose_nothing(ledger: Database, receiver: Receiver) -> None:
    def plan(n: int, _id: str, _seq: int) -> tuple[Any, ...]:
        if n in (3, 4, 9):
            return ("status", 500 + n)
        if n in (6, 12):
            return ("hang", 1.0)  # longer than the sender's 0.5 s timeout
        if n % 5 == 0:
            return ("slow", 0.2)  # slow, within the timeout
        return ("ok",)

    receiver.plan = plan
    hook = target(receiver)
    runs = drain(ledger, hook)
    entries = feed(ledger)
    assert_complete(receiver.all(), entries, status_id(ledger, hook))
    assert sum(r.failed for r in runs) == 5
    assert any("HTTP 503" in e for r in runs for e in r.errors) and any("timed out" in e for r in runs for e in r.errors)
    after = status(ledger, hook.key)
    assert (after["failures"], after["dead_letters"], after["cursor"]) == (5, 0, entries[-1]["seq"])
    # the changes that failed were sent again, under the same webhook-id
    ids = [r.webhook_id for r in receiver.all()]
    assert len(ids) - len(set(ids)) == 5


def test_an_endpoint_that_is_down_waits_and_then_gets_everything(ledger: Database, receiver: Receiver) -> None:
    hook = target(receiver)
    receiver.stop()
    assert receiver.is_down()
    down = sender.deliver(ledger, hook, retry_delays=(timedelta(seconds=1),) * 7)
    assert (down.delivered, down.failed) == (0, 1) and down.waiting_until is not None
    assert "Connection refused" in down.errors[0] or "ConnectionRefused" in down.errors[0]
    # until its time comes, no attempt is made; the back-off is in the ledger, so a restart keeps it
    assert sender.deliver(ledger, hook).failed == 0
    waiting = status(ledger, hook.key)
    assert (waiting["failing_seq"], waiting["attempts"], waiting["cursor"]) == (feed(ledger)[0]["seq"], 1, 0)
    receiver.start()
    time.sleep(1.1)
    drain(ledger, hook)
    assert_complete(receiver.all(), feed(ledger), status_id(ledger, hook))


def test_a_change_refused_every_time_is_dead_lettered_and_can_be_replayed(
    ledger: Database, receiver: Receiver, caplog: pytest.LogCaptureFixture, tmp_path: Path,
) -> None:
    entries = feed(ledger)
    poison = entries[4]["seq"]
    receiver.plan = lambda _n, _id, seq: ("status", 422) if seq == poison else ("ok",)
    hook = target(receiver)
    with caplog.at_level(logging.WARNING, logger="bounceledger.webhooks"):
        runs = drain(ledger, hook)
    tries = [r for r in receiver.all() if r.seq == poison]
    assert len(tries) == len(sender.RETRY_DELAYS) + 1 and {r.status for r in tries} == {422}
    assert sum(r.dead_lettered for r in runs) == 1
    assert [r.seq for r in receiver.accepted()] == [e["seq"] for e in entries if e["seq"] != poison]
    assert f"gave up on change {poison} after 8 attempts" in caplog.text
    after = status(ledger, hook.key)
    assert (after["dead_letters"], after["backlog"]) == (1, 0)
    with ledger.session() as session:
        (dead,) = store.dead_letters(session)
    assert (dead["seq"], dead["attempts"], dead["last_status"]) == (poison, 8, 422)
    assert dead["webhook_id"] == signing.webhook_id(status_id(ledger, hook), poison)

    # fixed on the receiver's side: replay from the dead letter on
    receiver.plan = lambda _n, _id, _seq: ("ok",)
    before = len(receiver.all())
    with ledger.session() as session:
        assert store.replay(session, None, poison, datetime.now(timezone.utc)) == [hook.key]
    drain(ledger, hook)
    again = receiver.all()[before:]
    assert [r.seq for r in again] == [e["seq"] for e in entries if e["seq"] >= poison]
    assert again[0].webhook_id == dead["webhook_id"]
    assert status(ledger, hook.key)["dead_letters"] == 0


def test_dead_letters_show_in_report_webhooks_and_the_dashboard(
    ledger: Database, database_url: str, receiver: Receiver, tmp_path: Path,
) -> None:
    poison = feed(ledger)[2]["seq"]
    receiver.plan = lambda _n, _id, seq: ("status", 410) if seq == poison else ("ok",)
    hook = target(receiver, name="crm")
    drain(ledger, hook)
    db = ["--database-url", database_url]
    report = json.loads(contract_bl(*db, "report", "--json", cwd=tmp_path))
    each(report["webhooks"], WEBHOOK_ENDPOINT, "report.webhooks")
    assert [(w["name"], w["dead_letters"], w["backlog"]) for w in report["webhooks"]] == [("crm", 1, 0)]
    assert "webhook crm: " in (text := contract_bl(*db, "report", cwd=tmp_path)) and "1 DEAD LETTERS" in text
    listed = json.loads(contract_bl(*db, "webhooks", "--json", cwd=tmp_path))
    top(listed, WEBHOOKS, "webhooks")
    each(listed["endpoints"], WEBHOOK_ENDPOINT, "webhooks.endpoints")
    each(listed["dead_letters"], WEBHOOK_DEAD_LETTER, "webhooks.dead_letters")
    assert [(d["endpoint"], d["seq"], d["last_status"]) for d in listed["dead_letters"]] == [("crm", poison, 410)]
    assert f"dead letter: crm change {poison}" in contract_bl(*db, "webhooks", cwd=tmp_path)

    from bounceledger.web import create_app

    app = create_app(ledger)
    page = app.test_client().get("/").get_data(as_text=True)
    assert 'data-dead-letters="1"' in page and "<td>crm</td>" in page

    receiver.plan = lambda _n, _id, _seq: ("ok",)
    contract_bl(*db, "webhooks", "replay", "--from", str(poison), "--endpoint", "crm", cwd=tmp_path)
    drain(ledger, hook)
    assert status(ledger, "crm")["dead_letters"] == 0
    assert 'data-dead-letters' not in app.test_client().get("/").get_data(as_text=True)
    app.config["LEDGER"].dispose()


def test_types_and_campaign_narrow_what_an_endpoint_gets(ledger: Database, receiver: Receiver) -> None:
    hook = target(receiver, types=("delivery.corrected", "suppression.added"), name="crm")
    drain(ledger, hook)
    wanted = feed(ledger, types=("delivery.corrected", "suppression.added"))
    assert [r.body["data"] for r in receiver.all()] == wanted
    assert status(ledger, "crm")["backlog"] == 0  # the cursor moved past what it does not want, too
    campaign = replace(hook, types=(), name="nov", campaign="nov-newsletter")
    drain(ledger, campaign)
    by_campaign = feed(ledger, campaign="nov-newsletter")
    assert [r.body["data"] for r in receiver.all()[len(wanted):]] == by_campaign
    assert {d["message"]["campaign"] for d in by_campaign} == {"nov-newsletter"}


def test_a_secret_that_is_not_whsec_base64_is_refused() -> None:
    for bad in ("plain-text-secret", "whsec_not base64!", "whsec_c2hvcnQ="):
        with pytest.raises(signing.SecretError):
            signing.secret_key(bad)
    assert len(signing.secret_key(signing.new_secret())) == signing.SECRET_BYTES


# ----------------------------------------------------------------- the real `run`, killed mid-delivery


def _config(tmp_path: Path, database_url: str, receiver: Receiver, sendlog: Path, maildir: Path) -> Path:
    (tmp_path / "hook.secret").write_text(SECRET + "\n")
    config = tmp_path / "bounceledger.toml"
    config.write_text(
        f'orphan_retry_seconds = 1  # a send and its bounce read at once by two jobs are tied on the next retry\n'
        f'[database]\nurl = "{database_url}"\n\n'
        f'[[sendlog]]\npath = "{sendlog}"\nformat = "postfix"\ninterval_seconds = 1\n\n'
        f'[[mailbox]]\nurl = "maildir:{maildir}?readonly=on"\ninterval_seconds = 1\n\n'
        f'[[webhook]]\nurl = "{receiver.url}"\nsecret_file = "{tmp_path / "hook.secret"}"\ntimeout_seconds = 2\n'
    )
    return config


def _run(config: Path, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bounceledger", "--config", str(config), "run", "--stop-after", "60"],
            cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
        )


def test_run_killed_mid_delivery_loses_nothing(database: Database, database_url: str, receiver: Receiver, tmp_path: Path) -> None:
    from tests.web.conftest import SAMPLES, _maildir

    maildir = _maildir(tmp_path / "mail", ())
    sendlog = SAMPLES / "sendlog" / "postfix.log"
    receiver.plan = lambda _n, _id, _seq: ("slow", 0.15)  # slow enough to be killed in the middle
    config = _config(tmp_path, database_url, receiver, sendlog, Path(maildir))
    log = tmp_path / "run.log"
    first = _run(config, tmp_path, log)
    try:
        deadline = time.monotonic() + 60
        while len(receiver.all()) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(receiver.all()) >= 5, log.read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    killed_at = len(receiver.all())
    entries = feed(database)
    assert killed_at < len(entries), "the run finished before it could be killed: nothing was tested"
    receiver.plan = lambda _n, _id, _seq: ("ok",)
    second = _run(config, tmp_path, log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if {r.seq for r in receiver.accepted()} >= {e["seq"] for e in feed(database)}:
                break
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    entries = feed(database)
    endpoint = status_id(database, target(receiver))
    received = receiver.all()
    # first arrivals in order, every entry there; a re-sent entry is the same message under the same id
    assert_complete(received, entries, endpoint)
    assert len({r.webhook_id for r in received}) == len(entries)


def test_the_demo_shows_its_corrections_and_pushes_them_to_a_local_url(receiver: Receiver, tmp_path: Path) -> None:
    (tmp_path / "hook.secret").write_text(SECRET)
    shown = contract_bl("demo", "--webhook", receiver.url, "--webhook-secret-file", "hook.secret", cwd=tmp_path)
    corrections = [line for line in shown.splitlines() if " delivery.corrected " in line]
    assert len(corrections) == 3 and all("accepted -> bounced" in line for line in corrections)
    assert "bounceledger changes --json" in shown and f"webhook demo {receiver.url}: " in shown
    lines = [json.loads(line) for line in contract_bl("changes", "--json", cwd=tmp_path).splitlines()]
    assert sum(1 for line in lines if line["type"] == "delivery.corrected") == 3
    assert [r.body["data"]["seq"] for r in receiver.accepted()] == [line["seq"] for line in lines]
    assert all(r.verified for r in receiver.all())
    # without a secret file the demo makes one and prints it, for the receiver to verify with
    again = contract_bl("demo", "--webhook", receiver.url, cwd=tmp_path)
    secret = next(line.split(": ", 1)[1] for line in again.splitlines() if line.startswith("webhook secret"))
    assert len(signing.secret_key(secret)) == signing.SECRET_BYTES


def test_a_hanging_endpoint_holds_neither_ingest_nor_polling_nor_another_endpoint(
    database: Database, database_url: str, receiver: Receiver, tmp_path: Path,
) -> None:
    from tests.web.conftest import SAMPLES, _maildir

    stuck = Receiver(SECRET, plan=lambda _n, _id, _seq: ("hang", 30.0)).start()
    maildir = _maildir(tmp_path / "mail", ())
    config = _config(tmp_path, database_url, stuck, SAMPLES / "sendlog" / "postfix.log", Path(maildir))
    with config.open("a") as out:  # a second endpoint that answers
        out.write(f'\n[[webhook]]\nname = "fine"\nurl = "{receiver.url}"\nsecret_file = "{tmp_path / "hook.secret"}"\n')
    config.write_text(config.read_text().replace("timeout_seconds = 2", "timeout_seconds = 15"))
    log = tmp_path / "run.log"
    process = _run(config, tmp_path, log)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            entries = feed(database)
            corrected = sum(1 for e in entries if e["type"] == "delivery.corrected")
            # the two endpoints are sent to independently: the stuck one's first request may come after
            # the other endpoint has had everything, so wait for both
            if (corrected == 3 and {r.seq for r in receiver.accepted()} >= {e["seq"] for e in entries}
                    and stuck._arrived):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(log.read_text())
        # the stuck endpoint has its first request open and nothing else: it waits, everything else went on
        assert len(stuck.all()) == 0 and stuck._arrived == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(90)
        stuck.stop()
    assert_complete(receiver.all(), feed(database), status_id(database, replace(target(receiver), name="fine")))
