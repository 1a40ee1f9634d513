"""Python's cyclic garbage collector held off while one batch is written.

A batch of thousands of verdicts or log lines builds hundreds of thousands
of small objects (rows, facts, parameters) that all stay alive until the
batch commits. Every automatic collection meanwhile walks all of them,
and once they reach the oldest generation the whole heap, rule tables
included, and frees nothing: measured as about a quarter of
reconciliation's client CPU (benchmarks/reconcile_scale.py). What a batch
leaves behind is collected by the first automatic collection after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the ``with`` block, then back on.

    Nested or concurrent blocks are safe: only the block that turned it off
    turns it on again, and a block that starts while it is off leaves it be.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
