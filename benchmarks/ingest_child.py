"""One ``ingest-log`` run in a process of its own, with the CPU it cost on each side.

Run by :mod:`benchmarks.sendlog_ingest` (``python -m benchmarks.ingest_child URL LOG BATCH``):
prints one JSON object with the ingest summary, the client's CPU seconds
(this process, ``getrusage``, the migration left out) and, on PostgreSQL, the
server's: every backend this process's engine opened is read from
``/proc/<pid>/stat`` when it closes or at the end (``pg_backend_pid()``).
"""

from __future__ import annotations

import json
import sys

from benchmarks.cpu import BackendClock, client_cpu
from bounceledger.config import Settings
from bounceledger.db import Database, upgrade
from bounceledger.pipeline import ingest_logs


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
