"""What the rule tables' first-match look-up costs, done several ways.

Usage: ``PYTHONPATH=. python benchmarks/rule_tables.py [--corpus DIR] [--rounds N]``

The reason tables (``reasons.STRONG_TEXT_RULES`` then ``reasons.TEXT_RULES``,
as ``classify`` reads them) are ordered rows whose first matching pattern
wins. Each approach below answers "which row first matches this text" for
both tables; the figure is the cost of that pair of look-ups per text, and
its ratio to the plain loop measured in the same run. Each approach is
also checked to give the plain loop's answer on every text.

Texts: the diagnostics ``ingest.bounces.parse`` reads from the shared
corpora (skipped when absent), the non-blank lines of every message body
(mostly texts no row matches), and synthetic texts from our own fixtures
(slices, upper-cased, with non-ASCII letters, long concatenations).

Approaches:

* ``plain``: ``next(value for pattern, value in rows if pattern.search(text))``.
* ``RuleTable``: :class:`ingest.bounces._prefilter.RuleTable` (literal
  pre-checks worked out from the pattern text by our own reader).
* ``literals per row``: the same literals, one ``in`` test per row, no index.
* ``one alternation``: every row as a named group of one pattern; the
  leftmost hit names a row that matches, so only the rows before it are
  searched one by one.
* ``ordered look-aheads``: ``\\A(?:(?=[\\s\\S]*?(?:row0))(?P<r0>)|...)``: one
  search whose first succeeding branch is the first matching row.
* ``re2.Set`` (``google-re2``) and ``hyperscan`` (prefilter mode): which rows
  match, in one pass; the candidates are confirmed with ``re`` in table
  order. Rows the library cannot compile are always searched; non-ASCII
  texts take the plain loop. Each is skipped when not installed.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.bounces import _message as m  # noqa: E402
from ingest.bounces import _prefilter, parse  # noqa: E402
from ingest.bounces.classify import join_reply_lines  # noqa: E402
from ingest.bounces.reasons import STRONG_TEXT_RULES, TEXT_RULES  # noqa: E402

Rows = Sequence[tuple[re.Pattern[str], object]]
Lookup = Callable[[str], object]

TABLES: tuple[Rows, ...] = (STRONG_TEXT_RULES, TEXT_RULES)
FIXTURES = REPO / "tests" / "bounces" / "fixtures"


def plain(rows: Rows) -> Lookup:
    def first(text: str) -> object:
        for pattern, value in rows:
            if pattern.search(text):
                return value
        return None
    return first


def rule_table(rows: Rows) -> Lookup:
    return _prefilter.RuleTable(rows).first


def literals_per_row(rows: Rows) -> Lookup:
    built = [(pattern, value, _prefilter.needles(pattern)) for pattern, value in rows]
    loop = plain(rows)

    def first(text: str) -> object:
        if not text.isascii():
            return loop(text)
        low = text.lower()
        for pattern, value, required in built:
            if required is not None and not any(literal in low for literal in required):
                continue
            if pattern.search(text):
                return value
        return None
    return first


def one_alternation(rows: Rows) -> Lookup:
    flags = rows[0][0].flags
    assert all(pattern.flags == flags for pattern, _ in rows)
    combined = re.compile("|".join(f"(?P<r{i}>{pattern.pattern})" for i, (pattern, _) in enumerate(rows)), flags)

    def first(text: str) -> object:
        found = combined.search(text)
        if found is None:
            return None
        last = int(found.lastgroup[1:])  # a row that matches: the answer is it or an earlier one
        for pattern, value in rows[:last]:
            if pattern.search(text):
                return value
        return rows[last][1]
    return first


def ordered_lookaheads(rows: Rows) -> Lookup:
    flags = rows[0][0].flags
    combined = re.compile(r"\A(?:" + "|".join(
        rf"(?=[\s\S]*?(?:{pattern.pattern}))(?P<r{i}>)" for i, (pattern, _) in enumerate(rows)) + ")", flags)

    def first(text: str) -> object:
        found = combined.match(text)
        return None if found is None else rows[int(found.lastgroup[1:])][1]
    return first


def _confirmed(rows: Rows, always: frozenset[int], loop: Lookup, candidates: Callable[[str], set[int]]) -> Lookup:
    """First row, in table order, among the candidates and the rows the
    library could not take, that ``re`` confirms."""
    def first(text: str) -> object:
        if not text.isascii():
            return loop(text)
        for number in sorted(candidates(text) | always):
            pattern, value = rows[number]
            if pattern.search(text):
                return value
        return None
    return first


def re2_set(rows: Rows) -> Lookup | None:
    try:
        import re2
    except ImportError:
        return None
    options = re2.Options()
    options.case_sensitive = False
    table = re2.Set.SearchSet(options)
    always: set[int] = set()
    ids: dict[int, int] = {}
    for number, (pattern, _value) in enumerate(rows):
        try:
            ids[table.Add(pattern.pattern)] = number
        except Exception:
            always.add(number)  # look-arounds and the like: RE2 does not take them
    table.Compile()
    return _confirmed(rows, frozenset(always), plain(rows), lambda text: {ids[i] for i in table.Match(text) or ()})


def hyperscan_db(rows: Rows) -> Lookup | None:
    try:
        import hyperscan
    except ImportError:
        return None
    flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_PREFILTER
    usable: list[int] = []
    always: set[int] = set()
    for number, (pattern, _value) in enumerate(rows):
        try:
            probe = hyperscan.Database()
            probe.compile(expressions=[pattern.pattern.encode()], ids=[0], elements=1, flags=[flags])
            usable.append(number)
        except Exception:
            always.add(number)
    database = hyperscan.Database()
    database.compile(expressions=[rows[n][0].pattern.encode() for n in usable], ids=usable,
                     elements=len(usable), flags=[flags] * len(usable))

    def candidates(text: str) -> set[int]:
        hits: set[int] = set()
        database.scan(text.encode(), match_event_handler=lambda i, _f, _t, _fl, _c: hits.add(i))
        return hits
    return _confirmed(rows, frozenset(always), plain(rows), candidates)


APPROACHES: tuple[tuple[str, Callable[[Rows], Lookup | None]], ...] = (
    ("plain", plain),
    ("RuleTable", rule_table),
    ("literals per row", literals_per_row),
    ("one alternation", one_alternation),
    ("ordered look-aheads", ordered_lookaheads),
    ("re2.Set", re2_set),
    ("hyperscan", hyperscan_db),
)


def corpus_texts(corpus: Path) -> tuple[list[str], list[str]]:
    """(diagnostics as ``classify`` reads them, non-blank body lines)."""
    diagnostics: list[str] = []
    lines: list[str] = []
    for sub in ("sisimai/eml", "flufl-bounce/messages"):
        folder = corpus / sub
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            raw = path.read_bytes()
            for verdict in parse(raw).verdicts:
                text = join_reply_lines(verdict.diagnostic)
                if text:
                    diagnostics.append(text)
            lines += [line for line in m.body_text(m.load(raw)).splitlines() if line.strip()]
    return diagnostics, lines


def synthetic_texts(seed: int = 13) -> list[str]:
    """Texts made from our own fixtures: slices, case and non-ASCII variants,
    and long concatenations."""
    rng = random.Random(seed)
    bodies = [m.body_text(m.load(p.read_bytes())) for p in sorted(FIXTURES.glob("*.msg"))]
    lines = [line for body in bodies for line in body.splitlines() if line.strip()]
    texts: list[str] = []
    for _ in range(1500):
        line = rng.choice(lines)
        texts.append(line)
        texts.append(line.upper())
        texts.append(line.replace("e", "\u00e9", 1))
        start = rng.randrange(len(line))
        texts.append(line[start:start + rng.randrange(1, 120)])
    for _ in range(200):
        texts.append(" ".join(rng.choice(lines) for _ in range(rng.randrange(5, 60))))
    return texts


def per_call(lookups: Sequence[Lookup], texts: Sequence[str], rounds: int) -> float:
    """Best-of-rounds seconds per text for all tables' look-ups."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for text in texts:
            for lookup in lookups:
                lookup(text)
        best = min(best, time.perf_counter() - start)
    return best / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    diagnostics, lines = corpus_texts(args.corpus)
    sets = {"corpus diagnostics": diagnostics, "corpus body lines": lines, "synthetic": synthetic_texts()}
    if not diagnostics:
        print(f"corpus not found under {args.corpus}: synthetic texts only")
    sets = {name: texts for name, texts in sets.items() if texts}
    print(f"rows: {len(STRONG_TEXT_RULES)} strong + {len(TEXT_RULES)} plain; texts: "
          + ", ".join(f"{name} {len(texts)}" for name, texts in sets.items()))

    built: list[tuple[str, tuple[Lookup, ...] | None, float]] = []
    for name, make in APPROACHES:
        start = time.perf_counter()
        made = [make(rows) for rows in TABLES]
        setup = time.perf_counter() - start
        built.append((name, None if any(f is None for f in made) else tuple(made), setup))  # type: ignore[misc]

    baseline = built[0][1]
    assert baseline is not None
    expected = {name: [tuple(f(text) for f in baseline) for text in texts] for name, texts in sets.items()}
    base_cost = {name: per_call(baseline, texts, args.rounds) for name, texts in sets.items()}

    header = f"{'approach':<22}{'set-up ms':>10}" + "".join(f"{name:>28}" for name in sets) + "  same answers"
    print(header)
    for name, lookups, setup in built:
        if lookups is None:
            print(f"{name:<22}{'not installed':>10}")
            continue
        cells = []
        same = True
        for set_name, texts in sets.items():
            answers = [tuple(f(text) for f in lookups) for text in texts]
            wrong = sum(1 for got, want in zip(answers, expected[set_name]) if got != want)
            same = same and not wrong
            cost = base_cost[set_name] if lookups is baseline else per_call(lookups, texts, args.rounds)
            cells.append(f"{cost * 1e6:8.1f} us  x{base_cost[set_name] / cost:5.2f}" + (f" ({wrong} wrong)" if wrong else ""))
        print(f"{name:<22}{setup * 1e3:>10.1f}" + "".join(f"{cell:>28}" for cell in cells) + f"  {'yes' if same else 'NO'}")
    print("us: microseconds per text for both tables; x: speed-up over the plain loop in this run")


if __name__ == "__main__":
    main()
