"""One reader per source at a time, across processes and machines.

On PostgreSQL a session advisory lock: the server drops it the moment the
holder's connection dies, so a poller killed with SIGKILL never blocks its
successor. On SQLite a lease row with an expiry, renewed as work goes on;
a holder on this host whose process is gone is replaced at once.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, func, select, text, update

from bounceledger.db import Database, connect_errors
from bounceledger.ingest.dbutil import insert_ignoring_duplicates
from bounceledger.models import Lease

LEASE_TTL = timedelta(minutes=5)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # cannot tell from here: trust the expiry
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class SourceLock:
    """A held (or refused) lock; ``renew`` extends a lease while work goes on."""

    database: Database
    name: str
    held: bool = False
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    _connection: Connection | None = None

    def acquire(self) -> bool:
        with connect_errors(self.database.settings):
            if self.database.engine.dialect.name == "postgresql":
                connection = self.database.engine.connect()
                try:
                    self.held = bool(
                        connection.execute(select(func.pg_try_advisory_lock(advisory_key(self.name)))).scalar()
                    )
                    connection.commit()
                except BaseException:
                    _discard(connection)  # never back to the pool in an unknown state
                    raise
                if self.held:
                    self._connection = connection
                else:
                    connection.close()
                return self.held
            self.held = self._take_lease()
            return self.held

    def still_held(self) -> bool:
        """Whether the lock is still ours, for a holder that keeps it for long.

        On PostgreSQL the lock lives exactly as long as its connection: a
        round trip on it answers, and a connection that fails is discarded
        (the server has dropped, or will drop, the lock with it). A lease
        is ours until it expires, which :meth:`renew` puts off.
        """
        if not self.held:
            return False
        if self._connection is None:
            return True
        try:
            self._connection.execute(select(1)).scalar()
            self._connection.commit()
            return True
        except Exception:  # noqa: BLE001 - a dead connection is the answer
            self.held = False
            _discard(self._connection)
            self._connection = None
            return False

    def _take_lease(self) -> bool:
        now = datetime.now(timezone.utc)
        with self.database.session() as session:
            insert_ignoring_duplicates(
                session,
                Lease,
                [{"name": self.name, "owner": "", "expires_at": now - LEASE_TTL}],
                ["name"],
            )
        with self.database.session() as session:
            current = session.get(Lease, self.name)
            assert current is not None
            if current.owner and current.owner != self.owner and current.expires_at > now and _owner_alive(current.owner):
                return False
            # Compare-and-set on the owner we saw: two contenders cannot both win.
            result = session.execute(
                update(Lease)
                .where(Lease.name == self.name, Lease.owner == current.owner)
                .values(owner=self.owner, expires_at=now + LEASE_TTL)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def renew(self) -> None:
        if not self.held or self._connection is not None:
            return
        with self.database.session() as session:
            session.execute(
                update(Lease)
                .where(Lease.name == self.name, Lease.owner == self.owner)
                .values(expires_at=datetime.now(timezone.utc) + LEASE_TTL)
                .execution_options(synchronize_session=False)
            )

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        connection, self._connection = self._connection, None
        try:
            if connection is not None:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key(self.name)})
                    connection.commit()
                except Exception:  # noqa: BLE001 - the lock dies with the discarded connection
                    _discard(connection)
                else:
                    connection.close()
                return
            with self.database.session() as session:
                session.execute(
                    update(Lease)
                    .where(Lease.name == self.name, Lease.owner == self.owner)
                    .values(owner="", expires_at=datetime.now(timezone.utc))
                    .execution_options(synchronize_session=False)
                )
        except Exception:  # noqa: BLE001 - an expired lease frees itself
            pass


def _discard(connection: Connection) -> None:
    """Close a lock's connection for good: a pooled connection would keep
    its session's advisory lock alive in the pool."""
    try:
        connection.invalidate()
        connection.close()
    except Exception:  # noqa: BLE001 - already gone
        pass


@contextmanager
def source_lock(database: Database, name: str) -> Iterator[SourceLock]:
    lock = SourceLock(database, name)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
