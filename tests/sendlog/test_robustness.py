"""The parser never raises, counts what it cannot read, and keeps memory flat."""

from __future__ import annotations

import os
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog.base import SAMPLE_CHARS, SAMPLE_LIMIT
from tests.sendlog.helpers import postfix

GOOD = (
    "Mar  3 09:14:06 out1 postfix/smtp[1]: 0F5383D: to=<a@b.example>, relay=mx.b.example[192.0.2.1]:25, "
    "delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 1AB)"
)


def test_garbage_and_binary_lines_are_counted() -> None:
    p = postfix()
    junk = [
        "\x00\x01\x02\xff\xfe binary",
        "\ufffd\ufffd\ufffd",
        "x" * 10_000,
        "Nov",
        "Nov 27",
        "Nov 27 00:43:22",
        "Nov 27 00:43:22 host",
        "2026-13-45T99:99:99Z host postfix/smtp[1]: 0F5383D: to=<a@b>, relay=none, status=sent (x)",
        os.urandom(64).decode("latin-1"),
    ]
    for line in junk:
        assert p.feed(line) == []
    assert p.skipped == len(junk)
    assert len(p.samples) == SAMPLE_LIMIT
    assert all(len(s) <= SAMPLE_CHARS for s in p.samples)
    # blank lines are nothing at all
    assert p.feed("\n") == [] and p.feed("") == []
    assert p.skipped == len(junk)
    # and the parser still works afterwards
    assert len(p.feed(GOOD)) == 1


def test_bytes_and_non_strings_do_not_raise() -> None:
    p = postfix()
    assert len(p.feed(GOOD.encode() + b"\n")) == 1  # type: ignore[arg-type]
    assert p.feed(None) == []  # type: ignore[arg-type]
    assert p.feed(12345) == []  # type: ignore[arg-type]
    assert p.skipped == 2


def test_impossible_date_on_an_attempt_line_is_skipped() -> None:
    p = postfix()
    assert p.feed(GOOD.replace("Mar  3", "Feb 30")) == []
    assert p.skipped == 1


def test_every_prefix_of_a_real_line_is_safe() -> None:
    p = postfix()
    for cut in range(len(GOOD) + 1):
        for attempt in p.feed(GOOD[:cut]):
            assert isinstance(attempt, Attempt)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    p = postfix()
    p.feed(text)
    p.feed("Mar  3 09:14:06 h postfix/smtp[1]: 0F5383D: " + text)
    p.feed("Mar  3 09:14:06 h postfix/smtp[1]: 0F5383D: to=<" + text)
    p.feed(GOOD.replace("250 2.0.0 Ok", text[:40]))
    p.feed("Mar  3 09:14:06 h postfix/qmgr[1]: 0F5383D: from=<" + text)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD) - 1), st.characters())
def test_mutated_lines_never_raise(pos: int, ch: str) -> None:
    p = postfix()
    for attempt in p.feed(GOOD[:pos] + ch + GOOD[pos + 1 :]):
        assert attempt.at.utcoffset() is not None


def test_state_is_capped_when_removed_lines_are_missing() -> None:
    p = postfix(max_tracked_queue_ids=100)
    rng = random.Random(1)
    for i in range(5_000):
        qid = f"{rng.getrandbits(40):010X}"
        p.feed(f"Mar  3 09:14:06 h postfix/cleanup[1]: {qid}: message-id=<{i}@x>")
        p.feed(f"Mar  3 09:14:06 h postfix/qmgr[1]: {qid}: from=<s@x>, size=1, nrcpt=1 (queue active)")
        p.feed(
            f"Mar  3 09:14:06 h postfix/smtp[1]: {qid}: to=<r{i}@x.example>, relay=none, delay=1, "
            "delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to x.example[192.0.2.1]:25: refused)"
        )
        p.feed(f"Mar  3 09:14:06 h postfix/bounce[1]: {qid}: sender delay notification: N{qid}")
        assert p.tracked_queue_ids <= 100
        assert len(p.dsn_links) <= 100


def test_active_queue_ids_survive_eviction() -> None:
    p = postfix(max_tracked_queue_ids=3)
    p.feed("Mar  3 09:14:06 h postfix/cleanup[1]: AAAAA1: message-id=<keep@x>")
    for i in range(2, 6):
        p.feed(f"Mar  3 09:14:06 h postfix/cleanup[1]: AAAAA{i}: message-id=<{i}@x>")
        # a queue run touches the long-lived message again
        p.feed("Mar  3 09:14:06 h postfix/qmgr[1]: AAAAA1: from=<s@x>, size=1, nrcpt=1 (queue active)")
    (a,) = p.feed(GOOD.replace("0F5383D", "AAAAA1"))
    assert a.message_id == "keep@x"
