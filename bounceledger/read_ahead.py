"""Reading the next batch of a mailbox on a thread while the poller stores the last.

A poll's main thread alternates between the mailbox (fetching a batch:
waiting on the server, then decoding its answer) and the database
(storing and reconciling the batch before). Fetching on a thread of its
own lets the two waits overlap; measured on a real Dovecot, the fetch was
about a quarter of each message's wall time.

The mailbox reader is one connection, and IMAP commands on it must not
interleave: every call into the reader, from either thread, is made under
:attr:`ReadAhead.lock`. Reading ahead changes nothing about exactly-once:
what is read ahead is not committed, and a crash leaves it to be read
again, as before.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from bounceledger.ingest.mailbox.source import MailboxReader, MailItem

_END = object()  # what the thread queues after the last batch

#: A batch is also cut once its messages reach this many bytes: the poll holds a few
#: batches at once (read ahead, parsing, storing), and a mailbox of large returns
#: (the original message attached whole) must not make that hundreds of megabytes.
BATCH_BYTES = 32 * 1024 * 1024


class ReadAhead:
    """The reader's pending messages in batches of ``size`` (or fewer, once a batch
    holds ``max_bytes`` of mail), read one batch ahead.

    An error raised while reading (a lost connection) is raised again by
    :meth:`batches` where the batch would have come, in the poller's thread.
    Always :meth:`close` it (it joins the thread) before touching the reader
    again, e.g. to reconnect.
    """

    def __init__(self, reader: MailboxReader, size: int, max_bytes: int = BATCH_BYTES) -> None:
        self.lock = threading.Lock()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(reader, max(1, size), max_bytes), name=f"read-ahead {reader.name}", daemon=True
        )
        self._thread.start()

    def _read(self, reader: MailboxReader, size: int, max_bytes: int) -> None:
        batch: list[MailItem] = []
        try:
            with self.lock:
                items = reader.pending()
            held = 0  # bytes of the messages in batch
            while not self._stop.is_set():
                with self.lock:
                    item = next(items, None)
                if item is None:
                    break
                batch.append(item)
                held += len(item.raw) if item.raw is not None else 0
                if len(batch) >= size or held >= max_bytes:
                    self._put(batch)
                    batch, held = [], 0
            if batch:
                self._put(batch)
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the poller's thread, which decides
            if batch:  # the messages read whole before the failure: the poller commits them first
                self._put(batch)
            self._put(exc)

    def _put(self, value: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.2)
                return
            except queue.Full:
                continue

    def batches(self) -> Iterator[list[MailItem]]:
        while True:
            value = self._queue.get()
            if value is _END:
                return
            if isinstance(value, BaseException):
                raise value
            yield value  # type: ignore[misc]

    def close(self) -> None:
        """Stop reading and wait for the thread (at most one command of the reader's)."""
        self._stop.set()
        self._thread.join()
