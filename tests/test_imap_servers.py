"""The IMAP poller against servers set up unlike the stock Dovecot (sweep CA).

A Dovecot configured as Courier-IMAP and old Cyrus behave: the login's folders all
under ``INBOX.`` (its personal namespace, RFC 2342), neither MOVE (RFC 6851) nor
UIDPLUS (RFC 4315) offered, ACLs (RFC 4314) on; a Dovecot whose keywords are too
short for ours; and a real Cyrus IMAP (skipped where it cannot be unpacked).
"""

from __future__ import annotations

import imaplib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient, imap_utf7

from bounceledger import polling
from bounceledger.db import Database
from bounceledger.ingest.mailbox.imap import ImapReader
from bounceledger.ingest.mailbox.source import MailboxError
from tests.mailstack.dovecot import MAIL_GID, MAIL_UID, Dovecot, scratch_dovecot
from tests.mailstack.fixtures import require_mail_stack
from tests.test_imap_poll import NOT_MAIL, counts, imap_password, numbered_samples  # noqa: F401

#: Courier-IMAP's layout and (lack of) extensions, on a Dovecot.
COURIER_LIKE = """
namespace inbox {
  inbox = yes
  prefix = INBOX.
  separator = .
}
imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE UNSELECT CHILDREN NAMESPACE ACL
mail_plugins = $mail_plugins acl
protocol imap {
  mail_plugins = $mail_plugins imap_acl
}
plugin {
  acl = vfile
}
"""

#: "$BounceledgerDone" is longer: every STORE of it is refused ([CANNOT] Keyword length too long).
SHORT_KEYWORDS = "mail_max_keyword_length = 8\n"


@pytest.fixture(scope="module")
def courier_like() -> Iterator[Dovecot]:
    require_mail_stack()
    with scratch_dovecot("bl-dovecot-inbox-", COURIER_LIKE) as server:
        yield server


@pytest.fixture(scope="module")
def short_keywords() -> Iterator[Dovecot]:
    require_mail_stack()
    with scratch_dovecot("bl-dovecot-kw-", SHORT_KEYWORDS) as server:
        yield server


class Mailbox:
    """A folder of its own on a server, named as that server wants (``INBOX.`` prefix or none)."""

    def __init__(self, host: str, port: int, prefix: str, user: str = "bounces", password: str = "secret") -> None:
        self.host, self.port, self.prefix, self.user, self.password = host, port, prefix, user, password
        self.name = f"{prefix}Rücklauf {uuid.uuid4().hex[:8]}"  # non-ASCII (modified UTF-7) and a space

    def client(self) -> IMAPClient:
        client = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        client.login(self.user, self.password)
        return client

    def url(self, **options: str) -> str:
        query = "&".join(["tls=off", *(f"{key}={value}" for key, value in options.items())])
        return f"imap://{self.user}@{self.host}:{self.port}/{self.name}?{query}"

    def fill(self, messages: list[bytes]) -> None:
        with self.client() as client:
            if not client.folder_exists(self.name):
                client.create_folder(self.name)
            for raw in messages:
                client.append(self.name, raw)

    def count(self, name: str | None = None) -> int:
        with self.client() as client:
            name = name or self.name
            if not client.folder_exists(name):
                return 0
            return int(client.folder_status(name, [b"MESSAGES"])[b"MESSAGES"])

    def flags(self) -> list[tuple[bytes, ...]]:
        with self.client() as client:
            client.select_folder(self.name, readonly=True)
            return [tuple(item[b"FLAGS"]) for item in client.fetch(client.search(["ALL"]), ["FLAGS"]).values()]


def dovecot_acl(server: Dovecot, box: Mailbox, rights: str) -> None:
    """Give the owner only `rights` on the folder (Dovecot's vfile ACL file in its Maildir++ folder)."""
    folder = server.maildir / f".{imap_utf7.encode(box.name.removeprefix(box.prefix)).decode()}"
    acl = folder / "dovecot-acl"
    acl.write_text(f"owner {rights}\n", encoding="utf-8")
    os.chown(acl, MAIL_UID, MAIL_GID)


def on(server: Dovecot) -> Mailbox:
    return Mailbox(server.host, server.imap_port, "INBOX." if server.extra_config == COURIER_LIKE else "")


# --------------------------------------------------------------- INBOX. namespace


def test_default_outcome_folders_go_into_the_personal_namespace(database: Database, courier_like: Dovecot) -> None:
    """Courier-IMAP, Debian's Cyrus and a Dovecot with ``prefix = INBOX.`` refuse a top-level CREATE:
    the default folders were never made and every pass failed after its commit."""
    box = on(courier_like)
    mail = numbered_samples(24)
    box.fill([*mail, NOT_MAIL])
    summary = polling.poll(database, box.url())
    assert (summary.seen, summary.processed, summary.unparsed) == (25, 24, 1)
    assert box.count() == 0
    assert box.count("INBOX.bounceledger-processed") >= 24  # the folder is shared by the backends' runs
    assert box.count("INBOX.bounceledger-unparsed") >= 1
    assert polling.poll(database, box.url()).seen == 0


def test_a_folder_outside_the_namespace_is_refused_with_what_to_write(
    database: Database, courier_like: Dovecot
) -> None:
    box = on(courier_like)
    box.fill(numbered_samples(3))
    done = f"done-{uuid.uuid4().hex[:6]}"
    with pytest.raises(MailboxError) as raised:
        polling.poll(database, box.url(processed=done))
    message = str(raised.value)
    assert "\n" not in message
    assert f"processed=INBOX.{done}" in message, message
    assert counts(database)[0] == 3 and box.count() == 3  # committed, left to file once the URL is fixed
    summary = polling.poll(database, box.url(processed=f"INBOX.{done}"))
    assert (summary.seen, summary.already) == (3, 3)
    assert box.count() == 0 and box.count(f"INBOX.{done}") == 3


# --------------------------------------------------------------- no MOVE, no UIDPLUS


def test_without_move_or_uidplus_each_message_is_copied_once(database: Database, courier_like: Dovecot) -> None:
    """UID EXPUNGE needs UIDPLUS: without it the copy was made, the expunge refused, and the
    next pass copied every message again. A plain EXPUNGE must spare a message someone else
    marked \\Deleted meanwhile (it is not read yet)."""
    box = on(courier_like)
    mail = numbered_samples(30)
    box.fill(mail[:20])
    target = box.prefix + f"done {uuid.uuid4().hex[:6]}"

    def someone_deletes_a_new_one(done: int) -> None:
        if done == 1:
            with box.client() as client:
                client.append(box.name, mail[20], flags=[b"\\Deleted"])

    summary = polling.poll(database, box.url(processed=target), on_committed=someone_deletes_a_new_one)
    assert summary.processed == 20
    assert box.count(target) == 20
    assert box.flags() == [(b"\\Deleted",)]  # still there, still marked

    again = polling.poll(database, box.url(processed=target))
    assert again.processed == 1
    assert box.count() == 0 and box.count(target) == 21


def test_a_copy_whose_expunge_was_lost_is_not_copied_again(
    database: Database, courier_like: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = on(courier_like)
    box.fill(numbered_samples(12))
    target = box.prefix + f"done {uuid.uuid4().hex[:6]}"
    expunge = ImapReader._expunge
    lost: list[int] = []

    def connection_lost_once(self: ImapReader, uids: list[int]) -> None:
        if not lost:
            lost.append(len(uids))
            raise imaplib.IMAP4.abort("socket error: EOF (test)")
        expunge(self, uids)

    monkeypatch.setattr(ImapReader, "_expunge", connection_lost_once)
    summary = polling.poll(database, box.url(processed=target), reconnect_delays=(0.1,))
    assert lost == [12] and summary.reconnects == 1
    assert box.count() == 0 and box.count(target) == 12


def test_a_source_folder_without_the_delete_rights_is_named(database: Database, courier_like: Dovecot) -> None:
    box = on(courier_like)
    box.fill(numbered_samples(4))
    target = box.prefix + f"done {uuid.uuid4().hex[:6]}"
    dovecot_acl(courier_like, box, "lrswi")  # no 't' (\\Deleted) and no 'e' (EXPUNGE)
    with pytest.raises(MailboxError, match=r"lacks the IMAP ACL right\(s\) 'te' on "):
        polling.poll(database, box.url(processed=target))
    assert box.count() == 4
    with pytest.raises(MailboxError):
        polling.poll(database, box.url(processed=target))
    assert box.count(target) <= 4, "a refused pass must not copy the messages again and again"


# --------------------------------------------------------------- move=off


def test_move_off_refuses_a_folder_that_would_drop_the_keyword(database: Database, courier_like: Dovecot) -> None:
    """Without the 'w' right Dovecot (and Cyrus) answer PERMANENTFLAGS (\\Deleted \\Seen) and a STORE
    of our keyword OK, and drop it: every pass read the whole folder again, silently."""
    box = on(courier_like)
    box.fill(numbered_samples(5))
    dovecot_acl(courier_like, box, "lrstei")
    with pytest.raises(MailboxError, match=r"does not keep keywords .*PERMANENTFLAGS .*leave move on"):
        polling.poll(database, box.url(move="off"))
    assert counts(database)[0] == 0  # refused before reading anything


def test_move_off_names_a_keyword_the_server_refuses(database: Database, short_keywords: Dovecot) -> None:
    box = on(short_keywords)
    box.fill(numbered_samples(3))
    with pytest.raises(MailboxError, match=r"keyword \$BounceledgerDone: .*Keyword length too long.*leave move on"):
        polling.poll(database, box.url(move="off"))


# --------------------------------------------------------------- Cyrus IMAP


@pytest.fixture(scope="module", params=[False, True], ids=["debian-namespace", "altnamespace"])
def cyrus(request: pytest.FixtureRequest) -> Iterator[object]:
    from tests.mailstack.cyrus import scratch_cyrus, unavailable_reason

    reason = unavailable_reason()
    if reason:
        pytest.skip(f"Cyrus IMAP: {reason}")
    alt = request.param
    with scratch_cyrus("bl-cyrus-", altnamespace=alt, unixhierarchysep=alt) as server:
        yield server


def test_cyrus_files_every_message_once(database: Database, cyrus: object) -> None:
    """Debian's imapd.conf keeps a login's folders under INBOX. (altnamespace: no); Cyrus's own
    default puts them at the top level, separated by '/'."""
    prefix = "" if cyrus.altnamespace else "INBOX."  # type: ignore[attr-defined]
    box = Mailbox(cyrus.host, cyrus.port, prefix)  # type: ignore[attr-defined]
    mail = numbered_samples(20)
    box.fill(mail)  # Cyrus refuses to store a message without a header ("Message contains invalid header")
    summary = polling.poll(database, box.url())
    assert (summary.seen, summary.processed) == (20, 20)
    assert box.count() == 0
    assert box.count(f"{prefix}bounceledger-processed") >= 20
    assert polling.poll(database, box.url()).seen == 0


def test_cyrus_move_off_marks_messages_once(database: Database, cyrus: object) -> None:
    prefix = "" if cyrus.altnamespace else "INBOX."  # type: ignore[attr-defined]
    box = Mailbox(cyrus.host, cyrus.port, prefix)  # type: ignore[attr-defined]
    box.fill(numbered_samples(6))
    assert polling.poll(database, box.url(move="off")).seen == 6
    assert all(b"$BounceledgerDone" in flags for flags in box.flags())
    assert polling.poll(database, box.url(move="off")).seen == 0


def test_url_keeps_a_plus_in_a_folder_name() -> None:
    from bounceledger.ingest.mailbox.url import parse_mailbox_url

    spec = parse_mailbox_url("imap://u@h/INBOX.a+b?processed=INBOX.done+kept&ignored=x%20y")
    assert spec.folder == "INBOX.a+b"  # type: ignore[union-attr]
    assert spec.folders["processed"] == "INBOX.done+kept"  # type: ignore[union-attr]
    assert spec.folders["ignored"] == "x y"  # type: ignore[union-attr]
    assert spec.named_folders == {"processed", "ignored"}  # type: ignore[union-attr]
