"""Configured match headers tie returned mail to its send when nothing stronger does.

The sender puts ``X-Mailer-Ref`` on each message and its log records it; the
bounces below carry no token, envelope id, queue id or Message-ID we know, so
only the header can tie them (on SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from bounceledger import pipeline, polling, queries
from bounceledger.config import ConfigError, Settings, load_settings
from bounceledger.db import Database
from bounceledger.ingest.bounces import parse
from bounceledger.ingest.keys import header_ref
from bounceledger.ingest.sendlog import ParseOptions, make_parser
from bounceledger.models import Delivery, SentMessage

SENT = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
REF = "X-Mailer-Ref"


def _dsn_with_headers(recipient: str, ref: str) -> bytes:
    """A DSN that returns only the original's headers, with a Message-ID we never logged."""
    return f"""From: MAILER-DAEMON@mx.remote.example
To: news@sender.example
Subject: Undelivered Mail Returned to Sender
Date: Tue, 10 Mar 2026 09:40:00 +0000
Message-ID: <dsn-{ref}-{recipient}>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

Your message could not be delivered.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.example

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: user unknown

--b1
Content-Type: text/rfc822-headers

From: news@sender.example
To: {recipient}
Subject: March news
Message-ID: <rewritten-by-a-filter-{ref}@gateway.example>
x-mailer-ref:   {ref}

--b1--
""".encode()


def _inline_bounce(recipient: str, ref: str) -> bytes:
    """An Exim-style plain-text bounce that pastes the original inline."""
    return f"""From: Mail Delivery System <Mailer-Daemon@mx.remote.example>
To: news@sender.example
Subject: Mail delivery failed: returning message to sender
Date: Tue, 10 Mar 2026 09:41:00 +0000
Message-ID: <inline-{ref}@mx.remote.example>
X-Failed-Recipients: {recipient}

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    550 5.1.1 User unknown

------ This is a copy of the message, including all the headers. ------

From: news@sender.example
To: {recipient}
Subject: March news
X-Mailer-Ref: {ref}

Hello.
""".encode()


def _jsonl_log(path: Path) -> Path:
    lines = [
        {"time": SENT.isoformat(), "recipient": f"user{i}@remote.example", "queue_id": f"q{i}",
         "relay_host": "mx.remote.example", "replycode": 250, "status": "2.0.0", "text": "OK",
         "headers": {REF: f"ref-{i}"}}
        for i in range(3)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _maildir(root: Path, messages: dict[str, bytes]) -> str:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, raw in messages.items():
        (root / "new" / name).write_bytes(raw)
    return f"maildir:{root}"


@pytest.fixture
def header_database(database_url: str) -> Iterator[Database]:
    database = Database(Settings(database_url=database_url, match_headers=(REF,)))
    yield database
    database.dispose()


def test_header_ref_is_case_and_folding_insensitive_in_the_name_only() -> None:
    assert header_ref("X-Mailer-Ref", " a81f3 ") == "x-mailer-ref:a81f3"
    assert header_ref("x-mailer-ref", "a 81\n\t f3") == "x-mailer-ref:a 81 f3"
    assert header_ref("X-Mailer-Ref", "") is None
    assert header_ref("X-Mailer-Ref", "Abc") != header_ref("X-Mailer-Ref", "abc")  # the value is the sender's


def test_parse_reads_quoted_headers_from_the_returned_part_and_from_inline_text() -> None:
    assert parse(_dsn_with_headers("a@remote.example", "ref-7"), quoted=(REF,)).quoted == {REF: "ref-7"}
    assert parse(_inline_bounce("a@remote.example", "ref-8"), quoted=(REF,)).quoted == {REF: "ref-8"}
    assert parse(_inline_bounce("a@remote.example", "ref-8")).quoted == {}  # nothing asked, nothing read


def test_jsonl_and_pmta_logs_record_the_configured_header(tmp_path: Path) -> None:
    options = ParseOptions(reference_time=SENT, match_headers=("X-Other", REF))
    [attempt] = make_parser("jsonl", options).feed(
        json.dumps({"time": SENT.isoformat(), "recipient": "a@remote.example", "replycode": 250,
                    "headers": {"x-mailer-ref": "ref-1"}})
    )
    assert attempt.header_ref == "x-mailer-ref:ref-1"
    pmta = make_parser("pmta", options)
    assert pmta.feed("type,timeLogged,orig,rcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,header_X-Mailer-Ref") == []
    [attempt] = pmta.feed("d,1773133200,news@sender.example,b@remote.example,relayed,2.0.0 (success),smtp;250 ok,mx.remote.example (192.0.2.1),ref-2")
    assert attempt.header_ref == "x-mailer-ref:ref-2"
    plain = make_parser("pmta", ParseOptions(reference_time=SENT))
    plain.feed("type,timeLogged,orig,rcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,header_X-Mailer-Ref")
    [attempt] = plain.feed("d,1773133200,news@sender.example,b@remote.example,relayed,2.0.0 (success),smtp;250 ok,mx.remote.example (192.0.2.1),ref-2")
    assert attempt.header_ref is None  # not configured: not read


def test_bounces_are_matched_by_the_header_and_corrected(header_database: Database, tmp_path: Path) -> None:
    log = _jsonl_log(tmp_path / "send.jsonl")
    os.utime(log, (SENT.timestamp(), SENT.timestamp()))
    pipeline.ingest_logs(header_database, [str(log)], "jsonl")
    with header_database.session() as session:
        refs = sorted(session.scalars(select(SentMessage.header_ref)))
    assert refs == ["x-mailer-ref:ref-0", "x-mailer-ref:ref-1", "x-mailer-ref:ref-2"]

    mailbox = _maildir(tmp_path / "Maildir", {
        "1.dsn": _dsn_with_headers("user0@remote.example", "ref-0"),
        "2.inline": _inline_bounce("user1@remote.example", "ref-1"),
        "3.wrong": _dsn_with_headers("user2@remote.example", "ref-0"),  # quotes user0's header: no match
    })
    summary = polling.poll(header_database, mailbox)
    assert (summary.processed, summary.orphans) == (3, 0)

    with header_database.session() as session:
        states = dict(session.execute(select(Delivery.recipient, Delivery.state)).all())
        first = queries.lookup(session, "user0@remote.example")["deliveries"][0]
    assert states == {
        "user0@remote.example": "bounced",
        "user1@remote.example": "bounced",
        # user2's bounce quotes another message's header; the weak
        # recipient-and-time match still ties it, marked as weak
        "user2@remote.example": "bounced",
    }
    verdict = next(e for e in first["events"] if e["kind"] == "verdict")
    assert verdict["match_key"] == "header"
    with header_database.session() as session:
        second = queries.lookup(session, "user2@remote.example")["deliveries"][0]
    assert next(e for e in second["events"] if e["kind"] == "verdict")["match_key"] == "weak"


def test_match_headers_setting(tmp_path: Path) -> None:
    config = tmp_path / "bounceledger.toml"
    config.write_text('match_headers = ["X-Mailer-Ref", "X-Job:"]\n')
    assert load_settings(str(config), env={}).match_headers == ("X-Mailer-Ref", "X-Job")
    assert load_settings(env={"BOUNCELEDGER_MATCH_HEADERS": "X-A, X-B"}).match_headers == ("X-A", "X-B")
    config.write_text('match_headers = "X-Mailer-Ref"\n')
    with pytest.raises(ConfigError, match="list of header names"):
        load_settings(str(config), env={})
    config.write_text('match_headers = ["X Bad"]\n')
    with pytest.raises(ConfigError, match="not a header name"):
        load_settings(str(config), env={})
