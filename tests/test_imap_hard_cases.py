"""The IMAP poller against a real Dovecot under conditions real mailboxes have (sweep AE)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bounceledger import cli, polling, queries
from bounceledger.db import Database
from bounceledger.ingest.mailbox.imap import ImapReader, uid_set, uid_span
from bounceledger.ingest.mailbox.source import MailboxError
from bounceledger.models import ReturnedMessage, SourceCursor
from tests.mailstack.dovecot import MAIL_GID, MAIL_UID, Dovecot
from tests.test_imap_poll import Folder, admin, counts, dovecot, folder, imap_password, numbered_samples, samples  # noqa: F401


def _deliver_raw(server: Dovecot, folder: Folder, messages: list[tuple[bytes, int | None]]) -> None:
    """Put files into the folder's Maildir new/ as an MDA would; a size overrides the S= field."""
    with admin(server) as client:
        client.create_folder(folder.name)
    new = server.maildir / f".{folder.name}" / "new"
    new.mkdir(parents=True, exist_ok=True)
    for index, (raw, size) in enumerate(messages):
        path = new / f"{1765000000 + index}.M{index}P1.sweep,S={len(raw) if size is None else size}"
        path.write_bytes(raw)
        os.chown(path, MAIL_UID, MAIL_GID)


def test_a_message_the_server_cannot_serve_is_quarantined_not_a_blocked_folder(
    database: Database, folder: Folder, dovecot: Dovecot
) -> None:
    # Dovecot answers every FETCH of a message whose maildir S= size is smaller than its file with
    # "BYE FETCH failed: Internal error" ("Cached message size smaller than expected").
    first, second = samples()[:2]
    _deliver_raw(dovecot, folder, [(first, None), (second, 100), (samples()[2], None)])
    summary = polling.poll(database, folder.url(), reconnect_delays=(0.1, 0.1))
    assert (summary.processed, summary.unparsed) == (2, 1)
    assert folder.count() == 0 and folder.count("-unparsed") == 1
    with database.session() as session:
        quarantined = session.scalars(select(ReturnedMessage).where(ReturnedMessage.outcome == "unparsed")).one()
    assert "could not deliver message UID 2" in (quarantined.error or "")
    assert polling.poll(database, folder.url()).seen == 0


def test_poll_keeps_sigpipe_ignored() -> None:
    """Only read-and-print commands take the default SIGPIPE action: a poller writing to a
    connection the server reset must get BrokenPipeError (retried), not be killed."""
    before = signal.getsignal(signal.SIGPIPE)
    try:
        assert cli.main(["poll", "--mailbox", "nope://x", "--once"]) == 1
        assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGPIPE, before)


def test_poll_survives_its_imap_process_being_killed(database_url: str, folder: Folder, dovecot: Dovecot) -> None:
    mail = numbered_samples(6000)
    folder.fill(mail)
    env = dict(os.environ, BOUNCELEDGER_DATABASE_URL=database_url)
    subprocess.run([sys.executable, "-m", "bounceledger", "db", "upgrade"], env=env, check=True, capture_output=True)
    logins = len(re.findall(r"Login: user=<bounces>", dovecot.log_path.read_text()))
    poller = subprocess.Popen(
        [sys.executable, "-m", "bounceledger", "poll", "--mailbox", folder.url(scheme="imap", tls="off"), "--once"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    while len(re.findall(r"Login: user=<bounces>", dovecot.log_path.read_text())) <= logins:
        time.sleep(0.05)
    time.sleep(0.2)
    pid = int(re.findall(r"Login: user=<bounces>.*?mpid=(\d+)", dovecot.log_path.read_text())[-1])
    os.kill(pid, signal.SIGKILL)
    out, err = poller.communicate(timeout=300)
    assert poller.returncode == 0, err
    assert folder.count() == 0


def test_an_imap_process_killed_between_login_and_select_is_reconnected_to(
    database: Database, folder: Folder, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test above kills the IMAP process at a moment of the machine's choosing; on a busy
    # machine that moment fell between the login and the SELECT, and the poll exited with
    # "SELECT => socket error: EOF": a first connection that the server had answered was
    # taken for a setting to fix (an unreachable host) and not retried. Here it is that moment.
    folder.fill(samples()[:3])
    original = ImapReader.select
    killed: list[int] = []

    def killed_first(self: ImapReader):  # type: ignore[no-untyped-def]
        if not killed:
            killed.append(int(re.findall(r"Login: user=<bounces>.*?mpid=(\d+)", dovecot.log_path.read_text())[-1]))
            os.kill(killed[0], signal.SIGKILL)
            time.sleep(0.2)
        return original(self)

    monkeypatch.setattr(ImapReader, "select", killed_first)
    summary = polling.poll(database, folder.url(), reconnect_delays=(0.1, 0.1))
    assert killed and summary.reconnects == 1
    assert summary.processed == 3
    assert folder.count() == 0


def test_an_unreachable_first_connection_is_not_waited_for(database: Database, folder: Folder) -> None:
    nobody = folder.url(scheme="imap", tls="off").replace(f":{folder.server.imap_port}/", ":9/")  # discard: no server
    started = time.monotonic()
    with pytest.raises(MailboxError, match="cannot reach"):
        polling.poll(database, nobody, reconnect_delays=(30.0,))
    assert time.monotonic() - started < 30.0


def test_a_copy_read_again_is_not_counted_again_and_the_cursor_never_moves_back(
    database: Database, folder: Folder
) -> None:
    mail = samples()[:2]
    folder.fill([mail[0], mail[0], mail[1]])
    refused = folder.url(processed="x" * 300)  # Dovecot: "Mailbox name too long": filing fails after the commit
    for _ in range(3):
        with pytest.raises(MailboxError, match="too long"):
            polling.poll(database, refused)
        with database.session() as session:
            assert session.scalars(select(SourceCursor.last_uid)).one() == 3
            assert queries.report(session)["returned_messages"]["duplicate"] == 1
    assert polling.poll(database, folder.url()).duplicate == 0
    assert folder.count() == 0
    with database.session() as session:
        assert queries.report(session)["returned_messages"]["duplicate"] == 1
    assert counts(database)[0] == 2


def test_a_missing_ca_file_is_named(database: Database, folder: Folder, tmp_path: Path) -> None:
    folder.fill(samples()[:1])
    with pytest.raises(MailboxError) as failure:
        polling.poll(database, folder.url(ca=str(tmp_path / "missing.pem")))
    assert "ca=" in str(failure.value) and "missing.pem" in str(failure.value)
    assert "cannot reach" not in str(failure.value)


def test_messages_expunged_by_another_client_before_filing_leave_the_rest_filed(
    database: Database, folder: Folder, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dovecot refuses a MOVE naming an expunged UID ("NO Some of the requested messages no longer
    # exist"): a mail program deleting two of them between the poller's read and its filing must not
    # fail the poll nor leave the others in the folder until the next one.
    folder.fill(samples()[:6])
    original = ImapReader.file_away
    expunged: list[int] = []

    def someone_deletes_two_first(self: ImapReader, filed):  # type: ignore[no-untyped-def]
        if not expunged:
            with admin(dovecot) as other:
                other.select_folder(folder.name)
                uids = sorted(other.search(["ALL"]))[:2]
                other.delete_messages(uids)
                other.expunge()
                expunged.extend(uids)
        return original(self, filed)

    monkeypatch.setattr(ImapReader, "file_away", someone_deletes_two_first)
    summary = polling.poll(database, folder.url())
    assert expunged and summary.processed == 6
    assert folder.count() == 0 and folder.count("-processed") == 4


def test_a_read_only_folder_is_named_as_such(database: Database, folder: Folder, dovecot: Dovecot) -> None:
    # Dovecot SELECTs a maildir its mail user cannot write as [READ-ONLY] (RFC 9051 7.1); imaplib then
    # refuses it with the folder's name as bytes (b'"INBOX"' is not writable).
    folder.fill(samples()[:1])
    maildir = dovecot.maildir / f".{folder.name}"
    modes = {path: path.stat().st_mode for path in (maildir, maildir / "cur", maildir / "new", maildir / "tmp")}
    try:
        for path in modes:
            path.chmod(0o555)
        with pytest.raises(MailboxError) as raised:
            polling.poll(database, folder.url())
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    message = str(raised.value)
    assert "is read-only for this login" in message and "b'" not in message
    assert folder.count() == 1


def test_a_long_batch_is_named_by_its_span_in_errors() -> None:
    assert uid_span(list(range(1, 5001))) == "5000 messages (UIDs 1 to 5000)"
    assert uid_span([7, 9]) == "message(s) UID 7, 9"
    assert uid_set([1, 2, 3, 5, 7, 8, 9, 12]) == "1:3,5,7:9,12"
