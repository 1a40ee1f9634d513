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
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, str, float] | None:
    """(parent pid, command name, CPU seconds of the process and its reaped children)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # fields[1] is the parent pid; utime, stime, cutime, cstime are fields 11..14
    return int(fields[1]), name, sum(int(value) for value in fields[11:15]) / _TICKS


def _processes() -> dict[int, tuple[int, str, float]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            found[int(entry)] = stat
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds ``root`` and every process below it have used so far."""
    processes = _processes()
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
    processes = _processes()
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
