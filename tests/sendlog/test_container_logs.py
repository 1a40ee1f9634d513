"""MTA logs as container runtimes store them are read as the MTA's own lines.

Fixtures: see their README (real Postfix and Exim output in the runtimes' documented
wrappers). Before ``envelope.RuntimeLines`` each such file was refused: the runtime's
stamp read as a syslog header, host "stdout", program "F".
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bounceledger.ingest.sendlog import ParseOptions, detect_format, make_parser
from bounceledger.ingest.sendlog.envelope import RuntimeLines, runtime_split

FIXTURES = Path(__file__).parent / "fixtures" / "containers"
REF = datetime(2026, 12, 8, tzinfo=timezone.utc)
POSTFIX = Counter({
    ("full.judy@example.test", "deferred", "452", "4.2.2"): 3,
    ("rate.heidi@gmail.test", "deferred", "450", "4.2.1"): 3,
    ("news@sender.test", "accepted", None, "2.0.0"): 1,
    ("ok.frank@gmail.test", "accepted", "250", "2.0.0"): 1,
    ("ok.ivan@example.test", "accepted", "250", "2.0.0"): 1,
    ("unknown.grace@gmail.test", "rejected", "550", "5.1.1"): 1,
})


def _read(name: str, fmt: str) -> tuple[Counter[tuple[object, ...]], int]:
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    assert detect_format(lines) == fmt
    parser = make_parser(fmt, ParseOptions(reference_time=REF))
    got = Counter((a.recipient, a.verdict, a.replycode, a.status) for line in lines for a in parser.feed(line))
    return got, parser.skipped


@pytest.mark.parametrize("name", ["w_docker_logs_t_postfix.log", "w_cri_containerd_postfix.log", "w_docker_journald_postfix.json"])
def test_postfix_in_a_container(name: str) -> None:
    got, skipped = _read(name, "postfix")
    assert got == POSTFIX
    # counted, not read: Postfix's "postfix/127.0.0.1:37129/smtpd" service names and start-fg's "Terminated"
    assert skipped <= 4


def test_exim_in_a_container_cri_file() -> None:
    got, skipped = _read("w_cri_containerd_exim.log", "exim")
    assert sum(got.values()) == 8 and skipped == 0
    assert {verdict for _, verdict, _, _ in got} == {"accepted", "deferred", "rejected"}


def test_a_line_the_runtime_cut_is_read_whole() -> None:
    # containerd cuts a line longer than max_container_log_line_size into P chunks ended by an F one
    line = ("Dec  7 21:01:16 vm postfix/smtp[20723]: ECF81214288: to=<gone1@gmail.test>, relay=mx[192.0.2.1]:25, "
            "delay=0.05, delays=0.01/0.01/0/0.03, dsn=5.1.1, status=bounced (host mx[192.0.2.1] said: 550 5.1.1 "
            "no such user (in reply to RCPT TO command))")
    chunks = [line[:50], line[50:120], line[120:]]
    stamp = "2026-12-07T21:01:16.011331Z"
    parser = make_parser("postfix", ParseOptions(reference_time=REF))
    fed = [f"{stamp} stdout P {chunks[0]}", f"{stamp} stderr F Dec  7 21:01:16 vm postfix/qmgr[1]: X1: removed",
           f"{stamp} stdout P {chunks[1]}", f"{stamp} stdout F {chunks[2]}"]
    got = [a for text in fed for a in parser.feed(text)]
    assert [(a.recipient, a.verdict, a.status) for a in got] == [("gone1@gmail.test", "rejected", "5.1.1")]
    assert parser.skipped == 0


def test_rsyslog_rfc3339_lines_are_no_runtime_lines() -> None:
    # RSYSLOG_FileFormat: the stamp is the syslog header's own; what follows is no whole log line
    assert runtime_split("2026-12-07T22:01:16.011331+01:00 vm postfix/smtp[20723]: Q1: removed") is None
    assert RuntimeLines().line("2026-12-07 21:01:16 1xad-000 <= a@b") == "2026-12-07 21:01:16 1xad-000 <= a@b"
