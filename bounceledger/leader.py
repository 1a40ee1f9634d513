"""Which ``run`` process keeps the ledger-wide timetable: one leader per ledger.

APScheduler 3's job store is not safe to share: two schedulers reading one
``scheduler_jobs`` table both run every due job and overwrite each other's
next run times. So only one process, the leader, runs that store.

On PostgreSQL the leader holds a session advisory lock on a connection of
its own, kept out of the pool for as long as it leads. The server drops
the lock the moment that connection dies, so a leader killed with SIGKILL
(or cut off from the server) hands over at once: a standby retries every
:data:`RETRY_SECONDS` and leads from its next try. Advisory locks live in
one database, so the lock names the ledger, not the server.

SQLite is single-process: the one ``run`` leads, and a lease row (see
:mod:`bounceledger.locks`) makes a second ``run`` on the same file stop
with a clear message instead of sharing the job store.
"""

from __future__ import annotations

import logging
import time

from bounceledger.db import Database
from bounceledger.locks import SourceLock

log = logging.getLogger("bounceledger.leader")

#: How often a standby tries to take over, and a leader checks it still holds its connection.
RETRY_SECONDS = 2.0
LEADER_LOCK = "scheduler:leader"
#: The lease that keeps a second ``run`` off a SQLite ledger, and how often it is renewed
#: (well within its five-minute expiry; not every check, which would be a write every 2 s).
SQLITE_RUN_LEASE = "run:sqlite"
LEASE_RENEW_SECONDS = 60.0


class SingleProcessError(RuntimeError):
    """A second ``run`` (or ``--workers`` above 1) on a SQLite ledger."""


def sqlite_message(owner: str = "") -> str:
    held = f" ({owner} holds it)" if owner else ""
    return (
        f"SQLite is single-process: another 'bounceledger run' is already running on this ledger{held}; "
        "stop it first, or use PostgreSQL to run several workers"
    )


class Leadership:
    """This process's claim to lead; ``refresh`` keeps it or takes it over, as the case may be.

    The claim is a :class:`~bounceledger.locks.SourceLock` on either
    database: on PostgreSQL the advisory lock :data:`LEADER_LOCK`, held
    on a connection of its own; on SQLite the single-process lease
    :data:`SQLITE_RUN_LEASE`.
    """

    def __init__(self, database: Database, name: str = LEADER_LOCK) -> None:
        self.database = database
        self.name = name
        self.leading = False
        self._lock: SourceLock | None = None
        self._renewed = 0.0

    @property
    def postgres(self) -> bool:
        return self.database.engine.dialect.name == "postgresql"

    def claim_sqlite(self) -> None:
        """Take the single-process lease on a SQLite ledger, or raise :class:`SingleProcessError`."""
        lease = SourceLock(self.database, SQLITE_RUN_LEASE)
        if not lease.acquire():
            raise SingleProcessError(sqlite_message(_lease_owner(self.database)))
        self._lock = lease
        self._renewed = time.monotonic()
        self.leading = True

    def refresh(self) -> bool:
        """Whether this process leads now: a leader checks its connection still lives, a standby tries to take over.

        Never raises: a database that cannot be reached just means "not
        leading" until it can (a standby keeps trying).
        """
        if not self.postgres:
            if self._lock is not None and time.monotonic() - self._renewed >= LEASE_RENEW_SECONDS:
                try:
                    self._lock.renew()
                    self._renewed = time.monotonic()
                except Exception as exc:  # noqa: BLE001 - the lease outlives a failed renewal by minutes
                    log.warning("could not renew the run lease: %s", exc)
            return self.leading
        if self.leading:
            if self._lock is not None and self._lock.still_held():
                return True
            log.warning("lost the leader's connection to the database: standing by")
            self.release()
            return False
        lock = SourceLock(self.database, self.name)
        try:
            self.leading = lock.acquire()
        except Exception as exc:  # noqa: BLE001
            log.debug("cannot stand for leader: %s", exc)
            self.leading = False
        self._lock = lock if self.leading else None
        return self.leading

    def release(self) -> None:
        """Hand over at once on a clean stop (a standby's next try takes over)."""
        lock, self._lock = self._lock, None
        self.leading = False
        if lock is not None:
            lock.release()


def _lease_owner(database: Database) -> str:
    from bounceledger.models import Lease

    try:
        with database.session() as session:
            row = session.get(Lease, SQLITE_RUN_LEASE)
            return row.owner.rsplit(":", 1)[0] if row is not None and row.owner else ""
    except Exception:  # noqa: BLE001 - only for the message
        return ""
