"""CPU seconds a server spent, read from /proc, for benchmarks that share two cores with it.

A rate measured against a server on the same machine (Dovecot, PostgreSQL)
says little on its own: the server's CPU comes out of the same cores as
ours. These helpers read what a whole process tree used, so a benchmark
can print where each message's CPU went and what is left for our code.

A tree's CPU is, for every live process in it, its own user and system
time plus what its reaped children used (``cutime``/``cstime``): a child
that exited and was reaped counts once, in its parent; a live one counts
itself. Servers fork a process per connection (Dovecot's ``imap``,
PostgreSQL's backends), so the connection's work shows up either way.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from typing import Any

from sqlalchemy import event

from tests.mailstack.procs import process_table

_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds ``root`` and every process below it have used so far."""
    processes = process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        if pid in processes:
            total += processes[pid][2]
        stack.extend(children.get(pid, ()))
    return total


def server_root(name: str) -> int | None:
    """The pid of the oldest process named ``name`` whose parent has another name (a server's master)."""
    processes = process_table()
    roots = [pid for pid, (parent, command, _) in processes.items()
             if command == name and processes.get(parent, (0, "", 0.0))[1] != name]
    return min(roots) if roots else None


class TreeClock:
    """CPU a process tree uses between :meth:`start` and :meth:`stop`.

    ``settle`` waits before the last reading: a server reaps the process
    of a connection just closed a moment later, and only then does its
    CPU show up in the parent.
    """

    def __init__(self, root: int | None, settle: float = 0.3) -> None:
        self.root = root
        self.settle = settle
        self._start = 0.0

    def start(self) -> None:
        self._start = tree_cpu(self.root) if self.root else 0.0

    def stop(self) -> float:
        if not self.root:
            return 0.0
        time.sleep(self.settle)
        return tree_cpu(self.root) - self._start


def process_cpu(pid: int) -> float:
    """CPU seconds one process (a PostgreSQL backend, say) has used so far: its own user and system time."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class BackendClock:
    """CPU of every PostgreSQL backend an engine opens, from :meth:`switch_on` on.

    The backends are the server's share of the work for exactly this
    client: unlike the whole server's tree, they leave out autovacuum, the
    checkpointer and anyone else's connections on a shared machine. Each is
    read from ``/proc`` when the engine opens it (``pg_backend_pid()``), and
    again when it closes or at :meth:`total`.
    """

    def __init__(self, engine: Any) -> None:
        self.start: dict[int, float] = {}
        self.done = 0.0
        self.live: dict[int, int] = {}  # id(dbapi connection) -> backend pid
        self.on = False
        event.listen(engine, "connect", self._connect)
        event.listen(engine, "close", self._close)

    def switch_on(self) -> None:
        """Count from now: what the open backends used so far is left out."""
        self.on = True
        self.done = 0.0
        for pid in self.live.values():
            self.start[pid] = process_cpu(pid)

    def _connect(self, dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        self.live[id(dbapi_connection)] = pid
        self.start[pid] = process_cpu(pid)

    def _close(self, dbapi_connection: Any, _record: Any) -> None:
        pid = self.live.pop(id(dbapi_connection), None)
        if pid is not None and self.on:
            self.done += process_cpu(pid) - self.start.pop(pid)

    def total(self) -> float:
        """Server CPU seconds since :meth:`switch_on`."""
        return self.done + sum(process_cpu(pid) - self.start[pid] for pid in self.live.values() if pid in self.start)


def client_cpu() -> float:
    """CPU seconds this process (all its threads) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def finished(process: subprocess.Popen[Any], what: str) -> tuple[Any, resource.struct_rusage]:
    """A child's whole output and its resource usage (CPU, peak RSS) once it has ended.

    ``os.wait4`` rather than ``wait``: the usage is the child's own and its
    reaped children's, which the benchmarks print. A failed child stops the
    benchmark with ``what`` and its output.
    """
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = status
    if status != 0:
        raise SystemExit(f"{what} failed:\n{output if isinstance(output, str) else output.decode(errors='replace')}")
    return output, usage
