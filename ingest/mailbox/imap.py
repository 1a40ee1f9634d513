"""An IMAP folder as a source of returned messages (imapclient).

Only moves bytes: select, search by UID, fetch with ``BODY.PEEK[]`` (plain
``RFC822`` would set ``\\Seen`` before we have committed anything), and
afterwards file each message into the folder for its outcome. What was
committed is decided by the caller; this class never deletes anything.
"""

from __future__ import annotations

import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, IMAPClientReadOnlyError, LoginError

from bounceledger.ingest.mailbox.source import MailboxConnectionLost, MailboxError, MailItem
from bounceledger.ingest.mailbox.url import DEFAULT_FOLDERS, ImapSpec

log = logging.getLogger("bounceledger.imap")

DONE_KEYWORD = b"$BounceledgerDone"
CONNECT_TIMEOUT = 30.0
#: Most messages one FETCH asks for: imapclient holds a whole answer in memory, so
#: this, not the (larger) commit batch, bounds what one command brings in. Measured:
#: committing 500 at a time fetched 100 at a time was as fast as fetching 500 at once.
FETCH_GROUP = 100

# What a dropped connection or a restarting server looks like from here.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    imaplib.IMAP4.abort,
    ConnectionError,
    socket.timeout,
    TimeoutError,
    ssl.SSLError,
    EOFError,
    OSError,
)


ImapConnectionLost = MailboxConnectionLost


def _server_refused(exc: BaseException) -> bool:
    """Whether the server answered (NO/BAD, or a BYE with its reason) rather than vanished.

    imaplib reports a dropped connection as an ``abort`` whose text says "socket error"
    (or as an OSError); any other ``abort`` carries the server's own BYE text.
    """
    if isinstance(exc, OSError) or not isinstance(exc, imaplib.IMAP4.error):
        return False
    return "socket error" not in str(exc)


def _one_line(exc: BaseException | None) -> str:
    return " ".join(str(exc).split())[:300]


@dataclass(frozen=True, slots=True)
class FolderState:
    uidvalidity: int
    uids: tuple[int, ...]


def ssl_context(spec: ImapSpec) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=spec.ca_file) if spec.ca_file else ssl.create_default_context()
    if not spec.verify:
        log.warning("TLS certificate verification is OFF for %s (verify=off): test servers only", spec.display)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def quiet_imaplib(client: IMAPClient) -> None:
    """Stop imaplib formatting every response for a debug log that drops it.

    IMAPClient sets its imaplib connection's ``debug`` to 5 and sends imaplib's
    messages to the ``imapclient.imaplib`` logger. imaplib then builds the repr of
    every line and literal it reads (a fetched message twice over: as it arrives
    and when its command's answers are collected) before that logger throws the
    text away at any level above DEBUG. Measured fetching 5,000 DSNs from Dovecot
    over TLS: 206 µs of client CPU per message with it, 118 µs without. Where that
    logger would print DEBUG records the setting is left as IMAPClient made it; an
    IMAPClient without that connection attribute is left alone too (only slower).
    """
    if logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        return
    connection = getattr(client, "_imap", None)  # IMAPClient's imaplib.IMAP4: no public handle exists
    if isinstance(connection, imaplib.IMAP4):
        connection.debug = 0


class ImapReader:
    """One IMAP folder, read from the UID after the last one committed.

    UIDs at or below the cursor that are still in the folder were committed
    but not filed (the process died in between, or the move failed): they
    are offered again without their bytes, so the poller only files them.
    A new UIDVALIDITY means the server renumbered the folder: everything is
    read again and the ledger's sha256 dedupe keeps it exactly-once.
    """

    kind = "imap"

    def __init__(self, spec: ImapSpec) -> None:
        self.spec = spec
        self.name = spec.display
        self.rescanning = False
        self.batch = spec.batch  # messages per transaction (fetched FETCH_GROUP at a time)
        self.client: IMAPClient | None = None
        self._known_folders: set[str] = set()
        self._outcome_folders: dict[str, str] = {}  # outcome -> folder, once the server was asked
        self._personal: tuple[str, str] | None = None  # the login's own namespace: prefix, separator
        self._creating: str | None = None  # the folder a CREATE was sent for, to explain its refusal
        self._permanent: set[bytes] | None = None  # the selected folder's PERMANENTFLAGS, lowercased
        self._state: FolderState | None = None
        self._last_uid = 0

    def check(self) -> None:
        self.spec.password()  # a missing password is a configuration error, found early

    def open(self, cursor: Mapping[str, Any] | None) -> None:
        self._state = self.connect()
        cursor = cursor or {}
        same_numbering = cursor.get("uidvalidity") == self._state.uidvalidity
        self.rescanning = bool(cursor) and not same_numbering
        self._last_uid = int(cursor.get("last_uid") or 0) if same_numbering else 0

    def pending(self) -> Iterator[MailItem]:
        state = self._state
        assert state is not None
        leftovers = [uid for uid in state.uids if uid <= self._last_uid]
        if leftovers and not self.spec.move:
            done = self.done_uids(leftovers)
            leftovers = [uid for uid in leftovers if uid not in done]
        now = datetime.now(timezone.utc)
        for uid in leftovers:
            yield MailItem(ref=self._ref(uid), raw=None, received_at=now, cursor=None)
        new = [uid for uid in state.uids if uid > self._last_uid]
        group = min(self.spec.batch, FETCH_GROUP)
        for start in range(0, len(new), group):
            yield from self.fetch(new[start : start + group])

    def fetch_again(self, item: MailItem) -> MailItem:
        uid = int(item.ref.rpartition(":")[2])
        for fetched in self.fetch([uid]):
            return fetched
        raise MailboxError(f"message {item.ref} vanished from {self.name}")

    def _ref(self, uid: int) -> str:
        assert self._state is not None
        return f"{self._state.uidvalidity}:{uid}"

    # -------------------------------------------------------------- session

    def connect(self) -> FolderState:
        spec = self.spec
        password = spec.password()
        context = None
        if spec.tls != "off":
            # Built before connecting: a ca= file that is missing or no certificate is a setting
            # to fix, not a server that cannot be reached (both raise OSError/SSLError).
            try:
                context = ssl_context(spec)
            except (OSError, ssl.SSLError) as exc:
                raise MailboxError(f"cannot use ca={spec.ca_file} for {spec.display}: {exc}") from None
        try:
            if spec.tls == "implicit":
                client = IMAPClient(spec.host, spec.port, ssl=True, ssl_context=context, timeout=CONNECT_TIMEOUT)
            else:
                client = IMAPClient(spec.host, spec.port, ssl=False, timeout=CONNECT_TIMEOUT)
                if spec.tls == "starttls":
                    client.starttls(context)
            client.login(spec.user, password)
        except LoginError:
            raise MailboxError(f"IMAP login failed for {spec.display}") from None
        except ssl.SSLCertVerificationError as exc:
            raise MailboxError(
                f"TLS certificate of {spec.host}:{spec.port} not trusted ({exc.verify_message}); "
                "give ca=/path/to/cert.pem"
            ) from None
        except CONNECTION_ERRORS as exc:
            raise ImapConnectionLost(f"cannot reach {spec.display}: {exc}", reached=False) from None
        except IMAPClientError as exc:
            raise MailboxError(f"IMAP error from {spec.display}: {exc}") from None
        # INTERNALDATE as the server gives it, with its offset: imapclient's default turns it
        # into a naive local time, which fetch() could only replace with "now" (the receipt
        # time then was the poll's, not the mailbox's).
        client.normalise_times = False
        quiet_imaplib(client)
        self.client = client
        return self.select()

    def select(self) -> FolderState:
        client = self._client()
        try:
            info = client.select_folder(self.spec.folder)
            uids = client.search(["ALL"])
        except IMAPClientReadOnlyError:  # before CONNECTION_ERRORS: imaplib's readonly is an abort
            raise self._read_only() from None
        except CONNECTION_ERRORS as exc:
            raise ImapConnectionLost(f"{self.spec.display}: {exc}") from None
        except IMAPClientError as exc:
            raise MailboxError(f"cannot open folder {self.spec.folder!r} on {self.spec.display}: {_said(exc)}") from None
        permanent = info.get(b"PERMANENTFLAGS")
        self._permanent = None if permanent is None else {bytes(flag).lower() for flag in permanent}
        if not self.spec.move:
            self._check_keywords_kept(permanent)
        return FolderState(int(info[b"UIDVALIDITY"]), tuple(sorted(int(u) for u in uids)))

    def _check_keywords_kept(self, permanent: Sequence[bytes] | None) -> None:
        """With ``move=off`` a message read is marked by our keyword: a folder that would not keep
        it is refused before anything is read (it would be read again on every pass).

        PERMANENTFLAGS lists the flags a STORE changes for good, ``\\*`` meaning new keywords too
        (RFC 9051 7.1); a server leaves both out where the login may not set keywords (RFC 4314
        right 'w', seen on Cyrus and Dovecot), and its STORE then answers OK and drops the keyword.
        Without PERMANENTFLAGS every flag is permanent (RFC 9051 7.1).
        """
        if permanent is None:
            return
        kept = {bytes(flag).lower() for flag in permanent}
        if b"\\*" in kept or DONE_KEYWORD.lower() in kept:
            return
        shown = " ".join(bytes(flag).decode("ascii", "replace") for flag in permanent)
        raise MailboxError(
            f"folder {self.spec.folder!r} on {self.spec.display} does not keep keywords for this login "
            f"(PERMANENTFLAGS ({shown})): move=off marks each message read with the keyword "
            f"{DONE_KEYWORD.decode()}, so every message would be read again on every pass; leave move on "
            "(the default) or give the login the right to set keywords (RFC 4314 right 'w')"
        )

    def _read_only(self) -> MailboxError:
        # imaplib refuses a folder the server SELECTs with [READ-ONLY] (RFC 9051 7.1) when it was
        # asked for read and write; the server decides, usually by the login's IMAP ACL rights.
        return MailboxError(
            f"folder {self.spec.folder!r} on {self.spec.display} is read-only for this login: bounceledger "
            "moves or flags every message it has read, so the login needs write access to the folder "
            "(RFC 4314 rights 's', 'w', 't' and 'e' on this folder, 'i' on the outcome folders and 'k' to create them)"
        )

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            try:
                client.shutdown()
            except Exception:  # noqa: BLE001
                pass

    def _client(self) -> IMAPClient:
        if self.client is None:
            raise ImapConnectionLost(f"not connected to {self.spec.display}")
        return self.client

    # -------------------------------------------------------------- reading

    def fetch(self, uids: Sequence[int]) -> Iterator[MailItem]:
        """The messages with these UIDs, fetched without setting \\Seen.

        A FETCH the server itself refuses (a ``NO``, or a ``BYE`` such as Dovecot's
        "FETCH failed: Internal error" for a message whose stored size is wrong) is not a
        lost connection: retrying the whole group would fail at the same message for ever.
        The group is then read again one message at a time, on a new connection, and a
        message the server refuses twice on its own comes back as ``unreadable``, to be
        quarantined without its bytes (and named in the log) rather than block the folder.
        """
        try:
            data = self._client().fetch(list(uids), ["BODY.PEEK[]", "INTERNALDATE"])
        except (*CONNECTION_ERRORS, IMAPClientError) as exc:
            if not _server_refused(exc):
                raise ImapConnectionLost(f"{self.spec.display}: {exc}") from None
            log.warning("%s: the server refused a FETCH of %d message(s) (%s); reading them one by one",
                        self.name, len(uids), _one_line(exc))
            yield from self._fetch_one_by_one(uids)
            return
        yield from self._items(uids, data)

    def _items(self, uids: Sequence[int], data: Mapping[int, Any]) -> Iterator[MailItem]:
        for uid in uids:
            item = data.get(uid)
            if not item or b"BODY[]" not in item:
                continue  # expunged by someone else meanwhile
            when = item.get(b"INTERNALDATE")
            received = when.astimezone(timezone.utc) if isinstance(when, datetime) and when.tzinfo else datetime.now(timezone.utc)
            yield MailItem(ref=self._ref(uid), raw=bytes(item[b"BODY[]"]), received_at=received, cursor=self._cursor(uid))

    def _cursor(self, uid: int) -> dict[str, Any]:
        return {"uidvalidity": self._state.uidvalidity if self._state else None, "last_uid": uid}

    def _fetch_one_by_one(self, uids: Sequence[int]) -> Iterator[MailItem]:
        for uid in uids:
            refused: BaseException | None = None
            for _ in range(2):
                try:
                    self._reconnect()
                    data = self._client().fetch([uid], ["BODY.PEEK[]", "INTERNALDATE"])
                except (*CONNECTION_ERRORS, IMAPClientError) as exc:
                    if not _server_refused(exc):
                        raise ImapConnectionLost(f"{self.spec.display}: {exc}") from None
                    refused = exc
                    self.close()  # after a BYE the connection is gone; after a NO start clean anyway
                    continue
                yield from self._items([uid], data)
                break
            else:
                reason = f"the IMAP server could not deliver message UID {uid}: {_one_line(refused)} (see its log)"
                log.error("%s: %s; quarantined without its bytes", self.name, reason)
                yield MailItem(ref=self._ref(uid), raw=b"", received_at=datetime.now(timezone.utc),
                               cursor=self._cursor(uid), unreadable=reason)
        self._reconnect()  # the caller goes on (and files) on this connection

    def _reconnect(self) -> None:
        """A connection to the same folder, numbered as before (else the pass starts again)."""
        if self.client is not None:
            return
        before = self._state
        state = self.connect()
        if before is not None and state.uidvalidity != before.uidvalidity:
            raise ImapConnectionLost(f"{self.spec.display}: UIDVALIDITY changed while reading")

    def done_uids(self, uids: Sequence[int]) -> set[int]:
        """Which of these UIDs carry our keyword (used when messages stay in place)."""
        if not uids:
            return set()
        client = self._client()
        try:
            flags = client.get_flags(list(uids))
        except CONNECTION_ERRORS as exc:
            raise ImapConnectionLost(f"{self.spec.display}: {exc}") from None
        return {uid for uid, f in flags.items() if DONE_KEYWORD in f}

    # -------------------------------------------------------------- filing

    def file_away(self, filed: Sequence[tuple[MailItem, str]]) -> None:
        """Move committed messages to their outcomes' folders, or flag them in place.

        One command per folder for the whole batch: a round trip per message
        would cost more than reading it.
        """
        by_folder: dict[str | None, list[int]] = {}
        folder: str | None = None
        uids: list[int] = []
        try:
            for item, outcome in filed:
                if self.spec.move:
                    folder = self._outcome_folder(outcome if outcome in self.spec.folders else "processed")
                by_folder.setdefault(folder, []).append(int(item.ref.rpartition(":")[2]))
            for folder, uids in by_folder.items():
                try:
                    self._file(folder, uids)
                except IMAPClientError as exc:
                    if isinstance(exc, CONNECTION_ERRORS):  # imaplib's abort and readonly are errors too
                        raise
                    # Another client (a mail program, a second poller) may have expunged some of
                    # them since they were read: Dovecot then refuses the whole command ("NO Some
                    # of the requested messages no longer exist", RFC 9051 6.4.7). They are stored
                    # already; the ones still there are filed, the error stands only if it recurs.
                    present = self._still_there(uids)
                    if len(present) == len(uids):
                        raise
                    log.info("%s: %d of %d message(s) were removed by another client before they "
                             "could be filed; filing the rest", self.name, len(uids) - len(present), len(uids))
                    if present:
                        self._file(folder, present)
        except IMAPClientReadOnlyError:  # before CONNECTION_ERRORS: imaplib's readonly is an abort
            raise self._read_only() from None
        except CONNECTION_ERRORS as exc:
            raise ImapConnectionLost(f"{self.spec.display}: {exc}") from None
        except IMAPClientError as exc:
            if not self.spec.move:
                raise MailboxError(
                    f"cannot mark {uid_span(uids)} in folder {self.spec.folder!r} on {self.spec.display} with the "
                    f"keyword {DONE_KEYWORD.decode()}: {_said(exc)}; move=off needs that keyword stored, "
                    "leave move on (the default) to file messages into folders instead"
                ) from None
            where = f"folder {folder!r}" if folder else "their folder"
            raise MailboxError(
                f"cannot file {uid_span(uids)} into {where} on {self.spec.display}: {_said(exc)}"
                + self._advice(folder)
            ) from None

    def _file(self, folder: str | None, uids: list[int]) -> None:
        """Flag ``uids`` as done (``folder`` None) or move them into ``folder``."""
        client = self._client()
        if folder is None:
            client.add_flags(uids, [b"\\Seen", DONE_KEYWORD], silent=True)  # no FETCH echo per message
            return
        self._ensure_folder(folder)
        if client.has_capability("MOVE"):
            client.move(uids, folder)
            return
        # COPY, \\Deleted, EXPUNGE (RFC 6851 3.3). Where \\Deleted does not stick (no RFC 4314 't'
        # right: Dovecot then leaves it out of PERMANENTFLAGS and ignores it) nothing is copied: the
        # copy would be made again on every pass.
        if self._permanent is not None and b"\\deleted" not in self._permanent:
            raise IMAPClientError(f"this login cannot mark messages \\Deleted in {self.spec.folder!r} "
                                  "(\\Deleted is not in its PERMANENTFLAGS)")
        # A message marked \\Deleted and with our keyword was copied by a pass that did not get as
        # far as its EXPUNGE: copied again it would be in the folder twice.
        copied = set(client.search(["DELETED", "KEYWORD", DONE_KEYWORD.decode(), "UID", uid_set(uids)]))
        to_copy = [uid for uid in uids if uid not in copied]
        if to_copy:
            client.copy(to_copy, folder)
            client.add_flags(to_copy, [b"\\Deleted", DONE_KEYWORD], silent=True)
        self._expunge(uids)

    def _expunge(self, uids: list[int]) -> None:
        """Remove ``uids`` (all \\Deleted) from the selected folder, and no other message.

        UID EXPUNGE needs UIDPLUS (RFC 4315 2.1; imapclient refuses it otherwise). A plain EXPUNGE
        (RFC 9051 6.4.3) removes every \\Deleted message of the folder, so the ones another client
        marked are unmarked around it and marked again.
        """
        client = self._client()
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
            return
        ours = set(uids)
        others = [uid for uid in client.search(["DELETED"]) if uid not in ours]
        if others:
            client.remove_flags(others, [b"\\Deleted"], silent=True)
        try:
            client.expunge()
        finally:
            if others:
                try:
                    client.add_flags(others, [b"\\Deleted"], silent=True)
                except (*CONNECTION_ERRORS, IMAPClientError) as exc:
                    log.warning("%s: could not mark %s as \\Deleted again after an EXPUNGE: %s",
                                self.name, uid_span(others), _one_line(exc))

    # -------------------------------------------------------------- folders

    def _outcome_folder(self, outcome: str) -> str:
        """The folder messages of this outcome go to.

        A name the URL gives is used as given. A default name goes where the server keeps the
        login's own folders: its personal namespace (RFC 2342), which is "" on a stock Dovecot but
        "INBOX." on Courier-IMAP, on Cyrus with altnamespace off (Debian's imapd.conf) and on a
        Dovecot whose inbox namespace has that prefix; those servers refuse a top-level CREATE.
        A default folder that exists already at the top level is kept.
        """
        if outcome in self._outcome_folders:
            return self._outcome_folders[outcome]
        name = self.spec.folders[outcome]
        if outcome not in self.spec.named_folders and name == DEFAULT_FOLDERS.get(outcome):
            prefix = self._personal_namespace()[0]
            if prefix and not name.startswith(prefix) and not self._client().folder_exists(name):
                name = prefix + name
        self._outcome_folders[outcome] = name
        return name

    def _personal_namespace(self) -> tuple[str, str]:
        """The first personal namespace's prefix and separator ("" and "" if the server has no NAMESPACE)."""
        if self._personal is None:
            client = self._client()
            personal = client.namespace().personal if client.has_capability("NAMESPACE") else None
            if personal:
                prefix, separator = personal[0]
                self._personal = (str(prefix or ""), str(separator or ""))
            else:
                self._personal = ("", "")
        return self._personal

    def _advice(self, folder: str | None) -> str:
        """What to change, for a filing command the server refused (best effort: never raises)."""
        try:
            if folder is not None and self._creating == folder:
                prefix = self._personal_namespace()[0]
                if prefix and not folder.startswith(prefix):
                    options = sorted(key for key, name in self._outcome_folders.items() if name == folder)
                    names = " ".join(f"{key}={prefix}{folder}" for key in options)
                    return (f"; this server keeps the login's own folders under {prefix!r} (its IMAP NAMESPACE): "
                            f"name them so in the mailbox URL, e.g. {names}")
                return ""
            return self._missing_rights(folder)
        except Exception:  # noqa: BLE001 - advice only: the server's own words are reported anyway
            return ""

    def _missing_rights(self, folder: str | None) -> str:
        """The RFC 4314 rights the login lacks to file into ``folder``, from MYRIGHTS."""
        client = self._client()
        if not client.has_capability("ACL"):
            return ""
        needed = {self.spec.folder: "te"}  # mark \\Deleted and expunge the source (RFC 6851 3.3, RFC 4314 4)
        if folder is not None:
            needed[folder] = "i"  # append to the target
        missing = []
        for name, rights in needed.items():
            # imapclient has no MYRIGHTS (RFC 4314 3.5); imaplib's answer is b'"folder" rights'
            _, data = client._imap.myrights(client._normalise_folder(name))
            answer = data[0] if data and isinstance(data[0], bytes) else b""
            have = answer.decode("ascii", "replace").rsplit(None, 1)[-1] if answer.strip() else ""
            if "d" in have:
                have += "te"  # RFC 2086's 'd' covers RFC 4314's 't' and 'e' (RFC 4314 2.1.1)
            lacking = "".join(right for right in rights if right not in have)
            if lacking:
                missing.append(f"'{lacking}' on {name!r}")
        if not missing:
            return ""
        return ("; this login lacks the IMAP ACL right(s) " + " and ".join(missing)
                + " (RFC 4314: 'i' to add messages, 't' and 'e' to delete and expunge them)")

    def _still_there(self, uids: list[int]) -> list[int]:
        """Which of ``uids`` the selected folder still holds."""
        found = set(self._client().search(["UID", uid_set(uids)]))
        return [uid for uid in uids if uid in found]

    def _ensure_folder(self, folder: str) -> None:
        if folder in self._known_folders:
            return
        client = self._client()
        if not client.folder_exists(folder):
            self._creating = folder
            try:
                client.create_folder(folder)
            except IMAPClientError:
                if not client.folder_exists(folder):  # another poller may have made it
                    raise
            self._creating = None
        self._known_folders.add(folder)


def uid_span(uids: Sequence[int]) -> str:
    """A batch of UIDs for a person to read: all of a few, the range of many
    (an error line naming 5,000 UIDs one by one says less, not more)."""
    if len(uids) <= 5:
        return f"message(s) UID {', '.join(map(str, uids))}"
    return f"{len(uids)} messages (UIDs {min(uids)} to {max(uids)})"


def uid_set(uids: Sequence[int]) -> str:
    """An IMAP sequence set for ``uids`` (RFC 9051 9: "1:4,7,9:12"), short however many."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:] + [0]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    return ",".join(parts)


def _said(exc: Exception) -> str:
    """What the server or imapclient said, as text: imapclient gives the server's words as bytes
    (a read-only folder is "b'\"INBOX\"' is not writable")."""
    text = str(exc)
    return re.sub(r"""\bb(['"])(.*?)\1""", r"\2", text)
