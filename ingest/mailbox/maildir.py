"""A Maildir folder of returned messages, read without changing it.

Exactly-once comes from the ledger (every message is stored under its
sha256), not from moving files, so the same folder can be read by hand, by
the scheduler, or shipped read-only as the bundled sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ingest.mailbox.source import MailboxError, MailItem


@dataclass(frozen=True, slots=True)
class MaildirSource:
    path: Path

    @property
    def name(self) -> str:
        return f"maildir:{self.path}"

    def check(self) -> None:
        if not self.path.exists():
            raise MailboxError(f"no such Maildir: {self.path}")
        if not any((self.path / sub).is_dir() for sub in ("new", "cur")):
            raise MailboxError(f"not a Maildir (no new/ or cur/ folder): {self.path}")

    def messages(self) -> Iterator[MailItem]:
        """Every message in ``new/`` and ``cur/``, oldest delivery first."""
        self.check()
        files: list[tuple[float, str, Path]] = []
        for sub in ("new", "cur"):
            folder = self.path / sub
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                files.append((entry.stat().st_mtime, f"{sub}/{entry.name}", entry))
        files.sort()
        for mtime, ref, entry in files:
            try:
                raw = entry.read_bytes()
            except OSError as exc:
                raise MailboxError(f"cannot read {entry}: {exc.strerror}") from None
            yield MailItem(ref=ref, raw=raw, received_at=datetime.fromtimestamp(mtime, timezone.utc))
