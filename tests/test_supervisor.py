"""``run --workers``' supervisor: restarts a worker that dies, passes SIGTERM on, leaves none behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bounceledger import workers

#: A stand-in worker: writes its pid, then waits for SIGTERM and exits 0 (as `run` does).
_CHILD = """
import os, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
Path(sys.argv[1], str(os.getpid())).touch()
time.sleep(120)
"""

_SUPERVISOR = """
import sys
from bounceledger import workers
workers.RESTART_DELAY = 0.2
folder = sys.argv[1]
sys.exit(workers.Supervisor(2, lambda i: [sys.executable, "-c", {child!r}, folder]).run())
""".format(child=_CHILD)


def _pids(folder: Path) -> set[int]:
    return {int(p.name) for p in folder.iterdir()}


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_worker_is_restarted_and_sigterm_stops_them_all(tmp_path: Path) -> None:
    supervisor = subprocess.Popen([sys.executable, "-c", _SUPERVISOR, str(tmp_path)], stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: len(_pids(tmp_path)) == 2)
        first, second = sorted(_pids(tmp_path))
        os.kill(first, signal.SIGKILL)
        _wait(lambda: len(_pids(tmp_path)) == 3)  # started again
        assert _alive(second)
        supervisor.send_signal(signal.SIGTERM)
        _, err = supervisor.communicate(timeout=30)
    finally:
        supervisor.kill()
    assert supervisor.returncode == 0, err
    assert "died (killed by signal 9): restarting" in err
    assert not any(_alive(pid) for pid in _pids(tmp_path))


def test_workers_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    supervisor = subprocess.Popen([sys.executable, "-c", _SUPERVISOR, str(tmp_path)], stderr=subprocess.DEVNULL)
    _wait(lambda: len(_pids(tmp_path)) == 2)
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()
    _wait(lambda: not any(_alive(pid) for pid in _pids(tmp_path)))


def test_worker_command_keeps_the_settings_and_spreads_metrics_ports() -> None:
    argv = workers.child_command(
        2, config="/etc/bl.toml", database_url=None, log_level="DEBUG", log_format=None, stop_after=30.0, metrics_port=9100
    )
    assert argv[1:] == ["-m", "bounceledger", "--config", "/etc/bl.toml", "--log-level", "DEBUG", "run",
                        "--stop-after", "30.0", "--metrics-port", "9102"]
