"""A message whose lines fall into two runs of ``ingest-log`` keeps its Message-ID and sender.

The scheduler reads ``mail.log`` every few minutes, so a run often stops between a
message's cleanup ``message-id=`` / qmgr ``from=`` lines and its delivery lines (sweep BM,
real Postfix 3.7.11 under rsyslog and logrotate: 95 of 5,351 deliveries). The next run
read the delivery with no Message-ID, so a bounce could not find it by it, and after the
rotation the re-read file, which named the Message-ID, made a second delivery of the send.
Line shapes as Postfix 3.7 writes them.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from sqlalchemy import func, select

from bounceledger import pipeline
from bounceledger.db import Database
from bounceledger.models import Delivery, Event, SentMessage

HEAD = [
    "Dec  7 21:40:01 mta postfix/pickup[3101]: 4dR7Ks0JzTz9vNd: uid=1000 from=<bounces@news.example>",
    "Dec  7 21:40:01 mta postfix/cleanup[3102]: 4dR7Ks0JzTz9vNd: message-id=<n42.20261207@news.example>",
    "Dec  7 21:40:01 mta postfix/qmgr[990]: 4dR7Ks0JzTz9vNd: from=<bounces@news.example>, size=2311, nrcpt=2 (queue active)",
]
TAIL = [
    "Dec  7 21:40:02 mta postfix/smtp[3104]: 4dR7Ks0JzTz9vNd: to=<ann@mx.example>, relay=mx.example[192.0.2.10]:25, "
    "delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4dR7Kt1AbCz2xYq)",
    "Dec  7 21:40:02 mta postfix/smtp[3104]: 4dR7Ks0JzTz9vNd: to=<bob@mx.example>, relay=mx.example[192.0.2.10]:25, "
    "delay=1.2, delays=0.1/0/0.5/0.6, dsn=4.2.1, status=deferred (host mx.example[192.0.2.10] said: 450 4.2.1 "
    "try again later (in reply to RCPT TO command))",
]
LATER = [
    "Dec  7 21:50:02 mta postfix/qmgr[990]: 4dR7Ks0JzTz9vNd: from=<bounces@news.example>, status=expired, returned to sender",
    "Dec  7 21:50:02 mta postfix/qmgr[990]: 4dR7Ks0JzTz9vNd: removed",
]


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))


def test_a_message_split_between_runs_keeps_its_message_id(tmp_path: Path, database: Database) -> None:
    log = tmp_path / "mail.log"
    _append(log, HEAD)
    pipeline.ingest_logs(database, [str(log)], "postfix")
    _append(log, TAIL)
    pipeline.ingest_logs(database, [str(log)], "postfix")
    _append(log, LATER)
    summary = pipeline.ingest_logs(database, [str(log)], "postfix")
    assert summary.lines == len(LATER)  # the lines read again to rebuild the parser's state are not counted
    with database.session() as session:
        sent = session.scalars(select(SentMessage)).all()
        assert [(s.message_id, s.sender) for s in sent] == [("n42.20261207@news.example", "bounces@news.example")]
        states = dict(session.execute(select(Delivery.recipient, Delivery.state)).all())
    # the expiry in the third run names the recipient the second run saw deferred
    assert states == {"ann@mx.example": "accepted", "bob@mx.example": "expired"}

    # logrotate renames the file; the next run reads the rotation whole, then the new file
    log.rename(tmp_path / "mail.log.1")
    log.touch()
    pipeline.ingest_logs(database, [str(tmp_path / "mail.log.1"), str(log)], "postfix")
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2
        assert session.scalar(select(func.count()).select_from(SentMessage)) == 1
        assert session.scalar(select(func.count()).select_from(Event)) == 3


def _message(n: int) -> list[str]:
    qid = f"4dR8{n:05d}zTz9vNd"
    return [
        f"Dec  7 22:{n // 60:02d}:{n % 60:02d} mta postfix/cleanup[3102]: {qid}: message-id=<m{n}.20261207@news.example>",
        f"Dec  7 22:{n // 60:02d}:{n % 60:02d} mta postfix/qmgr[990]: {qid}: from=<bounces@news.example>, size=2311, "
        "nrcpt=1 (queue active)",
        f"Dec  7 22:{n // 60:02d}:{n % 60:02d} mta postfix/smtp[3104]: {qid}: to=<u{n}@mx.example>, "
        "relay=mx.example[192.0.2.10]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
        f"Dec  7 22:{n // 60:02d}:{n % 60:02d} mta postfix/qmgr[990]: {qid}: removed",
    ]


def test_a_file_logrotate_renamed_is_read_on_from_where_it_was_left(tmp_path: Path, database: Database) -> None:
    # logrotate: mail.log -> mail.log.1 (same first bytes, rename or copytruncate), later
    # mail.log.1 -> mail.log.2.gz (compressed: new inode, same first bytes once read)
    log, first = tmp_path / "mail.log", tmp_path / "mail.log.1"
    _append(log, [line for n in range(20) for line in _message(n)])
    assert pipeline.ingest_logs(database, [str(log)], "postfix").lines == 80
    _append(log, _message(20))  # logged after the last run, before the rotation
    log.rename(first)
    _append(log, _message(21))
    summary = pipeline.ingest_logs(database, [str(first), str(log)], "postfix")
    assert (summary.lines, summary.attempts) == (8, 2)  # the tail of the renamed file and the new one, no more
    second = tmp_path / "mail.log.2.gz"
    second.write_bytes(gzip.compress(first.read_bytes()))
    first.unlink()
    summary = pipeline.ingest_logs(database, [str(second), str(log)], "postfix")
    assert (summary.lines, summary.attempts) == (0, 0)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 22
        assert session.scalar(select(func.count()).select_from(Event)) == 22
