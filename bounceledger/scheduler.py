"""``bounceledger run``: the unattended main job on a schedule (APScheduler 3).

One interval job per configured send log and mailbox, plus the orphan retry.
Jobs never overlap themselves (``max_instances=1``) and missed runs collapse
into one (``coalesce``), so a slow database does not pile up work. SIGTERM
and SIGINT let the running batch finish: every batch commits with its
cursor, so stopping between batches loses nothing.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from bounceledger import pipeline, polling
from bounceledger.db import Database

log = logging.getLogger("bounceledger.scheduler")

ORPHAN_RETRY_SECONDS = 300
MISFIRE_GRACE_SECONDS = 120


def _logged(name: str, job: Callable[[], str]) -> Callable[[], None]:
    def run() -> None:
        try:
            log.info("%s: %s", name, job())
        except Exception as exc:  # noqa: BLE001 - one failing run must not stop the scheduler
            log.error("%s failed: %s", name, exc)

    return run


def build_scheduler(database: Database) -> BackgroundScheduler:
    settings = database.settings
    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
        timezone="UTC",
    )
    for source in settings.sendlogs:
        scheduler.add_job(
            _logged(f"sendlog {source.path}", lambda s=source: pipeline.ingest_logs(database, [s.path], s.format).line()),
            "interval",
            seconds=source.interval_seconds,
            id=f"sendlog:{source.path}",
            next_run_time=_now(),
        )
    for box in settings.mailboxes:
        scheduler.add_job(
            _logged(f"mailbox {box.url}", lambda b=box: polling.poll(database, b.url).line()),
            "interval",
            seconds=box.interval_seconds,
            id=f"mailbox:{box.url}",
            next_run_time=_now(),
        )

    def orphans() -> str:
        linked, left = pipeline.retry_orphans(database)
        return f"{linked} matched, {left} still unmatched"

    scheduler.add_job(_logged("orphans", orphans), "interval", seconds=ORPHAN_RETRY_SECONDS, id="orphans")
    return scheduler


def run_forever(database: Database) -> None:
    scheduler = build_scheduler(database)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current batch, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.start()
    stop.wait()
    scheduler.shutdown(wait=True)


def _now() -> datetime:
    """First runs start at once; later ones follow the interval."""
    return datetime.now(timezone.utc)
