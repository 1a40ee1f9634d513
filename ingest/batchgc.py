"""Python's cyclic garbage collector, run less often while batches are written.

A batch of thousands of log lines or verdicts builds hundreds of thousands
of small containers (rows, facts, parameters), none of them in a cycle,
all alive until the batch commits and then freed by reference counting.
With the default thresholds the collector ran every 700 allocations and
walked the batch in flight each time, and once it reached the oldest
generation the whole heap, rule tables included, freeing nothing: measured
as 6 of 12.5 µs per attempt preparing ingest rows, 1.5 µs of parsing
(``benchmarks/sendlog_ingest.py``), and about a quarter of reconciliation's
client CPU (``benchmarks/reconcile_scale.py``).

While any batch is being written, the youngest generation's threshold is
raised and the objects that were there before (modules, the ORM's metadata,
the classifier's tables) are frozen out of the walks. Collection still
runs, and the last batch to finish puts everything back as it was.
"""

from __future__ import annotations

import gc

from bounceledger.ingest.held import HeldWhileAnyRuns

#: The youngest generation's threshold while a batch is written (Python's default is 700).
YOUNG_THRESHOLD = 50_000


def _raise_thresholds() -> tuple[int, int, int]:
    saved = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *saved[1:])
    return saved


def _put_back(saved: tuple[int, int, int]) -> None:
    gc.set_threshold(*saved)
    gc.unfreeze()


#: The collector's thresholds raised, and the heap frozen, for the ``with``
#: block. Nested and concurrent blocks share one setting: the first to start
#: saves the thresholds, the last to finish restores them.
fewer_collections = HeldWhileAnyRuns(_raise_thresholds, _put_back)
