"""Process helpers shared by the daemon wrappers."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a zombie still answers kill 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def process_table() -> dict[int, tuple[int, str, float]]:
    """Every process now: pid -> (parent pid, command name, CPU seconds of it and its reaped children).

    Processes that end while the table is read are left out.
    """
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # fields[1] is the parent pid; utime, stime, cutime, cstime are fields 11..14
        table[int(stat.parent.name)] = (int(fields[1]), name, sum(int(value) for value in fields[11:15]) / _TICKS)
    return table


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return [child for child, (parent, _, _) in process_table().items() if parent == pid]


def read_pid(path: Path) -> int | None:
    """First integer in a pid file, or None when absent/garbled."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_exit(pid: int, timeout: float) -> None:
    """Wait for `pid` to exit; SIGKILL it if it outlives `timeout` (teardown must finish)."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
