"""Commands that need no database start without the database stack.

``--help``, ``<command> --help``, ``explain``, ``parse`` and ``sendlog
parse`` are what a user or a script runs most often and by hand; loading
SQLAlchemy, Alembic, the ORM models, a driver, Flask or the scheduler cost
them over half a second each (issue 13). Each command runs as the real
program in a fresh interpreter with ``-X importtime``, which lists every
module the process imported; the test fails if a forbidden one is among them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
BOUNCE_FIXTURES = TESTS / "bounces" / "fixtures"
SENDLOG_FIXTURE = TESTS / "sendlog" / "fixtures" / "outbound_mixed.log"

#: Top-level packages that belong to the database, web, scheduler and IMAP
#: sides only.
FORBIDDEN_PACKAGES = frozenset(
    {"alembic", "flask", "werkzeug", "waitress", "sqlalchemy", "apscheduler", "imapclient", "psycopg"}
)
#: The ORM side of ``models``. Its pure rules (``bounceledger.models.suppression``, the
#: settings' default policy) may load for commands that read settings.
FORBIDDEN_MODULES = frozenset({"bounceledger.models.ledger", "bounceledger.models.types"})

COMMANDS = ["db", "ingest-log", "parse", "poll", "lookup", "report", "run", "demo", "suppressions", "sendlog", "serve", "explain", "changes", "webhooks"]


def imported_modules(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -m bounceledger ARGS`` and return what it imported, by full module name."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bounceledger", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    return result, names


def forbidden_in(names: set[str]) -> list[str]:
    return sorted(name for name in names if name.split(".", 1)[0] in FORBIDDEN_PACKAGES or name in FORBIDDEN_MODULES)


def _light(*args: str, cwd: Path, returncode: int = 0, settings: bool = False) -> set[str]:
    """Run a command and check its imports; one that reads no ``settings`` loads no ``models`` at all."""
    result, names = imported_modules(*args, cwd=cwd)
    assert result.returncode == returncode, result.stderr[-2000:]
    assert "bounceledger.cli" in names, "the importtime listing was not read"
    assert forbidden_in(names) == []
    if not settings:
        # Nor the settings module: its validation (TOML, the typed tables)
        # costs ``parse DIR`` about a tenth of its whole run (issue 13's speed).
        assert "models" not in names
        assert "bounceledger.config" not in names
    return names


def test_help_is_light(tmp_path: Path) -> None:
    _light("--help", cwd=tmp_path)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_is_light(tmp_path: Path, command: str) -> None:
    _light(command, "--help", cwd=tmp_path)


def test_usage_error_is_light(tmp_path: Path) -> None:
    _light("no-such-command", cwd=tmp_path, returncode=1)


@pytest.mark.parametrize("args", [["550", "5.1.1"], ["452-4.2.2", "--json"]])
def test_explain_is_light(tmp_path: Path, args: list[str]) -> None:
    _light("explain", *args, cwd=tmp_path)


def test_parse_one_file_is_light(tmp_path: Path) -> None:
    one = next(p for p in sorted(BOUNCE_FIXTURES.iterdir()) if p.is_file())
    names = _light("parse", str(one), "--json", cwd=tmp_path)
    assert "bounceledger.ingest.bounces" in names  # it did parse


def test_parse_of_a_standard_dsn_loads_no_format_detector(tmp_path: Path) -> None:
    """A message/delivery-status report is read by the RFC 3464 stage: the two
    dozen format modules (detectors/) are imported only for mail past it."""
    dsn = TESTS.parent / "bounceledger" / "samples" / "returned" / "new" / "0002.sample.msg"
    names = _light("parse", str(dsn), "--json", cwd=tmp_path)
    assert "bounceledger.ingest.bounces.rfc3464" in names
    assert not {n for n in names if n.startswith("bounceledger.ingest.bounces.detectors")}
    # nor logging (set up only if the parser hits a bug: test_parse_errors), nor dataclasses (ingest/record.py)
    assert not {"logging", "dataclasses", "inspect"} & names
    plain = BOUNCE_FIXTURES / "activehunter_unknown.msg"  # no report part: past it they are loaded
    assert "bounceledger.ingest.bounces.detectors" in _light("parse", str(plain), cwd=tmp_path)


def test_parse_folder_is_light(tmp_path: Path) -> None:
    _light("parse", str(BOUNCE_FIXTURES), cwd=tmp_path)


def test_parse_error_is_light(tmp_path: Path) -> None:
    """The one-line error path must not pull the stack in either."""
    _light("parse", str(tmp_path / "missing.eml"), "--json", cwd=tmp_path, returncode=1)


def test_sendlog_parse_is_light(tmp_path: Path) -> None:
    _light("sendlog", "parse", str(SENDLOG_FIXTURE), "--json", cwd=tmp_path, settings=True)


def test_the_check_sees_the_database_stack(tmp_path: Path) -> None:
    """A command that does need the database is caught by the same check, so the others can fail."""
    result, names = imported_modules("--database-url", f"sqlite:///{tmp_path / 'l.sqlite'}", "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert {"sqlalchemy", "alembic"} <= {name.split(".", 1)[0] for name in forbidden_in(names)}
