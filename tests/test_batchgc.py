"""Batch writers run the collector less often, and always hand it back as it was."""

from __future__ import annotations

import gc
import threading

import pytest

from bounceledger.ingest.batchgc import YOUNG_THRESHOLD, fewer_collections


def test_thresholds_are_raised_inside_and_restored_after_even_on_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with fewer_collections():
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
            assert gc.get_freeze_count() > 0
            with fewer_collections():  # nested: the inner block must not restore them early
                pass
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
            raise RuntimeError("a batch failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_overlapping_writers_on_threads_leave_the_defaults_behind() -> None:
    """``run`` writes two send logs at once: the second must not save the first one's setting."""
    before = gc.get_threshold()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen_by_second: list[int] = []

    def first() -> None:
        with fewer_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with fewer_collections():
            second_in.set()
            first_out.wait(5)
            seen_by_second.append(gc.get_threshold()[0])  # still raised while this one writes

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen_by_second == [YOUNG_THRESHOLD]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
