"""--log-format json: one JSON object a line from a real `run`; idle jobs stay off INFO; a final "stopped"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bounceledger.db import Database
from tests.test_scheduler import _config


def _run(config: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bounceledger", "--config", str(config), *options, "run", "--stop-after", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )


def test_json_log_lines_from_a_real_run(database: Database, database_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, database_url)
    done = _run(config, "--log-format", "json", "--log-level", "INFO")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]  # every line is one object
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record)
    jobs = [r for r in records if "job" in r]
    sendlog = next(r for r in jobs if r["job"].startswith("sendlog:"))
    assert set(sendlog) == {"time", "level", "logger", "message", "job", "seconds", "counts"}
    assert set(sendlog["counts"]) == {"lines", "attempts", "skipped", "busy"}
    assert sendlog["counts"]["attempts"] > 0 and sendlog["counts"]["lines"] > 0
    assert sendlog["level"] == "INFO" and "attempts recorded" in sendlog["message"]
    assert isinstance(sendlog["seconds"], float)
    # Every source ran more than once in 3 s (interval 1 s), but only the first run found anything.
    assert sum(1 for r in jobs if r["job"].startswith("mailbox:")) == 1
    assert records[-1]["message"] == "stopped" and records[-1]["logger"] == "bounceledger.scheduler"


def test_idle_runs_log_at_debug(database: Database, database_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, database_url)
    done = _run(config, "--log-level", "DEBUG")
    assert done.returncode == 0, done.stderr
    mailbox = [line for line in done.stderr.splitlines() if "bounceledger.scheduler: mailbox" in line]
    assert len(mailbox) >= 2, done.stderr
    assert " INFO " in mailbox[0] and "10 processed" in mailbox[0]
    assert all(" DEBUG " in line and "0 messages" in line for line in mailbox[1:])
    assert done.stderr.rstrip().splitlines()[-1].endswith("INFO bounceledger.scheduler: stopped")


def test_an_unknown_log_format_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bounceledger", "--log-format", "xml", "explain", "550"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "argument --log-format: invalid choice: 'xml'" in done.stderr
    assert done.stdout == ""
