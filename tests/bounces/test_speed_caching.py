"""The speed work changes no answer.

* helpers cache derived values per message, and the cache changes nothing
  (results with and without it are equal);
* the literal pre-check of the rule tables never skips a row that matches
  (on the corpora when present, and on strings drawn from each pattern
  itself with hypothesis), and the literals come from our own reader of the
  pattern text, which gives up on syntax it does not know;
* ``parse`` gives the same records as a parse with the stdlib parser and no
  caches (checked on the fixtures and, when present, the corpora).
"""

from __future__ import annotations

import email.parser
import email.policy
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces import _prefilter, parse
from bounceledger.ingest.bounces._mime import even_line_ends
from bounceledger.ingest.bounces.reasons import HOST_RULES, STRONG_TEXT_RULES, TEXT_RULES

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def _files() -> list[Path]:
    paths = sorted(FIXTURES.glob("*.msg"))
    for sub in ("sisimai/eml", "flufl-bounce/messages"):
        folder = CORPUS / sub
        if folder.is_dir():
            paths += sorted(p for p in folder.iterdir() if p.is_file())[::3]
    return paths


def _texts() -> list[str]:
    texts: list[str] = []
    for path in _files():
        body = m.body_text(m.load(path.read_bytes()))
        texts.append(body)
        texts += [line for line in body.splitlines() if line.strip()]
    rng = random.Random(7)
    texts += [t[rng.randrange(len(t) or 1):][: rng.randrange(1, 300)] for t in texts[:3000]]
    return texts


def test_prefilter_never_skips_a_matching_row():
    patterns = [p for p, _ in TEXT_RULES] + [p for p, _ in STRONG_TEXT_RULES] + [h for h, _, _ in HOST_RULES]
    needles = [(p, _prefilter.needles(p)) for p in patterns]
    assert sum(1 for _, n in needles if n) > len(needles) // 2  # the check does apply to most rows
    for text in _texts():
        low = text.lower()
        for pattern, required in needles:
            if required is not None and text.isascii() and pattern.search(text):
                assert any(s in low for s in required), (pattern.pattern, text)


def test_rule_table_first_is_the_plain_loop():
    table = _prefilter.RuleTable(TEXT_RULES)
    for text in _texts():
        plain = next((reason for pattern, reason in TEXT_RULES if pattern.search(text)), None)
        assert table.first(text) == plain


def test_lazily_compiled_table_answers_like_the_eager_one():
    """The classifier's tables hold pattern texts, compiled per alternative
    on first search: the same answers as a table of the compiled rows and
    as the plain loop, and alternatives never searched stay uncompiled."""
    import re

    from bounceledger.ingest.bounces import reasons

    for texts_rows, compiled_rows in ((reasons._TEXT_RULES, TEXT_RULES),
                                      (reasons._STRONG_TEXT_RULES, STRONG_TEXT_RULES)):
        lazy = _prefilter.RuleTable(texts_rows, _prefilter.LiteralIndex(), flags=reasons.RULE_FLAGS)
        eager = _prefilter.RuleTable(compiled_rows, _prefilter.LiteralIndex())
        alts = [alt[2] for row in lazy._rows for alt in row[3]]
        assert all(alt._compiled is None for alt in alts)
        texts = _texts()[:3000] + ["Mailbox full \u00e9", "x" * (_prefilter.RuleTable.INDEX_LIMIT + 1) + " over quota"]
        for text in texts:
            plain = _plain_first(compiled_rows, text)
            assert lazy.first(text) == eager.first(text) == plain, text
        compiled = [alt for alt in alts if alt._compiled is not None]
        assert compiled and len(compiled) < len(alts)
        assert all(alt._compiled.pattern == alt.source and alt._compiled.flags & re.IGNORECASE for alt in compiled)


def test_plain_literal_alternatives_are_answered_by_their_literal():
    """An alternative that is a plain phrase under IGNORECASE is never
    compiled: its literal occurring in the lower-cased text is the match."""
    import re

    rows = [("mailbox full", "full"), (r"over ?quota|user unknown", "mixed"), ("Case Sensitive", "case")]
    table = _prefilter.RuleTable(rows[:2], _prefilter.LiteralIndex(), flags=re.IGNORECASE)
    sensitive = _prefilter.RuleTable(rows[2:], _prefilter.LiteralIndex())
    plain = {alt[2].source: alt[3] for row in table._rows + sensitive._rows for alt in row[3]}
    assert plain == {"mailbox full": True, "over ?quota": False, "user unknown": True, "Case Sensitive": False}
    texts = ["550 MAILBOX FULL", "mailbox  full", "USER UNKNOWN here", "\u00e9 user unknown", "overquota",
             "x" * 5000 + " Mailbox Full", ""]
    for text in texts:
        assert table.first(text) == next((v for p, v in rows[:2] if re.search(p, text, re.IGNORECASE)), None), text
    assert all(alt[2]._compiled is None for row in table._rows for alt in row[3] if alt[3])
    for text in ("user \u0130nknown", "mai\u0131lbox full", "MAILBOX FU\u017fL"):  # the plain search, compiled
        assert table.first(text) == next((v for p, v in rows[:2] if re.search(p, text, re.IGNORECASE)), None), text
    assert sensitive.first("case sensitive") is None and sensitive.first("a Case Sensitive b") == "case"


def test_lazy_piece_that_does_not_compile_alone_searches_the_whole_pattern():
    import re

    whole = _prefilter._LazyPattern(r"(?P<a>x)|b", 0)
    piece = _prefilter._LazyPattern(r"(?P<a", 0, whole)  # as if a cut had gone wrong
    assert piece.compiled().pattern == whole.source
    with pytest.raises(re.error):
        _prefilter._LazyPattern(r"(?P<a", 0).compiled()


@pytest.mark.parametrize("pattern, needles", [
    (r"mailbox (?:is )?full|over ?quota", {"mailbox ", "quota"}),
    (r"user(?:name)? unknown", {" unknown"}),  # the longest literal run wins
    (r"\bspam\b|.*", None),  # a branch with no literal: no pre-check
])
def test_needles_examples(pattern, needles):
    import re

    found = _prefilter.needles(re.compile(pattern, re.IGNORECASE))
    assert (set(found) if found else None) == needles


def _records(raw: bytes) -> dict:
    parsed = parse(raw)
    return {**parsed.as_dict(), "verdicts": [v.as_dict() for v in parsed.verdicts]}


def test_helpers_give_the_same_answers_cached_and_uncached():
    stdlib = email.parser.BytesParser(policy=email.policy.compat32)
    for path in _files():
        raw = path.read_bytes()
        # the loader reads a message with even line ends (_mime.even_line_ends): so does the reference
        fast, plain = m.load(raw), stdlib.parsebytes(even_line_ends(raw))
        for name in ("From", "To", "Subject", "X-Failed-Recipients", "Received", "Nope"):
            assert m.header(fast, name) == m.header(plain, name) == m.header(fast, name)
            assert m.headers_all(fast, name) == m.headers_all(plain, name)
        # m.load is our own MIME splitter (ingest/bounces/_mime.py); the stdlib
        # parse is the reference it must agree with, up to blank space at part
        # ends and the empty field blocks the stdlib keeps in a delivery-status
        assert _squeeze(m.body_text(fast)) == _squeeze(m.body_text(plain))
        assert m.body_text(fast, limit=500) == m.body_text(fast)[:500]
        assert [m.content_type(p) for p in _parts(fast)] == [m.content_type(p) for p in _parts(plain)]
        assert [_squeeze(m.text_of(p)) for p in _parts(fast)] == [_squeeze(m.text_of(p)) for p in _parts(plain)]
        assert [_squeeze(str(b.items())) for b in _field_blocks(fast) if b.get("Final-Recipient")] == \
            [_squeeze(str(b.items())) for b in _field_blocks(plain) if b.get("Final-Recipient")]


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _field_blocks(msg) -> list:
    return [b for p in m.walk(msg) if m.content_type(p) == "message/delivery-status"
            and isinstance(p.get_payload(), list) for b in p.get_payload()]


def _parts(msg) -> list:
    """Every part but the field blocks of a delivery-status part."""
    blocks = {id(b) for b in _field_blocks(msg)}
    return [p for p in m.walk(msg) if id(p) not in blocks]


def test_headers_all_returns_a_fresh_list():
    msg = m.load(b"To: a@b.example\nTo: c@d.example\n\nx\n")
    first = m.headers_all(msg, "To")
    first.append("mutated")
    assert m.headers_all(msg, "To") == ["a@b.example", "c@d.example"]


def test_parse_is_repeatable():
    for path in _files()[:60]:
        raw = path.read_bytes()
        assert _records(raw) == _records(raw)


def test_split_alternatives_find_what_the_whole_pattern_finds():
    patterns = [p for p, _ in TEXT_RULES] + [p for p, _ in STRONG_TEXT_RULES]
    split = [(p, _prefilter.alternatives(p)) for p in patterns]
    assert sum(1 for _, parts in split if len(parts) > 1) > len(split) // 2
    for text in _texts()[:4000]:
        for pattern, parts in split:
            assert bool(pattern.search(text)) == any(part.search(text) for part in parts), pattern.pattern


@pytest.mark.parametrize("pattern, pieces", [
    (r"a|b(?:c|d)|[|]|\||e", 5),
    (r"(a)|\1", 1),  # a back-reference: kept whole
    (r"(?i)a|b", 1),  # inline global flags: kept whole
    (r"abc", 1),
])
def test_alternatives_cut_only_at_top_level_bars(pattern, pieces):
    import re

    assert len(_prefilter.alternatives(re.compile(pattern))) == pieces


def test_quick_pattern_answers_like_the_plain_one():
    import re

    plain = re.compile(r"mailbox (?:is )?full|over ?quota|^Final-Recipient\s*:", re.IGNORECASE | re.M)
    quick = _prefilter.Quick(plain)
    for text in _texts()[:3000] + ["MAILBOX IS FULL", "x\nfinal-recipient: a", "Überquota overquota", ""]:
        assert bool(quick.search(text)) == bool(plain.search(text))
        assert [x.span() for x in quick.finditer(text)] == [x.span() for x in plain.finditer(text)]
        assert quick.findall(text) == plain.findall(text)
        assert quick.sub("-", text) == plain.sub("-", text)


@pytest.mark.parametrize("value", [
    "text/plain", "text/plain; charset=UTF-8", 'multipart/report; report-type="delivery-status";\n\tboundary="a;b"',
    'multipart/mixed; boundary="<x>"', "multipart/mixed; BOUNDARY = abc ; charset", "text/plain; charset*=utf-8''x",
    'text/plain; charset="a\\"b"', 'x/y; boundary=""q""', "text/plain;;charset=;", "", 'a/b; c="d', "a/b; <c>=d",
])
def test_simple_param_is_the_stdlib_answer(value):
    from email.message import Message

    from bounceledger.ingest.bounces import _mime

    msg = Message(email.policy.compat32)
    msg["X-Other"] = "1"
    msg["Content-Type"] = value
    for name in ("charset", "boundary", "report-type", "c", "text/plain"):
        found = _mime.simple_param(msg, name)
        assert found is _mime.UNSURE or found == msg.get_param(name)
    assert _mime._boundary(msg) == msg.get_boundary()
    assert m._content_charset(msg) == msg.get_content_charset()


def test_trimmed_flufl_stage_answers_like_the_library():
    """Dropping the SimpleMatch entries that cannot start changes no address."""
    flufl = pytest.importorskip("flufl.bounce")
    from bounceledger.ingest.bounces import _flufl

    for path in _files():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
        try:
            expected = flufl.all_failures(msg)
        except Exception:
            continue  # the library raises on this message: so does the trimmed stage, and both are caught
        assert _flufl.all_failures(msg) == expected, path.name


def test_quick_search_finds_the_leftmost_match_of_the_plain_pattern():
    import re

    plain = re.compile(r"(?:user|mailbox) unknown|no such (?:user|mailbox)", re.IGNORECASE)
    quick = _prefilter.Quick(plain)
    for text in _texts()[:3000] + ["No such user; user unknown", "mailbox UNKNOWN then no such mailbox", "x" * 5000]:
        found, expected = quick.search(text), plain.search(text)
        assert (found.span() if found else None) == (expected.span() if expected else None)


def test_command_search_at_its_literals_finds_what_the_regex_finds():
    from bounceledger.ingest.bounces import classify

    for text in _texts()[:3000] + ["after RCPT TO:<a@b>: 550 no", "x in reply to end of DATA command", ""]:
        if text.isascii():
            found, expected = classify._COMMAND_SEARCH.search(text), classify._COMMAND_RE.search(text)
            assert (found.span() if found else None) == (expected.span() if expected else None)


# --- the pattern reader: literals proved from the pattern text alone ---

_ALL_PATTERNS = ([p for p, _ in TEXT_RULES] + [p for p, _ in STRONG_TEXT_RULES]
                 + [h for h, _, _ in HOST_RULES] + [t for _, t, _ in HOST_RULES if t is not None])
_ASCII = st.characters(min_codepoint=1, max_codepoint=127)


@pytest.mark.parametrize("pattern", _ALL_PATTERNS, ids=lambda p: p.pattern[:30])
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_match_holds_a_literal_and_starts_with_a_start_literal(pattern, data):
    """Strings the pattern matches in full (drawn from the pattern itself)
    contain one of its literals and open with one of its start literals."""
    text = data.draw(st.from_regex(pattern, fullmatch=True, alphabet=_ASCII))
    low = text.lower()
    required = _prefilter.needles(pattern)
    if required is not None:
        assert any(literal in low for literal in required), (pattern.pattern, text, required)
    starts = _prefilter.start_literals(pattern)
    if starts is not None:
        assert low.startswith(tuple(starts)), (pattern.pattern, text, starts)


def _plain_first(rows, text):
    return next((value for pattern, value in rows if pattern.search(text)), None)


_TABLES = {"text": (TEXT_RULES, _prefilter.RuleTable(TEXT_RULES)),
           "strong": (STRONG_TEXT_RULES, _prefilter.RuleTable(STRONG_TEXT_RULES))}


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), name=st.sampled_from(sorted(_TABLES)), upper=st.booleans(),
       noise=st.lists(st.text(_ASCII, max_size=40), min_size=1, max_size=4))
def test_rule_table_answers_like_the_plain_loop_on_texts_the_rows_match(data, name, upper, noise):
    """Texts holding matches of one to three rows, in noise: the indexed
    table names the row the plain first-match loop names."""
    rows, table = _TABLES[name]
    chosen = data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=3))
    pieces = [data.draw(st.from_regex(rows[i][0], fullmatch=True, alphabet=_ASCII)) for i in chosen]
    text = "".join(n + p for n, p in zip(noise, pieces + [""] * len(noise)))
    if upper:
        text = text.upper()
    assert table.first(text) == _plain_first(rows, text)
    long_text = text + " " * (_prefilter.RuleTable.INDEX_LIMIT + 1)  # the row-by-row path
    assert table.first(long_text) == _plain_first(rows, long_text)


@pytest.mark.parametrize("pattern", [
    r"(a+)x\1",        # back reference
    r"(?P<n>ab)(?P=n)",
    r"(a)?(?(1)bc|de)",  # conditional
    r"(?x) a b c",     # verbose mode: blanks mean nothing
    r"\N{LATIN SMALL LETTER A}bc",
])
def test_reader_gives_up_on_what_it_does_not_know(pattern):
    import re

    compiled = re.compile(pattern)
    assert _prefilter.needles(compiled) is None
    assert _prefilter.start_literals(compiled) is None


@pytest.mark.parametrize("pattern, needles, starts", [
    (r"(?<![@\w])food(?!bar)bazzz", {"bazzz"}, {"food"}),   # look-arounds match nothing themselves
    (r"ab{2,3}c|x{0}quux", {"a", "quux"}, None),         # a repeated atom is not part of the run
    (r"\bover ?quota\b", {"quota"}, {"over"}),          # the longest run wins
    (r"(?:mail|post)box full", {"box full"}, {"mail", "post"}),
    (r"[a-z]+ unknown\.", {" unknown."}, None),
    (r"reply\x20code (?#note)5\d\d", {"reply code 5"}, {"reply code 5"}),  # a comment is nothing
    (r"a{x}bcd", {"a{x}bcd"}, {"a{x}bcd"}),              # "{" that is no quantifier is literal
])
def test_reader_examples(pattern, needles, starts):
    import re

    compiled = re.compile(pattern, re.IGNORECASE)
    found = _prefilter.needles(compiled)
    assert (set(found) if found else None) == needles
    found_starts = _prefilter.start_literals(compiled)
    assert (set(found_starts) if found_starts else None) == starts


def test_prefilter_uses_no_private_parser():
    import inspect

    source = inspect.getsource(_prefilter)
    for private in ("re._parser", "re._constants", "sre_parse", "sre_constants", "_compiler"):
        assert private not in source


def test_quick_checks_literals_only_for_patterns_that_have_them():
    import re

    digits = re.compile(r"\d+")
    plain_digits = _prefilter.quick(digits)  # no literal to check: searched as it is
    assert [x.span() for x in plain_digits.finditer("a 12 b 345")] == [x.span() for x in digits.finditer("a 12 b 345")]
    assert not plain_digits._ruled_out("no digits here")
    full = re.compile(r"mailbox (?:is )?full", re.IGNORECASE)
    wrapped = _prefilter.quick(full)
    assert isinstance(wrapped, _prefilter.Quick)
    assert wrapped._ruled_out("nothing of the kind")
    for text in ("MAILBOX IS FULL", "the mailbox full.", "mailbox", "", "Mailbox\u00e9 full mailbox full"):
        found, expected = wrapped.search(text), full.search(text)
        assert (found.span() if found else None) == (expected.span() if expected else None)


def _plain_host_reason(host: str, text: str | None) -> str | None:
    host = host.lower()
    for host_pattern, text_pattern, reason in HOST_RULES:
        if host_pattern.search(host) and (text_pattern is None or (text and text_pattern.search(text))):
            return reason
    return None


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), row=st.integers(0, len(HOST_RULES) - 1), upper=st.booleans())
def test_host_rules_compiled_on_demand_answer_like_the_compiled_table(data, row, upper):
    """classify compiles a HOST_RULES pattern when a host first reaches its
    row: the same reason as the loop over the table compiled up front."""
    from bounceledger.ingest.bounces import classify

    host_pattern, text_pattern, _ = HOST_RULES[row]
    host = data.draw(st.from_regex(host_pattern, fullmatch=True, alphabet=_ASCII))
    text = data.draw(st.from_regex(text_pattern, alphabet=_ASCII)) if text_pattern is not None else None
    if upper:
        host = host.upper()
    for said in (text, None, "550 5.1.1 user unknown"):
        assert classify.reason_from_host(host, said) == _plain_host_reason(host, said)
        assert classify.host_has_rules(host) == any(h.search(host.lower()) for h, _, _ in HOST_RULES)


#: ADDRESS_RE as first written, with U+0080..U+FFFF as a range in each class.
_ADDRESS_WITH_RANGES = (r"(?<![\w.!#$%&'*+/=?^`{|}~\-\u0080-\uffff])"
                        r"[\w.!#$%&'*+/=?^`{|}~\-\u0080-\uffff]++@[\w\-\u0080-\uffff]++(?:\.[\w\-\u0080-\uffff]++)+")
_ADDRESS_TEXT = st.text(st.one_of(st.sampled_from("ab.@-_!~{|}x\u00e9\u00ff\u0100\u017f\uffff\U00010400 \n<>"),
                                  st.characters()), max_size=60)


@settings(max_examples=500, deadline=None)
@given(text=_ADDRESS_TEXT)
def test_address_pattern_finds_what_the_range_classes_find(text):
    """ADDRESS_RE spells U+0100..U+FFFF as a negated class (cheap to compile):
    the same matches as the classes holding the range."""
    import re

    plain = re.compile(_ADDRESS_WITH_RANGES)
    assert [x.span() for x in m.ADDRESS_RE.finditer(text)] == [x.span() for x in plain.finditer(text)]


def test_address_pattern_on_the_corpus_texts():
    import re

    plain = re.compile(_ADDRESS_WITH_RANGES)
    for text in _texts()[:4000] + ["\u00e9" * 40 + "x@\u00fc.de", "a\U00010400b@c.de", "\uff41@\uff42.\uff43"]:
        assert [x.span() for x in m.ADDRESS_RE.finditer(text)] == [x.span() for x in plain.finditer(text)]


def test_ascii_case_alikes_are_every_other_character_taken_for_an_ascii_letter():
    import re

    letter = re.compile(r"[a-z]", re.IGNORECASE)
    found = {chr(code) for code in range(0x80, 0x110000) if letter.fullmatch(chr(code))}
    assert found == set(_prefilter.ASCII_CASE_ALIKES)


_WIDE = st.characters(min_codepoint=1, max_codepoint=0x2FFF)
_ALIKE_TEXT = st.text(st.one_of(_WIDE, st.sampled_from(["\u0130", "\u0131", "\u017f", "\u212a", "\u00df", "\u1e9e"])),
                      max_size=12)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), name=st.sampled_from(sorted(_TABLES)), upper=st.booleans(),
       noise=st.lists(_ALIKE_TEXT, min_size=1, max_size=4))
def test_rule_table_answers_like_the_plain_loop_on_non_ascii_texts(data, name, upper, noise):
    """Non-ASCII texts are checked through their lower case too (unless they
    hold a character the engine takes for an ASCII letter): the same row as
    the plain loop, the matches drawn from the rows themselves."""
    rows, table = _TABLES[name]
    chosen = data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=3))
    pieces = [data.draw(st.from_regex(rows[i][0], fullmatch=True, alphabet=_ASCII)) for i in chosen]
    if upper:  # "İ", "ı", "ſ" and "K" (Kelvin) are matched by i, i, s and k
        pieces = [p.replace("i", "\u0130").replace("s", "\u017f").replace("k", "\u212a") for p in pieces]
    text = "".join(n + p for n, p in zip(noise, pieces + [""] * len(noise)))
    assert table.first(text) == _plain_first(rows, text)
    long_text = text + "\u00e9" * (_prefilter.RuleTable.INDEX_LIMIT + 1)  # the row-by-row path
    assert table.first(long_text) == _plain_first(rows, long_text)


@settings(max_examples=300, deadline=None)
@given(noise=st.lists(_ALIKE_TEXT, min_size=1, max_size=4),
       said=st.sampled_from(["MAILBOX IS FULL", "mailbox full", "mailbox \u0130s full", "over quota", "\u017fver quota",
                             "overquota", "final-recipient: a", "\u0131", ""]))
def test_quick_answers_like_the_plain_pattern_on_non_ascii_texts(noise, said):
    import re

    plain = re.compile(r"mailbox (?:is )?full|over ?quota|^Final-Recipient\s*:", re.IGNORECASE | re.M)
    quick = _prefilter.Quick(plain)
    text = said.join(noise)
    found, expected = quick.search(text), plain.search(text)
    assert (found.span() if found else None) == (expected.span() if expected else None)
    assert [x.span() for x in quick.finditer(text)] == [x.span() for x in plain.finditer(text)]
