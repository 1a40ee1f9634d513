"""Whole-process speed of ``bounceledger parse DIR --json`` against Perl Sisimai 4.25.

Usage (with bounceledger installed): ``python benchmarks/parse_process.py [--dir DIR] [--repeat N] [--help-runs N] [--rounds N] [--bytecode] [--limit N]``

What a user feels is the whole process: interpreter start-up, imports,
listing and reading the files, parsing, and writing the JSON. So both sides
run as fresh processes on the same files in the same run, alternately (so a
neighbour's load falls on both), several times:

* ours: the installed ``bounceledger`` console script next to this Python
  (``python -m bounceledger`` when there is none), ``parse DIR --json``;
* Sisimai: Debian's Perl Sisimai 4.25 (``libsisimai-perl``) through
  ``benchmarks/bounce_sisimai_baseline.pl --json``, which prints each file's
  records as JSON (``Sisimai->dump``), the same job.

Wall and CPU seconds (user + system, from the children's rusage) are printed
for both with their medians, and the ratio Sisimai / ours (above 1: we are
faster). Also printed: the median wall time of ``bounceledger --help``, the
time to start and parse a single file, the parser's import beside a bare
interpreter's start (CPU beyond bare Python), and the parser alone (in
this process, warm) in messages per second.

Python start-up depends on cached bytecode: with ``PYTHONDONTWRITEBYTECODE``
set (as in some development shells) every run compiles every module from
source, which an installed package (compiled by pip at install time) never
does. The benchmark says which case it measured; ``--bytecode`` runs the
children with a private ``PYTHONPYCACHEPREFIX`` so that they use cached
bytecode as an installed package would. Start-up weighs more on fewer
files: ``--limit N`` measures on the first N files only (a folder of links
to them), e.g. 186 as in issue 13. The Sisimai side is skipped, with the
command to install it, when Perl or the module is absent; everything is
skipped when the folder is absent.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO.parent / "shared" / "corpus" / "sisimai" / "eml"
BASELINE = REPO / "benchmarks" / "bounce_sisimai_baseline.pl"
INSTALL_HINT = "apt-get update && apt-get install -y libsisimai-perl"

Sample = tuple[float, float]  # wall seconds, CPU seconds

#: The children's environment: as inherited, or with a bytecode cache (--bytecode).
CHILD_ENV: dict[str, str] = dict(os.environ)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: Sequence[str]) -> tuple[Sample, subprocess.CompletedProcess[bytes]]:
    """Wall and CPU seconds of one child process, its output thrown away as it comes."""
    cpu = _children_cpu()
    start = time.perf_counter()
    # Not in the checkout: from its root, ``bounceledger`` would be the source folder, not the installed package.
    done = subprocess.run(
        list(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tempfile.gettempdir(), env=CHILD_ENV
    )
    return (time.perf_counter() - start, _children_cpu() - cpu), done


def _succeeded(run: tuple[Sample, subprocess.CompletedProcess[bytes]]) -> Sample:
    """The sample of a run that must not fail (a failed import would time nothing)."""
    sample, done = run
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, done.args))} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return sample


def ours_command() -> list[str]:
    """What a user runs: the console script installed beside this interpreter, if any."""
    script = Path(sys.executable).parent / "bounceledger"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "bounceledger"]


def sisimai_command() -> list[str] | None:
    perl = shutil.which("perl")
    if not perl or subprocess.run([perl, "-MSisimai", "-e", "1"], capture_output=True).returncode != 0:
        return None
    return [perl, str(BASELINE), "--json", "1"]


def message_files(folder: Path) -> list[Path]:
    """The files ``bounceledger parse DIR`` reads, in its order, so that Perl gets the same ones."""
    from bounceledger.cli import _message_files  # the installed package (the checkout's root lacks .ingest)

    return list(_message_files([str(folder)]))


def median(samples: list[Sample], index: int) -> float:
    return statistics.median(s[index] for s in samples)


def show(label: str, samples: list[Sample]) -> None:
    walls = " ".join(f"{s[0]:.3f}" for s in samples)
    cpus = " ".join(f"{s[1]:.3f}" for s in samples)
    print(f"  {label:34} wall median {median(samples, 0):.3f} s (runs: {walls})")
    print(f"  {'':34} CPU  median {median(samples, 1):.3f} s (runs: {cpus})")


def whole_process(folder: Path, files: list[Path], repeat: int) -> None:
    ours = [*ours_command(), "parse", str(folder), "--json"]
    perl = sisimai_command()
    if perl is None:
        print(f"  Sisimai 4.25 (perl): not installed; to compare, run: {INSTALL_HINT}")
    else:
        perl = [*perl, *map(str, files)]
    # One untimed run each: page cache, .pyc files, and a check that both work.
    _, done = timed(ours)
    if done.returncode != 0:
        raise SystemExit(f"bounceledger parse failed: {done.stderr.decode(errors='replace')[-500:]}")
    if perl is not None:
        _, done = timed(perl)
        if done.returncode != 0:
            raise SystemExit(f"Sisimai baseline failed: {done.stderr.decode(errors='replace')[-500:]}")
    ours_samples: list[Sample] = []
    perl_samples: list[Sample] = []
    for _ in range(repeat):
        ours_samples.append(timed(ours)[0])
        if perl is not None:
            perl_samples.append(timed(perl)[0])
    print(f"whole process on {len(files)} files in {folder} ({repeat} runs each, alternating):")
    show("bounceledger parse DIR --json", ours_samples)
    if perl_samples:
        show("Sisimai 4.25 (perl) dump per file", perl_samples)
        wall = median(perl_samples, 0) / median(ours_samples, 0)
        cpu = median(perl_samples, 1) / median(ours_samples, 1)
        print(f"  ratio Sisimai / bounceledger: wall {wall:.2f}x, CPU {cpu:.2f}x (above 1: bounceledger is faster)")
        print(
            f"  per message, start-up included: bounceledger {1000 * median(ours_samples, 1) / len(files):.2f} ms CPU,"
            f" Sisimai {1000 * median(perl_samples, 1) / len(files):.2f} ms CPU"
        )


def start_up(files: list[Path], runs: int) -> None:
    helps = [_succeeded(timed([*ours_command(), "--help"])) for _ in range(runs)]
    ones = [_succeeded(timed([*ours_command(), "parse", str(files[0]), "--json"])) for _ in range(runs)]
    print(f"start-up ({runs} runs each, median):")
    print(f"  bounceledger --help:            wall {1000 * median(helps, 0):.0f} ms, CPU {1000 * median(helps, 1):.0f} ms")
    print(f"  bounceledger parse ONE --json:  wall {1000 * median(ones, 0):.0f} ms, CPU {1000 * median(ones, 1):.0f} ms")
    perl = sisimai_command()
    if perl is not None:
        perl_ones = [timed([*perl, str(files[0])])[0] for _ in range(runs)]
        print(f"  Sisimai 4.25 (perl) ONE:        wall {1000 * median(perl_ones, 0):.0f} ms, CPU {1000 * median(perl_ones, 1):.0f} ms")
    bare = [timed([sys.executable, "-c", "pass"])[0] for _ in range(runs)]
    imports = [_succeeded(timed([sys.executable, "-c", "from bounceledger.ingest.bounces import parse"])) for _ in range(runs)]
    print(f"  python (bare interpreter):      wall {1000 * median(bare, 0):.0f} ms, CPU {1000 * median(bare, 1):.0f} ms")
    print(f"  python -c 'from bounceledger.ingest.bounces import parse': wall {1000 * median(imports, 0):.0f} ms,"
          f" CPU {1000 * median(imports, 1):.0f} ms ({1000 * (median(imports, 1) - median(bare, 1)):.0f} ms CPU beyond bare)")


def parser_alone(files: list[Path], rounds: int) -> None:
    """The parser in this process, warm: the rate the whole process tends to on many files."""
    from bounceledger.ingest.bounces import parse

    raws = [path.read_bytes() for path in files]
    for raw in raws:  # warm: lazily built tables, caches
        parse(raw)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        for raw in raws:
            parse(raw)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    count = rounds * len(raws)
    print(f"parser alone, warm, {rounds} rounds of {len(raws)} files:")
    print(f"  {count / wall:,.0f} messages/s wall, {count / cpu:,.0f} messages/s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"folder of messages (default: {DEFAULT_DIR})")
    parser.add_argument("--repeat", type=int, default=5, help="whole-process runs per side (default 5)")
    parser.add_argument("--help-runs", type=int, default=11, help="runs of the start-up measures (default 11)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds for the parser-alone rate (default 3)")
    parser.add_argument("--bytecode", action="store_true", help="children cache bytecode, as an installed package")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N files (a folder of links to them)")
    args = parser.parse_args()
    if not args.dir.is_dir():
        print(f"skipped: {args.dir} not found (give a folder of messages with --dir)")
        return
    files = message_files(args.dir)
    if not files:
        print(f"skipped: no files in {args.dir}")
        return
    print(f"bounceledger: {' '.join(ours_command())}")
    with tempfile.TemporaryDirectory(prefix="parse-process-pyc-") as cache, tempfile.TemporaryDirectory(
        prefix="parse-process-files-"
    ) as subset:
        if args.limit is not None and args.limit < len(files):
            for number, path in enumerate(files[: args.limit]):
                (Path(subset) / f"{number:05d}-{path.name}").symlink_to(path.resolve())
            args.dir = Path(subset)
            files = message_files(args.dir)
        if args.bytecode:
            CHILD_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
            CHILD_ENV["PYTHONPYCACHEPREFIX"] = cache
        if CHILD_ENV.get("PYTHONDONTWRITEBYTECODE"):
            print("bytecode: not cached (PYTHONDONTWRITEBYTECODE is set): every run compiles from source; try --bytecode")
        else:
            print("bytecode: cached, as an installed package")
        measure(args, files)


def measure(args: argparse.Namespace, files: list[Path]) -> None:
    whole_process(args.dir, files, args.repeat)
    start_up(files, args.help_runs)
    parser_alone(files, args.rounds)


if __name__ == "__main__":
    main()
