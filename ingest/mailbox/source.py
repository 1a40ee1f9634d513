"""What every mailbox source hands to the pipeline, and how one is chosen by URL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit


class MailboxError(RuntimeError):
    """A mailbox could not be opened or read; the message is safe to print."""


@dataclass(frozen=True, slots=True)
class MailItem:
    ref: str  # where it came from inside the mailbox (file name, UID)
    raw: bytes
    received_at: datetime


class MailboxSource(Protocol):
    @property
    def name(self) -> str: ...

    def check(self) -> None: ...

    def messages(self) -> Iterator[MailItem]: ...


SUPPORTED = "maildir:/path"


def open_mailbox(url: str) -> MailboxSource:
    """A source for ``maildir:/path`` (IMAP and mbox come with the polling work)."""
    from ingest.mailbox.maildir import MaildirSource

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "maildir":
        path = url.split(":", 1)[1]
        if path.startswith("//"):
            path = parts.path
        if not path:
            raise MailboxError(f"mailbox URL has no path: {url!r} (expected {SUPPORTED})")
        return MaildirSource(Path(path).expanduser())
    if scheme in ("imap", "imaps", "mbox"):
        raise MailboxError(f"{scheme}: mailboxes are not supported yet (supported: {SUPPORTED})")
    raise MailboxError(f"unknown mailbox URL {url!r} (expected {SUPPORTED})")
