"""A Maildir folder of returned messages.

New mail is read from ``new/`` and, once committed, moved to ``cur/`` with
the Seen flag, which is what "read" means in Maildir; nothing is deleted.
With ``?readonly=on`` (used for the bundled samples) both folders are read
and nothing moves: the ledger's sha256 dedupe alone keeps it exactly-once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bounceledger.ingest.mailbox.source import MailboxError, MailItem


def _base_name(file_name: str) -> str:
    """The unique part of a Maildir file name, without the ``:2,FLAGS`` info."""
    return file_name.split(":", 1)[0]


class MaildirReader:
    kind = "maildir"

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self.name = f"maildir:{path}"
        self.rescanning = False
        self.batch = 100  # messages per transaction

    def check(self) -> None:
        try:
            if not self.path.exists():
                raise MailboxError(f"no such Maildir: {self.path}")
            if not (self.path / "new").is_dir() and not (self.path / "cur").is_dir():
                raise MailboxError(f"not a Maildir (no new/ or cur/ folder): {self.path}")
        except OSError as exc:  # a folder the poller may not enter: one line, as for an unreadable mbox
            raise MailboxError(f"cannot read Maildir {self.path}: {exc.strerror}") from None

    def open(self, cursor: Mapping[str, Any] | None) -> None:
        self.check()

    def _folders(self) -> tuple[str, ...]:
        return ("new", "cur") if self.readonly else ("new",)

    def pending(self) -> Iterator[MailItem]:
        """Messages waiting, oldest delivery first."""
        files: list[tuple[float, str, Path]] = []
        for sub in self._folders():
            folder = self.path / sub
            if not folder.is_dir():
                continue
            try:
                entries = list(folder.iterdir())
            except OSError as exc:
                raise MailboxError(f"cannot read Maildir folder {folder}: {exc.strerror}") from None
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                try:
                    files.append((entry.stat().st_mtime, entry.name, entry))
                except FileNotFoundError:
                    continue  # taken by another reader meanwhile
        files.sort()
        for mtime, name, entry in files:
            try:
                raw = entry.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MailboxError(f"cannot read {entry}: {exc.strerror}") from None
            yield MailItem(
                ref=_base_name(name),
                raw=raw,
                received_at=datetime.fromtimestamp(mtime, timezone.utc),
                cursor=None,
            )

    def fetch_again(self, item: MailItem) -> MailItem:
        return item

    def file_away(self, filed: Sequence[tuple[MailItem, str]]) -> None:
        if self.readonly:
            return
        (self.path / "cur").mkdir(exist_ok=True)
        for item, _outcome in filed:
            source = self.path / "new" / item.ref
            if source.exists():
                os.replace(source, self.path / "cur" / f"{item.ref}:2,S")

    def close(self) -> None:
        return None
