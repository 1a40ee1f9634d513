"""The generated literal answers (``ingest/bounces/_literal_cache.py``) are
the reader's own answers, and cover every text the rule tables read.

A table built from them must answer as one that reads every text itself;
a row added or changed since the module was written is read at start-up
(correct, only slower) and fails here until the module is written again
with ``python -m bounceledger.ingest.bounces._literals_build``.
"""

from __future__ import annotations

import json
import re

from bounceledger.ingest.bounces import _literal_cache, _literals_build, _prefilter, reasons

_STALE = "ingest/bounces/_literal_cache.py is stale: run `python -m bounceledger.ingest.bounces._literals_build` and commit it"


def _known() -> dict[str, list]:
    return json.loads(_literal_cache.ANALYSES)


def test_every_generated_answer_is_the_readers_answer():
    known = _known()
    assert known
    fresh = _literals_build.analyses(sorted(known))
    wrong = [text for text in known if known[text] != fresh[text]]
    assert not wrong, (_STALE, wrong[:5])


def test_every_rule_table_text_has_a_generated_answer():
    missing = sorted(set(_literals_build.table_texts()) - set(_known()))
    assert not missing, (_STALE, missing[:5])


def test_generated_module_is_what_the_builder_writes_today():
    assert _literals_build.TARGET.read_text(encoding="utf-8") == _literals_build.render(_literals_build.table_texts()), _STALE


def test_table_from_generated_answers_is_the_table_that_reads_every_text(monkeypatch):
    rows = reasons._TEXT_RULES + reasons._STRONG_TEXT_RULES
    with_answers = _prefilter.RuleTable(rows, _prefilter.LiteralIndex(), flags=reasons.RULE_FLAGS)
    monkeypatch.setattr(_prefilter, "_KNOWN", {})
    reading = _prefilter.RuleTable(rows, _prefilter.LiteralIndex(), flags=reasons.RULE_FLAGS)
    assert [(row[2], [alt[:2] for alt in row[3]]) for row in with_answers._rows] == \
        [(row[2], [alt[:2] for alt in row[3]]) for row in reading._rows]


def test_a_text_without_a_generated_answer_is_read(monkeypatch):
    monkeypatch.setattr(_prefilter, "_KNOWN", {"mailbox full": [["wrong"], None]})
    assert _prefilter._analysed("over ?quota", re.IGNORECASE) == (frozenset({"quota"}), frozenset({"over"}))
    assert _prefilter._analysed("mailbox full", re.IGNORECASE) == (frozenset({"wrong"}), None)  # taken as given
    assert _prefilter._analysed("(?x) mailbox full", re.VERBOSE)[0] is None  # verbose mode: never looked up
