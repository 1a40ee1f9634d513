"""Score ``bounceledger.ingest.bounces.parse`` against the shared public corpora.

Usage: ``PYTHONPATH=. python benchmarks/bounce_accuracy.py [--corpus DIR] [--show N] [--messages N]``

Sisimai set (scoring from ../shared/corpus/README.md): per file, records are
compared as multisets of (status, replycode, reason, hardbounce); a file is
"fully right" when every expected record is matched and nothing extra is
produced. flufl.bounce set: the expected addresses must be found, and no
other address reported. Skips with a message when the corpus is absent.

Speed: messages per second for our parser (warm, several rounds), for
flufl.bounce alone on the same files, and for Debian's Perl Sisimai 4.25
(``libsisimai-perl``) when it is installed, run as a separate process by
``benchmarks/bounce_sisimai_baseline.pl``; it is a baseline, never part of
the parser. Memory: peak RSS before and after parsing ``--messages``
messages (the corpus looped over), to show that it stays flat.
"""

from __future__ import annotations

import argparse
import email
import json
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bounceledger.ingest.bounces import parse  # noqa: E402
from bounceledger.ingest.records import ParsedMessage  # noqa: E402

Row = tuple[str, str, str, bool]


def _rows(parsed: ParsedMessage) -> list[Row]:
    return [(v.status or "", v.replycode or "", v.reason, bool(v.hardbounce)) for v in parsed.verdicts]


def score_sisimai(corpus: Path, show: int, verbose: bool) -> None:
    folder = corpus / "sisimai"
    expected = json.loads((folder / "expected.json").read_text())
    total_records = matched_records = reason_matched = 0
    files_right = 0
    disagreements: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    elapsed = 0.0
    for name, wanted in sorted(expected.items()):
        raw = (folder / "eml" / name).read_bytes()
        start = time.perf_counter()
        parsed = parse(raw)
        elapsed += time.perf_counter() - start
        got = Counter(_rows(parsed))
        want = Counter((w["status"], w["replycode"], w["reason"], bool(w["hardbounce"])) for w in wanted)
        common = sum((got & want).values())
        reasons_common = sum(
            (Counter(r[2] for r in _rows(parsed)) & Counter(w["reason"] for w in wanted)).values()
        )
        total_records += sum(want.values())
        matched_records += common
        reason_matched += reasons_common
        if common == sum(want.values()) and sum(got.values()) == sum(want.values()):
            files_right += 1
            continue
        for miss in sorted((want - got).elements()):
            extra = sorted((got - want).elements())
            nearest = extra[0] if extra else None
            if nearest and nearest[2] != miss[2]:
                key = f"reason {miss[2]} -> {nearest[2]}"
            elif nearest and nearest[0] != miss[0]:
                key = f"status {miss[0] or '-'} -> {nearest[0] or '-'} ({miss[2]})"
            elif nearest and nearest[1] != miss[1]:
                key = f"replycode {miss[1] or '-'} -> {nearest[1] or '-'}"
            elif nearest:
                key = f"hardbounce {miss[3]} -> {nearest[3]} ({miss[2]})"
            else:
                key = f"missing record ({miss[2]})"
            disagreements[key] += 1
            examples.setdefault(key, []).append(name)
        if sum(got.values()) > sum(want.values()):
            disagreements["extra record"] += 1
            examples.setdefault("extra record", []).append(name)
        if verbose:
            print(f"  {name}: want {sorted(want.elements())} got {sorted(got.elements())}")
    n = len(expected)
    print(f"sisimai: {n} files, {total_records} records")
    print(f"  records right (status, replycode, reason, hardbounce): {100 * matched_records / total_records:.1f} %")
    print(f"  files fully right: {100 * files_right / n:.1f} %")
    print(f"  reason right: {100 * reason_matched / total_records:.1f} %")
    print(f"  speed: {n / elapsed:.0f} messages/s")
    if show:
        print("  most common disagreements:")
        for key, count in disagreements.most_common(show):
            print(f"    {count:3d}  {key:45s} e.g. {', '.join(examples[key][:4])}")

    not_bounces = sorted((folder / "not-bounces").glob("*.eml"))
    bad = [p.name for p in not_bounces if any(v.kind == "bounce" for v in parse(p.read_bytes()).verdicts)]
    print(f"  not-bounces: {len(not_bounces) - len(bad)}/{len(not_bounces)} give no bounce record"
          + (f" (wrong: {', '.join(bad)})" if bad else ""))


def score_flufl(corpus: Path, verbose: bool) -> None:
    folder = corpus / "flufl-bounce"
    expected = json.loads((folder / "expected.json").read_text())
    found_all = clean = 0
    wanted_total = wanted_found = 0
    misses: list[str] = []
    start = time.perf_counter()
    for name, entries in sorted(expected.items()):
        parsed = parse((folder / "messages" / name).read_bytes())
        # flufl lists both the address a report names and the one the sender
        # used before aliasing ("expanded from"); we keep the latter as the
        # record's original_recipient
        got = {(a or "").lower() for v in parsed.verdicts if v.kind in ("bounce", "delay")
               for a in (v.recipient or "", v.original_recipient) if a is not None}
        want = {a.lower() for e in entries for a in e["addresses"]}
        wanted_total += len(want)
        wanted_found += len(want & got)
        if want <= got:
            found_all += 1
        else:
            misses.append(name)
        if not (got - want):
            clean += 1
        if verbose and (want - got or got - want):
            print(f"  {name}: missing {sorted(want - got)} extra {sorted(got - want)}")
    elapsed = time.perf_counter() - start
    n = len(expected)
    print(f"flufl-bounce: {n} messages")
    print(f"  expected addresses found: {wanted_found}/{wanted_total} ({100 * wanted_found / max(wanted_total, 1):.1f} %);"
          f" messages with all found: {found_all}/{n}")
    print(f"  messages with no extra address: {clean}/{n}")
    print(f"  speed: {n / elapsed:.0f} messages/s")
    if misses:
        print(f"  not all found: {', '.join(misses[:15])}{' ...' if len(misses) > 15 else ''}")


def _rate(files: list[bytes], fn, rounds: int = 3) -> float:
    for raw in files:  # warm-up: regex compilation, imports
        fn(raw)
    start = time.perf_counter()
    for _ in range(rounds):
        for raw in files:
            fn(raw)
    return rounds * len(files) / (time.perf_counter() - start)


def _flufl_only(raw: bytes) -> object:
    from flufl.bounce import all_failures

    try:
        return all_failures(email.message_from_bytes(raw))
    except Exception:
        return None


def _sisimai_rate(paths: list[Path], rounds: int = 3) -> float | None:
    """Perl Sisimai 4.25's rate over the same files, or None when absent."""
    perl = shutil.which("perl")
    script = REPO / "benchmarks" / "bounce_sisimai_baseline.pl"
    if not perl or subprocess.run([perl, "-MSisimai", "-e", "1"], capture_output=True).returncode != 0:
        return None
    subprocess.run([perl, str(script), "1", *map(str, paths)], capture_output=True)  # warm the page cache
    done = subprocess.run([perl, str(script), str(rounds), *map(str, paths)], capture_output=True, text=True)
    try:
        count, seconds = done.stdout.split()
        return int(count) / float(seconds)
    except ValueError:
        return None


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def score_speed(corpus: Path, messages: int) -> None:
    paths = sorted((corpus / "sisimai" / "eml").glob("*.eml")) + sorted((corpus / "flufl-bounce" / "messages").glob("*"))
    paths = [p for p in paths if p.is_file()]
    if not paths:
        return
    files = [p.read_bytes() for p in paths]
    ours = _rate(files, parse)
    flufl = _rate(files, _flufl_only)
    print(f"speed on {len(files)} files (warm, 3 rounds):")
    print(f"  bounceledger parse: {ours:.0f} messages/s")
    print(f"  flufl.bounce alone: {flufl:.0f} messages/s")
    sisimai_paths = sorted((corpus / "sisimai" / "eml").glob("*.eml"))
    sisimai = _sisimai_rate(sisimai_paths)
    if sisimai is None:
        print("  Sisimai 4.25 (perl): not installed (apt-get install libsisimai-perl)")
    else:
        ours_same = _rate([p.read_bytes() for p in sisimai_paths], parse)
        print(f"  Sisimai 4.25 (perl) on the sisimai set: {sisimai:.0f} messages/s;"
              f" bounceledger on the same files: {ours_same:.0f} messages/s ({ours_same / sisimai:.2f}x)")
    if messages > 0:
        before = _peak_rss_mb()
        done = 0
        checkpoints: list[str] = []
        while done < messages:
            for raw in files:
                parse(raw)
                done += 1
                if done % (messages // 4 or 1) == 0:
                    checkpoints.append(f"{done}: {_peak_rss_mb():.0f} MB")
                if done >= messages:
                    break
        print(f"  peak RSS: {before:.0f} MB before, {_peak_rss_mb():.0f} MB after {done} messages"
              f" ({'; '.join(checkpoints)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--show", type=int, default=15, help="disagreement kinds to list")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every wrong file")
    parser.add_argument("--messages", type=int, default=100_000,
                        help="messages to parse for the memory check (0 to skip)")
    args = parser.parse_args()
    corpus: Path = args.corpus
    ran = False
    if (corpus / "sisimai" / "expected.json").exists():
        score_sisimai(corpus, args.show, args.verbose)
        ran = True
    else:
        print(f"skipped sisimai: {corpus / 'sisimai'} not found")
    if (corpus / "flufl-bounce" / "expected.json").exists():
        score_flufl(corpus, args.verbose)
        ran = True
    else:
        print(f"skipped flufl-bounce: {corpus / 'flufl-bounce'} not found")
    if not ran:
        print("no corpus found; nothing scored")
    else:
        score_speed(corpus, args.messages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
