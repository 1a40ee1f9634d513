"""Send logs kept as JSON by rsyslog, syslog-ng and log shippers are read as the syslog lines they carry.

The fixtures (see their README) are one real Postfix message, four recipients, as each tool
stores it. Before ``ingest/sendlog/envelope.py`` every such file was refused: no format
recognised a line.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bounceledger.ingest.sendlog import ParseOptions, detect_format, make_parser
from bounceledger.ingest.sendlog.envelope import EnvelopeError, unwrapped

FIXTURES = Path(__file__).parent / "fixtures" / "json_envelopes"
REF = datetime(2026, 12, 8, tzinfo=timezone.utc)
WANT = {
    ("gone1@gmail.test", "rejected", "550", "5.1.1"),
    ("quota1@gmail.test", "deferred", "452", "4.2.2"),
    ("nouser1@outlook.test", "rejected", "550", "5.1.10"),
    ("ok1@gmail.test", "accepted", "250", "2.0.0"),
}
#: Records that carry the time with its offset (or as epoch seconds): the attempt's time is that instant.
ZONED = {
    "postfix_rsyslog_jsonmesg.jsonl", "postfix_rsyslog_jsonf.jsonl", "postfix_rsyslog_json_string.jsonl",
    "postfix_syslogng_fj_rfc5424.jsonl", "vector_syslog_source.jsonl", "filebeat_syslog_ecs.jsonl",
    "logstash_syslog_ecs.jsonl", "logstash_syslog_legacy.jsonl", "graylog_gelf.jsonl",
}  # fmt: skip


def _lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.jsonl")))
def test_each_tools_records_read_as_postfix_lines(name: str) -> None:
    lines = _lines(name)
    assert detect_format(lines) == "postfix"
    parser = make_parser("postfix", ParseOptions(reference_time=REF))
    attempts = [a for line in lines for a in parser.feed(line)]
    assert parser.skipped == 0
    assert {(a.recipient, a.verdict, a.replycode, a.status) for a in attempts} == WANT
    assert {a.message_id for a in attempts} == {"m1.20261207.a1@sender.test"}
    assert {a.sender for a in attempts} == {"bounces+m1@sender.test"}
    assert {a.queue_id for a in attempts} == {"ECF81214288"}
    if name in ZONED:
        assert {a.at.replace(microsecond=0) for a in attempts} == {datetime(2026, 12, 7, 21, 1, 16, tzinfo=timezone.utc)}


def test_rsyslog_tag_keeps_the_postfix_service_that_programname_cuts() -> None:
    # rsyslog's programname stops at "/" ("postfix"); its syslogtag keeps "postfix/smtp[20723]:"
    record = {"msg": " Q1: to=<a@b.example>, status=sent", "syslogtag": "postfix/smtp[20723]:",
              "programname": "postfix", "timereported": "2026-12-07T22:01:16.011331+01:00", "hostname": "vm"}
    assert unwrapped(record) == "2026-12-07T21:01:16.011331+00:00 vm postfix/smtp[20723]: Q1: to=<a@b.example>, status=sent"


def test_a_whole_line_keeps_its_own_stamp_not_the_shippers() -> None:
    # Filebeat's filestream and Vector's file source put the time they read the file in
    # @timestamp/timestamp; the line's own stamp is when the MTA wrote it.
    record = {"@timestamp": "2026-12-09T10:00:00Z", "message": "Dec  7 22:01:16 vm postfix/qmgr[1]: Q1: removed"}
    assert unwrapped(record) == "Dec  7 22:01:16 vm postfix/qmgr[1]: Q1: removed"


def test_records_that_are_no_envelope_are_left_alone() -> None:
    own_schema = {"time": "2026-12-07T21:01:16Z", "recipient": "a@b.example", "replycode": "250", "text": "ok"}
    kumo = {"type": "Delivery", "id": "x", "recipient": "a@b.example", "timestamp": 1796677276}
    assert unwrapped(own_schema) is None and unwrapped(kumo) is None


def test_a_record_without_a_time_is_counted_not_lost() -> None:
    with pytest.raises(EnvelopeError):
        unwrapped({"PROGRAM": "postfix/smtp", "PID": "1", "MESSAGE": "Q1: to=<a@b.example>, status=sent"})
    parser = make_parser("postfix", ParseOptions(reference_time=REF))
    assert parser.feed('{"PROGRAM": "postfix/smtp", "PID": "1", "MESSAGE": "Q1: to=<a@b.example>, status=sent"}') == []
    assert parser.skipped == 1


def test_exim_and_sendmail_read_envelopes_too() -> None:
    exim = {"@timestamp": "2026-12-07T18:23:45Z", "input": {"type": "filestream"},
            "message": "2026-12-07 18:23:45 1xadNJ-00050U-38 => r1@ok.test R=dnslookup T=remote_smtp "
                       "H=mx.ok.test [127.0.0.18] C=\"250 2.0.0 Ok: queued as 4Xy\""}
    parser = make_parser("exim", ParseOptions(reference_time=REF))
    (attempt,) = parser.feed(json.dumps(exim))
    assert (attempt.recipient, attempt.verdict, attempt.replycode) == ("r1@ok.test", "accepted", "250")
    sendmail = {"PROGRAM": "sm-mta", "PID": "24076", "ISODATE": "2026-12-07T18:26:09+00:00", "HOST": "mta",
                "MESSAGE": "6B7IQ95d024076: to=<r1@gone.test>, delay=00:00:01, mailer=esmtp, pri=30138, "
                           "relay=mx.gone.test. [127.0.0.15], dsn=5.1.1, stat=User unknown"}
    parser = make_parser("sendmail", ParseOptions(reference_time=REF))
    (attempt,) = parser.feed(json.dumps(sendmail))
    assert (attempt.recipient, attempt.verdict, attempt.status) == ("r1@gone.test", "rejected", "5.1.1")
