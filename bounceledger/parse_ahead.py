"""Parsing the next batch of returned mail in a second process.

A poll alternates between parsing (pure CPU) and storing and reconciling
(mostly waiting on the database and the IMAP server). Handing the next
batch's parse to a worker process (:mod:`bounceledger.parse_worker`) while
this batch is stored lets the two overlap on a second core. The worker
only ever returns what :func:`bounceledger.ingest.bounces.parse` returns; if it fails in
any way the poller parses in its own process as before, so a worker
problem can cost speed but never a message.

Parsing costs more than storing, so a poller that left all of it to the
worker spent much of its time waiting for it (measured on 10,000 DSNs from
Dovecot into PostgreSQL: 2.0 s of waiting against 1.3 s of storing in a
4 s poll). So the poller parses the tail of each batch itself, just
before it needs the worker's part, and the share it keeps follows what it
sees (:meth:`ParseAhead.result`): it takes more when it had to wait for the
worker, less when the worker's part was ready, so neither side idles while
the other has work.

The worker is a plain child process talking over pipes, not a
multiprocessing pool: multiprocessing's ``spawn`` re-runs the caller's main
script in the child, which a script calling :func:`bounceledger.polling.poll`
without a ``__main__`` guard would not survive, and ``fork`` would copy the
poller's open database and IMAP connections and its threads.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from bounceledger.ingest.bounces import parse
from bounceledger.ingest.records import ParsedMessage

log = logging.getLogger("bounceledger.poll")

# Below this many messages a batch is parsed in-process: a round trip
# through the worker costs more than it could save.
WORKER_FROM = 50
# Above this many bytes too: the batch would be held three times over (here,
# in the pipe's pickle and in the worker) where parsing in-process holds it once.
WORKER_MAX_BYTES = 32 * 1024 * 1024
# The poller's share of each batch moves by this much after each batch, and
# stays at or below MAX_SHARE: the worker has the second core to itself,
# the poller shares its own with storing, the IMAP server and the database.
SHARE_STEP = 0.05
MAX_SHARE = 0.5
# Waiting less than this for the worker's part counts as not waiting (the
# reply's own pipe and unpickling take about a millisecond).
WAIT_SLACK = 0.002

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_GONE = object()  # what the reading thread queues when the worker's output ends

Ticket = int


class ParseAhead:
    """One worker process, started on first use, that parses batches in the order given."""

    def __init__(self, quoted: tuple[str, ...] = ()) -> None:
        self.quoted = quoted
        self._worker: subprocess.Popen[bytes] | None = None
        self._requests: queue.Queue[bytes | None] = queue.Queue()
        self._replies: queue.Queue[Any] = queue.Queue()
        self._tickets = 0
        self._broken = False
        #: the fraction of each batch this process parses itself (see the module docstring)
        self.share = 0.0
        #: ticket -> (how many messages of its batch the worker has, the tail left to this process)
        self._kept: dict[Ticket, tuple[int, list[bytes | None]]] = {}

    def submit(self, raws: Sequence[bytes | None]) -> Ticket | None:
        """Start parsing ``raws`` (None entries stay None); None: the caller parses them itself."""
        if self._broken or len(raws) < WORKER_FROM or sum(len(raw or b"") for raw in raws) > WORKER_MAX_BYTES:
            return None
        try:
            if self._worker is None:
                self._start()
            self._tickets += 1
            split = len(raws) - int(len(raws) * self.share)
            self._requests.put(pickle.dumps((self._tickets, list(raws[:split])), protocol=pickle.HIGHEST_PROTOCOL))
            self._kept[self._tickets] = (split, list(raws[split:]))
            return self._tickets
        except Exception as exc:  # noqa: BLE001 - any failure only costs the speed-up
            self._give_up(exc)
            return None

    def result(self, ticket: Ticket | None) -> list[ParsedMessage | None] | None:
        """The parsed batch, or None when the worker could not deliver it.

        The tail this process kept is parsed here first, then the worker's
        part is waited for. A None entry is a message the caller parses (as
        for a batch the worker failed on). Replies to tickets that were
        given up (a pass cut short by a lost connection) are passed over.
        """
        if ticket is None or self._broken:
            return None
        for older in [t for t in self._kept if t < ticket]:
            del self._kept[older]  # given up with their pass
        theirs, kept = self._kept.pop(ticket, (0, []))
        mine = [None if raw is None else parse(raw, quoted=self.quoted) for raw in kept]
        started = time.perf_counter()
        while True:
            reply = self._replies.get()
            if reply is _GONE:
                self._give_up(RuntimeError(f"worker exited with status {self._worker_status()}"))
                return None
            answered, parsed = reply
            if answered == ticket:
                break
        waited = time.perf_counter() - started
        if parsed is None:
            return [*([None] * theirs), *mine]  # the worker could not parse its part: the caller does
        # Waited: the worker is the slower side, take more; not: it may have idled, give it more.
        step = SHARE_STEP if waited > WAIT_SLACK else -SHARE_STEP
        self.share = min(MAX_SHARE, max(0.0, self.share + step))
        return [*parsed, *mine]

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._requests.put(None)  # the sending thread closes the worker's input: it ends there
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    def _start(self) -> None:
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": _PACKAGE_ROOT + (os.pathsep + path if path else "")}
        worker = subprocess.Popen(
            [sys.executable, "-m", "bounceledger.parse_worker", json.dumps(list(self.quoted))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert worker.stdin is not None and worker.stdout is not None
        # Both pipes are served by threads of their own: handing over a batch
        # never waits for the worker to finish the one before, and the worker
        # never waits on a full pipe while the poller is busy.
        for target, args in ((self._send_requests, (self._requests, worker.stdin)), (self._read_replies, (worker.stdout,))):
            threading.Thread(target=target, args=args, name=f"bounceledger-parse{target.__name__}", daemon=True).start()
        self._worker = worker

    @staticmethod
    def _send_requests(requests: queue.Queue[bytes | None], pipe: IO[bytes]) -> None:
        try:
            while (request := requests.get()) is not None:
                pipe.write(request)
                pipe.flush()
        except OSError:  # the worker is gone; the reading thread reports it
            pass
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def _read_replies(self, replies: IO[bytes]) -> None:
        try:
            while True:
                self._replies.put(pickle.load(replies))
        except Exception:  # noqa: BLE001 - end of output or a broken pipe: the worker is gone
            self._replies.put(_GONE)

    def _worker_status(self) -> int | None:
        return self._worker.poll() if self._worker is not None else None

    def _give_up(self, exc: Exception) -> None:
        log.warning("parse worker failed (%s); parsing in the poller's own process", exc)
        self._broken = True
        self.close()
