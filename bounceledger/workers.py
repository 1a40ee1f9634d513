"""``run --workers N``: N ``run`` processes on one host, kept running by one supervisor.

Processes, not threads: parsing and matching are CPU work that one
interpreter's GIL would serialise. The children are plain ``bounceledger
run`` processes with the same settings; they share the ledger's sources
through the per-source locks and elect one leader for the ledger-wide jobs
(:mod:`bounceledger.leader`), exactly as ``run`` processes started by hand
or on other hosts would. The supervisor only starts, restarts and stops
them:

* SIGTERM/SIGINT is passed on to every child, which finishes its batch and
  exits; the supervisor exits when they have (their worst exit status).
* A child that dies (killed, crashed, any non-zero exit) is started again
  after a pause that doubles while it keeps dying young, so a child that
  cannot start does not spin the CPU.
* A child that exits 0 by itself (``--stop-after``) is done; so is the
  supervisor when every child is.
* On Linux each child is asked to get SIGTERM if the supervisor dies
  (``PR_SET_PDEATHSIG``), so killing the supervisor never leaves workers
  behind without anyone to restart them.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger("bounceledger.workers")

#: The first restart's pause, the longest, and how long a child must live to count as started.
RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STARTED_AFTER = 10.0
#: How long stopping children get to finish their batch before they are killed.
STOP_TIMEOUT = 60.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:  # noqa: BLE001 - not Linux: the child just outlives a killed supervisor
        pass


@dataclass
class _Child:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = RESTART_DELAY
    restart_at: float | None = None
    done: bool = False
    returncode: int = 0


@dataclass
class Supervisor:
    """Keeps ``count`` children running; ``command(index)`` is the argv of child ``index`` (from 0)."""

    count: int
    command: Callable[[int], Sequence[str]]
    poll_seconds: float = 0.2
    children: list[_Child] = field(default_factory=list)
    _stopping: bool = False

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.children = [_Child(i) for i in range(self.count)]
            for child in self.children:
                self._start(child)
            while not self._stopping and not all(c.done for c in self.children):
                self._reap()
                time.sleep(self.poll_seconds)
            return self._stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping %d workers", signum, self.count)
        self._stopping = True

    def _start(self, child: _Child) -> None:
        # the same environment: BOUNCELEDGER_* settings (and secrets) reach every worker, and only they
        child.process = subprocess.Popen(list(self.command(child.index)), preexec_fn=_die_with_parent)
        child.started = time.monotonic()
        child.restart_at = None
        log.info("worker %d/%d started (pid %d)", child.index + 1, self.count, child.process.pid)

    def _reap(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.done:
                continue
            if child.process is None:
                if child.restart_at is not None and now >= child.restart_at:
                    self._start(child)
                continue
            code = child.process.poll()
            if code is None:
                continue
            child.process = None
            if code == 0:
                log.info("worker %d/%d finished", child.index + 1, self.count)
                child.done = True
                continue
            lived = now - child.started
            child.delay = RESTART_DELAY if lived >= STARTED_AFTER else min(child.delay * 2, MAX_RESTART_DELAY)
            child.restart_at = now + child.delay
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            log.warning("worker %d/%d died (%s): restarting in %gs", child.index + 1, self.count, how, child.delay)

    def _stop(self) -> int:
        running = [c for c in self.children if c.process is not None]
        for child in running:
            assert child.process is not None
            try:
                child.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_TIMEOUT
        worst = 0
        for child in self.children:
            if child.process is None:
                continue
            try:
                code = child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d/%d did not stop within %gs: killed", child.index + 1, self.count, STOP_TIMEOUT)
                child.process.kill()
                code = child.process.wait()
            worst = max(worst, abs(code))
        log.info("workers stopped")
        return 0 if worst in (0, signal.SIGTERM) else 1


def child_command(
    index: int,
    *,
    config: str | None,
    database_url: str | None,
    log_level: str | None,
    log_format: str | None,
    stop_after: float | None,
    metrics_port: int | None,
) -> list[str]:
    """One worker's argv: the same settings as the supervisor's; each serves metrics on its own port."""
    argv = [sys.executable, "-m", "bounceledger"]
    for option, value in (
        ("--config", config), ("--database-url", database_url), ("--log-level", log_level), ("--log-format", log_format),
    ):
        if value is not None:
            argv += [option, value]
    argv.append("run")
    if stop_after is not None:
        argv += ["--stop-after", repr(stop_after)]
    if metrics_port is not None:
        argv += ["--metrics-port", str(metrics_port + index)]
    return argv
