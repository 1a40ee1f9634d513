"""Reading the next batch of a mailbox on a thread while the poller stores the last,
and filing the last away on another (:class:`FileBehind`).

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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from bounceledger.ingest.mailbox.source import MailboxReader, MailItem

_END = object()  # what the thread queues after the last batch


class ReadAhead:
    """The reader's pending messages in batches of ``size``, read one batch ahead.

    An error raised while reading (a lost connection) is raised again by
    :meth:`batches` where the batch would have come, in the poller's thread.
    Always :meth:`close` it (it joins the thread) before touching the reader
    again, e.g. to reconnect.
    """

    def __init__(self, reader: MailboxReader, size: int) -> None:
        self.lock = threading.Lock()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(reader, max(1, size)), name=f"read-ahead {reader.name}", daemon=True
        )
        self._thread.start()

    def _read(self, reader: MailboxReader, size: int) -> None:
        try:
            with self.lock:
                items = reader.pending()
            batch: list[MailItem] = []
            while not self._stop.is_set():
                with self.lock:
                    item = next(items, None)
                if item is None:
                    break
                batch.append(item)
                if len(batch) >= size:
                    self._put(batch)
                    batch = []
            if batch:
                self._put(batch)
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the poller's thread, which decides
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


class FileBehind:
    """Files committed batches away on a thread of its own, one batch behind the poller.

    Filing a batch (one IMAP command per folder) and the table-statistics
    refresh that follows it need nothing from the next batch, yet done in
    line they held up its store: about a tenth of each message's wall time
    on a real Dovecot. Filing runs only after its batch is committed and in
    batch order, under the reader's lock, so exactly-once is as before: a
    batch whose filing fails or never happens is committed and unfiled,
    which the next pass recognises and files then. At most one filing is
    outstanding, and its failure is raised in the poller's thread by the
    next :meth:`finish` (the poller calls it once its next batch is
    stored, so only the last committed batch is ever unfiled) or :meth:`submit`.
    """

    def __init__(self, reader: MailboxReader, lock: threading.Lock, after: Callable[[], object] | None = None) -> None:
        self._reader = reader
        self._lock = lock
        self._after = after
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"file-behind {reader.name}")
        self._pending: Future[None] | None = None

    def submit(self, filed: Sequence[tuple[MailItem, str]]) -> None:
        """File ``filed`` (committed items and their outcomes' folders) after the batch before it."""
        self.finish()  # normally done already: the poller waits for it once its next batch is stored
        self._pending = self._executor.submit(self._file, list(filed))

    def _file(self, filed: list[tuple[MailItem, str]]) -> None:
        with self._lock:
            self._reader.file_away(filed)
        if self._after is not None:
            self._after()

    def finish(self) -> None:
        """Wait for the outstanding filing; raise what it raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the outstanding filing and stop the thread, raising nothing: for
        a pass that is already ending on an error of its own."""
        try:
            self.finish()
        except BaseException:  # noqa: BLE001 - the pass's own error is the one to report
            pass
        finally:
            self._executor.shutdown(wait=True)
