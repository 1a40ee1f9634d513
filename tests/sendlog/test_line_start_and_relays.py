"""A send log reads the same after what files and syslog relays do to its lines' starts.

* A UTF-8 byte order mark at the start of the file (an editor, PowerShell's ``Out-File``):
  the first line was counted as skipped, so Exim's and Sendmail's first message lost its
  Message-ID for every recipient (its arrival line is the first line).
* A run of NUL bytes before a line (a crash leaves allocated, unwritten blocks; logrotate's
  copytruncate under a writer without O_APPEND): the whole line that follows was lost.
* A message that travelled as RFC 5424 and was filed again as a classic line
  (rsyslog's RSYSLOG_SyslogProtocol23Format forwarded to syslog-ng, whose file template is
  ``$MSGHDR$MSG``) has two spaces after ``prog[pid]:``: Sendmail's attempts were all lost
  without a line counted, and Postfix's file, whose program had lost its daemon on the way,
  was refused. Seen with rsyslog 8.2302 -> syslog-ng 3.38 (sweep BV).
* A Sendmail log in RFC 5424 (``<22>1 ... host sm-mta 2301 - - QID: to=<...>``) was taken
  for Postfix by ``--format auto`` (its queue-file lines have Postfix's shape) and read as
  no attempt at all.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bounceledger.ingest.sendlog import ParseOptions, detect_format, make_parser
from tests.sendlog.helpers import FIXTURES, REFERENCE

LOGS = sorted([*FIXTURES.glob("*.log"), *FIXTURES.glob("real/*.log"), *FIXTURES.glob("containers/*.log"),
               *FIXTURES.glob("*.csv"), *FIXTURES.glob("*.jsonl"), *FIXTURES.glob("json_envelopes/*.jsonl")])


def _attempts(lines: list[str], fmt: str) -> tuple[list[dict[str, object]], int]:
    parser = make_parser(fmt, ParseOptions(reference_time=REFERENCE))
    found = [attempt for line in lines for attempt in parser.feed(line)]
    return [{**dataclasses.asdict(attempt), "raw": None} for attempt in found], parser.skipped


def _read(path: Path) -> tuple[list[str], str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines, detect_format(lines[:50]) or "postfix"


@pytest.mark.parametrize("path", LOGS, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_a_byte_order_mark_changes_nothing(path: Path) -> None:
    lines, fmt = _read(path)
    marked = ["\ufeff" + lines[0], *lines[1:]] if lines else lines
    assert detect_format(marked[:50]) == detect_format(lines[:50])
    assert _attempts(marked, fmt) == _attempts(lines, fmt)


@pytest.mark.parametrize("path", LOGS, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_nuls_before_a_line_change_nothing(path: Path) -> None:
    lines, fmt = _read(path)
    padded = ["\x00" * 64 + line if i % 3 == 1 else line for i, line in enumerate(lines)]
    assert _attempts(padded, fmt) == _attempts(lines, fmt)


_CLASSIC = re.compile(r"^(?P<head>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ )(?P<prog>[^\s\[\]:]+)(?P<pid>\[\d+\])?: ")


def _refiled(line: str, cut_daemon: bool) -> str:
    """The line as syslog-ng files a message rsyslog forwarded in RFC 5424: APP-NAME cut at
    the first "/" (when ``cut_daemon``), and the message's first space kept."""
    m = _CLASSIC.match(line)
    if m is None:
        return line
    prog = m.group("prog").split("/", 1)[0] if cut_daemon else m.group("prog")
    return f"{m.group('head')}{prog}{m.group('pid') or ''}:  {line[m.end():]}"


SYSLOG_LOGS = [path for path in LOGS if path.suffix == ".log" and _CLASSIC.match(path.read_text().split("\n", 1)[0])]


@pytest.mark.parametrize("path", SYSLOG_LOGS, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_refiled_after_rfc5424_changes_nothing_but_the_daemon(path: Path) -> None:
    lines, fmt = _read(path)
    refiled = [_refiled(line, cut_daemon=False) for line in lines]
    assert detect_format(refiled[:50]) == detect_format(lines[:50])
    assert _attempts(refiled, fmt) == _attempts(lines, fmt)
    cut = [_refiled(line, cut_daemon=True) for line in lines]
    assert detect_format(cut[:50]) == detect_format(lines[:50])
    got, skipped = _attempts(cut, fmt)
    want, want_skipped = _attempts(lines, fmt)
    assert skipped == want_skipped
    keep = ("at", "recipient", "verdict", "queue_id", "message_id", "replycode", "status", "text", "smtp_stage")
    assert [{k: a[k] for k in keep} for a in got] == [{k: a[k] for k in keep} for a in want]


def test_sendmail_in_rfc5424_is_not_taken_for_postfix() -> None:
    lines = (FIXTURES / "sendmail_maillog.log").read_text().splitlines()
    months = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
    out = []
    for line in lines:
        m = re.match(r"(\w{3}) +(\d+) (\d\d:\d\d:\d\d) (\S+) ([^\[]+)\[(\d+)\]: (.*)", line)
        if m is None:  # a line that is no Sendmail record stays as it is
            out.append(line)
            continue
        mon, day, hms, host, prog, pid, msg = m.groups()
        out.append(f"<22>1 2026-{months[mon]:02d}-{int(day):02d}T{hms}.000000+00:00 {host} {prog} {pid} - - {msg}")
    assert detect_format(out[:50]) == "sendmail"
    got, _ = _attempts(out, "sendmail")
    want, _ = _attempts(lines, "sendmail")
    assert [(a["recipient"], a["verdict"], a["status"]) for a in got] == [
        (a["recipient"], a["verdict"], a["status"]) for a in want
    ]
