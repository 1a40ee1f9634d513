"""The thin pass end to end, on SQLite and PostgreSQL: log -> mailbox -> corrected states."""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select, update

from bounceledger import pipeline, polling, queries
from bounceledger.db import Database
from bounceledger.models import Delivery, Event, ReturnedMessage
from tests.conftest import PIPELINE_LOG_MTIME as LOG_MTIME


def _count(database: Database, model: type) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _states(database: Database) -> dict[str, str]:
    with database.session() as session:
        return dict(session.execute(select(Delivery.recipient, Delivery.state)).all())


def test_log_then_mailbox_corrects_provisional_delivery(database: Database, sendlog: Path, maildir: str) -> None:
    summary = pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    assert summary.lines == 11
    assert summary.attempts == 5
    assert summary.skipped == 1

    assert _states(database) == {
        "alice@mail.example.org": "accepted",
        "bob@mail.example.org": "accepted",
        "nobody@corp.example.com": "bounced",
        "carol@slow.example.net": "accepted",
    }

    poll = polling.poll(database, maildir)
    assert (poll.seen, poll.processed, poll.ignored) == (3, 1, 2)
    assert poll.orphans == 0  # the auto-reply is tied to carol's delivery by recipient and time

    states = _states(database)
    assert states["bob@mail.example.org"] == "bounced"
    assert states["alice@mail.example.org"] == "accepted"
    assert states["carol@slow.example.net"] == "accepted"  # an auto-reply changes nothing

    with database.session() as session:
        result = queries.lookup(session, "BOB@mail.example.org")
    [delivery] = result["deliveries"]
    assert delivery["state"] == "bounced"
    assert delivery["corrected"] is True
    assert delivery["reason"] == "userunknown"
    assert delivery["status"] == "5.1.1"
    kinds = [(e["kind"], e["outcome"]) for e in delivery["events"]]
    assert kinds == [("attempt", "accepted"), ("verdict", "bounce"), ("correction", "bounced")]
    accepted, bounce, correction = delivery["events"]
    assert accepted["replycode"] == "250" and accepted["source"].startswith("postfix:")
    assert bounce["status"] == "5.1.1" and bounce["match_key"] == "token"
    assert correction["from_state"] == "accepted" and correction["to_state"] == "bounced"
    assert "mx1.example.org" in correction["detail"] and "5.1.1" in correction["detail"]
    assert accepted["at"] < bounce["at"]

    with database.session() as session:
        totals = queries.report(session)
    assert totals["corrected"] == 1
    assert totals["states"]["bounced"] == 2
    assert totals["returned_messages"] == {"processed": 1, "unparsed": 0, "ignored": 2, "duplicate": 0, "error": 0}


def test_reading_everything_twice_adds_nothing(database: Database, sendlog: Path, maildir: str) -> None:
    pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    polling.poll(database, maildir)
    events, returned = _count(database, Event), _count(database, ReturnedMessage)

    again = pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    assert again.lines == 0  # resumed at the saved offset
    poll = polling.poll(database, maildir)
    assert poll.seen == 0  # filed into cur/ the first time
    assert (_count(database, Event), _count(database, ReturnedMessage)) == (events, returned)


def test_readonly_maildir_read_twice_adds_nothing(database: Database, maildir: str) -> None:
    first = polling.poll(database, maildir + "?readonly=on")
    events = _count(database, Event)
    again = polling.poll(database, maildir + "?readonly=on")
    assert (first.seen, again.seen, again.already, again.duplicate) == (3, 3, 3, 0)
    assert _count(database, Event) == events
    assert _count(database, ReturnedMessage) == 3


def test_processed_mail_moves_to_cur_and_copies_count_as_duplicates(
    database: Database, maildir: str
) -> None:
    box = Path(maildir.split(":", 1)[1])
    polling.poll(database, maildir)
    assert not list((box / "new").iterdir())
    assert sorted(p.name for p in (box / "cur").iterdir() if not p.name.startswith(".")) == [
        "1709457400.M1P1.mta:2,S",
        "1709457500.M2P1.mta:2,S",
        "1709457600.M3P1.mta:2,S",
    ]
    # The same bounce delivered a second time, under another file name.
    shutil.copy(box / "cur" / "1709457400.M1P1.mta:2,S", box / "new" / "1709459999.M9P9.mta")
    poll = polling.poll(database, maildir)
    assert (poll.seen, poll.duplicate) == (1, 1)
    with database.session() as session:
        assert queries.report(session)["returned_messages"]["duplicate"] == 1


def test_rotated_gzip_copy_adds_nothing(database: Database, sendlog: Path, tmp_path: Path) -> None:
    pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    events = _count(database, Event)
    rotated = tmp_path / "mail.log.1.gz"
    with gzip.open(rotated, "wb") as handle:
        handle.write(sendlog.read_bytes())
    os.utime(rotated, (LOG_MTIME, LOG_MTIME))
    sendlog.write_text("")  # the live log starts afresh after rotation
    summary = pipeline.ingest_logs(database, [str(rotated), str(sendlog)], "auto")
    assert summary.lines == 0  # the copy is known by its first bytes: read on from where the log was left
    assert _count(database, Event) == events
    summary = pipeline.ingest_logs(database, [str(rotated), str(sendlog)], "auto", reread=True)
    assert summary.lines == 11  # read again whole on request, still adding nothing
    assert _count(database, Event) == events


def test_partial_last_line_is_left_for_the_next_run(database: Database, sendlog: Path) -> None:
    lines = sendlog.read_text().splitlines(keepends=True)
    last = lines[-2]  # carol's 250 on retry
    body = "".join(lines[:-2])
    sendlog.write_text(body + last[:40])
    os.utime(sendlog, (LOG_MTIME, LOG_MTIME))
    pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    assert _states(database)["carol@slow.example.net"] == "deferred"

    sendlog.write_text(body + last)
    os.utime(sendlog, (LOG_MTIME, LOG_MTIME))
    summary = pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    assert summary.lines == 1
    assert _states(database)["carol@slow.example.net"] == "accepted"
    # The retry line names only the queue id; the ledger knew its Message-ID.
    assert _count(database, Delivery) == 4


def test_bounce_read_before_its_log_line_is_matched_when_the_line_is_read(
    database: Database, sendlog: Path, maildir: str
) -> None:
    poll = polling.poll(database, maildir)
    assert poll.orphans == 2  # bob's bounce and carol's auto-reply: no send known yet
    with database.session() as session:
        assert queries.report(session)["orphans"] == 2
        assert queries.report(session)["stale_orphans"] == 0
        assert queries.report(session, stale_after=timedelta(0))["stale_orphans"] == 2  # kept and reported
    pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    with database.session() as session:
        assert queries.report(session)["orphans"] == 0  # tied by ingest-log itself, no other step
    assert pipeline.retry_orphans(database) == (0, 0)
    with database.session() as session:
        result = queries.lookup(session, "bob@mail.example.org")
    [delivery] = result["deliveries"]
    assert delivery["state"] == "bounced"
    assert delivery["corrected"] is True
    assert [e["kind"] for e in delivery["events"]] == ["attempt", "verdict", "correction"]
    assert _states(database)["carol@slow.example.net"] == "accepted"


def test_every_orphan_is_retried_however_many_never_match(database: Database, sendlog: Path, maildir: str) -> None:
    """Old orphans that never match do not keep newer ones from their retry."""
    from bounceledger.ingest.reconcile import retry_orphans

    long_ago = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with database.session() as session:
        for n in range(5):  # stored first: verdicts about mail sent before the ledger began
            session.add(Event(dedupe_key=f"stale-{n}", recipient=f"gone{n}@old.example", kind="verdict",
                              source="test", at=long_ago, outcome="bounce", evidence={}, recorded_at=long_ago))
    polling.poll(database, maildir)
    pipeline.ingest_logs(database, [str(sendlog)], "postfix")  # ties bob's bounce and carol's auto-reply
    with database.session() as session:  # untie them again: left for the retry to find
        session.execute(
            update(Event).where(Event.kind == "verdict", Event.source != "test").values(delivery_id=None, match_key=None)
        )
    with database.session() as session:
        linked, left = retry_orphans(session, database.rules, batch=2)
    assert (linked, left) == (2, 5)  # bob's bounce and carol's auto-reply, found after three batches of stale ones
    assert _states(database)["bob@mail.example.org"] == "bounced"


def test_unparseable_message_is_quarantined_not_lost(database: Database, tmp_path: Path) -> None:
    box = tmp_path / "box"
    (box / "new").mkdir(parents=True)
    (box / "new" / "huge").write_bytes(b"Subject: x\n\n" + b"A" * 11_000_000)
    summary = polling.poll(database, f"maildir:{box}")
    assert summary.unparsed == 1
    with database.session() as session:
        row = session.scalars(select(ReturnedMessage)).one()
    assert row.outcome == "unparsed" and row.error
    assert len(row.raw) > 11_000_000


def test_long_deferred_delivery_expires_until_a_newer_answer_arrives(database: Database, sendlog: Path) -> None:
    from datetime import timedelta

    from bounceledger.ingest import reconcile

    lines = sendlog.read_text().splitlines(keepends=True)
    retry = lines[-2]
    sendlog.write_text("".join(lines[:-2]))
    os.utime(sendlog, (LOG_MTIME, LOG_MTIME))
    pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    later = datetime(2026, 3, 10, tzinfo=timezone.utc)
    with database.session() as session:
        assert reconcile.expire_deferred(session, timedelta(hours=120), later, database.rules) == 1
    assert _states(database)["carol@slow.example.net"] == "expired"
    with database.session() as session:
        assert reconcile.expire_deferred(session, timedelta(hours=120), later, database.rules) == 0  # nothing deferred now

    with sendlog.open("a") as handle:
        handle.write(retry)
    os.utime(sendlog, (LOG_MTIME, LOG_MTIME))
    pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    assert _states(database)["carol@slow.example.net"] == "accepted"  # the silence was not silence after all


def _kumo(record_type: str, ident: str, sender: str, recipient: str, at: int, code: int, enhanced: tuple[int, int, int] | None,
          content: str, **extra: object) -> str:
    import json

    response = {"code": code, "content": content, "command": None,
                "enhanced_code": dict(zip(("class", "subject", "detail"), enhanced)) if enhanced else None}
    record = {"type": record_type, "id": ident, "sender": sender, "recipient": recipient, "queue": "news.example",
              "site": "", "size": 1200, "timestamp": at, "created": at, "num_attempts": 1, "response": response,
              "headers": {}, "meta": {}, "delivery_protocol": None, "reception_protocol": "ESMTP", **extra}
    return json.dumps(record)


def test_a_returned_message_the_mta_logged_corrects_the_delivery_it_reports_on(database: Database, tmp_path: Path) -> None:
    """KumoMTA reads the DSNs that come back to its return path and logs each as an OOB record, under
    the id of the incoming report (kumod logging.rs): a verdict on a message sent earlier, tied by the
    return-path token and recipient, not a send of its own."""
    sender = "bounces+oob1@news.shop.example"
    lines = [
        _kumo("Reception", "a1", sender, "carol@far.example", 1_780_000_000, 250, None, "",
              headers={"Message-ID": "<n1@news.shop.example>"}),
        _kumo("Delivery", "a1", sender, "carol@far.example", 1_780_000_005, 250, (2, 0, 0), "Ok: queued as Q77",
              peer_address={"name": "mx.far.example", "addr": "192.0.2.8:25"}),
        _kumo("Reception", "b9", "", sender, 1_780_000_900, 250, None, "",
              headers={"Message-ID": "<dsn-5@mx.far.example>"}),
        _kumo("OOB", "b9", sender, "carol@far.example", 1_780_000_901, 550, (5, 1, 1),
              "5.1.1 <carol@far.example>: mailbox does not exist"),
    ]
    log = tmp_path / "kumo.jsonl"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = pipeline.ingest_logs(database, [str(log)], "jsonl")
    assert (summary.attempts, summary.verdicts) == (1, 1)
    assert _states(database) == {"carol@far.example": "bounced"}  # one delivery, corrected; none made for the report
    with database.session() as session:
        [delivery] = queries.lookup(session, "carol@far.example")["deliveries"]
    assert (delivery["corrected"], delivery["reason"], delivery["status"]) == (True, "userunknown", "5.1.1")
    verdict = next(e for e in delivery["events"] if e["kind"] == "verdict")
    assert verdict["match_key"] == "token"


def test_a_powermta_remote_bounce_is_the_correction_of_the_first_hops_acceptance(database: Database, tmp_path: Path) -> None:
    """PowerMTA logs a DSN it received for delivered mail as an ``rb`` record (User's Guide 11.2),
    under the original message's ids: the delivery is corrected from accepted to bounced."""
    log = tmp_path / "acct.csv"
    log.write_text(
        "type,timeLogged,orig,rcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,jobId,header_Message-Id\n"
        "d,2026-11-27 10:15:02+0000,bounces+x1@news.shop.example,dan@far.example,relayed,2.0.0 (success),"
        "smtp;250 2.0.0 OK queued as A1,mx.far.example (192.0.2.9),,spring,<m1@news.shop.example>\n"
        "rb,2026-11-27 11:15:02+0000,bounces+x1@news.shop.example,dan@far.example,failed,"
        "5.1.1 (bad destination mailbox address),smtp;550 5.1.1 user unknown,mx2.far.example (192.0.2.10),"
        "bad-mailbox,spring,<m1@news.shop.example>\n",
        encoding="utf-8",
    )
    summary = pipeline.ingest_logs(database, [str(log)], "pmta")
    assert (summary.attempts, summary.verdicts) == (1, 1)
    with database.session() as session:
        [delivery] = queries.lookup(session, "dan@far.example")["deliveries"]
    assert (delivery["state"], delivery["corrected"], delivery["reason"]) == ("bounced", True, "userunknown")
    assert [(e["kind"], e["outcome"]) for e in delivery["events"]] == [
        ("attempt", "accepted"), ("verdict", "bounce"), ("correction", "bounced")]
