"""The CLI's faces say what the ledger says: report, lookup and suppressions, run as a user would.

The ledger is the bundled samples through the real pipeline (as ``bounceledger
demo`` fills it), on SQLite and PostgreSQL; every command is the real one in a
subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bounceledger import reports
from bounceledger.db import Database
from bounceledger.models import SentMessage
from tests.web.conftest import seed


def bl(url: str, *args: str, cwd: Path, code: int = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", "--database-url", url, *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ},
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == code, result.stderr
    return result


@pytest.fixture
def ledger(database: Database, database_url: str, tmp_path: Path) -> str:
    seed(database, tmp_path)
    return database_url


def _day(database: Database) -> date:
    with database.session() as session:
        return date.fromisoformat(reports.campaign_day(session)[0]["day"])


def test_report_filters_the_headline(ledger: str, database: Database, tmp_path: Path) -> None:
    with database.session() as session:
        session.execute(
            update(SentMessage).where(SentMessage.message_id == "campaign-nov.5@sender.test").values(campaign="dec-reminder")
        )
    day = _day(database)
    dec = json.loads(bl(ledger, "report", "--campaign", "dec-reminder", "--json", cwd=tmp_path).stdout)
    assert (dec["deliveries"], dec["corrected"], dec["sent_messages"]) == (4, 2, 1)
    assert dec["deliveries"] == dec["funnel"]["totals"]["recipients"]
    assert dec["states"]["bounced"] == dec["funnel"]["totals"]["bounced"] == 2
    text = bl(ledger, "report", "--campaign", "dec-reminder", cwd=tmp_path).stdout
    assert text.startswith("only mail of campaign dec-reminder\n")
    assert "deliveries: 4\n" in text and "corrected after a first-hop 250: 2\n" in text
    assert "suppressed addresses: 6 (the whole list, now)" in text
    later = (day + timedelta(days=1)).isoformat()
    empty = json.loads(bl(ledger, "report", "--since", later, "--json", cwd=tmp_path).stdout)
    assert (empty["deliveries"], empty["corrected"], empty["events"]) == (0, 0, 0)
    assert "deliveries: 0\n" in bl(ledger, "report", "--since", later, cwd=tmp_path).stdout
    same = json.loads(bl(ledger, "report", "--since", day.isoformat(), "--until", day.isoformat(), "--json", cwd=tmp_path).stdout)
    assert same["deliveries"] == 17 and same["corrected"] == 3


def test_report_since_after_until_is_one_line(ledger: str, tmp_path: Path) -> None:
    result = bl(ledger, "report", "--since", "2026-12-01", "--until", "2026-11-01", cwd=tmp_path, code=1)
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line == "bounceledger: error: --since 2026-12-01 is after --until 2026-11-01: nothing can be in between"
    for extra in (["--json"], ["--csv"]):
        assert bl(ledger, "report", "--since", "2026-12-01", "--until", "2026-11-01", *extra, cwd=tmp_path, code=1).stdout == ""


def test_plain_lookup_shows_everything(ledger: str, database: Database, tmp_path: Path) -> None:
    long_detail = "550 5.1.1 <unknown2@example.net>: Recipient address rejected: " + "very long explanation " * 20 + "END"
    from bounceledger.models import Delivery, Event

    with database.session() as session:
        session.execute(update(Delivery).where(Delivery.recipient == "unknown2@example.net").values(detail=long_detail))
        session.execute(
            update(Event).where(Event.recipient == "unknown2@example.net", Event.kind == "verdict").values(detail=long_detail)
        )
    text = bl(ledger, "lookup", "unknown2@example.net", cwd=tmp_path).stdout
    assert text.splitlines()[0].startswith("unknown2@example.net: SUPPRESSED since ")
    assert "(hardbounce), until released" in text.splitlines()[0]
    assert "BOUNCED" in text and "accepted -> bounced" in text and "[corrected]" in text
    assert "campaign nov-newsletter" in text
    assert "reported by mx.example.net" in text  # the MTA that wrote the DSN
    assert "why: userunknown, category bad-mailbox, hard bounce" in text
    assert "the mailbox does not exist at that domain" in text  # plain words
    assert text.count(long_detail) == 2  # the delivery's and the verdict's, whole
    # Not suppressed, said as plainly; a permanent failure that is not the address's fault.
    block = bl(ledger, "lookup", "block1@example.test", cwd=tmp_path).stdout
    assert block.splitlines()[0] == "block1@example.test: not suppressed"
    assert "why: policyviolation, category policy-related, permanent failure" in block
    assert "reported by mta.sender.test" in block
    # Released by hand: the story is there.
    bl(ledger, "suppressions", "remove", "unknown2@example.net", "--note", "fixed by support", cwd=tmp_path)
    released = bl(ledger, "lookup", "unknown2@example.net", cwd=tmp_path).stdout
    assert released.splitlines()[0].startswith("unknown2@example.net: not suppressed now (was suppressed for hardbounce from ")
    assert "released by hand at" in released and "fixed by support" in released
    assert "suppression changes by hand:" in released
    # JSON carries the same (extended, nothing dropped).
    data = json.loads(bl(ledger, "lookup", "unknown2@example.net", "--json", cwd=tmp_path).stdout)
    assert data["suppressed"] is False and data["past_suppression"]["released_at"]
    [delivery] = data["deliveries"]
    assert delivery["campaign"] == "nov-newsletter" and delivery["explanation"]["severity"] == "hard"
    assert delivery["detail"] == long_detail
    assert [e.get("reporting_mta") for e in delivery["events"] if e["kind"] == "verdict"] == ["mx.example.net"]


def test_suppressions_check_answers_with_its_exit_status(ledger: str, tmp_path: Path) -> None:
    yes = bl(ledger, "suppressions", "check", "UNKNOWN2@example.net", cwd=tmp_path)
    assert yes.stdout.startswith("unknown2@example.net: suppressed since ")
    no = bl(ledger, "suppressions", "check", "ok1@example.test", cwd=tmp_path, code=1)
    assert no.stdout == "ok1@example.test: not suppressed\n" and no.stderr == ""
    answer = json.loads(bl(ledger, "suppressions", "check", "ok1@example.test", "--json", cwd=tmp_path, code=1).stdout)
    assert answer == {"schema": 1, "address": "ok1@example.test", "suppressed": False}
    assert json.loads(bl(ledger, "suppressions", "check", "<unknown2@example.net>", "--json", cwd=tmp_path).stdout)["suppressed"]


#: Typos that must never reach the list the sending system reads.
NOT_ADDRESSES = ["not an address", "jane", "jane@", "@example.com", "jane@example", "ja ne@example.com", "jane@-x.com", ""]


def test_suppressions_add_refuses_what_is_not_an_address(ledger: str, tmp_path: Path) -> None:
    for address in NOT_ADDRESSES:
        result = bl(ledger, "suppressions", "add", address, "--note", "typo", cwd=tmp_path, code=1)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("bounceledger: error: not an e-mail address (local@domain): "), address
    rows = json.loads(bl(ledger, "suppressions", "--json", cwd=tmp_path).stdout)
    assert len(rows) == 6  # nothing added


def test_suppressions_add_takes_an_address(ledger: str, tmp_path: Path) -> None:
    bl(ledger, "suppressions", "add", "Jane.Doe+news@Sub.Example.co.uk", "--note", "asked by phone", cwd=tmp_path)
    bl(ledger, "suppressions", "add", "<anna@münchen.example>", "--note", "asked by mail", cwd=tmp_path)
    bl(ledger, "suppressions", "check", "jane.doe+news@sub.example.co.uk", cwd=tmp_path)
    bl(ledger, "suppressions", "check", "anna@münchen.example", cwd=tmp_path)
