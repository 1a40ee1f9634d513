"""Score ``ingest.bounces.parse`` against the shared public corpora.

Usage: ``PYTHONPATH=. python benchmarks/bounce_accuracy.py [--corpus DIR] [--show N]``

Sisimai set (scoring from ../shared/corpus/README.md): per file, records are
compared as multisets of (status, replycode, reason, hardbounce); a file is
"fully right" when every expected record is matched and nothing extra is
produced. flufl.bounce set: the expected addresses must be found, and no
other address reported. Skips with a message when the corpus is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.bounces import parse  # noqa: E402
from ingest.records import ParsedMessage  # noqa: E402

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
        got = {(v.recipient or "").lower() for v in parsed.verdicts if v.kind in ("bounce", "delay")}
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--show", type=int, default=15, help="disagreement kinds to list")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every wrong file")
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
