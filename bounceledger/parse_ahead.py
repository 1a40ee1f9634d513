"""Parsing the next batch of returned mail in a second process.

A poll alternates between parsing (pure CPU) and storing and reconciling
(mostly waiting on the database) with the server's round trips in between.
Handing the next batch's parse to a worker process while this batch is
stored lets the two overlap on a second core. The worker only ever
returns what :func:`ingest.bounces.parse` returns; if it fails in any way
the poller parses in its own process as before, so a worker problem can
cost speed but never a message.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from ingest.bounces import parse
from ingest.records import ParsedMessage

log = logging.getLogger("bounceledger.poll")

# Below this many messages a batch is parsed in-process: starting the
# worker costs more than it could save.
WORKER_FROM = 50


def _die_with_parent(parent: int) -> None:
    """Worker start-up: exit as soon as the poller is gone, even if it was SIGKILLed.

    Otherwise an orphaned worker would wait for work for ever, holding the
    poller's stdout and stderr open.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="bounceledger-parent-watch", daemon=True).start()


def _parse_all(raws: Sequence[bytes | None], quoted: tuple[str, ...]) -> list[ParsedMessage | None]:
    return [None if raw is None else parse(raw, quoted=quoted) for raw in raws]


class ParseAhead:
    """A single worker process that parses batches handed to it, in order."""

    def __init__(self, quoted: tuple[str, ...] = ()) -> None:
        self.quoted = quoted
        self._pool: ProcessPoolExecutor | None = None
        self._broken = False

    def submit(self, raws: Sequence[bytes | None]) -> Future[list[ParsedMessage | None]] | None:
        """Start parsing ``raws`` (None entries are skipped); None: parse them in-process later."""
        if self._broken or len(raws) < WORKER_FROM:
            return None
        try:
            if self._pool is None:
                # spawn, not fork: the poller holds database and IMAP connections.
                self._pool = ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_die_with_parent,
                    initargs=(os.getpid(),),
                )
            return self._pool.submit(_parse_all, list(raws), self.quoted)
        except Exception as exc:  # noqa: BLE001 - any failure only costs the speed-up
            self._give_up(exc)
            return None

    def result(self, pending: Future[list[ParsedMessage | None]] | None) -> list[ParsedMessage | None] | None:
        """The parsed batch, or None when the worker could not deliver it."""
        if pending is None:
            return None
        try:
            return pending.result()
        except Exception as exc:  # noqa: BLE001 - parsed again in-process by the caller
            self._give_up(exc)
            return None

    def _give_up(self, exc: Exception) -> None:
        log.warning("parse worker failed (%s); parsing in the poller's own process", exc)
        self._broken = True
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
