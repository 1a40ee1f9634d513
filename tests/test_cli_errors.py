"""Every error is one line on stderr and exit status 1, as the README promises (issue 15).

Each case runs the real program in a fresh process, as a user or a script
would: a traceback, a usage block, status 2 or a second line all fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bounceledger import polling
from bounceledger.db import Database
from bounceledger.ingest.mailbox.source import MailboxError
from tests.mailstack.dovecot import Dovecot, scratch_dovecot
from tests.mailstack.fixtures import require_mail_stack


def bl(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_") or k == "BOUNCELEDGER_TEST_POSTGRES_URL"}
    return subprocess.run(
        [sys.executable, "-m", "bounceledger", *args],
        cwd=cwd,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> str:
    """The one stderr line of a failed run, checked to hold ``expected``."""
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert lines[0].startswith("bounceledger"), lines[0]
    return lines[0]


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    """A migrated SQLite ledger, as a --database-url."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    result = bl("--database-url", url, "db", "upgrade", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return url


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--log-level", "bogus", "report"], "argument --log-level: 'bogus' is not a log level"),
        (["report", "--log-level", "bogus"], "argument --log-level: 'bogus' is not a log level"),
        (["serve", "--port", "99999"], "argument --port: not a TCP port (1-65535): '99999'"),
        (["serve", "--port", "-1"], "argument --port: not a TCP port (1-65535): '-1'"),
        (["serve", "--port", "0"], "not a TCP port"),
        (["serve", "--port", "http"], "not a TCP port"),
        (["poll", "--mailbox", "maildir:/x", "--interval", "-5"], "argument --interval: not a number of seconds above 0"),
        (["run", "--stop-after", "nan"], "argument --stop-after: not a number of seconds above 0"),
        (["no-such-command"], "argument COMMAND: invalid choice: 'no-such-command'"),
        ([], "the following arguments are required: COMMAND"),
        (["lookup"], "bounceledger lookup: error: the following arguments are required: address"),
        (["report", "--since", "yesterday"], "argument --since: not a date (YYYY-MM-DD): 'yesterday'"),
        (["report", "--json", "--csv"], "argument --csv: not allowed with argument --json"),
        (["report", "--bogus-flag"], "unrecognized arguments: --bogus-flag"),
        (["poll", "--once"], "the following arguments are required: --mailbox"),
        (["db"], "the following arguments are required: ACTION"),
        (["db", "sideways"], "argument ACTION: invalid choice: 'sideways'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_1(tmp_path: Path, args: list[str], expected: str) -> None:
    line = one_line_error(bl(*args, cwd=tmp_path), expected)
    assert "--help" in line  # where to read the usage instead
    assert list(tmp_path.iterdir()) == []  # nothing made on the way out


@pytest.mark.parametrize("args", [["--help"], ["lookup", "--help"], ["db", "upgrade", "--help"], ["suppressions", "check", "--help"]])
def test_help_still_exits_0(tmp_path: Path, args: list[str]) -> None:
    result = bl(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: bounceledger")
    assert result.stderr == ""


def test_a_bad_log_level_in_the_environment(tmp_path: Path) -> None:
    one_line_error(bl("explain", "5.1.1", cwd=tmp_path, env={"BOUNCELEDGER_LOG_LEVEL": "bogus"}),
                   "BOUNCELEDGER_LOG_LEVEL: 'bogus' is not a log level")


def test_a_database_the_ledger_does_not_run_on(tmp_path: Path) -> None:
    line = one_line_error(bl("--database-url", "mysql://bl:hunter2@db.internal/ledger", "report", cwd=tmp_path),
                          "mysql:// is not supported; use postgresql://")
    assert "hunter2" not in line


@pytest.mark.parametrize("action", ["upgrade", "downgrade"])
def test_an_unknown_migration_revision(tmp_path: Path, ledger: str, action: str) -> None:
    one_line_error(bl("--database-url", ledger, "db", action, "nosuchrev", cwd=tmp_path),
                   "cannot migrate to 'nosuchrev': Can't locate revision identified by 'nosuchrev'")
    assert bl("--database-url", ledger, "db", "current", cwd=tmp_path).stdout.strip() != "base"  # untouched


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[databse]\nurl = "sqlite:///elsewhere.sqlite"\n', "unknown table [databse] (did you mean [database]?)"),
        ('retrun_path_secret_file = "/run/secrets/k"\n', "did you mean return_path_secret_file?"),
        ('[[sendlog]]\npath = "mail.log"\ninterval_seconds = -5\n', "[[sendlog]] interval_seconds must be more than 0 (got -5)"),
    ],
)
def test_a_mistyped_settings_file(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "bl.toml").write_text(content)
    line = one_line_error(bl("--config", "bl.toml", "report", cwd=tmp_path), expected)
    assert "bl.toml" in line
    assert not (tmp_path / "bounceledger.sqlite").exists()


def test_a_mistyped_environment_variable(tmp_path: Path) -> None:
    one_line_error(bl("report", cwd=tmp_path, env={"BOUNCELEDGER_RETRUN_PATH_SECRET": "k"}),
                   "did you mean BOUNCELEDGER_RETURN_PATH_SECRET?")


# ------------------------------------------------ global options after the command


def test_global_options_after_the_command(tmp_path: Path, ledger: str) -> None:
    (tmp_path / "bl.toml").write_text(f'[database]\nurl = "{ledger}"\n')
    result = bl("lookup", "nobody@example.org", "--config", "bl.toml", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["deliveries"] == []
    result = bl("suppressions", "--database-url", ledger, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert bl("db", "current", "--database-url", ledger, "--log-level", "warn", cwd=tmp_path).returncode == 0


def test_an_option_after_the_command_wins_over_one_before(tmp_path: Path, ledger: str) -> None:
    missing = f"sqlite:///{tmp_path / 'missing.sqlite'}"
    assert bl("--database-url", missing, "report", "--database-url", ledger, cwd=tmp_path).returncode == 0
    one_line_error(bl("--database-url", ledger, "report", "--database-url", missing, cwd=tmp_path), "no ledger at")


# ------------------------------------------------ read-only commands make no database


@pytest.mark.parametrize(
    "args",
    [["report"], ["lookup", "jane@example.com"], ["suppressions"], ["suppressions", "check", "jane@example.com"],
     ["suppressions", "--csv"], ["db", "current"], ["serve", "--port", "8099"]],
)
def test_read_only_commands_create_no_database(tmp_path: Path, args: list[str]) -> None:
    nested = tmp_path / "var" / "ledger.sqlite"
    line = one_line_error(bl("--database-url", f"sqlite:///{nested}", *args, cwd=tmp_path), f"no ledger at {nested}")
    assert "bounceledger db upgrade" in line
    assert not nested.parent.exists()
    # nor the default ./bounceledger.sqlite in the working folder
    one_line_error(bl(*args, cwd=tmp_path), "no ledger at bounceledger.sqlite")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_db_upgrade_creates_the_ledger_and_its_folder(tmp_path: Path) -> None:
    nested = tmp_path / "var" / "ledger.sqlite"
    assert bl("--database-url", f"sqlite:///{nested}", "db", "upgrade", cwd=tmp_path).returncode == 0
    assert nested.is_file()


# ------------------------------------------------ an IMAP host that cannot be used fails at once


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    require_mail_stack()
    with scratch_dovecot("bl-errors-") as server:
        yield server


def test_an_imap_host_that_does_not_resolve(tmp_path: Path, ledger: str) -> None:
    """``.invalid`` never resolves (RFC 2606), so this needs no network."""
    line = one_line_error(
        bl("--database-url", ledger, "poll", "--mailbox", "imaps://bounces@nosuch.invalid/INBOX", "--once",
           cwd=tmp_path, env={"BOUNCELEDGER_IMAP_PASSWORD": "secret"}),
        "cannot reach imaps://bounces@nosuch.invalid:993/INBOX",
    )
    assert "reconnect" not in line


def test_an_imap_login_the_server_refuses(tmp_path: Path, ledger: str, dovecot: Dovecot) -> None:
    url = f"imap://{dovecot.user}@{dovecot.host}:{dovecot.imap_port}/INBOX?tls=off"
    line = one_line_error(
        bl("--database-url", ledger, "poll", "--mailbox", url, "--once", cwd=tmp_path,
           env={"BOUNCELEDGER_IMAP_PASSWORD": "wrong-password-123"}),
        "IMAP login failed for",
    )
    assert "wrong-password-123" not in line and "reconnect" not in line


def test_an_imap_port_that_refuses_the_connection(tmp_path: Path, ledger: str, dovecot: Dovecot) -> None:
    from tests.mailstack.ports import free_ports

    [closed] = free_ports(1)
    line = one_line_error(
        bl("--database-url", ledger, "poll", "--mailbox", f"imap://bounces@127.0.0.1:{closed}/INBOX?tls=off", "--once",
           cwd=tmp_path, env={"BOUNCELEDGER_IMAP_PASSWORD": "secret"}),
        f"cannot reach imap://bounces@127.0.0.1:{closed}/INBOX",
    )
    assert "reconnect" not in line


@pytest.mark.parametrize("password", ["secret", "wrong-password-123"])
def test_the_first_connection_of_a_poll_is_not_retried(
    database: Database, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    """A login refused, or a port nobody listens on: no backoff at all (the old
    behaviour waited through every reconnect delay, about a minute)."""
    from tests.mailstack.ports import free_ports

    monkeypatch.setenv("BOUNCELEDGER_IMAP_PASSWORD", password)
    slept: list[float] = []
    monkeypatch.setattr(polling.time, "sleep", slept.append)
    port = dovecot.imap_port if password != "secret" else free_ports(1)[0]
    with pytest.raises(MailboxError):
        polling.poll(database, f"imap://{dovecot.user}@127.0.0.1:{port}/INBOX?tls=off", reconnect_delays=(0.5, 1.0))
    assert slept == []


# ------------------------------------------------ what a new user runs into (sweep BT)


def test_a_reader_that_goes_away_ends_the_output_quietly(tmp_path: Path) -> None:
    """``sendlog parse mail.log | head``: no 'unexpected error' line when head has read enough."""
    from bounceledger.cli import sample_paths

    sendlog, _ = sample_paths()
    big = tmp_path / "mail.log"
    big.write_text(sendlog.read_text() * 40)  # far more output than a pipe holds
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")}
    process = subprocess.Popen([sys.executable, "-m", "bounceledger", "sendlog", "parse", str(big)], cwd=tmp_path,
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()
    process.stdout.close()  # as head does after its first line
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, stderr  # the status of a filter killed by SIGPIPE
    assert stderr == ""


@pytest.mark.parametrize(
    ("args", "table_event"),
    [(["suppressions", "add", "jane@example.com", "--note", "asked by phone"], "INSERT"),
     (["suppressions", "remove", "jane@example.com", "--note", "typo fixed"], "UPDATE")],
)
def test_a_suppression_change_the_database_refuses_is_not_reported_done(
    tmp_path: Path, ledger: str, args: list[str], table_event: str
) -> None:
    import sqlite3

    if args[1] == "remove":
        assert bl("--database-url", ledger, "suppressions", "add", "jane@example.com", "--note", "x",
                  cwd=tmp_path).returncode == 0
    with sqlite3.connect(ledger.removeprefix("sqlite:///")) as db:  # the commit fails, as on a read-only file
        db.execute(f"CREATE TRIGGER refuse BEFORE {table_event} ON suppressions BEGIN SELECT RAISE(ABORT, 'refused'); END")
    result = bl("--database-url", ledger, *args, cwd=tmp_path)
    one_line_error(result, "refused")
    assert result.stdout == ""  # never "suppressed by hand" or "released" for a change that was not made


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["serve", "--port", "8099", "--token-file", "token"], "token file token is empty"),
     (["webhooks", "test", "http://127.0.0.1:9/hook", "--secret-file", "token"], "secret file token is empty")],
)
def test_an_empty_token_or_secret_file_is_refused(tmp_path: Path, ledger: str, args: list[str], expected: str) -> None:
    """An empty token file must not quietly serve the dashboard without a login."""
    (tmp_path / "token").write_text("  \n")
    one_line_error(bl("--database-url", ledger, *args, cwd=tmp_path), expected)


def test_parse_refuses_a_folder_it_cannot_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Path.rglob`` passes over a folder it may not list; ``parse`` must not report nothing from it."""
    from bounceledger import cli

    (tmp_path / "returned" / "new").mkdir(parents=True)
    (tmp_path / "returned" / "one.msg").write_bytes(b"Subject: x\n\nbody\n")
    (tmp_path / "returned" / "new" / "two.msg").write_bytes(b"Subject: y\n\nbody\n")
    (tmp_path / "returned" / ".hidden").mkdir()
    assert list(cli._message_files([str(tmp_path / "returned")])) == [
        tmp_path / "returned" / "new" / "two.msg", tmp_path / "returned" / "one.msg"]  # the order rglob gave
    listing = os.scandir

    def scandir(path: object = ".") -> object:
        if str(path).endswith(os.sep + "new"):  # root may read anything: refuse as a mode-0700 folder would
            raise PermissionError(13, "Permission denied", str(path))
        return listing(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(cli.CommandError, match=r"cannot read .*returned/new: Permission denied"):
        list(cli._message_files([str(tmp_path / "returned")]))


def test_a_maildir_the_poller_may_not_read_is_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bounceledger.ingest.mailbox.maildir import MaildirReader

    for sub in ("new", "cur", "tmp"):
        (tmp_path / "Maildir" / sub).mkdir(parents=True)
    real_stat = Path.stat

    def stat(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        if self.parent == tmp_path / "Maildir":  # root may enter anything: refuse as a mode-0700 Maildir would
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "stat", stat)
    with pytest.raises(MailboxError, match=r"cannot read Maildir .*Maildir: Permission denied"):
        MaildirReader(tmp_path / "Maildir").check()
    monkeypatch.undo()

    def iterdir(self: Path) -> object:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(MailboxError, match=r"cannot read Maildir folder .*new: Permission denied"):
        list(MaildirReader(tmp_path / "Maildir").pending())
