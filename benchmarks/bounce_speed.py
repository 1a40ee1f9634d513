"""Speed and memory of ``bounceledger.ingest.bounces.parse`` against its baselines.

Usage: ``python benchmarks/bounce_speed.py [--corpus DIR] [--rounds N] [--messages N]``

Prints messages per second, on the same files, for:

* our parser (``bounceledger.ingest.bounces.parse``),
* flufl.bounce alone (stdlib parse + ``all_failures``),
* Debian's Perl Sisimai 4.25 (``libsisimai-perl``), when installed, run as a
  separate process by ``benchmarks/bounce_sisimai_baseline.pl``.

Each figure is given twice: wall time (what the accuracy benchmark reports)
and CPU time of the decoding loop, which is far steadier on a shared
machine. The ratio to Sisimai uses the sisimai set (the files Sisimai reads
as mail). Then peak RSS after parsing ``--messages`` messages (the corpus
looped over), to show that memory stays flat.
"""

from __future__ import annotations

import argparse
import email
import logging
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bounceledger.ingest.bounces import parse  # noqa: E402

#: Sisimai's loop, timed both ways (times() gives the process's CPU seconds).
_SISIMAI = r"""
use strict; use warnings; use Sisimai; use Time::HiRes qw(time);
my $rounds = shift @ARGV; my @files = @ARGV; my $count = 0;
Sisimai->make($_, 'delivered' => 1) for @files;  # warm-up
my $start = time; my ($u0, $s0) = times;
for my $round (1 .. $rounds) { for my $file (@files) { Sisimai->make($file, 'delivered' => 1); $count++; } }
my ($u1, $s1) = times;
printf "%d %.6f %.6f\n", $count, time - $start, ($u1 - $u0) + ($s1 - $s0);
"""


def _rates(files: list[bytes], fn: Callable[[bytes], object], rounds: int) -> tuple[float, float]:
    """(wall, cpu) messages per second, best round of ``rounds`` after a warm-up."""
    for raw in files:
        fn(raw)
    best_wall = best_cpu = float("inf")
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for raw in files:
            fn(raw)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return len(files) / best_wall, len(files) / max(best_cpu, 1e-9)


def _flufl_only(raw: bytes) -> object:
    from flufl.bounce import all_failures

    try:
        return all_failures(email.message_from_bytes(raw))
    except Exception:
        return None


def _sisimai_rates(paths: list[Path], rounds: int) -> tuple[float, float] | None:
    perl = shutil.which("perl")
    if not perl or subprocess.run([perl, "-MSisimai", "-e", "1"], capture_output=True).returncode != 0:
        return None
    done = subprocess.run([perl, "-e", _SISIMAI, str(rounds), *map(str, paths)], capture_output=True, text=True)
    try:
        count, wall, cpu = done.stdout.split()
        return int(count) / float(wall), int(count) / max(float(cpu), 1e-9)
    except ValueError:
        return None


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (best one counts)")
    parser.add_argument("--messages", type=int, default=100_000, help="messages for the memory check (0: skip)")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # flufl.bounce logs every detector crash with a traceback

    sisimai_paths = sorted((args.corpus / "sisimai" / "eml").glob("*.eml"))
    flufl_paths = sorted(p for p in (args.corpus / "flufl-bounce" / "messages").glob("*") if p.is_file())
    if not sisimai_paths and not flufl_paths:
        print(f"no corpus under {args.corpus}; nothing measured")
        return 0
    sets = {"sisimai set": sisimai_paths, "flufl-bounce set": flufl_paths, "both": sisimai_paths + flufl_paths}
    print(f"messages/s, best of {args.rounds} rounds (wall / cpu):")
    ours_sisimai_cpu = ours_sisimai_wall = 0.0
    for name, paths in sets.items():
        if not paths:
            continue
        files = [p.read_bytes() for p in paths]
        ours = _rates(files, parse, args.rounds)
        flufl = _rates(files, _flufl_only, args.rounds)
        if name == "sisimai set":
            ours_sisimai_wall, ours_sisimai_cpu = ours
        print(f"  {name} ({len(files)} files): bounceledger {ours[0]:.0f} / {ours[1]:.0f};"
              f" flufl.bounce alone {flufl[0]:.0f} / {flufl[1]:.0f}")
    if sisimai_paths:
        sisimai = _sisimai_rates(sisimai_paths, args.rounds)
        if sisimai is None:
            print("  Sisimai 4.25 (perl): not installed (apt-get install libsisimai-perl)")
        else:
            print(f"  Sisimai 4.25 (perl), sisimai set: {sisimai[0]:.0f} / {sisimai[1]:.0f};"
                  f" bounceledger is {ours_sisimai_wall / sisimai[0]:.2f}x (wall) /"
                  f" {ours_sisimai_cpu / sisimai[1]:.2f}x (cpu) its rate")
    if args.messages > 0:
        files = [p.read_bytes() for p in sisimai_paths + flufl_paths]
        before = _peak_rss_mb()
        done = 0
        checkpoints: list[str] = []
        step = max(args.messages // 4, 1)
        while done < args.messages:
            for raw in files:
                parse(raw)
                done += 1
                if done % step == 0:
                    checkpoints.append(f"{done}: {_peak_rss_mb():.0f} MB")
                if done >= args.messages:
                    break
        print(f"peak RSS: {before:.0f} MB before, {_peak_rss_mb():.0f} MB after {done} messages"
              f" ({'; '.join(checkpoints)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
