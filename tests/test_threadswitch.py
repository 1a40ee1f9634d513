"""ingest-log hands the GIL over quickly while it runs, and leaves the interpreter as it was."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bounceledger import pipeline
from bounceledger.db import Database
from bounceledger.ingest.threadswitch import HANDOVER_INTERVAL, quick_handover


def test_interval_shortened_inside_and_restored_after_even_on_error() -> None:
    before = sys.getswitchinterval()
    assert before > HANDOVER_INTERVAL
    with pytest.raises(RuntimeError):
        with quick_handover():
            assert sys.getswitchinterval() == pytest.approx(HANDOVER_INTERVAL, rel=0.05)
            with quick_handover():  # nested: the inner block must not restore it early
                pass
            assert sys.getswitchinterval() == pytest.approx(HANDOVER_INTERVAL, rel=0.05)
            raise RuntimeError("a batch failed")
    assert sys.getswitchinterval() == before


def test_a_shorter_interval_set_by_the_caller_is_kept() -> None:
    before = sys.getswitchinterval()
    sys.setswitchinterval(HANDOVER_INTERVAL / 5)
    try:
        with quick_handover():
            assert sys.getswitchinterval() == pytest.approx(HANDOVER_INTERVAL / 5, rel=0.05)
        assert sys.getswitchinterval() == pytest.approx(HANDOVER_INTERVAL / 5, rel=0.05)
    finally:
        sys.setswitchinterval(before)


def test_ingest_log_reads_with_the_short_interval(database: Database, sendlog: Path) -> None:
    before = sys.getswitchinterval()
    seen: list[float] = []
    summary = pipeline.ingest_logs(database, [str(sendlog)], "postfix", progress=lambda *_: seen.append(sys.getswitchinterval()))
    assert summary.attempts > 0
    assert seen and all(value == pytest.approx(HANDOVER_INTERVAL, rel=0.05) for value in seen)
    assert sys.getswitchinterval() == before
