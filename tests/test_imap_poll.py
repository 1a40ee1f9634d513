"""Polling a real Dovecot over IMAP: exactly once through crashes, restarts and outages."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bounceledger import pipeline, polling, queries
from bounceledger.config import Settings
from bounceledger.db import Database, DatabaseError
from bounceledger.ingest.bounces import parse
from bounceledger.ingest.mailbox.imap import ImapReader
from bounceledger.ingest.mailbox.source import MailboxError
from bounceledger.ingest.mailbox.url import parse_mailbox_url
from bounceledger.models import Event, ReturnedMessage
from tests.mailstack.dovecot import Dovecot, scratch_dovecot
from tests.mailstack.fixtures import require_mail_stack
from tests.mailstack.procs import children
from tests.tcpproxy import TcpProxy

SAMPLES = Path(__file__).resolve().parent.parent / "bounceledger" / "samples"
SAMPLE_MESSAGES = sorted((SAMPLES / "returned" / "new").glob("*.msg"))
FIXTURES = Path(__file__).parent / "fixtures" / "pipeline"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    require_mail_stack()
    with scratch_dovecot("bl-dovecot-") as server:
        yield server


@pytest.fixture(autouse=True)
def imap_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOUNCELEDGER_IMAP_PASSWORD", "secret")


def admin(server: Dovecot) -> IMAPClient:
    client = IMAPClient(server.host, server.imap_port, ssl=False, timeout=30)
    client.login(server.user, server.password)
    return client


class Folder:
    """A fresh IMAP folder of its own per test, with its own outcome folders."""

    def __init__(self, server: Dovecot) -> None:
        self.server = server
        self.name = f"t{uuid.uuid4().hex[:10]}"

    def url(self, scheme: str = "imaps", **options: str) -> str:
        port = self.server.imaps_port if scheme == "imaps" else self.server.imap_port
        opts = {
            "ca": str(self.server.ca_cert),
            "processed": f"{self.name}-processed",
            "unparsed": f"{self.name}-unparsed",
            "ignored": f"{self.name}-ignored",
            **options,
        }
        query = "&".join(f"{k}={v}" for k, v in opts.items())
        return f"{scheme}://{self.server.user}@{self.server.host}:{port}/{self.name}?{query}"

    def fill(self, messages: list[bytes]) -> None:
        with admin(self.server) as client:
            if not client.folder_exists(self.name):
                client.create_folder(self.name)
            for raw in messages:
                client.append(self.name, raw)

    def count(self, suffix: str = "") -> int:
        with admin(self.server) as client:
            name = self.name + suffix
            if not client.folder_exists(name):
                return 0
            return int(client.folder_status(name, [b"MESSAGES"])[b"MESSAGES"])

    def recreate(self, messages: list[bytes]) -> None:
        with admin(self.server) as client:
            client.delete_folder(self.name)
        self.fill(messages)


@pytest.fixture
def folder(dovecot: Dovecot) -> Folder:
    return Folder(dovecot)


def samples() -> list[bytes]:
    return [p.read_bytes() for p in SAMPLE_MESSAGES]


def numbered_samples(count: int) -> list[bytes]:
    """``count`` distinct returned messages: the samples again and again, each with a Message-ID of its own."""
    mail = samples()
    return [
        re.sub(rb"(?im)^Message-Id: <", b"Message-Id: <n%d." % index, mail[index % len(mail)], count=1)
        for index in range(count)
    ]


def expected_verdicts(messages: list[bytes]) -> int:
    return sum(len(parse(raw).verdicts) for raw in messages)


def counts(database: Database) -> tuple[int, int]:
    with database.session() as session:
        return (
            session.scalar(select(func.count()).select_from(ReturnedMessage)) or 0,
            session.scalar(select(func.count()).select_from(Event).where(Event.kind == "verdict")) or 0,
        )


def ingest_sample_log(database: Database) -> None:
    pipeline.ingest_logs(database, [str(SAMPLES / "sendlog" / "postfix.log")], "postfix")


AUTOREPLY = (FIXTURES / "returned" / "new" / "1709457500.M2P1.mta").read_bytes()
NOT_MAIL = b"\x00\x01\x02 this is not a mail message at all \xff\xfe\r\n"


def test_imaps_poll_files_every_message_once(database: Database, folder: Folder) -> None:
    ingest_sample_log(database)
    mail = samples()
    folder.fill([*mail, AUTOREPLY, NOT_MAIL])

    summary = polling.poll(database, folder.url())
    assert summary.seen == len(mail) + 2
    assert summary.processed == len(mail)
    assert summary.ignored + summary.unparsed == 2
    assert folder.count() == 0
    assert folder.count("-processed") == len(mail)
    assert folder.count("-ignored") + folder.count("-unparsed") == 2

    with database.session() as session:
        report = queries.report(session)
        bounced = queries.lookup(session, "unknown2@example.net")["deliveries"][0]
    assert report["corrected"] == 3
    assert bounced["state"] == "bounced"
    assert [e["kind"] for e in bounced["events"]] == ["attempt", "verdict", "correction"]
    assert counts(database) == (len(mail) + 2, expected_verdicts([*mail, AUTOREPLY, NOT_MAIL]))

    again = polling.poll(database, folder.url())
    assert again.seen == 0
    assert counts(database)[0] == len(mail) + 2


def test_committed_messages_are_filed_in_groups(
    database: Database, folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filing waits for a group of committed messages (each MOVE costs Dovecot the whole folder's index)."""
    mail = samples()
    assert len(mail) >= 7
    folder.fill(mail)
    monkeypatch.setattr(polling, "FILE_GROUP", 4)
    left_in_folder: dict[int, int] = {}

    def look(done: int) -> None:
        if done in (3, 5):
            left_in_folder[done] = folder.count()

    summary = polling.poll(database, folder.url(batch="2"), on_committed=look)
    assert summary.processed == len(mail)
    # two batches of two committed: not filed yet; after the second, all four were
    assert left_in_folder == {3: len(mail), 5: len(mail) - 4}
    assert folder.count() == 0
    assert folder.count("-processed") == len(mail)


def test_starttls_plain_and_verify_off(database: Database, folder: Folder) -> None:
    mail = samples()[:3]
    folder.fill(mail[:1])
    assert polling.poll(database, folder.url("imap")).processed == 1  # STARTTLS by default
    folder.fill(mail[1:2])
    assert polling.poll(database, folder.url("imap", tls="off")).processed == 1
    folder.fill(mail[2:3])
    url = folder.url("imaps", verify="off").replace(f"ca={folder.server.ca_cert}&", "")
    assert polling.poll(database, url).processed == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda url: url.replace("ca=", "nothing="), "unknown option"),
        (lambda url: url.split("?")[0], "not trusted"),
        (lambda url: url.replace("bounces@", "bounces:pw@"), "not in the URL"),
        (lambda url: url.replace("tls=implicit", "") + "&tls=maybe", "tls= must be"),
    ],
)
def test_bad_mailbox_urls_fail_clearly(database: Database, folder: Folder, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    folder.fill(samples()[:1])
    with pytest.raises(MailboxError, match=message) as caught:
        polling.poll(database, mutate(folder.url()))
    assert "secret" not in str(caught.value)
    assert folder.count() == 1


def test_wrong_password_fails_clearly(database: Database, folder: Folder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOUNCELEDGER_IMAP_PASSWORD", "wrong-password-123")
    folder.fill(samples()[:1])
    with pytest.raises(MailboxError, match="login failed") as caught:
        polling.poll(database, folder.url())
    assert "wrong-password-123" not in str(caught.value)


def _poll_process(database_url: str, url: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bounceledger", "--database-url", database_url, "poll", "--mailbox", url, "--once"],
        env={**os.environ, "BOUNCELEDGER_IMAP_PASSWORD": "secret", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_poller_killed_mid_batch_then_restarted(database: Database, database_url: str, folder: Folder) -> None:
    ingest_sample_log(database)
    mail = samples()
    folder.fill(mail)
    crashed = _poll_process(database_url, folder.url(batch="2"), {"BOUNCELEDGER_FAULT_KILL_AFTER": "4"})
    crashed.communicate(timeout=120)
    assert crashed.returncode == -9
    assert counts(database)[0] == 4
    # two batches were committed, and committed messages are filed away in
    # groups (polling.FILE_GROUP), after the kill came: none is filed yet
    assert folder.count() == len(mail)

    restarted = _poll_process(database_url, folder.url())
    out, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    assert "4 already seen" in out
    assert folder.count() == 0
    assert folder.count("-processed") == len(mail)
    assert counts(database) == (len(mail), expected_verdicts(mail))


def test_poller_killed_while_the_parse_worker_reads_ahead(database: Database, database_url: str, folder: Folder) -> None:
    """Batches big enough for the parse worker: the batch read ahead is never lost or doubled."""
    ingest_sample_log(database)
    mail = numbered_samples(150)
    folder.fill(mail)
    # batches of 60: the second is committed (the kill comes after message
    # 120) while the third was already read and handed to the worker
    crashed = _poll_process(database_url, folder.url(batch="60"), {"BOUNCELEDGER_FAULT_KILL_AFTER": "120"})
    crashed.communicate(timeout=120)
    assert crashed.returncode == -9
    assert counts(database)[0] == 120
    assert folder.count() == 150  # committed, not filed yet (polling.FILE_GROUP)

    restarted = _poll_process(database_url, folder.url(batch="60"))
    out, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    assert "120 already seen" in out
    assert folder.count() == 0
    assert folder.count("-processed") == 150
    assert counts(database) == (150, expected_verdicts(mail))


def crash_and_restart(server: Dovecot) -> None:
    """Stop Dovecot the hard way: its IMAP processes die with it, so clients lose their connection.

    A plain master restart lets running IMAP sessions live on, which would
    not test reconnecting at all.
    """
    master = server.pid()
    assert master is not None
    imap_processes = children(master)
    server.stop()
    for pid in imap_processes:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.start()


def test_dovecot_restarted_during_a_poll(database: Database, folder: Folder, dovecot: Dovecot) -> None:
    mail = samples()
    folder.fill(mail)

    def restart_after_third(done: int) -> None:
        if done == 3:
            crash_and_restart(dovecot)

    summary = polling.poll(
        database, folder.url(batch="2"), on_committed=restart_after_third, reconnect_delays=(0.2, 0.5, 1, 2)
    )
    assert summary.reconnects >= 1
    assert summary.already >= 1  # committed before the crash, filed after reconnecting
    assert folder.count() == 0
    assert folder.count("-processed") == len(mail)
    assert counts(database) == (len(mail), expected_verdicts(mail))


def test_database_outage_during_a_poll(postgres_database_url: str, folder: Folder) -> None:
    """PostgreSQL only: an outage needs a database reached over the network."""
    url = make_url(postgres_database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    database = Database(Settings(database_url=through_proxy))
    mail = samples()
    folder.fill(mail)
    try:
        proxy.cut()
        with pytest.raises(DatabaseError):
            polling.poll(database, folder.url())
        assert folder.count() == len(mail)  # nothing touched while the ledger was away
        proxy.restore()

        def outage_after_third(done: int) -> None:
            if done == 3:
                proxy.cut()

        with pytest.raises(DatabaseError):
            polling.poll(database, folder.url(batch="2"), on_committed=outage_after_third)
        assert folder.count() == len(mail) - 4  # the batch after the outage stays unfiled
        proxy.restore()
        database.engine.dispose()
        summary = polling.poll(database, folder.url())
        assert folder.count() == 0
        assert (summary.seen, summary.processed) == (len(mail) - 4, len(mail) - 4)
        assert folder.count() == 0
        assert counts(database) == (len(mail), expected_verdicts(mail))
    finally:
        proxy.cut()
        database.dispose()


def test_two_pollers_at_once(database: Database, database_url: str, folder: Folder) -> None:
    mail = samples()
    folder.fill(mail)
    start = threading.Barrier(2)
    results: list[tuple[int, str, str]] = []

    def run() -> None:
        start.wait()
        process = _poll_process(database_url, folder.url())
        out, err = process.communicate(timeout=120)
        results.append((process.returncode, out, err))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [code for code, _, _ in results] == [0, 0], results
    assert folder.count() == 0
    assert counts(database) == (len(mail), expected_verdicts(mail))


def test_uidvalidity_change_rescans_without_duplicates(database: Database, folder: Folder) -> None:
    mail = samples()
    folder.fill(mail)
    first = polling.poll(database, folder.url(move="off"))
    assert first.processed == len(mail)
    assert folder.count() == len(mail)  # flagged, not moved
    assert polling.poll(database, folder.url(move="off")).seen == 0

    folder.recreate(mail)  # same messages, new UIDVALIDITY
    again = polling.poll(database, folder.url(move="off"))
    assert (again.seen, again.already, again.duplicate) == (len(mail), len(mail), 0)
    assert counts(database) == (len(mail), expected_verdicts(mail))


def test_duplicate_copy_in_the_folder_is_counted(database: Database, folder: Folder) -> None:
    mail = samples()[:2]
    folder.fill([mail[0], mail[1], mail[0]])
    summary = polling.poll(database, folder.url())
    assert (summary.processed, summary.duplicate) == (2, 1)
    with database.session() as session:
        assert queries.report(session)["returned_messages"]["duplicate"] == 1
    assert folder.count("-processed") == 3


def test_receipt_time_is_the_mailboxs(database: Database, folder: Folder) -> None:
    """A returned message keeps the time the mailbox received it (IMAP INTERNALDATE),
    in UTC, whatever offset the server writes it with; not the time of the poll."""
    mail = samples()[:2]
    arrived = [datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2))), datetime(2025, 12, 24, 23, 59, tzinfo=timezone.utc)]
    with admin(folder.server) as client:
        client.create_folder(folder.name)
        for raw, when in zip(mail, arrived):
            client.append(folder.name, raw, msg_time=when)
    assert polling.poll(database, folder.url(move="off")).processed == 2
    with database.session() as session:
        stored = session.scalars(select(ReturnedMessage.received_at).order_by(ReturnedMessage.id)).all()
    assert [when.astimezone(timezone.utc) for when in stored] == [when.astimezone(timezone.utc) for when in arrived]


@pytest.mark.parametrize("debug_logging", [False, True])
def test_imaplib_formats_responses_only_for_a_debug_log(
    folder: Folder, debug_logging: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """imaplib's per-response debug text (a repr of each fetched message) is built only
    where the ``imapclient.imaplib`` logger prints DEBUG records; there it still is."""
    folder.fill(samples()[:1])
    if debug_logging:
        caplog.set_level(logging.DEBUG, logger="imapclient.imaplib")
    reader = ImapReader(parse_mailbox_url(folder.url(move="off")))  # type: ignore[arg-type]
    reader.open(None)
    try:
        assert reader.client is not None
        assert reader.client._imap.debug == (5 if debug_logging else 0)
        assert len(list(reader.pending())) == 1
    finally:
        reader.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "imapclient.imaplib"]
    assert any("untagged_responses[FETCH]" in text for text in logged) == debug_logging


def test_mbox_source_resumes(database: Database, tmp_path: Path) -> None:
    mail = samples()[:3]
    box = tmp_path / "bounces.mbox"

    def append(raw: bytes) -> None:
        with box.open("ab") as handle:
            handle.write(b"From MAILER-DAEMON Fri Nov 27 00:00:00 2026\n" + raw.replace(b"\r\n", b"\n").rstrip(b"\n") + b"\n\n")

    append(mail[0])
    append(mail[1])
    first = polling.poll(database, f"mbox:{box}")
    assert first.processed == 2
    append(mail[2])
    second = polling.poll(database, f"mbox:{box}")
    assert (second.seen, second.processed) == (1, 1)
    assert counts(database)[0] == 3
