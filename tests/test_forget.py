"""``bounceledger forget``: no byte of the address left anywhere in the ledger.

The ledger is filled through the real pipeline (the bundled send log and
returned mail, plus a report for the address that ties to no send and one
about someone else that mentions the address only in encoded form), the
suppression list is changed by hand with notes naming the address, and then
the whole database is dumped (SQLite: ``iterdump``; PostgreSQL:
``pg_dump``) and searched for the address in any letter case, in the text
and inside every stored blob, decoded as mail where it is mail.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bounceledger import queries
from bounceledger.db import Database
from bounceledger.forget import address_hash
from bounceledger.ingest import suppress
from bounceledger.models import Delivery, Event, ForgottenSuppression, ReturnedMessage, SentMessage, Suppression
from tests.test_cli import bl
from tests.web.conftest import seed

ADDRESS = "unknown2@example.net"  # corrected from 250 to bounced, hard-bounce suppressed
OTHER = "other9@example.org"
NEEDLE = re.compile(re.escape(ADDRESS), re.IGNORECASE)
NEEDLE_BYTES = re.compile(re.escape(ADDRESS.encode()), re.IGNORECASE)


def _report(recipient: str, *, text_part: bytes, subject: str, message_id: str) -> bytes:
    """An RFC 3464 report dated a year after the sample sends (so no time window ties it)."""
    head = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        "To: bounces@sender.test\r\n"
        f"Subject: {subject}\r\n"
        "Date: Sat, 27 Nov 2027 10:00:00 +0000\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    status = (
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: no such user\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: news@sender.test\r\nTo: {recipient}\r\nSubject: news\r\n"
        "Message-ID: <never-sent@sender.test>\r\n\r\n--B--\r\n"
    ).encode()
    return head + base64.encodebytes(text_part) + status


def _extra_mail(folder: Path) -> tuple[Path, ...]:
    folder.mkdir()
    orphan = folder / "orphan.eml"
    orphan.write_bytes(
        _report(ADDRESS, text_part=b"Your message to Unknown2@Example.NET could not be delivered.\n",
                subject="Undelivered Mail", message_id="orphan-report@mx.example.org")
    )
    encoded = folder / "encoded.eml"
    hidden = base64.b64encode(f"re: {ADDRESS.upper()}".encode()).decode()
    encoded.write_bytes(
        _report(OTHER, text_part=f"The same person also used {ADDRESS.title()}.\n".encode(),
                subject=f"=?utf-8?b?{hidden}?=", message_id="encoded-report@mx.example.org")
    )
    assert ADDRESS.encode() not in encoded.read_bytes().lower()  # only encoded there
    return orphan, encoded


@pytest.fixture
def ledger(database: Database, tmp_path: Path) -> Database:
    seed(database, tmp_path / "work", _extra_mail(tmp_path / "extra"))
    with database.session() as session:  # changes by hand, with notes that name the address
        assert suppress.release(session, ADDRESS, f"{ADDRESS} wrote to support")
        suppress.add(session, ADDRESS, f"asked again by {ADDRESS.upper()}")
        suppress.add(session, OTHER, f"same person as {ADDRESS}")
    return database


# ----------------------------------------------------------------- dumping


def _blob_texts(blob: bytes) -> Iterator[bytes]:
    """A blob as stored, and, when it is mail, every header and part decoded."""
    yield blob
    message = email.message_from_bytes(blob, policy=email.policy.default)
    for part in message.walk():
        for name, value in part.items():
            yield f"{name}: {value}".encode("utf-8", "replace")
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001 - a blob that is not mail
            payload = None
        if isinstance(payload, bytes):
            yield payload


def _dump(database: Database, tmp_path: Path) -> tuple[str, list[bytes]]:
    """The whole database as text, and every blob in it."""
    url = database.engine.url
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database)
        text = "\n".join(conn.iterdump())
        conn.close()
        blobs = [bytes.fromhex(h) for h in re.findall(r"X'([0-9A-Fa-f]*)'", text)]
        return text, blobs
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump not found (package postgresql-client)"
    plain = make_url(str(url.render_as_string(hide_password=False))).set(drivername="postgresql")
    result = subprocess.run(
        [pg_dump, "--data-only", "--no-owner", f"--dbname={plain.render_as_string(hide_password=False)}"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    text = result.stdout
    blobs = [bytes.fromhex(h) for h in re.findall(r"\\\\x([0-9a-f]*)", text)]
    return text, blobs


def _traces(database: Database, tmp_path: Path) -> list[str]:
    text, blobs = _dump(database, tmp_path)
    found = [f"text: ...{text[max(0, m.start() - 60):m.end() + 20]}..." for m in NEEDLE.finditer(text)]
    for index, blob in enumerate(blobs):
        if any(NEEDLE_BYTES.search(piece) for piece in _blob_texts(blob)):
            found.append(f"blob #{index} ({len(blob)} bytes)")
    return found


def _holders(database: Database) -> set[str]:
    """The tables with a row that names the address (checked before forgetting)."""
    with database.session() as session:
        held = set()
        if session.scalar(select(func.count()).where(Delivery.recipient == ADDRESS)):
            held.add("deliveries")
        if session.scalar(select(func.count()).where(Event.recipient == ADDRESS)):
            held.add("events")
        if session.scalar(select(func.count()).where(Suppression.address == ADDRESS)):
            held.add("suppressions")
        if any(NEEDLE_BYTES.search(raw) for raw in session.scalars(select(ReturnedMessage.raw))):
            held.add("returned_messages")
        return held


# ----------------------------------------------------------------- tests


def test_forget_leaves_no_byte_of_the_address(ledger: Database, database_url: str, tmp_path: Path) -> None:
    assert _holders(ledger) == {"deliveries", "events", "suppressions", "returned_messages"}
    assert _traces(ledger, tmp_path)  # the search finds it while it is there
    with ledger.session() as session:
        before = queries.report(session)
        orphans = queries.lookup(session, ADDRESS)["unmatched_verdicts"]
        other_raw = session.scalar(select(ReturnedMessage.raw).where(ReturnedMessage.message_id == "encoded-report@mx.example.org"))
        messages = session.scalar(select(func.count()).select_from(ReturnedMessage))
        sent = session.scalar(select(func.count()).select_from(SentMessage))
    assert orphans, "the extra report should be an unmatched verdict for the address"
    assert other_raw and not NEEDLE_BYTES.search(other_raw)

    out = bl("--database-url", database_url, "forget", ADDRESS.upper(), "--note", f"erasure request from {ADDRESS}", cwd=tmp_path).stdout
    assert out.startswith(f"{ADDRESS}: forgotten: 1 deliveries")
    assert "1 unmatched verdicts removed" in out and "4 returned messages emptied" in out

    assert _traces(ledger, tmp_path) == []
    if ledger.engine.url.get_backend_name() == "sqlite":  # nor in the file's free pages or its log
        for path in (Path(ledger.engine.url.database), Path(f"{ledger.engine.url.database}-wal")):
            if path.exists():
                assert not NEEDLE_BYTES.search(path.read_bytes()), path

    with ledger.session() as session:
        after = queries.report(session)
        pseudonymous = session.scalars(select(Delivery).where(Delivery.recipient.like("forgotten-%@invalid"))).all()
        erasure = session.scalars(select(Event).where(Event.kind == "erasure")).one()
        emptied = session.scalars(select(ReturnedMessage).where(ReturnedMessage.pruned_at.is_not(None))).all()
        kept = session.scalars(select(ForgottenSuppression)).one()
        other = suppress.lookup(session, OTHER)
        assert session.scalar(select(func.count()).select_from(ReturnedMessage)) == messages
        assert session.scalar(select(func.count()).select_from(SentMessage)) == sent
    # the counts and states stay; only the address is gone
    assert {k: after[k] for k in ("deliveries", "states", "corrected", "suppressed")} == {
        k: before[k] for k in ("deliveries", "states", "corrected", "suppressed")
    } | {"suppressed": before["suppressed"] - 1}
    assert after["orphans"] == before["orphans"] - len(orphans)
    assert [(d.state, d.reason, d.corrected) for d in pseudonymous] == [("bounced", "userunknown", True)]
    assert erasure.recipient is None and erasure.outcome == "forgotten" and erasure.delivery_id is None
    assert pseudonymous[0].recipient in (erasure.detail or "")  # the note, with the address replaced
    assert {m.raw for m in emptied} == {b""} and len(emptied) == 4 and all(m.subject is None for m in emptied)
    assert kept.address_hash == address_hash(ADDRESS) and kept.reason == "manual" and kept.active
    assert other is not None and pseudonymous[0].recipient in (other.note or "")  # someone else's row, scrubbed


def test_an_erased_suppression_is_still_recognised(ledger: Database, database_url: str, tmp_path: Path) -> None:
    db = ("--database-url", database_url)
    bl(*db, "forget", ADDRESS, cwd=tmp_path)
    check = bl(*db, "suppressions", "check", ADDRESS, cwd=tmp_path, check=False)
    assert check.returncode == 0, check.stderr  # still suppressed, though only a hash is left
    assert check.stdout.startswith(f"{ADDRESS}: suppressed: previously suppressed (manual since ")
    exported = bl(*db, "suppressions", "--csv", cwd=tmp_path).stdout
    assert ADDRESS not in exported.lower()  # the list handed to the sender no longer names it

    added = bl(*db, "suppressions", "add", ADDRESS, "--note", "came back", cwd=tmp_path).stdout
    assert f"{ADDRESS}: previously suppressed (manual since" in added
    assert bl(*db, "suppressions", "check", "someone@example.org", cwd=tmp_path, check=False).returncode == 1


def test_forget_twice_and_dry_run(ledger: Database, database_url: str, tmp_path: Path) -> None:
    db = ("--database-url", database_url)
    dry = bl(*db, "forget", ADDRESS, "--dry-run", cwd=tmp_path).stdout
    assert dry.startswith(f"{ADDRESS}: would be forgotten: 1 deliveries")
    assert _traces(ledger, tmp_path)  # a dry run changes nothing
    with ledger.session() as session:
        assert session.scalar(select(func.count()).where(Event.kind == "erasure")) == 0
    bl(*db, "forget", ADDRESS, cwd=tmp_path)
    again = bl(*db, "forget", ADDRESS, "--json", cwd=tmp_path).stdout
    assert '"deliveries": 0' in again and '"messages_emptied": 0' in again
    with ledger.session() as session:  # each request is on record, neither names the address
        details = session.scalars(select(Event.detail).where(Event.kind == "erasure")).all()
    assert len(details) == 2 and "nothing in the ledger mentions it" in details[1]
    bad = bl(*db, "forget", "not-an-address", cwd=tmp_path, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("bounceledger: error: not an e-mail address")
