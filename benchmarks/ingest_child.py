"""One ``ingest-log`` run in a process of its own, with the CPU it cost on each side.

Run by :mod:`benchmarks.sendlog_ingest` (``python -m benchmarks.ingest_child URL LOG BATCH``):
prints one JSON object with the ingest summary, the client's CPU seconds
(this process, ``getrusage``, the migration left out) and, on PostgreSQL, the
server's: every backend this process's engine opened is read from
``/proc/<pid>/stat`` when it closes or at the end (``pg_backend_pid()``).
"""

from __future__ import annotations

import json
import os
import resource
import sys

from sqlalchemy import event

from bounceledger.config import Settings
from bounceledger.db import Database, upgrade
from bounceledger.pipeline import ingest_logs

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process on this machine, from /proc."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class BackendClock:
    """CPU of every PostgreSQL backend an engine opens, from when it is switched on."""

    def __init__(self, engine) -> None:  # type: ignore[no-untyped-def]
        self.start: dict[int, float] = {}
        self.done = 0.0
        self.live: dict[int, int] = {}  # id(dbapi connection) -> backend pid
        self.on = False
        event.listen(engine, "connect", self._connect)
        event.listen(engine, "close", self._close)

    def switch_on(self) -> None:
        self.on = True
        for pid in self.live.values():
            self.start[pid] = proc_cpu(pid)

    def _connect(self, dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        self.live[id(dbapi_connection)] = pid
        self.start[pid] = proc_cpu(pid)

    def _close(self, dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        pid = self.live.pop(id(dbapi_connection), None)
        if pid is not None and self.on:
            self.done += proc_cpu(pid) - self.start.pop(pid)

    def total(self) -> float:
        return self.done + sum(proc_cpu(pid) - self.start[pid] for pid in self.live.values() if pid in self.start)


def main() -> None:
    url, path, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    database = Database(Settings(database_url=url, batch_size=batch))
    upgrade(database)
    clock = BackendClock(database.engine) if database.engine.dialect.name == "postgresql" else None
    if clock is not None:
        clock.switch_on()
    client_before = client_cpu()
    summary = ingest_logs(database, [path], "postfix")
    client = client_cpu() - client_before
    server = clock.total() if clock is not None else 0.0
    database.dispose()
    print(json.dumps({"lines": summary.lines, "attempts": summary.attempts, "seconds": summary.seconds,
                      "store_seconds": summary.store_seconds, "client_cpu": client, "server_cpu": server}))


if __name__ == "__main__":
    main()
