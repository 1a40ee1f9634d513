"""A subprocess's log, read on a thread as it is written, so a test can wait for a line."""

from __future__ import annotations

import threading
import time
from typing import IO


class LogTail:
    def __init__(self, stream: IO[str]) -> None:
        self._lines: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self._lines.append(line)

    def text(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def wait_for(self, needle: str, timeout: float, after: int = 0) -> float:
        """Wait until ``needle`` appears at or past character ``after``; returns when it was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text()[after:]:
                return time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not logged within {timeout}s:\n{self.text()[-3000:]}")
