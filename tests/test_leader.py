"""Several workers on one PostgreSQL: one leader at a time, handed over at once
when it dies, and ledger-wide work claimed in disjoint batches (SKIP LOCKED)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bounceledger import pipeline
from bounceledger.config import Settings
from bounceledger.db import Database
from bounceledger.ingest import reconcile
from bounceledger.ingest.returned import Incoming, store_returned_messages
from bounceledger.leader import RETRY_SECONDS, Leadership
from bounceledger.models import Delivery, Event
from tests import chaos_mail
from tests.logtail import LogTail

SAMPLES = Path(__file__).resolve().parent.parent / "bounceledger" / "samples"
MESSAGES = [p.read_bytes() for p in sorted((SAMPLES / "returned" / "new").glob("*.msg"))]

#: A process that stands for leader, says when it leads, and holds on.
_HOLDER = """
import sys, time
from bounceledger.config import Settings
from bounceledger.db import Database
from bounceledger.leader import Leadership
leadership = Leadership(Database(Settings(database_url=sys.argv[1])))
while not leadership.refresh():
    time.sleep(0.1)
print("leading", flush=True)
time.sleep(600)
"""


@pytest.fixture
def pg(postgres_database_url: str) -> Database:
    database = Database(Settings(database_url=postgres_database_url))
    yield database  # type: ignore[misc]
    database.dispose()


def test_a_standby_leads_within_seconds_of_the_leader_being_killed(pg: Database, postgres_database_url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, postgres_database_url], stdout=subprocess.PIPE, text=True)
    standby = Leadership(pg)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "leading"
        for _ in range(3):  # standing by, however often it asks
            assert standby.refresh() is False
            time.sleep(0.2)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        killed = time.monotonic()
        while not standby.refresh():
            assert time.monotonic() - killed < 5, "no standby took over within 5s"
            time.sleep(RETRY_SECONDS)
        assert standby.refresh() is True  # and keeps leading
        other = Leadership(pg)
        assert other.refresh() is False  # one leader at a time
        standby.release()
        assert other.refresh() is True  # a clean stop hands over at the next try
        other.release()
    finally:
        holder.kill()
        holder.wait()
        standby.release()


def test_a_leader_whose_connection_dies_stands_down(pg: Database) -> None:
    leader = Leadership(pg)
    assert leader.refresh() is True
    with pg.engine.connect() as admin:  # the server ends the leader's session (a network cut, a restart)
        admin.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()")
        )
        admin.commit()
    assert leader.refresh() is False  # notices, rather than believing it still leads
    assert leader.refresh() is True  # and stands again (the lock went with the session)
    leader.release()


def _run(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "--log-level", "INFO", "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )


def test_two_runs_one_leader_and_the_standby_takes_over_on_sigkill(postgres_database_url: str, tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    config = tmp_path / "bounceledger.toml"
    config.write_text(
        f'[database]\nurl = "{postgres_database_url}"\n[[mailbox]]\nurl = "maildir:{maildir}"\ninterval_seconds = 1\n'
    )
    first = _run(config)
    second: subprocess.Popen[str] | None = None
    try:
        LogTail(first.stderr).wait_for("leading: ledger-wide jobs", 30)  # type: ignore[arg-type]
        second = _run(config)
        second_log = LogTail(second.stderr)  # type: ignore[arg-type]
        second_log.wait_for("scheduler running", 30)
        time.sleep(2 * RETRY_SECONDS)
        assert "leading:" not in second_log.text()  # standing by
        first.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        took_over = second_log.wait_for("leading: ledger-wide jobs", 15)
        assert took_over - killed < 2 * RETRY_SECONDS + 2
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    assert second is not None and second.returncode == 0


def _orphans(database: Database) -> int:
    with database.session() as session:
        store_returned_messages(session, [Incoming(raw, "box", f"m{i}") for i, raw in enumerate(MESSAGES)], database.rules)
    with database.session() as session:
        return session.scalar(select(func.count()).where(Event.kind == "verdict", Event.delivery_id.is_(None))) or 0


def test_two_sessions_claim_disjoint_batches_of_unmatched_verdicts(pg: Database) -> None:
    total = _orphans(pg)  # no send log read: every verdict waits
    assert total >= 6
    with pg.session() as first:
        held = first.scalars(
            select(Event.id).where(Event.kind == "verdict", Event.delivery_id.is_(None)).order_by(Event.id).limit(4).with_for_update()
        ).all()  # a worker in the middle of its batch
        with pg.session() as second:
            second.execute(text("SET LOCAL lock_timeout = '3s'"))
            assert reconcile.retry_orphans(second, pg.rules, batch=2) == (0, total - 4)  # the rest, in batches
    with pg.session() as first:
        assert reconcile.retry_orphans(first, pg.rules) == (0, total)
        with pg.session() as second:  # everything claimed by the first: nothing left, and no waiting
            second.execute(text("SET LOCAL lock_timeout = '3s'"))
            assert reconcile.retry_orphans(second, pg.rules) == (0, 0)
    assert len(held) == 4


def test_two_sessions_never_expire_the_same_delivery(pg: Database, tmp_path: Path) -> None:
    sent = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    log = tmp_path / "mail.log"
    with log.open("w") as out:
        for number in range(5):  # 5 messages, 2 recipients each, deferred and never tried again
            message = chaos_mail.Message(number, 0, 0, sent)
            message.recipients = [chaos_mail.Recipient(f"r{number}-{j}@example.test", "deferred-long") for j in range(2)]
            out.write("\n".join(chaos_mail.log_lines(message)) + "\n")
    pipeline.ingest_logs(pg, [str(log)], "postfix")
    with pg.session() as session:
        deferred = session.scalar(select(func.count()).where(Delivery.state == "deferred")) or 0
    assert deferred == 10
    later = datetime.now(timezone.utc)
    with pg.session() as first:
        assert reconcile.expire_deferred(first, timedelta(hours=1), later, pg.rules) == deferred
        with pg.session() as second:
            # claimed rows are skipped, not waited for (a wait would hit this timeout)
            second.execute(text("SET LOCAL statement_timeout = '3s'"))
            assert reconcile.expire_deferred(second, timedelta(hours=1), later, pg.rules, batch=1) == 0
    with pg.session() as session:
        assert reconcile.expire_deferred(session, timedelta(hours=1), later, pg.rules) == 0
        timeouts = session.scalar(select(func.count()).where(Event.outcome == "timeout")) or 0
        changes = session.execute(text("SELECT count(*) FROM changes WHERE type = 'delivery.expired'")).scalar()
    assert timeouts == deferred and changes == deferred


def _advisory_holders(database: Database, name: str) -> int:
    """Sessions holding the advisory lock ``name`` (pooled idle ones count)."""
    from bounceledger.locks import advisory_key

    key = advisory_key(name)
    with database.engine.connect() as admin:
        return admin.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                 " AND ((classid::bigint << 32) | objid::bigint) = :k"),
            {"k": key},
        ).scalar_one()


def test_a_lock_whose_unlock_fails_is_not_left_held_in_the_pool(pg: Database) -> None:
    """release() on a connection that cannot unlock (its transaction broken)
    discards the connection: back in the pool it would keep the lock alive."""
    from bounceledger.locks import SourceLock

    lock = SourceLock(pg, "test:unlock-fails")
    assert lock.acquire() is True
    assert _advisory_holders(pg, lock.name) == 1
    assert lock._connection is not None
    try:
        lock._connection.exec_driver_sql("SELECT no_such_column FROM no_such_table")
    except Exception:  # noqa: BLE001 - leaves the transaction aborted: the unlock will fail
        pass
    lock.release()
    assert _advisory_holders(pg, lock.name) == 0
    other = SourceLock(pg, lock.name)
    assert other.acquire() is True
    other.release()


def test_still_held_notices_a_lost_session_and_a_failed_acquire_leaks_nothing(pg: Database) -> None:
    from bounceledger.locks import SourceLock

    lock = SourceLock(pg, "test:still-held")
    assert lock.acquire() and lock.still_held()
    with pg.engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"))
        admin.commit()
    assert lock.still_held() is False and lock.held is False
    checked_out = pg.engine.pool.checkedout()
    broken = SourceLock(pg, "test:still-held")
    broken.name = None  # type: ignore[assignment] - the lock query raises before it reaches the server
    with pytest.raises(Exception):
        broken.acquire()
    assert pg.engine.pool.checkedout() == checked_out  # the connection went back (discarded), not leaked
    assert broken.held is False
