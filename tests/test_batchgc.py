"""The collector pause around batch writes always hands the collector back."""

from __future__ import annotations

import gc

import pytest

from bounceledger.ingest.batchgc import collector_paused


def test_the_collector_is_off_inside_and_back_on_after_even_on_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with collector_paused():
            assert not gc.isenabled()
            with collector_paused():  # nested: the inner block must not turn it back on
                assert not gc.isenabled()
            assert not gc.isenabled()
            raise RuntimeError("a batch failed")
    assert gc.isenabled()


def test_a_block_that_starts_with_the_collector_off_leaves_it_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
