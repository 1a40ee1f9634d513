"""An mbox file of returned messages, read from where the last pass stopped.

The file is never rewritten (other programs may be appending to it); the
cursor is the byte offset after the last complete message plus a fingerprint
of the first bytes, like the send-log reader, so a replaced file is read
from the start and the ledger's dedupe keeps that exactly-once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bounceledger.ingest.mailbox.source import MailboxError, MailItem
from bounceledger.ingest.sendlog.reader import fingerprint

FROM_LINE = b"From "


class MboxReader:
    kind = "mbox"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"mbox:{path}"
        self.rescanning = False
        self.batch = 100  # messages per transaction
        self._offset = 0
        self._fingerprint: tuple[str, int] | None = None

    def check(self) -> None:
        if not self.path.is_file():
            raise MailboxError(f"no such mbox file: {self.path}")

    def open(self, cursor: Mapping[str, Any] | None) -> None:
        self.check()
        self._fingerprint = fingerprint(self.path)
        self._offset = 0
        if cursor:
            saved_len = int(cursor.get("fingerprint_len", 0))
            same = fingerprint(self.path, saved_len)[0] == cursor.get("fingerprint")
            if same and int(cursor.get("offset", 0)) <= self.path.stat().st_size:
                self._offset = int(cursor["offset"])
        self.rescanning = bool(cursor) and self._offset == 0

    def pending(self) -> Iterator[MailItem]:
        """Each complete message after the cursor; the last one only once another follows
        or the file ends with a blank line (a writer may still be appending)."""
        assert self._fingerprint is not None
        mtime = datetime.fromtimestamp(self.path.stat().st_mtime, timezone.utc)
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            start = self._offset
            lines: list[bytes] = []
            position = self._offset
            for line in handle:
                if line.startswith(FROM_LINE) and (not lines or lines[-1] in (b"\n", b"\r\n")):
                    if lines:
                        yield self._item(start, lines, position, mtime)
                    start, lines = position, [line]
                elif lines:
                    lines.append(line)
                position += len(line)
            if lines and lines[-1] in (b"\n", b"\r\n"):
                yield self._item(start, lines, position, mtime)

    def _item(self, start: int, lines: list[bytes], end: int, mtime: datetime) -> MailItem:
        body = b"".join(line[1:] if line.startswith(b">From ") else line for line in lines[1:])
        assert self._fingerprint is not None
        return MailItem(
            ref=f"offset:{start}",
            raw=body.rstrip(b"\r\n") + b"\n",
            received_at=mtime,
            cursor={"offset": end, "fingerprint": self._fingerprint[0], "fingerprint_len": self._fingerprint[1]},
        )

    def fetch_again(self, item: MailItem) -> MailItem:
        return item

    def file_away(self, filed: Sequence[tuple[MailItem, str]]) -> None:
        return None  # an mbox is read in place; the cursor remembers the offset

    def close(self) -> None:
        return None
