"""Send logs taken out of the systemd journal (``journalctl -o json``) read as the syslog lines they carry.

fixtures/postfix_out_real.journal.jsonl is what a real systemd-journald
made of the real Postfix log fixtures/postfix_out_real.log, sent to it line
by line through its syslog socket (``python -m tests.sendlog.journal_sample``):
its records, fields and times are journald's. The rest of the records
here are built from the field definitions in systemd's "Journal JSON
Format" and systemd.journal-fields(7).
"""
from __future__ import annotations

import inspect
import json
from datetime import datetime, timezone

import pytest

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import detect_format, make_parser, ParseOptions
from bounceledger.ingest.sendlog.journal import JournalRecordError, syslog_line
from tests.sendlog.helpers import FIXTURES, REFERENCE, feed_all, postfix

PLAIN = (FIXTURES / "postfix_out_real.log").read_text().splitlines()
JOURNAL = (FIXTURES / "postfix_out_real.journal.jsonl").read_text().splitlines()
#: Every field of an attempt but its time and its line, which the journal gives its own way.
SAME_FIELDS = [name for name in inspect.signature(Attempt).parameters if name not in ("at", "raw")]


def fields(attempt: Attempt) -> dict[str, object]:
    return {name: getattr(attempt, name) for name in SAME_FIELDS}


def record(message: object = "4ABC: removed", **extra: object) -> str:
    fields_ = {"__REALTIME_TIMESTAMP": "1796577898863430", "_HOSTNAME": "mx", "SYSLOG_IDENTIFIER": "postfix/qmgr",
               "SYSLOG_PID": "77", "MESSAGE": message, **extra}
    return json.dumps(fields_)


def test_the_journal_export_of_a_real_log_gives_the_same_attempts_as_the_log() -> None:
    plain = feed_all(postfix(), PLAIN)
    parser = postfix()
    from_journal = feed_all(parser, JOURNAL)
    assert len(plain) == 15
    assert [fields(a) for a in from_journal] == [fields(a) for a in plain]
    assert (parser.lines, parser.skipped) == (len(JOURNAL), 0)


def test_an_attempt_from_the_journal_takes_the_time_journald_received_it() -> None:
    parser = postfix()
    for line in JOURNAL:
        for attempt in parser.feed(line):
            micros = int(json.loads(line)["__REALTIME_TIMESTAMP"])
            assert attempt.at == datetime.fromtimestamp(micros / 1_000_000, timezone.utc)
            assert attempt.raw is not None and json.loads(line)["MESSAGE"] in attempt.raw


def test_a_journal_export_is_detected_as_the_mta_that_wrote_it() -> None:
    assert detect_format(JOURNAL[:30]) == "postfix"
    assert postfix().recognises(next(line for line in JOURNAL if "status=" in line))


def test_json_seq_records_read_like_json_records() -> None:
    plain = feed_all(postfix(), JOURNAL)
    seq = feed_all(postfix(), ["\x1e" + line for line in JOURNAL])
    assert [fields(a) for a in seq] == [fields(a) for a in plain] and plain


def test_syslog_line_has_the_shape_journalctl_short_iso_prints() -> None:
    assert syslog_line(record()) == "2026-12-06T17:24:58.863430+00:00 mx postfix/qmgr[77]: 4ABC: removed"
    # the identifier and pid from the process when the program named none
    line = json.dumps({"__REALTIME_TIMESTAMP": "0", "_COMM": "sendmail", "_PID": "9", "MESSAGE": "x"})
    assert syslog_line(line) == "1970-01-01T00:00:00.000000+00:00 localhost sendmail[9]: x"


def test_a_message_given_as_bytes_is_decoded_and_a_field_given_twice_gives_its_first_value() -> None:
    as_bytes = list("4ABC: to=<a@b.example>, caf\u00e9".encode()) + [0xFF]
    assert syslog_line(record(as_bytes)).endswith("4ABC: to=<a@b.example>, caf\u00e9\ufffd")
    assert syslog_line(record(["first", "second"])).endswith(": first")


def test_a_newline_inside_a_message_does_not_start_a_second_line() -> None:
    assert syslog_line(record("one\ntwo")).endswith(": one two")


@pytest.mark.parametrize("line", ["", "not json", '{"MESSAGE": "no time"}', "[1, 2]", '{"__REALTIME_TIMESTAMP": 1'])
def test_anything_that_is_no_journal_record_comes_back_as_it_is(line: str) -> None:
    assert syslog_line(line) is line


@pytest.mark.parametrize(
    ("broken", "why"),
    [(record(None), "MESSAGE"), (record(__REALTIME_TIMESTAMP="soon"), "__REALTIME_TIMESTAMP"),
     (record({"not": "text"}), "MESSAGE")],
)
def test_a_record_that_cannot_be_read_is_counted_and_sampled_not_lost(broken: str, why: str) -> None:
    with pytest.raises(JournalRecordError, match=why):
        syslog_line(broken)
    good = next(line for line in JOURNAL if "status=bounced" in line)
    for fmt in ("postfix", "sendmail", "exim"):
        parser = make_parser(fmt, ParseOptions(reference_time=REFERENCE))
        attempts = [a for line in (broken, good) for a in parser.feed(line)]
        assert (parser.lines, parser.skipped, len(parser.samples)) == (2, 1, 1), fmt
        assert len(attempts) == (1 if fmt == "postfix" else 0), fmt


def test_another_programs_records_give_nothing_and_are_not_errors() -> None:
    parser = postfix()
    line = record("Started Daily apt upgrade.", SYSLOG_IDENTIFIER="systemd", SYSLOG_PID="1")
    assert parser.feed(line) == [] and parser.skipped == 0


@pytest.mark.parametrize("fmt", ["sendmail", "exim"])
def test_the_other_syslog_formats_read_journal_records_too(fmt: str) -> None:
    lines = {
        "sendmail": "4ABCD123: to=<unknown1@example.net>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120,"
                    " relay=mx.example.net. [127.0.0.1], dsn=5.1.1, stat=User unknown",
        "exim": "1sXyZa-000123-Ab ** unknown1@example.net R=dnslookup T=remote_smtp H=mx.example.net [127.0.0.1]:"
                " SMTP error from remote mail server after RCPT TO:<unknown1@example.net>: 550 5.1.1 User unknown",
    }
    ident = {"sendmail": "sm-mta", "exim": "exim"}[fmt]
    journal = record(lines[fmt], SYSLOG_IDENTIFIER=ident)
    plain = f"Dec  6 17:24:58 mx {ident}[77]: {lines[fmt]}"
    from_journal = make_parser(fmt, ParseOptions(reference_time=REFERENCE)).feed(journal)
    from_plain = make_parser(fmt, ParseOptions(reference_time=REFERENCE)).feed(plain)
    assert [fields(a) for a in from_journal] == [fields(a) for a in from_plain]
    assert [(a.recipient, a.status) for a in from_plain] == [("unknown1@example.net", "5.1.1")]
