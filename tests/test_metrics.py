"""`run --metrics-port`: scrape /metrics from a real run over the bundled samples and see the counters move."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bounceledger.db import Database
from tests.test_health import get, ready_body
from tests.test_scheduler import _config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sample(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else -1.0


def test_metrics_move_during_a_real_run(database: Database, database_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, database_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run", "--metrics-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )
    try:
        first = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not first:
            try:
                first = get(f"{base}/metrics")[2].decode()
            except OSError:
                time.sleep(0.2)
        text = first
        # every job runs once at start, each on the scheduler's pool: the mailbox's corrections
        # may be in before the unmatched-verdicts job has finished its first run
        while time.monotonic() < deadline and (
            sample(text, "bounceledger_verdicts_recorded_total") <= 0
            or sample(text, "bounceledger_deliveries_corrected") < 3
            or 'bounceledger_job_duration_seconds_count{job="orphans"}' not in text
        ):
            time.sleep(0.5)
            text = get(f"{base}/metrics")[2].decode()
        assert sample(text, "bounceledger_attempts_recorded_total") > 0
        assert sample(text, "bounceledger_log_lines_read_total") > 0
        assert sample(text, "bounceledger_verdicts_recorded_total") > 0
        assert sample(text, "bounceledger_messages_seen_total", '{outcome="processed"}') > 0
        assert sample(text, "bounceledger_deliveries_corrected") == 3
        assert sample(text, "bounceledger_suppressions") >= 0
        assert sample(text, "bounceledger_deliveries_expired_total") == 0  # the samples are fresh: nothing waited too long
        assert 'bounceledger_job_duration_seconds_count{job="orphans"}' in text
        assert re.search(r'bounceledger_job_duration_seconds_count\{job="sendlog:[^"]+"\} [1-9]', text)
        assert get(f"{base}/healthz")[:1] == (200,)
        status, _, body = get(f"{base}/readyz")
        parsed = ready_body(body)
        assert status == 200 and parsed["ready"] is True, parsed
        assert {"database", "migrations"} < set(parsed["checks"])
        assert any(name.startswith("source mailbox:") for name in parsed["checks"])
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert err.rstrip().splitlines()[-1].endswith("bounceledger.scheduler: stopped"), err


def _lag(text: str, source: str) -> float:
    return sample(text, "bounceledger_source_lag_seconds", f'{{source="{source}"}}')


def test_source_lag_follows_the_newest_line_and_message_read(database: Database, database_url: str, tmp_path: Path) -> None:
    """bounceledger_source_lag_seconds: now minus the newest stamp each source read; a fresh line brings it down."""
    import json
    from datetime import datetime, timezone

    config = _config(tmp_path, database_url)
    log_path = tmp_path / "mail.log"
    parsed = subprocess.run(
        [sys.executable, "-m", "bounceledger", "sendlog", "parse", str(log_path), "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    newest_line = max(datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00")) for line in parsed.splitlines())
    maildir = tmp_path / "Maildir"
    newest_message = max(p.stat().st_mtime for sub in ("new", "cur") if (maildir / sub).is_dir() for p in (maildir / sub).iterdir())
    sendlog_source = f"sendlog:{tmp_path / 'mail.log*'}"
    mailbox_source = f"mailbox:maildir:{maildir}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run", "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )
    try:
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline and (_lag(text, sendlog_source) < 0 or _lag(text, mailbox_source) < 0):
            time.sleep(0.3)
            try:
                before = time.time()
                text = get(f"{base}/metrics")[2].decode()
                after = time.time()
            except OSError:
                continue
        # the samples are days old: each lag is now minus the newest stamp its source read
        assert before - newest_line.timestamp() - 1 <= _lag(text, sendlog_source) <= after - newest_line.timestamp() + 1, text
        assert before - newest_message - 1 <= _lag(text, mailbox_source) <= after - newest_message + 1, text

        # a line written now: the reader catches up and the log's lag falls to seconds
        fresh = next(line for line in log_path.read_text().splitlines() if "/smtp[" in line and "status=sent" in line)
        stamp = datetime.now(timezone.utc).strftime("%b %e %H:%M:%S")
        written = time.time()
        with log_path.open("a") as out:
            out.write(stamp + fresh[15:] + "\n")
        while time.monotonic() < deadline + 60:
            text = get(f"{base}/metrics")[2].decode()
            if 0 <= _lag(text, sendlog_source) < 600:
                break
            time.sleep(0.3)
        assert 0 <= _lag(text, sendlog_source) <= time.time() - written + 2, text
        assert _lag(text, mailbox_source) >= before - newest_message - 1  # nothing new there: its lag stays
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_webhook_metrics_show_sent_failures_and_backlog(database: Database, database_url: str, tmp_path: Path) -> None:
    """One endpoint that answers, one that is down: what each was sent, its failures, how far behind it is."""
    from tests.test_webhooks import SECRET
    from tests.webhook_receiver import Receiver

    receiver = Receiver(SECRET).start()
    config = _config(tmp_path, database_url)
    (tmp_path / "hook.secret").write_text(SECRET)
    down = f"http://127.0.0.1:{free_port()}/nobody-listens"
    with config.open("a") as out:
        for name, url in (("up", receiver.url), ("down", down)):
            out.write(f'\n[[webhook]]\nname = "{name}"\nurl = "{url}"\nsecret_file = "{tmp_path / "hook.secret"}"\n')
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run", "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )
    try:
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                text = get(f"http://127.0.0.1:{port}/metrics")[2].decode()
            except OSError:
                time.sleep(0.2)
                continue
            sent = sample(text, "bounceledger_webhook_deliveries_total", '{endpoint="up"}')
            if sent > 20 and sent == len(receiver.accepted()) and sample(text, "bounceledger_webhook_backlog", '{endpoint="up"}') == 0 \
                    and sample(text, "bounceledger_webhook_failures_total", '{endpoint="down"}') >= 1:
                break
            time.sleep(0.3)
        assert sample(text, "bounceledger_webhook_deliveries_total", '{endpoint="up"}') == len(receiver.accepted()) > 20, text
        assert sample(text, "bounceledger_webhook_backlog", '{endpoint="up"}') == 0
        assert sample(text, "bounceledger_webhook_failures_total", '{endpoint="up"}') == 0
        assert sample(text, "bounceledger_webhook_failures_total", '{endpoint="down"}') >= 1
        assert sample(text, "bounceledger_webhook_deliveries_total", '{endpoint="down"}') == 0
        assert sample(text, "bounceledger_webhook_backlog", '{endpoint="down"}') > 20
        assert sample(text, "bounceledger_webhook_dead_letters", '{endpoint="down"}') == 0
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
        receiver.stop()
    assert process.returncode == 0, err
    assert "Traceback" not in err
