"""Two ingesters on one PostgreSQL: does the CPU per attempt hold when a second one runs?

Issue #17 asks that two ``ingest-log`` processes on two logs cost no more
than 10 % more CPU per attempt than one process on one log. This prints,
in one run, on fresh databases of its own:

* one ``bounceledger ingest-log`` on one generated Postfix log (the same
  generator as ``sendlog_ingest.py``),
* two at once, each on a log of its own of the same size,

each with its wall time, attempts/s, and CPU per attempt split into the
clients (the ``ingest-log`` processes, read from ``wait4``) and the server
(the PostgreSQL tree, backends included, read from ``/proc``; see
``benchmarks/cpu.py``), and the ratio of the two runs' CPU per attempt.

The server figure covers the whole PostgreSQL tree (autovacuum, the
checkpointer): run it on an otherwise idle machine.

    .venv/bin/python benchmarks/ingest_scaling.py [--lines 400000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.cpu import TreeClock, finished, server_root  # noqa: E402
from benchmarks.scratch import admin_url, scratch_postgres  # noqa: E402
from benchmarks.sendlog_ingest import generate  # noqa: E402

_ATTEMPTS = re.compile(r"([\d,]+) attempts")


@dataclass(frozen=True)
class Run:
    ingesters: int
    attempts: int
    seconds: float
    client_cpu: float
    server_cpu: float

    def line(self) -> str:
        per = 1e6 / self.attempts
        return (
            f"{self.ingesters} ingester(s): {self.attempts:,} attempts in {self.seconds:.1f}s "
            f"({self.attempts / self.seconds:,.0f} attempts/s); CPU per attempt: "
            f"clients {self.client_cpu * per:.1f} µs + server {self.server_cpu * per:.1f} µs "
            f"= {(self.client_cpu + self.server_cpu) * per:.1f} µs"
        )


def _command() -> list[str]:
    found = shutil.which("bounceledger", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "bounceledger"]


def ingest_together(url: str, logs: list[Path]) -> Run:
    """``ingest-log`` on each log, all at once, into ``url``; CPU read from the kernel."""
    subprocess.run([*_command(), "--database-url", url, "db", "upgrade"], check=True, stdout=subprocess.DEVNULL)
    server = TreeClock(server_root("postgres"))
    server.start()
    started = time.perf_counter()
    children = [
        subprocess.Popen(
            [*_command(), "--database-url", url, "ingest-log", "--format", "postfix", str(log)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for log in logs
    ]
    attempts, client = 0, 0.0
    for child in children:
        output, usage = finished(child, "ingest-log")
        found = _ATTEMPTS.search(output)
        if found is None:
            raise SystemExit(f"ingest-log printed no attempt count:\n{output}")
        attempts += int(found.group(1).replace(",", ""))
        client += usage.ru_utime + usage.ru_stime
    seconds = time.perf_counter() - started
    return Run(len(logs), attempts, seconds, client, server.stop())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=400_000, help="lines per log")
    ap.add_argument("--postgres", default=admin_url())
    args = ap.parse_args()
    if server_root("postgres") is None:
        raise SystemExit("no local PostgreSQL process to read the server's CPU from")
    work = Path(tempfile.mkdtemp(prefix="bl-ingest-scaling-"))
    try:
        logs = [work / f"mail{n}.log" for n in range(3)]
        for seed, log in enumerate(logs, start=21):
            generate(log, args.lines, seed=seed)
        print(f"three logs of {args.lines:,} lines each ({logs[0].stat().st_size / 1e6:.0f} MB)")
        with scratch_postgres(args.postgres, f"bounceledger_scale1_{os.getpid()}") as url:
            one = ingest_together(url, logs[:1])
        print(one.line())
        with scratch_postgres(args.postgres, f"bounceledger_scale2_{os.getpid()}") as url:
            two = ingest_together(url, logs[1:])
        print(two.line())
        ratio = (two.client_cpu + two.server_cpu) / two.attempts / ((one.client_cpu + one.server_cpu) / one.attempts)
        print(
            f"two ingesters vs one: CPU per attempt x{ratio:.2f} (target <= 1.10), "
            f"throughput x{(two.attempts / two.seconds) / (one.attempts / one.seconds):.2f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
