"""``retain_raw_days``: raw messages and personal evidence go, counts and states stay.

The ledger is filled through the real pipeline; the rows are then made
older in the database (age counts from when the ledger recorded them), so
no test waits for a clock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bounceledger import pipeline, queries, retention
from bounceledger.db import Database
from bounceledger.scheduler import build_scheduler
from bounceledger.models import Event, ReturnedMessage
from tests.test_forget import ADDRESS, _extra_mail
from tests.web.conftest import SAMPLES, seed

NOW = datetime.now(timezone.utc)


@pytest.fixture
def ledger(database: Database, tmp_path: Path) -> Database:
    seed(database, tmp_path / "work", _extra_mail(tmp_path / "extra"))  # with an unmatched verdict
    return database


def _age(database: Database, days: float, *, messages_up_to: int | None = None, events_up_to: int | None = None) -> None:
    """Make the rows up to these ids (all, when None) ``days`` older."""
    with database.session() as session:
        shift = timedelta(days=days)
        rows = select(ReturnedMessage.id, ReturnedMessage.recorded_at)
        for message_id, recorded in session.execute(rows if messages_up_to is None else rows.where(ReturnedMessage.id <= messages_up_to)):
            session.execute(update(ReturnedMessage).where(ReturnedMessage.id == message_id).values(recorded_at=recorded - shift))
        rows = select(Event.id, Event.recorded_at)
        for event_id, recorded in session.execute(rows if events_up_to is None else rows.where(Event.id <= events_up_to)):
            session.execute(update(Event).where(Event.id == event_id).values(recorded_at=recorded - shift))


def _picture(database: Database) -> dict[str, object]:
    """Everything the counts and states rest on."""
    with database.session() as session:
        report = queries.report(session)
        lookup = queries.lookup(session, "unknown2@example.net")
        events = session.execute(
            select(Event.kind, Event.outcome, Event.status, Event.reason, Event.detail, Event.delivery_id).order_by(Event.id)
        ).all()
        sizes = session.execute(select(ReturnedMessage.outcome, ReturnedMessage.size, ReturnedMessage.sha256).order_by(ReturnedMessage.id)).all()
    for delivery in lookup["deliveries"]:
        for event in delivery["events"]:
            event.pop("reporting_mta")  # kept in the evidence: checked below
    return {"report": report, "lookup": lookup, "events": events, "messages": sizes}


def test_prune_empties_raw_and_evidence_and_keeps_the_ledger(ledger: Database) -> None:
    with ledger.session() as session:
        assert retention.prune(session, timedelta(days=30), NOW) == retention.Pruned(0, 0)  # nothing is that old
    _age(ledger, 31)
    before = _picture(ledger)
    with ledger.session() as session:
        pruned = retention.prune(session, timedelta(days=30), NOW)
        messages = session.scalar(select(func.count()).select_from(ReturnedMessage))
        events = session.scalar(select(func.count()).select_from(Event).where(Event.evidence.is_not(None)))
    assert pruned.messages == messages == 12
    assert 0 < pruned.events <= events
    with ledger.session() as session:
        again = retention.prune(session, timedelta(days=30), NOW)
        stored = session.scalars(select(ReturnedMessage)).all()
        evidence = session.execute(select(Event.kind, Event.delivery_id, Event.evidence)).all()
    assert again == retention.Pruned(0, 0)  # nothing is read twice
    assert {(m.raw, m.subject) for m in stored} == {(b"", None)} and all(m.pruned_at for m in stored)
    assert _picture(ledger) == before  # counts, states, codes, reasons, details, sizes, hashes

    verdicts = [e for kind, delivery, e in evidence if kind == "verdict" and delivery is not None]
    attempts = [e for kind, _, e in evidence if kind == "attempt"]
    orphans = [e for kind, delivery, e in evidence if kind == "verdict" and delivery is None]
    assert verdicts and attempts and orphans
    for item in verdicts + attempts + orphans:
        assert "pruned_at" in item
        assert not {"line", "accepted_line", "final_recipient", "original_recipient", "orig_recipient"} & set(item)
        assert ADDRESS not in str(item)
    assert all("hardbounce" in v and "category" in v and "reporting_mta" in v for v in verdicts)
    assert all("original_message_id" not in v for v in verdicts)
    assert all("original_message_id" in o and "return_path_token" in o for o in orphans)  # they may still match
    linked, _ = pipeline.retry_orphans(ledger)  # and matching them still works
    assert linked == 0


def test_mail_that_arrived_long_ago_is_kept_as_long_as_the_ledger_has_held_it(ledger: Database) -> None:
    """A mailbox read for the first time may hold last year's bounces (their arrival,
    ``received_at``, a year back): retention counts from when the ledger took them in."""
    with ledger.session() as session:
        session.execute(update(ReturnedMessage).values(received_at=NOW - timedelta(days=365)))
    with ledger.session() as session:
        assert retention.prune(session, timedelta(days=30), NOW).messages == 0
    _age(ledger, 31)
    with ledger.session() as session:
        assert retention.prune(session, timedelta(days=30), NOW).messages == 12


def test_only_what_is_older_goes(ledger: Database) -> None:
    with ledger.session() as session:
        first_messages = session.scalar(select(func.min(ReturnedMessage.id))) + 3
        first_events = session.scalar(select(func.min(Event.id))) + 9
    _age(ledger, 91, messages_up_to=first_messages, events_up_to=first_events)
    _age(ledger, 60)
    with ledger.session() as session:
        pruned = retention.prune(session, timedelta(days=90), NOW)
        kept = session.scalars(select(ReturnedMessage.id).where(ReturnedMessage.pruned_at.is_(None))).all()
    assert pruned.messages == 4 and 0 < pruned.events <= 10
    assert kept and min(kept) == first_messages + 1
    with ledger.session() as session:  # a shorter period later prunes the rest
        rest = retention.prune(session, timedelta(days=30), NOW)
    assert rest.messages == len(kept)


def test_the_scheduler_prunes_only_when_asked(ledger: Database) -> None:
    from dataclasses import replace

    _, jobs = build_scheduler(ledger)
    assert "retention" not in jobs  # kept for ever unless retain_raw_days is set
    keeping = Database(replace(ledger.settings, retain_raw_days=30))
    try:
        _, jobs = build_scheduler(keeping)
        assert "retention" in jobs
    finally:
        keeping.dispose()


def test_run_prunes_on_its_schedule(ledger: Database, database_url: str, tmp_path: Path) -> None:
    """``bounceledger run`` with retain_raw_days: the retention job runs with the others and logs its counts."""
    _age(ledger, 10)
    shutil.copy(SAMPLES / "sendlog" / "postfix.log", tmp_path / "mail.log")
    config = tmp_path / "bounceledger.toml"
    config.write_text(
        f'log_level = "INFO"\nretain_raw_days = 7\n[database]\nurl = "{database_url}"\n'
        f'[[sendlog]]\npath = "{tmp_path / "mail.log"}"\nformat = "postfix"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")}
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run", "--stop-after", "3"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "bounceledger.scheduler: retention: 12 returned messages' raw bytes and" in result.stderr, result.stderr
    with ledger.session() as session:
        assert session.scalar(select(func.count()).select_from(ReturnedMessage).where(ReturnedMessage.pruned_at.is_(None))) == 0
        assert queries.report(session)["corrected"] == 3

    once = subprocess.run(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run", "--once"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert once.returncode == 0, once.stderr
    assert "retention (7 days): 0 returned messages' raw bytes and 0 events' evidence pruned" in once.stdout
