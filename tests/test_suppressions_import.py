"""``bounceledger suppressions import FILE.csv``: idempotent, bad rows by line, audited."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

from bounceledger.db import Database
from bounceledger.ingest import suppress
from bounceledger.models import Event, Suppression
from tests.test_cli import bl

GOOD = """address,note,expires_at
crm1@example.org,unsubscribed in the CRM,2031-01-31
CRM2@Example.org,,
crm3@example.org,"a note, with a comma",2031-06-30T12:00:00+02:00
"""


def _audit(database: Database) -> list[tuple[str, str, str | None]]:
    with database.session() as session:
        return [
            (e.recipient or "", e.outcome, e.detail)
            for e in session.scalars(select(Event).where(Event.kind == "suppression").order_by(Event.id))
        ]


def test_import_is_idempotent_and_audited(database: Database, database_url: str, tmp_path: Path) -> None:
    db = ("--database-url", database_url)
    (tmp_path / "list.csv").write_text(GOOD)
    first = bl(*db, "suppressions", "import", "list.csv", cwd=tmp_path)
    assert first.stdout == "list.csv: 3 rows: 3 added, 0 changed, 0 already on the list as they say\n"
    audit = _audit(database)
    assert audit == [
        ("crm1@example.org", "added", "unsubscribed in the CRM"),
        ("crm2@example.org", "added", "imported from list.csv"),
        ("crm3@example.org", "added", "a note, with a comma"),
    ]
    with database.session() as session:
        rows = {r.address: r for r in session.scalars(select(Suppression))}
        assert rows["crm1@example.org"].expires_at == datetime(2031, 1, 31, tzinfo=timezone.utc)
        assert rows["crm3@example.org"].expires_at == datetime(2031, 6, 30, 10, tzinfo=timezone.utc)
        assert rows["crm2@example.org"].expires_at is None and rows["crm2@example.org"].reason == "manual"
        assert all(suppress.lookup(session, a) for a in rows)

    second = bl(*db, "suppressions", "import", "list.csv", cwd=tmp_path)
    assert second.stdout == "list.csv: 3 rows: 0 added, 0 changed, 3 already on the list as they say\n"
    assert _audit(database) == audit  # nothing changed, nothing recorded

    # a changed expiry changes that row only, and says so once
    (tmp_path / "list.csv").write_text(GOOD.replace("2031-01-31", "2032-01-31"))
    third = bl(*db, "suppressions", "import", "list.csv", "--json", cwd=tmp_path)
    assert json.loads(third.stdout) == {
        "schema": 1, "file": "list.csv", "rows": 3, "added": 0, "changed": 1, "unchanged": 2, "problems": [], "recognised": [],
    }
    assert len(_audit(database)) == 4


def test_the_export_of_one_ledger_imports_into_another(database: Database, database_url: str, tmp_path: Path) -> None:
    db = ("--database-url", database_url)
    (tmp_path / "list.csv").write_text(GOOD)
    bl(*db, "suppressions", "import", "list.csv", cwd=tmp_path)
    with database.session() as session:
        suppress.add(session, "hard@example.org", "by hand")
        session.scalars(select(Suppression).where(Suppression.address == "hard@example.org")).one().reason = "hardbounce"
    exported = bl(*db, "suppressions", "--csv", cwd=tmp_path).stdout
    (tmp_path / "export.csv").write_text(exported)
    again = bl(*db, "suppressions", "import", "export.csv", cwd=tmp_path)
    assert again.stdout == "export.csv: 4 rows: 0 added, 0 changed, 4 already on the list as they say\n"

    other = f"sqlite:///{tmp_path / 'other.sqlite'}"
    bl("--database-url", other, "db", "upgrade", cwd=tmp_path)
    bl("--database-url", other, "suppressions", "import", "export.csv", cwd=tmp_path)
    assert bl("--database-url", other, "suppressions", "--csv", cwd=tmp_path).stdout == exported


def test_bad_rows_are_reported_by_line_and_the_rest_imported(database: Database, database_url: str, tmp_path: Path) -> None:
    db = ("--database-url", database_url)
    (tmp_path / "bad.csv").write_text(
        "Email,Reason,Expiry,Note\n"
        "ok1@example.org,complaint,,\n"
        "not-an-address,,,\n"
        "ok2@example.org,unsubscribed,,\n"
        "\n"
        'ok3@example.org,,"31/12/2031",\n'
        "ok4@example.org,,2001-01-01,\n"
        "ok5@example.org,,,a,b\n"
        '"ok6@example.org",,,"a note\nover two lines"\n'
        "ok1@example.org,manual,,\n"
        "ok7@example.org,,,\n"
    )
    result = bl(*db, "suppressions", "import", "bad.csv", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stdout == "bad.csv: 9 rows: 3 added, 0 changed, 0 already on the list as they say; 6 bad rows not imported\n"
    assert result.stderr.splitlines() == [
        "bounceledger: bad.csv: line 3: not an e-mail address (local@domain): 'not-an-address'",
        "bounceledger: bad.csv: line 4: reason must be one of manual, hardbounce, softbounce, complaint (free text goes in note): 'unsubscribed'",
        "bounceledger: bad.csv: line 6: expires_at is not an ISO date or time (2026-12-31 or 2026-12-31T08:00:00Z): '31/12/2031'",
        "bounceledger: bad.csv: line 7: expires_at has already passed: 2001-01-01",
        "bounceledger: bad.csv: line 8: 5 fields, the header names 4",
        "bounceledger: bad.csv: line 11: ok1@example.org is already on line 2, saying otherwise",
    ]
    with database.session() as session:
        found = {r.address: r.reason for r in session.scalars(select(Suppression))}
    assert found == {"ok1@example.org": "complaint", "ok6@example.org": "manual", "ok7@example.org": "manual"}


def test_a_file_that_cannot_be_read_is_one_line(database_url: str, tmp_path: Path) -> None:
    db = ("--database-url", database_url)
    (tmp_path / "latin1.csv").write_bytes("address,note\nmüller@example.org,x\n".encode("latin-1"))
    (tmp_path / "header.csv").write_text("mail,note\nx@example.org,\n")
    (tmp_path / "empty.csv").write_text("")
    cases = {
        "missing.csv": "bounceledger: error: no such file: missing.csv\n",
        "latin1.csv": "bounceledger: error: latin1.csv: not UTF-8 text (save it as UTF-8 CSV)\n",
        "header.csv": "bounceledger: error: header.csv: unknown column 'mail' (columns: address, email, recipient, note, "
                      "reason, since, expires_at, expires, expiry)\n",
        "empty.csv": "bounceledger: error: empty.csv: empty file (the first line must name the columns)\n",
        ".": "bounceledger: error: . is a folder, not a CSV file\n",
    }
    for name, message in cases.items():
        result = bl(*db, "suppressions", "import", name, cwd=tmp_path, check=False)
        assert (result.returncode, result.stderr, result.stdout) == (1, message, ""), name


def test_a_forgotten_address_imported_again_is_recognised(database: Database, database_url: str, tmp_path: Path) -> None:
    db = ("--database-url", database_url)
    (tmp_path / "list.csv").write_text(GOOD)
    bl(*db, "suppressions", "import", "list.csv", cwd=tmp_path)
    bl(*db, "forget", "crm1@example.org", cwd=tmp_path)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Suppression).where(Suppression.address == "crm1@example.org")) == 0
    again = bl(*db, "suppressions", "import", "list.csv", cwd=tmp_path).stdout
    assert again.splitlines() == [
        "list.csv: line 2: crm1@example.org previously suppressed (manual since "
        f"{datetime.now(timezone.utc):%Y-%m-%d}, still in force) before it was forgotten on {datetime.now(timezone.utc):%Y-%m-%d}",
        "list.csv: 3 rows: 1 added, 0 changed, 2 already on the list as they say",
    ]
