"""``bounceledger run``: the unattended main job on a schedule (APScheduler 3).

Two schedulers per process. The *source* jobs, in memory in every process:
one interval job per configured send log and mailbox, and one per
``[[webhook]]`` that pushes the change feed to it; each source's own lock
lets one process read it at a time, so several ``run`` processes (or
``run --workers N``) spread the sources between them. The *ledger-wide*
jobs, only in the process that leads (:mod:`bounceledger.leader`): one
that retries unmatched verdicts, one that gives up on deliveries deferred
for too long, one that settles first-hop acceptances whose settlement
window passed with no bounce (unless ``[settlement] enabled = false``), and
with ``retain_raw_days`` one that prunes raw messages and evidence past that
age (hourly: a run reads only what aged since). Their job store lives in
the ledger's own database (table ``scheduler_jobs``), which APScheduler 3
cannot share between processes: hence one leader. Jobs
never overlap themselves (``max_instances=1``), missed runs collapse into
one (``coalesce``).
SIGTERM and SIGINT stop the jobs at the next batch boundary: every batch
commits with its cursor, so stopping there loses nothing.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import MetaData

from bounceledger import pipeline, polling, queries, retention
from bounceledger.config import Settings
from bounceledger.db import Database
from bounceledger.leader import RETRY_SECONDS, Leadership

log = logging.getLogger("bounceledger.scheduler")

MISFIRE_GRACE_SECONDS = 300
EXPIRY_INTERVAL_SECONDS = 900
SETTLEMENT_INTERVAL_SECONDS = 300  # a window is minutes to hours long: settle within 5 minutes of its end
#: Jobs that wait one interval before their first run. Settlement does, so that
#: a service starting on a backlog reads the mailboxes first: otherwise the
#: deliveries whose bounces are still unread would settle, and be reported
#: as late surprises when those bounces are read minutes later.
FIRST_RUN_DELAY_SECONDS = {"settlement": SETTLEMENT_INTERVAL_SECONDS}
RETENTION_INTERVAL_SECONDS = 3600
#: A webhook job drains its endpoint's backlog each run; this is how soon a new change goes out.
WEBHOOK_INTERVAL_SECONDS = 2
JOB_TABLE = "scheduler_jobs"

# Jobs are stored by reference ("module:function") with plain arguments, so
# they can be pickled into the job store; the running process supplies the
# database and the stop flag through these two module globals.
_database: Database | None = None
_stopping = threading.Event()
_metrics_on = False  # set by run_forever when --metrics-port serves them


def stopping() -> bool:
    return _stopping.is_set()


def _logged(
    name: str, job: Callable[[], tuple[str, dict[str, int]]], metric: str | None = None, *, exclusive: bool = False,
) -> None:
    """One log line per job run, with its counts (also as fields of a JSON log
    line); DEBUG when every count is 0, so an idle service stays quiet. Its duration and outcome go to the
    metrics under ``metric`` (default ``name``). A failing run never stops the scheduler.

    ``exclusive``: a ledger-wide job (unmatched verdicts, expiry, settlement,
    retention) that two processes on one database would only repeat: it runs
    under a lock named after it, and a process that finds it taken skips
    this run. Only the leader schedules these jobs, but a leader that lost
    its lead may still be finishing one while the next leader starts (and
    ``run --once`` runs them too): the lock covers those overlaps."""
    if exclusive:
        job = _claimed(f"job:{metric or name}", job)
    started = time.monotonic()
    ok = False
    try:
        line, counts = job()
        ok = True
        extra = {"job": metric or name, "seconds": round(time.monotonic() - started, 3), "counts": counts}
        # a run that only found its source busy (another worker has it) is as quiet as an idle one
        news = any(count for key, count in counts.items() if key != "busy")
        log.log(logging.INFO if news else logging.DEBUG, "%s: %s", name, line, extra=extra)
    except Exception as exc:  # noqa: BLE001
        log.error("%s failed: %s", name, exc, extra={"job": metric or name, "error": type(exc).__name__})
    finally:
        if _metrics_on:
            from bounceledger import metrics

            metrics.job_done(metric or name, time.monotonic() - started, ok)


def _claimed(lock: str, job: Callable[[], tuple[str, dict[str, int]]]) -> Callable[[], tuple[str, dict[str, int]]]:
    """``job`` run under the lock ``lock``, or nothing (a quiet line) while another process holds it."""

    def claimed() -> tuple[str, dict[str, int]]:
        from bounceledger.locks import source_lock

        with source_lock(_db(), lock) as taken:
            if not taken.held:
                return "another process is running it", {}
            return job()

    return claimed


def _db() -> Database:
    if _database is None:
        raise RuntimeError("scheduler job run outside 'bounceledger run'")
    return _database


def sendlog_job(path: str, fmt: str) -> None:
    def run() -> tuple[str, dict[str, int]]:
        summary = pipeline.ingest_logs(_db(), pipeline.expand(path), fmt, should_stop=stopping)
        if _metrics_on:
            from bounceledger import metrics

            metrics.observe_logs(summary, f"sendlog:{path}")
        return summary.line(), {
            "lines": summary.lines,
            "attempts": summary.attempts,
            "skipped": summary.skipped,
            "busy": len(summary.busy),
        }

    _logged(f"sendlog {path}", run, f"sendlog:{path}")


def mailbox_job(url: str) -> None:
    def run() -> tuple[str, dict[str, int]]:
        summary = polling.poll(_db(), url, should_stop=stopping)
        if _metrics_on:
            from bounceledger import metrics

            metrics.observe_poll(summary, f"mailbox:{url}")
        counts = {"messages": summary.seen, "verdicts": summary.verdicts, "orphans": summary.orphans}
        return summary.line(), counts | {"errors": summary.error, "busy": int(summary.busy)}

    _logged(f"mailbox {url}", run, f"mailbox:{url}")


def orphans_job() -> None:
    def run() -> tuple[str, dict[str, int]]:
        database = _db()
        linked, left = pipeline.retry_orphans(database)
        with database.session() as session:
            report = queries.report(session, timedelta(hours=database.settings.orphan_report_after_hours))
        stale = report["stale_orphans"]
        if _metrics_on:
            from bounceledger import metrics

            metrics.observe_orphans(linked, left)
            metrics.observe_report(report)
        if stale:
            log.warning("%d verdicts unmatched for over %gh: is every send log configured?", stale, database.settings.orphan_report_after_hours)
        return f"{linked} matched, {left} still unmatched ({stale} stale)", {"matched": linked}

    _logged("unmatched verdicts", run, "orphans", exclusive=True)


def expiry_job(hours: float) -> None:
    def run() -> tuple[str, dict[str, int]]:
        expired, lifted = pipeline.expire_and_settle(_db())
        if _metrics_on:
            from bounceledger import metrics

            metrics.observe_expiry(expired)
        line = f"{expired} deliveries deferred over {hours:g}h marked expired, {lifted} soft-bounce suppressions lifted"
        return line, {"expired": expired, "lifted": lifted}

    _logged("expiry", run, exclusive=True)


def settlement_job() -> None:
    def run() -> tuple[str, dict[str, int]]:
        settled = pipeline.settle_deliveries(_db())
        if _metrics_on:
            from bounceledger import metrics

            metrics.observe_settlement(settled)
        return f"{settled} provisional first-hop 250s settled (no bounce within their window)", {"settled": settled}

    _logged("settlement", run, exclusive=True)


def webhook_job(key: str) -> None:
    def run() -> tuple[str, dict[str, int]]:
        from bounceledger.webhooks import sender

        database = _db()
        target = next((w for w in database.settings.webhooks if w.key == key), None)
        if target is None:
            return f"webhook {key}: no longer configured", {}
        summary = sender.deliver(database, target, should_stop=stopping)
        if _metrics_on:
            from bounceledger import metrics
            from bounceledger.webhooks import store

            with database.session() as session:
                status = next(iter(store.status(session, key)), None)
            metrics.observe_webhook(summary, status)
        return summary.line(), {"sent": summary.delivered, "failed": summary.failed, "dead": summary.dead_lettered}

    _logged(f"webhook {key}", run, f"webhook:{key}")


def retention_job(days: float) -> None:
    def run() -> tuple[str, dict[str, int]]:
        database = _db()
        with database.session() as session:
            pruned = retention.prune(session, timedelta(days=days), datetime.now(timezone.utc))
        return pruned.line(), {"messages": pruned.messages, "events": pruned.events}

    _logged("retention", run, exclusive=True)


def _ledger_wide_jobs(settings: Settings) -> list[tuple[str, str, tuple[object, ...], int]]:
    wanted: list[tuple[str, str, tuple[object, ...], int]] = [
        ("orphans", f"{__name__}:orphans_job", (), settings.orphan_retry_seconds),
        ("expiry", f"{__name__}:expiry_job", (settings.expire_deferred_after_hours,), EXPIRY_INTERVAL_SECONDS),
    ]
    if settings.settlement_enabled:
        wanted.append(("settlement", f"{__name__}:settlement_job", (), SETTLEMENT_INTERVAL_SECONDS))
    if settings.retain_raw_days:
        wanted.append(("retention", f"{__name__}:retention_job", (settings.retain_raw_days,), RETENTION_INTERVAL_SECONDS))
    return wanted


def _source_jobs(settings: Settings) -> list[tuple[str, str, tuple[object, ...], int]]:
    wanted: list[tuple[str, str, tuple[object, ...], int]] = [
        (f"sendlog:{s.path}", f"{__name__}:sendlog_job", (s.path, s.format), s.interval_seconds)
        for s in settings.sendlogs
    ]
    wanted += [(f"mailbox:{m.url}", f"{__name__}:mailbox_job", (m.url,), m.interval_seconds) for m in settings.mailboxes]
    wanted += [(f"webhook:{w.key}", f"{__name__}:webhook_job", (w.key,), WEBHOOK_INTERVAL_SECONDS) for w in settings.webhooks]
    return wanted


class _ClosingThreadPool(ThreadPoolExecutor):
    """APScheduler's thread pool, which starts no job once it is shutting down.

    ``BackgroundScheduler.shutdown`` shuts its executors down before its own
    thread has finished the pass it may be in; a job that came due in that
    pass was then submitted to a closed pool, and APScheduler logged the
    ``RuntimeError`` with its traceback on every such stop. Stopping means
    not starting more work (the next run picks the job up), so a submit
    after shutdown starts nothing, and says so at debug level.
    """

    def __init__(self, max_workers: int = 10) -> None:
        super().__init__(max_workers)
        self._closing = False
        self._closing_lock = threading.Lock()

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        with self._closing_lock:
            if self._closing:
                log.debug("not starting %s: the scheduler is stopping", job.id)
                return
            super().submit_job(job, run_times)

    def shutdown(self, wait: bool = True) -> None:
        with self._closing_lock:
            self._closing = True
        super().shutdown(wait)


def _scheduler(jobstore: object, wanted: list[tuple[str, str, tuple[object, ...], int]]) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        jobstores={"default": jobstore},
        executors={"default": _ClosingThreadPool()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
        timezone="UTC",
    )
    now = datetime.now(timezone.utc)
    for job_id, func, args, seconds in wanted:
        scheduler.add_job(
            func, "interval", seconds=seconds, id=job_id, args=args, replace_existing=True,
            next_run_time=now + timedelta(seconds=FIRST_RUN_DELAY_SECONDS.get(job_id, 0)),
        )
    return scheduler


def build_scheduler(database: Database) -> tuple[BackgroundScheduler, set[str]]:
    """The leader's scheduler: the ledger-wide jobs, in the persistent job store
    (so a restarted or newly elected leader keeps the timetable), and their ids."""
    wanted = _ledger_wide_jobs(database.settings)
    store = SQLAlchemyJobStore(engine=database.engine, tablename=JOB_TABLE, metadata=MetaData())
    return _scheduler(store, wanted), {job_id for job_id, *_ in wanted}


def build_source_scheduler(database: Database) -> tuple[BackgroundScheduler, set[str]]:
    """Every process's scheduler: one job per send log, mailbox and webhook, in memory.

    Not in the shared store: each worker tries every source at its interval,
    and the source's own lock (per file, per mailbox, per endpoint) lets one
    of them read it while the others skip that run, so N workers spread
    the sources between them without any timetable to share."""
    wanted = _source_jobs(database.settings)
    return _scheduler(MemoryJobStore(), wanted), {job_id for job_id, *_ in wanted}


def _forget_removed_sources(scheduler: BackgroundScheduler, keep: set[str]) -> None:
    """Jobs dropped from the config since the last run, and the per-source jobs
    that older versions kept in the shared store."""
    for job in scheduler.get_jobs():
        if job.id not in keep:
            scheduler.remove_job(job.id)


class _Timetable:
    """The leader's half of a run: started when this process is elected, stopped when it loses the lead."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.scheduler: BackgroundScheduler | None = None

    def start(self) -> None:
        scheduler, configured = build_scheduler(self.database)
        scheduler.start(paused=True)
        _forget_removed_sources(scheduler, configured)
        scheduler.resume()
        self.scheduler = scheduler
        log.info("leading: ledger-wide jobs %s", ", ".join(job.id for job in scheduler.get_jobs()))

    def stop(self, wait: bool) -> None:
        if self.scheduler is not None:
            scheduler, self.scheduler = self.scheduler, None
            try:
                scheduler.shutdown(wait=wait)
            except Exception as exc:  # noqa: BLE001 - a lost database may fail the store's last write
                log.warning("stopping the ledger-wide jobs: %s", exc)


def run_forever(database: Database, *, stop_after: float | None = None, metrics_port: int | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop_after`` seconds, for tests and demos).

    The source jobs start at once; the ledger-wide jobs start when this
    process leads (:mod:`bounceledger.leader`), at once when no other does.
    On SQLite a second ``run`` on the same ledger raises
    :class:`~bounceledger.leader.SingleProcessError`.

    ``metrics_port``: serve /healthz, /readyz and /metrics on 127.0.0.1 there."""
    global _database, _metrics_on
    leadership = Leadership(database)
    if not leadership.postgres:
        leadership.claim_sqlite()  # before anything starts: a refused second run leaves nothing behind
    _database = database
    _stopping.clear()
    sources, _ = build_source_scheduler(database)
    timetable = _Timetable(database)
    listener = None
    if metrics_port is not None:
        from bounceledger import health_server, metrics

        settings = database.settings
        metrics.source_intervals.update({f"sendlog:{s.path}": s.interval_seconds for s in settings.sendlogs})
        metrics.source_intervals.update({f"mailbox:{m.url}": m.interval_seconds for m in settings.mailboxes})
        listener = health_server.start(database, metrics_port)
        _metrics_on = True

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current batch, then stopping", signum)
        _stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sources.start()
        log.info("scheduler running: %s", ", ".join(job.id for job in sources.get_jobs()) or "no source jobs")
        deadline = None if stop_after is None else time.monotonic() + stop_after
        standing_by = False
        while not _stopping.is_set():
            was_leading = timetable.scheduler is not None
            leading = leadership.refresh()
            if leading and not was_leading:
                try:
                    timetable.start()
                except Exception as exc:  # noqa: BLE001 - hand the lead on rather than hold it idle
                    log.error("could not start the ledger-wide jobs: %s", exc, extra={"error": type(exc).__name__})
                    timetable.stop(wait=False)
                    leadership.release()
            elif was_leading and not leading:
                timetable.stop(wait=False)
            if not leading and not standing_by:
                log.info("standing by: another process leads the ledger-wide jobs")
            standing_by = not leading
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            _stopping.wait(RETRY_SECONDS if left is None else min(RETRY_SECONDS, left))
    finally:
        _stopping.set()
        sources.shutdown(wait=True)
        timetable.stop(wait=True)
        leadership.release()
        if listener is not None:
            listener.shutdown()
            listener.server_close()
        _metrics_on = False
        _database = None
    log.info("stopped")
