"""Format detection from a file's head, and what every format hands the CLI."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from bounceledger.ingest.sendlog import FORMATS, ParseOptions, detect_format, make_parser
from tests.sendlog.helpers import FIXTURES, REFERENCE

FIXTURE_FORMATS = [
    ("outbound_mixed.log", "postfix"),
    ("exim_mainlog.log", "exim"),
    ("sendmail_maillog.log", "sendmail"),
    ("pmta_acct.csv", "pmta"),
    ("jsonl_own.jsonl", "jsonl"),
    ("kumo_log.jsonl", "jsonl"),
]


def head(name: str, n: int = 30) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines()[:n]


def test_registry_order() -> None:
    assert list(FORMATS) == ["postfix", "exim", "sendmail", "pmta", "jsonl"]


@pytest.mark.parametrize(("name", "fmt"), FIXTURE_FORMATS)
def test_fixtures_are_detected(name: str, fmt: str) -> None:
    assert detect_format(head(name)) == fmt
    assert detect_format(head(name, 3)) == fmt  # a short head is enough


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [""],
        ["hello", "world"],
        ["\x00\x01\xff binary"],
        ["{}", "[]", "{\"a\": 1}"],  # JSON, but neither dialect
        ["a,b,c", "1,2,3"],  # CSV without PowerMTA's header
        ["Nov 27 00:43:22 h kernel: eth0 up"] * 10,
        ["2026-11-27 00:43:22 something happened"] * 5,  # Exim's stamp alone is not Exim
        ["Nov 27 00:43:22 h sm-mta[1]: starting daemon (8.17.2)"],  # Sendmail chatter, no queue id
    ],
)
def test_unknown_heads_give_none(lines: list[str]) -> None:
    assert detect_format(lines) is None


def test_mixed_heads() -> None:
    exim_line = "2026-11-27 00:43:22 1rAbCd-000123-Xy => a@b.example R=dnslookup T=remote_smtp H=mx [192.0.2.1]"
    sm_line = (
        "Nov 27 00:43:22 h sm-mta[2]: 5239E5aT002301: to=<a@b.example>, delay=00:00:01, mailer=esmtp, "
        "pri=1, relay=mx. [192.0.2.1], dsn=2.0.0, stat=Sent"
    )
    noise = ["Nov 27 00:43:22 h dovecot[1]: imap-login: Login"]
    # a shared mail.log where the MTA is a minority still counts...
    assert detect_format(noise * 3 + [sm_line]) == "sendmail"
    assert detect_format(["garbage"] * 3 + [exim_line]) == "exim"
    # ...a single stray line in a sea of others does not
    assert detect_format(noise * 20 + [sm_line]) is None
    assert detect_format(["garbage"] * 20 + [exim_line]) is None
    # Exim through syslog
    assert detect_format(["Nov 27 00:43:22 h exim[9]: 1rAbCd-000123-Xy Completed"]) == "exim"
    # JSON with a cut-off last line and a stray record of another type
    good = json.dumps({"time": 1, "recipient": "a@b", "replycode": 250})
    assert detect_format([good, good, '{"cut', "[1]"]) == "jsonl"
    assert detect_format([good, "x", "y", "z"]) is None
    # PowerMTA's header after comments and blank lines, with a BOM
    assert detect_format(["# acct", "", "\ufefftype,timeLogged,orig,rcpt", "d,1,a,b"]) == "pmta"
    assert detect_format(["d,1,a,b", "type,timeLogged,orig,rcpt"]) is None
    # non-strings in the head are ignored
    assert detect_format([None, 5, exim_line]) == "exim"  # type: ignore[list-item]


CLI_FIELDS = ("queue_id", "message_id", "sender", "recipient", "relay_host", "relay_ip", "replycode", "status",
              "verdict", "text", "first_hop")


@pytest.mark.parametrize(("name", "fmt"), FIXTURE_FORMATS)
def test_every_format_yields_the_cli_fields(name: str, fmt: str) -> None:
    """What ``bounceledger sendlog parse --json`` prints: aware UTC times,
    lowercase recipients, one of the four verdicts, plain JSON types."""
    p = make_parser(fmt, ParseOptions(reference_time=REFERENCE))
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines(keepends=True)
    attempts = [a for line in lines for a in p.feed(line)]
    assert attempts
    for a in attempts:
        assert isinstance(a.at, datetime) and a.at.utcoffset() is not None and a.at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert a.recipient == a.recipient.lower() and a.recipient
        assert a.verdict in ("accepted", "deferred", "rejected", "expired")
        assert a.replycode is None or (len(a.replycode) == 3 and a.replycode.isdigit())
        assert a.status is None or a.status[0] in "245"
        assert a.message_id is None or not a.message_id.startswith("<")
        assert a.raw and not a.raw.endswith("\n")
        record = {"time": a.at.isoformat(), **{k: getattr(a, k) for k in CLI_FIELDS}}
        json.dumps(record)
    # the fixtures tell at least one accepted and one refused story each
    verdicts = {a.verdict for a in attempts}
    assert "accepted" in verdicts and verdicts & {"rejected", "deferred"}


@pytest.mark.parametrize(
    "lines",
    [
        # Postfix 3.7 maillog_file of a second instance (MULTI_INSTANCE_README).
        ["Dec 05 07:55:36 out postfix-out/qmgr[1]: A8F2620C8F3: from=<a@b.test>, size=5, nrcpt=1 (queue active)"],
        # journalctl -o short-iso, its first line a journal marker.
        ["-- Logs begin at Sat 2026-12-05 07:00:00 UTC. --",
         "2026-12-05T07:55:36+0000 out mycorp/submission/smtpd[9]: connect from x[192.0.2.1]"],
        # RFC 5424 (§6) with NILVALUE fields.
        ["<22>1 2026-12-05T07:55:36.000+00:00 out postfix-out/smtp 17851 - - A8F2620C8F3: to=<a@b.test>, "
         "relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to b.test[192.0.2.1]:25: "
         "Connection refused)"],
    ],
)  # fmt: skip
def test_postfix_heads_in_every_transport(lines: list[str]) -> None:
    assert detect_format(lines) == "postfix"
