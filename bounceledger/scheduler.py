"""``bounceledger run``: the unattended main job on a schedule (APScheduler 3).

One interval job per configured send log and mailbox, one that retries
unmatched verdicts, one that gives up on deliveries deferred for too
long, and with ``retain_raw_days`` one that prunes raw messages and
evidence past that age (hourly: a run reads only what aged since). Jobs
never overlap themselves (``max_instances=1``), missed runs collapse into
one (``coalesce``), and the job store lives in the ledger's own database
(table ``scheduler_jobs``), so a restarted scheduler keeps its timetable.
SIGTERM and SIGINT stop the jobs at the next batch boundary: every batch
commits with its cursor, so stopping there loses nothing.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import FrameType

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import MetaData

from bounceledger import pipeline, polling, queries, retention
from bounceledger.db import Database

log = logging.getLogger("bounceledger.scheduler")

MISFIRE_GRACE_SECONDS = 300
EXPIRY_INTERVAL_SECONDS = 900
RETENTION_INTERVAL_SECONDS = 3600
JOB_TABLE = "scheduler_jobs"

# Jobs are stored by reference ("module:function") with plain arguments, so
# they can be pickled into the job store; the running process supplies the
# database and the stop flag through these two module globals.
_database: Database | None = None
_stopping = threading.Event()


def stopping() -> bool:
    return _stopping.is_set()


def _logged(name: str, job: Callable[[], str]) -> None:
    """One log line per job run, with its counts; a failing run never stops the scheduler."""
    try:
        log.info("%s: %s", name, job())
    except Exception as exc:  # noqa: BLE001
        log.error("%s failed: %s", name, exc)


def _db() -> Database:
    if _database is None:
        raise RuntimeError("scheduler job run outside 'bounceledger run'")
    return _database


def sendlog_job(path: str, fmt: str) -> None:
    _logged(f"sendlog {path}", lambda: pipeline.ingest_logs(_db(), pipeline.expand(path), fmt, should_stop=stopping).line())


def mailbox_job(url: str) -> None:
    _logged(f"mailbox {url}", lambda: polling.poll(_db(), url, should_stop=stopping).line())


def orphans_job() -> None:
    def run() -> str:
        database = _db()
        linked, left = pipeline.retry_orphans(database)
        with database.session() as session:
            stale = queries.report(session, timedelta(hours=database.settings.orphan_report_after_hours))["stale_orphans"]
        if stale:
            log.warning("%d verdicts unmatched for over %gh: is every send log configured?", stale, database.settings.orphan_report_after_hours)
        return f"{linked} matched, {left} still unmatched ({stale} stale)"

    _logged("unmatched verdicts", run)


def expiry_job(hours: float) -> None:
    def run() -> str:
        expired, lifted = pipeline.expire_and_settle(_db())
        return f"{expired} deliveries deferred over {hours:g}h marked expired, {lifted} soft-bounce suppressions lifted"

    _logged("expiry", run)


def retention_job(days: float) -> None:
    def run() -> str:
        database = _db()
        with database.session() as session:
            return retention.prune(session, timedelta(days=days), datetime.now(timezone.utc)).line()

    _logged("retention", run)


def build_scheduler(database: Database) -> tuple[BackgroundScheduler, set[str]]:
    """The scheduler with one job per configured source, and the ids of those jobs."""
    settings = database.settings
    store = SQLAlchemyJobStore(engine=database.engine, tablename=JOB_TABLE, metadata=MetaData())
    scheduler = BackgroundScheduler(
        jobstores={"default": store},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
        timezone="UTC",
    )
    now = datetime.now(timezone.utc)
    wanted: list[tuple[str, str, tuple[object, ...], int]] = [
        (f"sendlog:{s.path}", f"{__name__}:sendlog_job", (s.path, s.format), s.interval_seconds)
        for s in settings.sendlogs
    ]
    wanted += [(f"mailbox:{m.url}", f"{__name__}:mailbox_job", (m.url,), m.interval_seconds) for m in settings.mailboxes]
    wanted.append(("orphans", f"{__name__}:orphans_job", (), settings.orphan_retry_seconds))
    wanted.append(("expiry", f"{__name__}:expiry_job", (settings.expire_deferred_after_hours,), EXPIRY_INTERVAL_SECONDS))
    if settings.retain_raw_days:
        wanted.append(("retention", f"{__name__}:retention_job", (settings.retain_raw_days,), RETENTION_INTERVAL_SECONDS))
    for job_id, func, args, seconds in wanted:
        scheduler.add_job(
            func, "interval", seconds=seconds, id=job_id, args=args, replace_existing=True, next_run_time=now
        )
    return scheduler, {job_id for job_id, *_ in wanted}


def _forget_removed_sources(scheduler: BackgroundScheduler, keep: set[str]) -> None:
    for job in scheduler.get_jobs():
        if job.id not in keep:
            scheduler.remove_job(job.id)


def run_forever(database: Database, *, stop_after: float | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop_after`` seconds, for tests and demos)."""
    global _database
    _database = database
    _stopping.clear()
    scheduler, configured = build_scheduler(database)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current batch, then stopping", signum)
        _stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.start(paused=True)
    _forget_removed_sources(scheduler, configured)  # sources dropped from the config since last run
    scheduler.resume()
    log.info("scheduler running: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    _stopping.wait(stop_after)
    _stopping.set()
    scheduler.shutdown(wait=True)
    _database = None
