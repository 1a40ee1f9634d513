"""What the rule tables' first-match look-up costs, done several ways.

Usage: ``PYTHONPATH=. python benchmarks/rule_tables.py [--corpus DIR] [--rounds N]``

The reason tables (``reasons.STRONG_TEXT_RULES`` then ``reasons.TEXT_RULES``,
as ``classify`` reads them) are ordered rows whose first matching pattern
wins. Each approach below answers "which row first matches this text" for
both tables; the figure is the cost of that pair of look-ups per text, and
its ratio to the plain loop measured in the same run. Each approach is
also checked to give the plain loop's answer on every text.

Texts: the diagnostics ``bounceledger.ingest.bounces.parse`` reads from the shared
corpora (skipped when absent), the non-blank lines of every message body
(mostly texts no row matches), and synthetic texts from our own fixtures
(slices, upper-cased, with non-ASCII letters, long concatenations).

Approaches:

* ``plain``: ``next(value for pattern, value in rows if pattern.search(text))``.
* ``RuleTable``: :class:`bounceledger.ingest.bounces._prefilter.RuleTable` (literal
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
  ``re2.Set superset`` gives RE2 every row, look-arounds cut out;
  ``re2.Set trusted`` also skips confirming the rows RE2 took unchanged.

"first pass" is the cost per text of the first pass over the corpus
diagnostics (lazily built automata, caches): what a short run pays.
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

from bounceledger.ingest.bounces import _message as m  # noqa: E402
from bounceledger.ingest.bounces import _prefilter, parse  # noqa: E402
from bounceledger.ingest.bounces.classify import join_reply_lines  # noqa: E402
from bounceledger.ingest.bounces.reasons import STRONG_TEXT_RULES, TEXT_RULES  # noqa: E402

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


def _confirmed(rows: Rows, always: frozenset[int], loop: Lookup, candidates: Callable[[str], set[int]],
               trusted: frozenset[int] = frozenset()) -> Lookup:
    """First row, in table order, among the candidates and the rows the
    library could not take, that ``re`` confirms (a ``trusted`` candidate
    is taken at the library's word)."""
    def first(text: str) -> object:
        if not text.isascii():
            return loop(text)
        for number in sorted(candidates(text) | always):
            pattern, value = rows[number]
            if number in trusted or pattern.search(text):
                return value
        return None
    return first


def _re2_search_set():  # -> re2.Set | None
    """An empty case-insensitive ``re2.Set`` for searching, or ``None``
    when google-re2 is not installed."""
    try:
        import re2
    except ImportError:
        return None
    options = re2.Options()
    options.case_sensitive = False
    return re2.Set.SearchSet(options)


def re2_set(rows: Rows) -> Lookup | None:
    table = _re2_search_set()
    if table is None:
        return None
    always: set[int] = set()
    ids: dict[int, int] = {}
    for number, (pattern, _value) in enumerate(rows):
        try:
            ids[table.Add(pattern.pattern)] = number
        except Exception:
            always.add(number)  # look-arounds and the like: RE2 does not take them
    table.Compile()
    return _confirmed(rows, frozenset(always), plain(rows), lambda text: {ids[i] for i in table.Match(text) or ()})


def _class_end(source: str, i: int) -> int:
    """The index just past the character class opening at ``source[i]``."""
    i += 1
    if source.startswith("^", i):
        i += 1
    if source.startswith("]", i):
        i += 1  # a "]" first in a class is literal
    while source[i] != "]":
        i += 2 if source[i] == "\\" else 1
    return i + 1


def _without_lookarounds(source: str) -> str:
    """``source`` with its look-around groups cut out: a pattern that
    matches wherever the original does (and maybe more), for a library
    without look-arounds to name candidate rows that ``re`` then confirms."""
    out: list[str] = []
    i = 0
    while i < len(source):
        if source.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            depth = 0
            while i < len(source):
                char = source[i]
                if char == "\\":
                    i += 2
                    continue
                if char == "[":
                    i = _class_end(source, i)
                    continue
                if char == "(":
                    depth += 1
                elif char == ")":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
            continue
        if source[i] == "\\":
            out.append(source[i:i + 2])
            i += 2
            continue
        if source[i] == "[":
            end = _class_end(source, i)
            out.append(source[i:end])
            i = end
            continue
        out.append(source[i])
        i += 1
    return "".join(out)


def re2_set_superset(rows: Rows, *, trust: bool = False) -> Lookup | None:
    """``re2.Set`` over every row, look-arounds cut out and "^"/"$" at any
    line (``(?m)``): each RE2 pattern matches wherever the row does on ASCII
    text, so the rows it names, confirmed with ``re``, give the answer.
    ``trust``: rows RE2 took unchanged are not confirmed (RE2's answer is
    taken as ``re``'s: an assumption the "same answers" column checks)."""
    table = _re2_search_set()
    if table is None:
        return None
    always: set[int] = set()
    trusted: set[int] = set()
    ids: dict[int, int] = {}
    for number, (pattern, _value) in enumerate(rows):
        if "\\s" in pattern.pattern or "\\Z" in pattern.pattern:
            always.add(number)  # RE2's \s lacks \v and \x1c-\x1f; \Z is \z there
            continue
        source = _without_lookarounds(pattern.pattern)
        try:
            ids[table.Add("(?m)" + source)] = number
        except Exception:
            always.add(number)
            continue
        if trust and source == pattern.pattern and "^" not in source and "$" not in source:
            trusted.add(number)
    table.Compile()
    return _confirmed(rows, frozenset(always), plain(rows), lambda text: {ids[i] for i in table.Match(text) or ()},
                      frozenset(trusted))


def re2_set_trusted(rows: Rows) -> Lookup | None:
    return re2_set_superset(rows, trust=True)


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
    ("re2.Set superset", re2_set_superset),
    ("re2.Set trusted", re2_set_trusted),
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


def one_pass(lookups: Sequence[Lookup], texts: Sequence[str]) -> float:
    """Seconds for all tables' look-ups of every text, once."""
    start = time.perf_counter()
    for text in texts:
        for lookup in lookups:
            lookup(text)
    return time.perf_counter() - start


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
          + ", ".join(f"{name} {len(texts)} ({sum(map(str.isascii, texts)) * 100 // len(texts)} % ASCII)"
                      for name, texts in sets.items()))

    built: list[tuple[str, tuple[Lookup, ...], float]] = []
    missing: list[str] = []
    for name, make in APPROACHES:
        start = time.perf_counter()
        made = [make(rows) for rows in TABLES]
        setup = time.perf_counter() - start
        if any(f is None for f in made):
            missing.append(name)
        else:
            built.append((name, tuple(made), setup))  # type: ignore[arg-type]

    baseline = built[0][1]
    wrong: dict[tuple[str, str], int] = {}
    cold: dict[str, float] = {}
    for set_name, texts in sets.items():
        expected = [tuple(f(text) for f in baseline) for text in texts]
        for name, lookups, _setup in built:
            start = time.perf_counter()
            answers = [tuple(f(text) for f in lookups) for text in texts]
            cold.setdefault(name, (time.perf_counter() - start) / len(texts))
            wrong[name, set_name] = sum(1 for got, want in zip(answers, expected) if got != want)

    # rounds interleaved over the approaches, best of each kept: a load
    # change on the machine then hits every approach alike
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for set_name, texts in sets.items():
            for name, lookups, _setup in built:
                cost = one_pass(lookups, texts) / len(texts)
                best[name, set_name] = min(best.get((name, set_name), cost), cost)

    print(f"{'approach':<22}{'set-up ms':>10}{'first pass':>12}" + "".join(f"{name:>28}" for name in sets) + "  same answers")
    for name, _lookups, setup in built:
        cells = []
        for set_name in sets:
            cost, base = best[name, set_name], best[built[0][0], set_name]
            bad = wrong[name, set_name]
            cells.append(f"{cost * 1e6:8.1f} us  x{base / cost:5.2f}" + (f" ({bad} wrong)" if bad else ""))
        same = not any(wrong[name, set_name] for set_name in sets)
        print(f"{name:<22}{setup * 1e3:>10.1f}{cold[name] * 1e6:>9.1f} us" + "".join(f"{cell:>28}" for cell in cells) + f"  {'yes' if same else 'NO'}")
    for name in missing:
        print(f"{name:<22}not installed")
    print("us: microseconds per text for both tables (best of rounds); x: speed-up over the plain loop in this run")


if __name__ == "__main__":
    main()
