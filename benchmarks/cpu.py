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

import time

from tests.mailstack.procs import process_table


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
