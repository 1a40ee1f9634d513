"""The command-line contract: names, JSON shapes, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "pipeline"
LOG_MTIME = datetime(2026, 3, 4, tzinfo=timezone.utc).timestamp()


def bl(*args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real command, as a user or a script would."""
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / "postfix.log", tmp_path / "mail.log")
    os.utime(tmp_path / "mail.log", (LOG_MTIME, LOG_MTIME))
    shutil.copytree(FIXTURES / "returned", tmp_path / "Maildir")
    return tmp_path


def test_full_contract(workdir: Path, database_url: str) -> None:
    db = ["--database-url", database_url]
    bl(*db, "db", "upgrade", cwd=workdir)
    out = bl(*db, "ingest-log", "mail.log", "--format", "auto", cwd=workdir).stdout
    assert "11 lines read, 5 attempts recorded" in out and "1 skipped" in out
    bl(*db, "poll", "--mailbox", f"maildir:{workdir / 'Maildir'}", "--once", cwd=workdir)

    result = json.loads(bl(*db, "lookup", "bob@mail.example.org", "--json", cwd=workdir).stdout)
    [delivery] = result["deliveries"]
    assert {"message_id", "recipient", "state", "reason", "status", "events"} <= set(delivery)
    assert delivery["state"] == "bounced"
    assert delivery["message_id"] == "spring-sale.42@shop.test"
    for event in delivery["events"]:
        assert {"kind", "source", "at", "status", "detail"} <= set(event)
    assert [e["replycode"] for e in delivery["events"][:2]] == ["250", "550"]

    report = json.loads(bl(*db, "report", "--json", cwd=workdir).stdout)
    assert report["corrected"] == 1
    assert report["states"]["bounced"] == 2
    assert report["states"]["accepted"] == 2

    # Everything again: nothing new.
    bl(*db, "ingest-log", "mail.log", cwd=workdir)
    bl(*db, "poll", "--mailbox", f"maildir:{workdir / 'Maildir'}", "--once", cwd=workdir)
    assert json.loads(bl(*db, "report", "--json", cwd=workdir).stdout) == report

    text = bl(*db, "lookup", "bob@mail.example.org", cwd=workdir).stdout
    assert "BOUNCED" in text and "accepted -> bounced" in text


def test_parse_json_shape(tmp_path: Path) -> None:
    out = bl("parse", str(FIXTURES / "returned"), "--json", cwd=tmp_path).stdout
    messages = [json.loads(line) for line in out.splitlines()]
    assert len(messages) == 3
    by_file = {Path(m["file"]).name: m for m in messages}
    assert all(set(m) == {"schema", "file", "outcome", "error", "records", "skipped"} for m in messages)
    [record] = by_file["1709457400.M1P1.mta"]["records"]
    assert set(record) == {
        "kind", "recipient", "action", "status", "replycode", "reason", "hardbounce", "category", "diagnostic",
        "remote_mta", "reporting_mta", "envelope_id", "original_message_id", "next_hop_queue_id", "feedback_type",
    }
    assert record == record | {
        "kind": "bounce",
        "recipient": "bob@mail.example.org",
        "action": "failed",
        "status": "5.1.1",
        "replycode": "550",
        "reason": "userunknown",
        "hardbounce": True,
    }
    assert "mailbox does not exist" in record["diagnostic"]
    [auto] = by_file["1709457500.M2P1.mta"]["records"]
    assert auto["kind"] == "autoreply" and auto["reason"] == "vacation"
    assert by_file["1709457600.M3P1.mta"]["records"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest-log", "missing.log"], "no such file"),
        (["ingest-log", "notalog.txt"], "not a send log"),
        (["ingest-log", "mail.log", "--format", "qmail-ish"], "unknown format"),
        (["parse", "missing.eml", "--json"], "no such file"),
        (["poll", "--mailbox", "pop3://x", "--once"], "unknown mailbox URL"),
        (["poll", "--mailbox", "maildir:/nonexistent/box", "--once"], "no such Maildir"),
        (["--database-url", "postgresql://postgres:hunter2@127.0.0.1:1/nope", "report"], "database"),
        (["--database-url", "nonsense", "report"], "not valid"),
        (["--config", "nope.toml", "report"], "config file not found"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(workdir: Path, args: list[str], message: str) -> None:
    (workdir / "notalog.txt").write_text("hello\nthis is not a mail log\n")
    bl("--database-url", f"sqlite:///{workdir / 'l.sqlite'}", "db", "upgrade", cwd=workdir)
    if "--database-url" not in args:
        args = ["--database-url", f"sqlite:///{workdir / 'l.sqlite'}", *args]
    result = bl(*args, cwd=workdir, check=False)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "hunter2" not in result.stderr + result.stdout


def test_unmigrated_database_says_what_to_do(tmp_path: Path) -> None:
    result = bl("--database-url", f"sqlite:///{tmp_path / 'fresh.sqlite'}", "report", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "bounceledger db upgrade" in result.stderr


def test_non_mail_file_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 10)
    out = bl("parse", str(tmp_path / "photo.jpg"), "--json", cwd=tmp_path).stdout
    [message] = [json.loads(line) for line in out.splitlines()]
    assert message["records"] == []


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in ["db", "ingest-log", "parse", "poll", "lookup", "report", "run", "demo", "suppressions", "sendlog", "serve", "explain", "changes", "webhooks"]:
        assert "usage:" in bl(command, "--help", cwd=tmp_path).stdout


SENDLOG_FIXTURES = Path(__file__).parent / "sendlog" / "fixtures"
SENDLOG_FIELDS = {
    "time", "queue_id", "message_id", "sender", "recipient", "relay_host", "relay_ip",
    "replycode", "status", "verdict", "text", "first_hop",
}


@pytest.mark.parametrize(
    "fixture",
    ["outbound_mixed.log", "exim_mainlog.log", "sendmail_maillog.log", "pmta_acct.csv", "jsonl_own.jsonl", "kumo_log.jsonl"],
)
def test_sendlog_parse_json_for_every_format(tmp_path: Path, fixture: str) -> None:
    result = bl("sendlog", "parse", str(SENDLOG_FIXTURES / fixture), "--json", cwd=tmp_path)
    attempts = [json.loads(line) for line in result.stdout.splitlines()]
    assert attempts, result.stderr
    verdicts = {a["verdict"] for a in attempts}
    assert verdicts <= {"accepted", "deferred", "rejected", "expired"}
    assert {"accepted", "rejected"} <= verdicts or {"accepted", "deferred"} <= verdicts
    for attempt in attempts:
        assert SENDLOG_FIELDS <= set(attempt)
        assert attempt["time"].endswith("Z")
        assert "@" in attempt["recipient"] and attempt["recipient"] == attempt["recipient"].lower()
        assert isinstance(attempt["first_hop"], bool)
        if attempt["replycode"] and attempt["verdict"] == "accepted":
            assert attempt["replycode"].startswith("2")
    assert "lines" in result.stderr and "attempts" in result.stderr


def test_sendlog_parse_unknown_format_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_text("hello\nworld\n")
    result = bl("sendlog", "parse", str(tmp_path / "x.log"), cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "not a send log" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_explain_codes_for_support(tmp_path: Path) -> None:
    hard = json.loads(bl("explain", "550", "5.1.1", "--json", cwd=tmp_path).stdout)
    assert (hard["reason"], hard["hardbounce"], hard["category"]) == ("userunknown", True, "bad-mailbox")
    soft = json.loads(bl("explain", "452-4.2.2", "--json", cwd=tmp_path).stdout)
    assert soft["hardbounce"] is False and soft["permanent"] is False and soft["reason"] == "mailboxfull"
    text = bl("explain", "5.7.1", cwd=tmp_path).stdout
    assert text.startswith("5.7.1: ") and "reason" in text


def test_ingest_log_follow_reads_a_growing_log(workdir: Path, database_url: str) -> None:
    """--follow keeps reading as the MTA appends, and stops cleanly on Ctrl-C."""
    import signal
    import time

    from sqlalchemy import create_engine, text

    lines = (workdir / "mail.log").read_text().splitlines(keepends=True)
    (workdir / "mail.log").write_text("".join(lines[:8]))
    bl("--database-url", database_url, "db", "upgrade", cwd=workdir)
    process = subprocess.Popen(
        [sys.executable, "-m", "bounceledger", "--database-url", database_url, "ingest-log", "mail.log",
         "--format", "postfix", "--follow", "--interval", "0.2"],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    engine = create_engine(database_url)

    def state_of_carol() -> str | None:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT state FROM deliveries WHERE recipient = 'carol@slow.example.net'")
            ).scalar()

    try:
        deadline = time.monotonic() + 30
        while state_of_carol() != "deferred" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state_of_carol() == "deferred"
        with (workdir / "mail.log").open("a") as handle:
            handle.write("".join(lines[8:]))
        while state_of_carol() != "accepted" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state_of_carol() == "accepted"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        engine.dispose()
    assert process.returncode == 0, err
    assert "Traceback" not in err
