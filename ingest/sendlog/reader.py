"""Reading log files from where the last run stopped.

A source only moves bytes and remembers a position: device, inode, byte
offset and a fingerprint of the first bytes. The fingerprint notices a file
that was rotated away and replaced under the same name (new inode or new
first bytes), the offset notices truncation (file now shorter). A partial last
line is never consumed: the writer may still be appending to it.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

FINGERPRINT_BYTES = 1024
READ_CHUNK = 1 << 20
# No MTA writes a log line anywhere near this long (Postfix caps its own at
# line_length_limit-sized fields, syslog daemons at 8 KiB or 64 KiB); a
# longer "line" is a corrupt or foreign file, read past, never held whole.
MAX_LINE_BYTES = 1 << 20
HEAD_BYTES = 200  # what is kept of an over-long line, for the skipped sample


class LogFileError(OSError):
    """A log file could not be opened or read; the message is safe to print."""


# What the decompressors raise on a file that is not whole: logrotate writes ``mail.log.1.gz``
# while it compresses (the uncompressed ``mail.log.1`` goes only when it is done),
# so a run can meet a .gz that ends before its end-of-stream marker.
_DECOMPRESS_ERRORS: tuple[type[Exception], ...] = (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError)


def _damaged(path: Path) -> tuple[type[Exception], ...]:
    """What reading ``path`` raises when its compressed data is cut short or damaged
    (bz2 says "Invalid data stream" as a plain OSError, so only for a compressed file)."""
    return (*_DECOMPRESS_ERRORS, OSError) if is_compressed(path) else _DECOMPRESS_ERRORS


def _incomplete(path: Path, exc: Exception) -> LogFileError:
    return LogFileError(
        f"{path}: compressed file is incomplete or damaged ({exc}); "
        "if logrotate is still compressing it, the next run reads it"
    )


@dataclass(frozen=True, slots=True)
class Position:
    device: int
    inode: int
    offset: int
    fingerprint: str
    fingerprint_len: int


#: Compressed rotations read as they are, by the suffix logrotate gives them: gzip by
#: default, bzip2 or xz with ``compresscmd`` (src: logrotate(8) compresscmd, compressext).
_DECOMPRESSORS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".lzma": lzma.open}
#: Compressed with what Python's standard library cannot read (zstd: logrotate's
#: ``compresscmd /usr/bin/zstd``): named as such, not read as text.
_UNREADABLE_COMPRESSION = {".zst": "zstd", ".zstd": "zstd", ".lz4": "lz4", ".lzo": "lzop", ".Z": "compress"}
#: The suffixes a rotated file may carry after its number or date.
COMPRESSED_SUFFIX = r"(?:\.(?:gz|bz2|xz|lzma|zst|zstd|lz4|lzo|Z))?"


def is_compressed(path: Path) -> bool:
    """Is ``path`` a compressed rotation (gzip, bzip2 or xz), read through its decompressor?"""
    return path.suffix in _DECOMPRESSORS


def _open(path: Path) -> io.BufferedIOBase:
    tool = _UNREADABLE_COMPRESSION.get(path.suffix)
    if tool is not None:
        raise LogFileError(
            f"{path}: compressed with {tool}, which bounceledger cannot read: decompress it, or have "
            "logrotate compress with gzip, bzip2 or xz (compresscmd)"
        )
    try:
        opener = _DECOMPRESSORS.get(path.suffix)
        if opener is not None:
            return opener(path, "rb")  # type: ignore[no-any-return]
        return path.open("rb")
    except FileNotFoundError:
        raise LogFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise LogFileError(f"is a directory, not a log file: {path}") from None
    except PermissionError:
        raise LogFileError(f"permission denied: {path}") from None


def fingerprint(path: Path, length: int = FINGERPRINT_BYTES) -> tuple[str, int]:
    """A hash of the file's first ``length`` bytes (fewer if it is shorter)."""
    with _open(path) as handle:
        try:
            head = handle.read(length)
        except _damaged(path) as exc:
            raise _incomplete(path, exc) from None
    return hashlib.sha256(head).hexdigest(), len(head)


def current_position(path: Path) -> Position:
    """Where a fresh read of this file starts: offset 0 with its identity."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise LogFileError(f"no such file: {path}") from None
    fp, fp_len = fingerprint(path)
    return Position(st.st_dev, st.st_ino, 0, fp, fp_len)


def resume_offset(path: Path, saved: Position | None) -> int:
    """Where to continue reading ``path`` given the position saved last time.

    The same file (same first bytes, not shorter than before) continues at the
    saved offset; anything else is a new file and starts from the beginning.
    Re-reading is safe because every event has a unique key, so erring
    towards the start costs time, never correctness. A rotated copy that
    was compressed gets a new inode but keeps its first bytes, so the
    fingerprint, not the inode, decides.
    """
    if saved is None:
        return 0
    fp, _ = fingerprint(path, saved.fingerprint_len)
    if fp != saved.fingerprint:
        return 0
    size = _size(path)
    if size is not None and size < saved.offset:
        return 0  # truncated in place
    return saved.offset


def _size(path: Path) -> int | None:
    if is_compressed(path):
        return None  # unknown without decompressing; a rotated .gz does not shrink
    return path.stat().st_size


class OverlongLine(bytes):
    """Stands for a line longer than ``max_line``: only its first bytes
    (``HEAD_BYTES``), with ``length`` the whole line's size.

    The rest was thrown away while reading, so a 20 MB line without a
    newline never sits in memory whole; the caller counts it as skipped.
    """

    length: int

    def __new__(cls, head: bytes, length: int) -> OverlongLine:
        line = super().__new__(cls, head)
        line.length = length
        return line


def read_complete_lines(
    path: Path, offset: int = 0, max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[bytes, int]]:
    """Yield ``(line, offset_after_line)`` for every complete line from ``offset``.

    Reads in large chunks so that memory stays flat whatever the file size.
    A line longer than ``max_line`` bytes comes as an :class:`OverlongLine`
    (its head only; test with ``type(line) is OverlongLine``); no log line
    is that long, and holding one whole could exhaust memory.
    """
    with _open(path) as handle:
        try:
            yield from _complete_lines(handle, path, offset, max_line)
        except _damaged(path) as exc:
            raise _incomplete(path, exc) from None


def _complete_lines(
    handle: io.BufferedIOBase, path: Path, offset: int, max_line: int
) -> Iterator[tuple[bytes, int]]:
    if offset:
        if is_compressed(path):
            _skip(handle, offset)
        else:
            handle.seek(offset)
    position = offset
    pending = b""
    head = b""
    dropped = 0  # bytes of an over-long line thrown away so far (0: none pending)
    while True:
        chunk = handle.read(READ_CHUNK)
        if not chunk:
            return  # whatever is left in ``pending`` is a partial line
        if dropped:
            newline = chunk.find(b"\n")
            if newline < 0:
                dropped += len(chunk)
                continue
            dropped += newline
            position += dropped + 1
            yield OverlongLine(head, dropped), position
            head, dropped = b"", 0
            data, start = chunk, newline + 1
        else:
            data, start = pending + chunk, 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            position += end + 1 - start
            if end - start > max_line:
                yield OverlongLine(data[start : start + HEAD_BYTES], end - start), position
            else:
                yield data[start:end], position
            start = end + 1
        if len(data) - start > max_line:
            head, dropped, pending = data[start : start + HEAD_BYTES], len(data) - start, b""
        else:
            pending = data[start:]


def _skip(handle: io.BufferedIOBase, count: int) -> None:
    while count > 0:
        got = handle.read(min(count, READ_CHUNK))
        if not got:
            return
        count -= len(got)


_COMPRESSION_EXT = re.compile(COMPRESSED_SUFFIX + "$")
_ROTATION_NUMBER = re.compile(r"\.(\d{1,7})" + COMPRESSED_SUFFIX + "$")
# A date (and time) suffix. src: logrotate(8) "dateformat": -%Y%m%d by default,
# -%Y%m%d%H for hourly, any of %Y %m %d %H %M %S %V %s "lexically sortable";
# postconf(5) maillog_file_rotate_suffix (default %Y%m%d-%H%M%S) appended by
# "postfix logrotate" after a dot, e.g. postfix.log.20261207-212800.gz.
_ROTATION_DATE = re.compile(r"[-.](\d{8,}(?:[-_]?\d+)*)" + COMPRESSED_SUFFIX + "$")


def rotation_order(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Oldest first: ``mail.log.3.gz``, ``mail.log.2.gz``, ``mail.log.1``, ``mail.log``.

    Numbered rotations count up with age; dated ones (``mail.log-20261120``,
    logrotate's hourly ``mail.log-2026112013``, Postfix's own
    ``postfix.log.20261120-130500.gz``) count up with time. Files of
    different logs keep the order given.
    """
    def age_key(item: tuple[int, Path]) -> tuple[str, int, int, int]:
        index, path = item
        name = path.name
        if match := _ROTATION_NUMBER.search(name):
            base = name[: match.start()]
            return (str(path.parent / base), 0, -int(match.group(1)), index)
        if match := _ROTATION_DATE.search(name):
            base = name[: match.start()]
            return (str(path.parent / base), 0, int(re.sub(r"\D", "", match.group(1)).ljust(20, "0")), index)
        base = _COMPRESSION_EXT.sub("", name)
        return (str(path.parent / base), 1, 0, index)

    items = list(enumerate(Path(p) for p in paths))
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(age_key(item)[0], item[0])
    items.sort(key=lambda item: (first_seen[age_key(item)[0]], *age_key(item)[1:]))
    return [path for _, path in items]
