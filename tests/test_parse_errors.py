"""A parser bug downstream: quarantined like unreadable mail, but never counted as it.

The bug is planted for one message only (Subject "plant a parser bug"), so
the same run shows a normal bounce, an unreadable message and the internal
error side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

import bounceledger.ingest.bounces as bounces
from bounceledger import polling, queries
from bounceledger.db import Database
from bounceledger.ingest.returned import store_returned_message
from bounceledger.models import ReturnedMessage

TRIGGER = b"plant a parser bug"
PLANTED = b"From: MAILER-DAEMON@x.example\nSubject: " + TRIGGER + b"\nMessage-ID: <planted@x.example>\n\nhello\n"
BOUNCE = Path(__file__).parent / "bounces" / "fixtures" / "two_rcpts_envid.msg"


@pytest.fixture
def planted_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    real = bounces._parse_message

    def buggy(msg):  # type: ignore[no-untyped-def]
        if TRIGGER.decode() in (msg.get("Subject") or ""):
            raise IndexError("planted")
        return real(msg)

    monkeypatch.setattr(bounces, "_parse_message", buggy)


def test_an_internal_error_is_quarantined_and_counted_apart(
    database: Database, tmp_path: Path, planted_bug: None
) -> None:
    box = tmp_path / "box"
    (box / "new").mkdir(parents=True)
    (box / "new" / "1.planted").write_bytes(PLANTED)
    (box / "new" / "2.junk").write_bytes(b"Subject: x\n\n" + b"A" * 11_000_000)
    (box / "new" / "3.bounce").write_bytes(BOUNCE.read_bytes())
    summary = polling.poll(database, f"maildir:{box}")
    assert (summary.error, summary.unparsed, summary.processed) == (1, 1, 1)
    assert "1 parser errors (quarantined)" in summary.line()
    with database.session() as session:
        row = session.scalars(select(ReturnedMessage).where(ReturnedMessage.outcome == "error")).one()
        assert row.raw == PLANTED  # kept whole, to be re-parsed once the bug is fixed
        assert row.error and row.error.startswith("internal error: IndexError at ")
        returned = queries.report(session)["returned_messages"]
    assert returned["error"] == 1 and returned["unparsed"] == 1 and returned["processed"] == 1

    # filed to the quarantine folder, and so is every later copy of it
    with database.session() as session:
        again = store_returned_message(session, PLANTED, database.rules, source="elsewhere")
    assert (again.outcome, again.filed_as) == ("duplicate", "unparsed")


def test_parse_json_prints_the_error_outcome(tmp_path: Path) -> None:
    (tmp_path / "planted.eml").write_bytes(PLANTED)
    (tmp_path / "bounce.eml").write_bytes(BOUNCE.read_bytes())
    script = textwrap.dedent(
        f"""
        import sys
        import bounceledger.ingest.bounces as b
        real = b._parse_message
        def buggy(msg):
            if {TRIGGER.decode()!r} in (msg.get("Subject") or ""):
                raise IndexError("planted")
            return real(msg)
        b._parse_message = buggy
        from bounceledger.cli import main
        sys.exit(main(["parse", sys.argv[1], "--json"]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "BOUNCELEDGER_PARSE_STRICT": "0"},
    )
    assert result.returncode == 0, result.stderr
    by_file = {Path(m["file"]).name: m for m in map(json.loads, result.stdout.splitlines())}
    assert by_file["bounce.eml"]["outcome"] == "bounce"
    planted = by_file["planted.eml"]
    assert planted["outcome"] == "error" and planted["records"] == []
    assert planted["error"].startswith("internal error: IndexError at ")
    # the log says so, with the traceback, on the parser's logger
    assert "ERROR bounceledger.ingest.bounces" in result.stderr and "IndexError: planted" in result.stderr
