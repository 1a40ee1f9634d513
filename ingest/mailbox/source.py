"""What every mailbox source hands to the poller, and how one is chosen by URL.

Sources only move bytes and remember positions; what a message *is* is
decided later by the parser, and whether it was committed by the poller.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class MailboxError(RuntimeError):
    """A mailbox could not be opened or read; the message is safe to print."""


class MailboxConnectionLost(MailboxError):
    """The server went away mid-pass; the poller reconnects and resumes.

    ``reached``: the server had answered (the login was accepted) before the
    connection went; a first connection that never got that far is a setting
    to fix, one lost after it is a server that restarted or dropped us.
    """

    def __init__(self, message: str, *, reached: bool = True) -> None:
        super().__init__(message)
        self.reached = reached


@dataclass(frozen=True, slots=True)
class MailItem:
    """One message, or a reference to one committed earlier but not yet filed away.

    ``raw`` is None for such leftovers: the poller looks up what it made of
    the message last time and only files it. ``cursor`` is the position to
    store together with the commit of this message, if the source keeps one.
    """

    ref: str  # stable position inside the mailbox (file name, UIDVALIDITY:UID)
    raw: bytes | None
    received_at: datetime
    cursor: Mapping[str, Any] | None = None
    #: Why the server could not hand over this message's bytes (``raw`` is then empty):
    #: the poller quarantines it with this reason instead of parsing it.
    unreadable: str | None = None


class MailboxReader(Protocol):
    """A mailbox source as the poller drives it."""

    kind: str  # "maildir", "mbox", "imap": the cursor kind
    name: str  # safe for logs (never a password) and stable: the cursor key
    rescanning: bool  # True while re-reading after the mailbox was renumbered
    batch: int  # messages committed together, then filed away

    def check(self) -> None: ...

    def open(self, cursor: Mapping[str, Any] | None) -> None: ...

    def pending(self) -> Iterator[MailItem]: ...

    def fetch_again(self, item: MailItem) -> MailItem: ...

    def file_away(self, filed: Sequence[tuple[MailItem, str]]) -> None:
        """File committed messages away, each under its outcome (processed, ignored, ...)."""
        ...

    def close(self) -> None: ...


def open_mailbox(url: str) -> MailboxReader:
    """The reader for a mailbox URL (see :mod:`bounceledger.ingest.mailbox.url`)."""
    from bounceledger.ingest.mailbox.url import ImapSpec, parse_mailbox_url

    spec = parse_mailbox_url(url)
    if isinstance(spec, ImapSpec):
        from bounceledger.ingest.mailbox.imap import ImapReader

        return ImapReader(spec)
    if spec.kind == "mbox":
        from bounceledger.ingest.mailbox.mbox import MboxReader

        return MboxReader(spec.path)
    from bounceledger.ingest.mailbox.maildir import MaildirReader

    return MaildirReader(spec.path, readonly=spec.readonly)
