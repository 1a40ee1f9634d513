"""A shorter GIL switch interval while a reading thread feeds a writing thread.

``ingest-log`` parses on one thread while a second waits on the database.
Each time the database answers, the writer needs the GIL back, and the
reading thread, busy parsing, only gives it up when the interpreter's
switch interval (5 ms by default) runs out. A batch makes dozens of
round trips, so the writer, the critical path, spent much of its time
waiting for its turn. Measured on 300,000 log lines into PostgreSQL,
alternated in one session: 7.34 / 6.60 s at 5 ms, 6.10 / 5.53 s at
0.5 ms, with the same CPU per attempt (``benchmarks/sendlog_ingest.py``).
"""

from __future__ import annotations

import sys

from bounceledger.ingest.held import HeldWhileAnyRuns

#: Seconds a thread may hold the GIL while another waits, during ingest.
HANDOVER_INTERVAL = 0.0005


def _shorten() -> float:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(min(saved, HANDOVER_INTERVAL))
    return saved


#: The switch interval shortened for the ``with`` block (shared by nested
#: and concurrent blocks, see :class:`~bounceledger.ingest.held.HeldWhileAnyRuns`).
quick_handover = HeldWhileAnyRuns(_shorten, sys.setswitchinterval)
