"""A process-wide setting held while any of several blocks runs.

Interpreter settings (the collector's thresholds, the GIL's switch
interval) belong to the whole process, while the batches that want them
changed run nested or at once on threads of their own (``run`` writes send
logs and mailboxes concurrently). One count per setting: the first block
to start changes it, the last to finish puts back what was there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

Saved = TypeVar("Saved")


class HeldWhileAnyRuns(Generic[Saved]):
    """``change()`` when the first block starts (returning what to restore), ``restore(saved)`` after the last."""

    def __init__(self, change: Callable[[], Saved], restore: Callable[[Saved], None]) -> None:
        self._change = change
        self._restore = restore
        self._lock = threading.Lock()
        self._running = 0
        self._saved: Saved | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._running == 0:
                self._saved = self._change()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self._restore(self._saved)  # type: ignore[arg-type]
                    self._saved = None
