"""One real Postfix log, read as its file and as the other transports would
carry it, against a table written from what was sent.

The fixture is a real Postfix 3.7.11 maillog_file (syslog_name = postfix-out,
see postfix_out_real.expected.tsv for how it was made). Syslog transports
and journald change only the prefix before the program's message, so each
conversion below rewrites the prefix as that transport's documentation
defines it and leaves ``QID: to=<...>, ...`` untouched; the verdicts must not
change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import ParseOptions, detect_format, make_parser
from bounceledger.ingest.sendlog.postfix import PostfixParser
from bounceledger.ingest.sendlog.syslogtime import MONTHS

FIXTURES = Path(__file__).parent / "fixtures"
LOG = FIXTURES / "postfix_out_real.log"
EXPECTED = FIXTURES / "postfix_out_real.expected.tsv"
# The log's year-less stamps are read as December 2026.
REFERENCE = datetime(2026, 12, 6, tzinfo=timezone.utc)
YEAR = 2026

# "Dec 05 07:55:36 out postfix-out/smtp[17851]: MESSAGE" (Postfix's own file
# pads the day with "0", syslogd with " ").
_CLASSIC = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) (?P<time>\d\d:\d\d:\d\d) (?P<host>\S+) "
    r"(?P<tag>[^\s\[\]:]+)\[(?P<pid>\d+)\]: (?P<msg>.*)"
)


def _parts(line: str) -> re.Match[str]:
    m = _CLASSIC.fullmatch(line)
    assert m is not None, line
    return m


def _iso(m: re.Match[str], fraction: str, offset: str) -> str:
    return f"{YEAR}-{MONTHS[m['mon']]:02d}-{int(m['day']):02d}T{m['time']}{fraction}{offset}"


def rfc5424(line: str) -> str:
    """RFC 5424 §6: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG``.

    PRI 22 = facility mail (2) × 8 + severity informational (6) (§6.2.1);
    TIMESTAMP in RFC 3339 form with fractional seconds (§6.2.3); APP-NAME is
    the tag without the pid, which goes to PROCID (§6.2.5, §6.2.6); MSGID and
    STRUCTURED-DATA are the NILVALUE "-" (§6.2.7, §6.3). rsyslog's
    RSYSLOG_SyslogProtocol23Format template writes this shape.
    """
    m = _parts(line)
    stamp = _iso(m, ".000", "+00:00")
    return f"<22>1 {stamp} {m['host']} {m['tag']} {m['pid']} - - {m['msg']}"


def rfc5424_with_sd(line: str) -> str:
    """As :func:`rfc5424` with a STRUCTURED-DATA element (§6.3, the
    ``timeQuality`` SD-ID of §7.1) instead of the NILVALUE."""
    m = _parts(line)
    stamp = _iso(m, ".000", "+00:00")
    sd = '[timeQuality tzKnown="1" isSynced="1"]'
    return f"<22>1 {stamp} {m['host']} {m['tag']} {m['pid']} - {sd} {m['msg']}"


def journal_short_iso(line: str) -> str:
    """journalctl(1) ``-o short-iso``: the ``short`` layout (``host tag[pid]:
    message``) with an ISO 8601 wall-clock stamp; systemd before 248 printed
    the offset as ``+0000``."""
    m = _parts(line)
    return f"{_iso(m, '', '+0000')} {m['host']} {m['tag']}[{m['pid']}]: {m['msg']}"


def journal_short_iso_colon(line: str) -> str:
    """journalctl(1) ``-o short-iso`` as systemd ≥ 248 prints it (``+00:00``)."""
    m = _parts(line)
    return f"{_iso(m, '', '+00:00')} {m['host']} {m['tag']}[{m['pid']}]: {m['msg']}"


def journal_short_iso_precise(line: str) -> str:
    """journalctl(1) ``-o short-iso-precise``: as short-iso, with microseconds."""
    m = _parts(line)
    return f"{_iso(m, '.000000', '+00:00')} {m['host']} {m['tag']}[{m['pid']}]: {m['msg']}"


def rsyslog_file_format(line: str) -> str:
    """rsyslog's RSYSLOG_FileFormat template: ``%TIMESTAMP:::date-rfc3339%
    %HOSTNAME% %syslogtag%%msg%`` (high-precision RFC 3339 stamp)."""
    m = _parts(line)
    return f"{_iso(m, '.123456', '+00:00')} {m['host']} {m['tag']}[{m['pid']}]: {m['msg']}"


def classic_syslogd(line: str) -> str:
    """BSD syslog (RFC 3164 §4.1.2): the day padded with a space, not "0"."""
    m = _parts(line)
    return f"{m['mon']} {int(m['day']):2d} {m['time']} {m['host']} {m['tag']}[{m['pid']}]: {m['msg']}"


TRANSPORTS: dict[str, Callable[[str], str]] = {
    "maillog_file": lambda line: line,
    "classic-syslogd": classic_syslogd,
    "rfc5424": rfc5424,
    "rfc5424-sd": rfc5424_with_sd,
    "journal-short-iso": journal_short_iso,
    "journal-short-iso-colon": journal_short_iso_colon,
    "journal-short-iso-precise": journal_short_iso_precise,
    "rsyslog-file-format": rsyslog_file_format,
}


def _expected() -> dict[str, tuple[object, ...] | None]:
    """recipient -> its first attempt's fields, or None for a probed address
    that must give no attempt."""
    rows: dict[str, tuple[object, ...] | None] = {}
    lines = [ln for ln in EXPECTED.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    header = lines[0].split("\t")
    for line in lines[1:]:
        cells = dict(zip(header, line.split("\t"), strict=True))

        def cell(name: str) -> str | None:
            return None if cells[name] == "-" else cells[name]

        if cells["verdict"] == "-":
            rows[cells["recipient"]] = None
            continue
        port = cell("relay_port")
        rows[cells["recipient"]] = (
            cells["verdict"], cell("replycode"), cell("status"), cell("relay_host"),
            cell("relay_ip"), int(port) if port else None, cells["first_hop"] == "true", cells["agent"],
        )  # fmt: skip
    return rows


def _attempts(lines: list[str]) -> tuple[PostfixParser, list[Attempt]]:
    parser = make_parser("postfix", ParseOptions(reference_time=REFERENCE))
    assert isinstance(parser, PostfixParser)
    out: list[Attempt] = []
    for line in lines:
        out.extend(parser.feed(line))
    return parser, out


def _got(a: Attempt) -> tuple[object, ...]:
    return (a.verdict, a.replycode, a.status, a.relay_host, a.relay_ip, a.relay_port, a.first_hop, a.delivery_agent)


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_every_transport_gives_the_table(transport: str) -> None:
    original = LOG.read_text(encoding="utf-8").splitlines()
    lines = [TRANSPORTS[transport](line) for line in original]
    if transport.startswith("journal"):
        lines.insert(0, "-- Logs begin at Sat 2026-12-05 07:00:00 UTC, end at Sat 2026-12-05 08:00:00 UTC. --")
    assert detect_format(lines[:50]) == "postfix"
    parser, attempts = _attempts(lines)
    assert parser.skipped == 0, parser.samples

    expected = _expected()
    got: dict[str, tuple[object, ...]] = {}
    for a in attempts:
        got.setdefault(a.recipient, _got(a))
    right = sum(got.get(r) == row for r, row in expected.items())
    assert right == len(expected), {r: got.get(r) for r, row in expected.items() if got.get(r) != row}
    assert set(got) == {r for r, row in expected.items() if row is not None}
    assert parser.probes == sum(row is None for row in expected.values())

    # The same instants, whichever way the stamp was written.
    _, plain = _attempts(original)
    assert [a.at.replace(microsecond=0) for a in attempts] == [a.at for a in plain]
    for a in attempts:
        if a.recipient in expected and a.delivery_agent == "smtp":
            assert (a.queue_id, a.message_id, a.sender) == ("E5DB220C637", "mix.1@sender.test", "bounces+mix1@sender.test")


def test_transports_keep_the_message_after_the_prefix() -> None:
    """The conversions only move the prefix: the text after ``QID: `` is byte-identical."""
    for line in LOG.read_text(encoding="utf-8").splitlines():
        msg = _parts(line)["msg"]
        for name, convert in TRANSPORTS.items():
            assert convert(line).endswith(" " + msg), name


def test_reference_stamps_are_read_in_the_right_year() -> None:
    _, attempts = _attempts(LOG.read_text(encoding="utf-8").splitlines())
    assert attempts[0].at == datetime(2026, 12, 5, 8, 5, 14, tzinfo=timezone.utc)
