"""`bounceledger run`: the scheduled main job, started and stopped like a service."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select, text

from bounceledger import db as dbmod
from bounceledger import queries
from bounceledger.db import Database
from bounceledger.models import ReturnedMessage

SAMPLES = Path(__file__).resolve().parent.parent / "bounceledger" / "samples"


def _config(tmp_path: Path, database_url: str) -> Path:
    shutil.copy(SAMPLES / "sendlog" / "postfix.log", tmp_path / "mail.log")
    shutil.copytree(SAMPLES / "returned", tmp_path / "Maildir")
    config = tmp_path / "bounceledger.toml"
    config.write_text(
        f"""
log_level = "DEBUG"  # idle job runs (the "0 messages" below) log at DEBUG
orphan_retry_seconds = 1
[database]
url = "{database_url}"
[[sendlog]]
path = "{tmp_path / 'mail.log*'}"
interval_seconds = 1
[[mailbox]]
url = "maildir:{tmp_path / 'Maildir'}"
interval_seconds = 1
"""
    )
    return config


def test_run_processes_sources_and_stops_cleanly_on_sigterm(database: Database, database_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, database_url)
    process = subprocess.Popen(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )
    try:
        deadline = time.monotonic() + 60
        corrected = 0
        while time.monotonic() < deadline and corrected < 3:
            time.sleep(0.5)
            with database.session() as session:
                corrected = queries.report(session)["corrected"]
        assert corrected == 3
        time.sleep(1.5)  # let every job run at least once more
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    for job in ("sendlog", "mailbox", "unmatched verdicts", "expiry"):
        assert f"bounceledger.scheduler: {job}" in err, err
    assert "0 messages" in err  # later mailbox runs found nothing new
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(ReturnedMessage)) == 10
        jobs = session.execute(text("SELECT id FROM scheduler_jobs ORDER BY id")).scalars().all()
    # the shared store holds the leader's ledger-wide timetable only; source jobs live in each process
    assert {"expiry", "orphans"} <= set(jobs) and not any(j.startswith(("mailbox:", "sendlog:")) for j in jobs)

    with database.engine.begin() as conn:  # the job store does not make the schema drift
        cfg = dbmod.alembic_config()
        cfg.attributes["connection"] = conn
        command.check(cfg)


def test_run_once_without_sources_says_what_to_configure(tmp_path: Path, database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", "--database-url", database_url, "run", "--once"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 1
    assert "configure [[sendlog]] and [[mailbox]]" in result.stderr


def _run_once(config: Path) -> subprocess.CompletedProcess[str]:
    """``run --once`` as an operator starts it: only the config file speaks."""
    return subprocess.run(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )


def test_run_once_over_configured_sources(database: Database, database_url: str, tmp_path: Path) -> None:
    result = _run_once(_config(tmp_path, database_url))
    assert result.returncode == 0, result.stderr
    assert "23 attempts recorded" in result.stdout
    assert "10 processed" in result.stdout
    assert "soft-bounce suppressions lifted (a clean delivery since): 0" in result.stdout
    with database.session() as session:
        assert queries.report(session)["corrected"] == 3


def test_run_once_reads_the_other_sources_when_one_is_wrong(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    config = _config(tmp_path, database_url)
    config.write_text(config.read_text() + f'[[sendlog]]\npath = "{tmp_path / "gone.log"}"\n')
    result = _run_once(config)
    assert result.returncode == 1
    assert "23 attempts recorded" in result.stdout and "10 processed" in result.stdout
    [line] = [x for x in result.stderr.splitlines() if x.startswith("bounceledger: error:")]
    assert "gone.log" in line and "no such file" in line
    assert "Traceback" not in result.stderr
    with database.session() as session:
        assert queries.report(session)["corrected"] == 3


def test_ledger_wide_jobs_run_in_one_process_at_a_time(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `run` processes on one ledger: the unmatched-verdict retry, expiry, settlement and
    retention run in whichever holds the job's lock; the other skips that run."""
    from bounceledger import scheduler
    from bounceledger.locks import source_lock

    calls: list[str] = []
    monkeypatch.setattr(scheduler.pipeline, "retry_orphans", lambda db: calls.append("orphans") or (0, 0))
    monkeypatch.setattr(scheduler.pipeline, "expire_and_settle", lambda db: calls.append("expiry") or (0, 0))
    monkeypatch.setattr(scheduler.pipeline, "settle_deliveries", lambda db: calls.append("settlement") or 0)
    monkeypatch.setattr(scheduler, "_database", database)
    jobs = {"orphans": scheduler.orphans_job, "expiry": lambda: scheduler.expiry_job(120.0),
            "settlement": scheduler.settlement_job}
    for name, job in jobs.items():
        with source_lock(database, f"job:{name}") as other:  # another process is running it
            assert other.held
            job()
        assert calls == [], name
        job()  # free again
        assert calls == [name]
        calls.clear()


def _start_run(config: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )


def test_sqlite_is_single_process_and_says_so(tmp_path: Path) -> None:
    """A second `run` on one SQLite ledger stops at once with the reason, and
    `--workers 2` is refused before any worker starts; the first run is untouched."""
    from bounceledger.config import Settings

    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    database = Database(Settings(database_url=url))
    dbmod.upgrade(database)
    config = _config(tmp_path, url)
    first = _start_run(config)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _run_lease_owner(database):
            time.sleep(0.2)
        assert _run_lease_owner(database).split(":")[1] == str(first.pid)
        second = _start_run(config, "--stop-after", "30")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "SQLite is single-process" in err and "Traceback" not in err
        workers = _start_run(config, "--workers", "2")
        _, err = workers.communicate(timeout=60)
        assert workers.returncode == 1
        assert "--workers 2: SQLite is single-process" in err and "Traceback" not in err
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert _run_lease_owner(database) == ""  # a clean stop hands the ledger over at once
    third = _start_run(config, "--stop-after", "1")
    _, err = third.communicate(timeout=60)
    database.dispose()
    assert third.returncode == 0, err


def _run_lease_owner(database: Database) -> str:
    with database.session() as session:
        return session.execute(text("SELECT owner FROM leases WHERE name = 'run:sqlite'")).scalar() or ""


def test_once_with_workers_is_refused_with_the_reason(database_url: str, tmp_path: Path) -> None:
    result = _start_run(_config(tmp_path, database_url), "--once", "--workers", "3")
    _, err = result.communicate(timeout=60)
    assert result.returncode == 1 and "Traceback" not in err
    assert ("--once is one whole pass" in err) if database_url.startswith("postgresql") else ("SQLite is single-process" in err)


def test_a_job_due_while_the_scheduler_stops_is_not_started() -> None:
    """APScheduler 3 shuts its executors down before its own thread ends the pass it is in; a
    job that came due in that pass was submitted to a closed pool, and the RuntimeError's
    traceback reached the log on stop (seen once in CI). The pool now starts nothing once closing."""
    from datetime import datetime, timezone

    from apscheduler.schedulers.background import BackgroundScheduler

    from bounceledger.scheduler import _ClosingThreadPool

    ran: list[int] = []
    executor = _ClosingThreadPool()
    scheduler = BackgroundScheduler(executors={"default": executor}, timezone="UTC")
    scheduler.start(paused=True)
    job = scheduler.add_job(ran.append, "interval", seconds=3600, args=[1])
    scheduler.shutdown(wait=True)
    executor.submit_job(job, [datetime.now(timezone.utc)])  # what the scheduler's last pass does
    time.sleep(0.1)
    assert ran == []
