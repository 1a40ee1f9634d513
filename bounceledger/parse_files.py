"""Parse many returned-message files in order, on two cores when it pays.

``bounceledger parse DIR`` is a tool people run on a folder of saved
bounces; most of a short run is start-up, and the parsing itself is
CPU-bound. A child forked *after* the parser is imported starts with it
ready (no second start-up) and parses the second half of the files while
this process parses the first; the results still come out in file order.
The work done per file is the caller's (``work(path, raw)``): ``parse DIR
--json`` renders each file's JSON line in the process that parsed it, so
the child sends back short strings instead of pickled records.
Fork is only used where it is safe: POSIX, more than one core, enough
files, and no threads yet in this process (the CLI's parse command has
none). Anything the child does not deliver, because it failed or was
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

R = TypeVar("R")
#: What ``work`` made of a file, or the reason it could not be read (``strerror``).
Result = Union[R, OSError]
#: The work done on one file: its path and its bytes in, a picklable result out.
Work = Callable[[Path, bytes], R]

_LENGTH = struct.Struct("!I")


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
    half = len(paths) // 2
    mine, theirs = paths[:half], paths[half:]
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: parse the second half, send each result, leave without cleanup
        os.close(read_end)
        code = 0
        try:
            with os.fdopen(write_end, "wb") as out:
                for path in theirs:
                    result = _one(path, work)
                    payload = pickle.dumps(
                        OSError(result.errno, result.strerror) if isinstance(result, OSError) else result,
                        protocol=pickle.HIGHEST_PROTOCOL,
                    )
                    out.write(_LENGTH.pack(len(payload)) + payload)
        except BaseException:  # noqa: BLE001 - the parent parses what did not arrive
            code = 1
        os._exit(code)
    os.close(write_end)
    received: list[Result[R]] = []
    reader = threading.Thread(target=_receive, args=(read_end, received), daemon=True)
    reader.start()
    finished = False
    try:
        for path in mine:
            yield path, _one(path, work)
        reader.join()
        finished = True
    finally:
        _reap(pid, stop=not finished)  # a caller that stops early (an unreadable file) stops the child too
    for index, path in enumerate(theirs):
        yield path, received[index] if index < len(received) else _one(path, work)


def _receive(fd: int, into: list) -> None:
    """Read the child's results as they come, so its pipe never fills."""
    import pickle  # loaded already by parsed_in_order

    with os.fdopen(fd, "rb") as source:
        while True:
            head = source.read(_LENGTH.size)
            if len(head) < _LENGTH.size:
                return
            payload = source.read(_LENGTH.unpack(head)[0])
            try:
                into.append(pickle.loads(payload))
            except Exception:  # noqa: BLE001 - a torn last result: parsed again by the parent
                return


def _reap(pid: int, *, stop: bool) -> None:
    try:
        if stop:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass
