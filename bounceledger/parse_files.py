"""Parse many returned-message files in order, on two cores when it pays.

``bounceledger parse DIR`` is a tool people run on a folder of saved
bounces; most of a short run is start-up, and the parsing itself is
CPU-bound. A child forked *after* the parser is imported starts with it
ready (no second start-up) and parses files alongside this process; the
results still come out in file order. The files are not cut in two halves
but claimed a chunk at a time, by whichever process is free, from a pipe
of tickets filled before the fork (a read of one ticket is atomic, so no
chunk is claimed twice): a folder sorted by name holds runs of one format,
and halves of unequal cost left one core idle for up to a seventh of the
run. The work done per file is the caller's (``work(path, raw)``):
``parse DIR --json`` renders each file's JSON line in the process that
parsed it, so the child sends back short strings instead of pickled
records. Fork is only used where it is safe: POSIX, more than one core,
enough files, and no threads yet in this process (the CLI's parse command
has none). Anything the child does not deliver, because it failed or was
killed, is parsed here instead: a failure costs speed, never a result.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar, Union

#: Fewer files than this are parsed in this process: forking costs a few
#: milliseconds, parsing a file about a third of one.
MIN_FILES_TO_SPLIT = 48

#: Most tickets (chunks) one run hands out: they are written into the pipe
#: before the fork, and 4 bytes each must fit its buffer (64 KiB on Linux,
#: at least 4 KiB by POSIX: 1,024 tickets).
MAX_TICKETS = 1024

R = TypeVar("R")
#: What ``work`` made of a file, or the reason it could not be read (``strerror``).
Result = Union[R, OSError]
#: The work done on one file: its path and its bytes in, a picklable result out.
Work = Callable[[Path, bytes], R]

_LENGTH = struct.Struct("!I")
_TICKET = struct.Struct("!I")


def _one(path: Path, work: Work[R]) -> Result[R]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return exc
    return work(path, raw)


def _should_split(count: int) -> bool:
    return (count >= MIN_FILES_TO_SPLIT and hasattr(os, "fork") and (os.cpu_count() or 1) > 1
            and threading.active_count() == 1)


def parsed_in_order(
    paths: Sequence[Path], work: Work[R], preload: Callable[[], None] | None = None
) -> Iterator[tuple[Path, Result[R]]]:
    """``(path, result)`` for every path, in order. ``preload`` loads what
    parsing loads on first use, once, before the fork."""
    if not _should_split(len(paths)):
        for path in paths:
            yield path, _one(path, work)
        return
    import pickle  # only a split sends results across: imported here, once, before the fork

    if preload is not None:
        preload()
    size = -(-len(paths) // MAX_TICKETS)  # files per chunk: 1 up to 1,024 files
    chunks = [paths[start:start + size] for start in range(0, len(paths), size)]
    tickets = _tickets(len(chunks))
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: parse what it claims, send each chunk's results, leave without cleanup
        os.close(read_end)
        code = 0
        try:
            with os.fdopen(write_end, "wb") as out:
                for number in _claimed(tickets):
                    results = [_sendable(_one(path, work)) for path in chunks[number]]
                    payload = pickle.dumps((number, results), protocol=pickle.HIGHEST_PROTOCOL)
                    out.write(_LENGTH.pack(len(payload)) + payload)
                    out.flush()
        except BaseException:  # noqa: BLE001 - the parent parses what did not arrive
            code = 1
        os._exit(code)
    os.close(write_end)
    received: dict[int, list[Result[R]]] = {}  # chunk -> its results, filled by the reader thread
    reader = threading.Thread(target=_receive, args=(read_end, received), daemon=True)
    reader.start()
    mine: dict[int, list[Result[R]]] = {}
    following = 0  # the next chunk to hand to the caller
    finished = False
    try:
        for number in _claimed(tickets):
            mine[number] = [_one(path, work) for path in chunks[number]]
            while following < len(chunks) and (following in mine or following in received):
                yield from zip(chunks[following], mine.pop(following, None) or received.pop(following))
                following += 1
        reader.join()
        finished = True
    finally:
        os.close(tickets)
        _reap(pid, stop=not finished)  # a caller that stops early (an unreadable file) stops the child too
    for number in range(following, len(chunks)):
        done = mine.pop(number, None) or received.pop(number, None)
        if done is None:  # claimed by a child that did not deliver it
            done = [_one(path, work) for path in chunks[number]]
        yield from zip(chunks[number], done)


def _tickets(count: int) -> int:
    """A pipe holding the chunk numbers ``0 .. count - 1``, its read end
    returned: the write end is closed, so an empty pipe reads as the end."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"".join(_TICKET.pack(number) for number in range(count)))
    finally:
        os.close(write_end)
    return read_end


def _claimed(tickets: int) -> Iterator[int]:
    """The chunk numbers this process claims, one at a time, until none is
    left. Tickets are written and read whole (4 bytes, far below
    ``PIPE_BUF``), so each read takes exactly one ticket."""
    while True:
        ticket = os.read(tickets, _TICKET.size)
        if len(ticket) < _TICKET.size:
            return
        yield _TICKET.unpack(ticket)[0]


def _sendable(result: object) -> object:
    """A result the parent can unpickle: an ``OSError`` as its plain errno and text."""
    return OSError(result.errno, result.strerror) if isinstance(result, OSError) else result


def _receive(fd: int, into: dict) -> None:
    """Read the child's results as they come, so its pipe never fills."""
    import pickle  # loaded already by parsed_in_order

    with os.fdopen(fd, "rb") as source:
        while True:
            head = source.read(_LENGTH.size)
            if len(head) < _LENGTH.size:
                return
            payload = source.read(_LENGTH.unpack(head)[0])
            try:
                number, results = pickle.loads(payload)
            except Exception:  # noqa: BLE001 - a torn last result: parsed again by the parent
                return
            into[number] = results


def _reap(pid: int, *, stop: bool) -> None:
    try:
        if stop:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass
