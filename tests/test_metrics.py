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
        while time.monotonic() < deadline and (
            sample(text, "bounceledger_verdicts_recorded_total") <= 0
            or sample(text, "bounceledger_deliveries_corrected") < 3
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
