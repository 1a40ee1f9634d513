"""Timestamps: year inference, zones, ISO forms."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bounceledger.ingest.sendlog.syslogtime import StampReader, header_time, match_syslog_header
from tests.sendlog.helpers import one, postfix

UTC = timezone.utc


def test_december_stamps_read_in_january_belong_to_last_year() -> None:
    r = StampReader(datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
    assert r.classic("Dec 31 23:59:58") == datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC)
    assert r.classic("Jan  1 00:10:00") == datetime(2027, 1, 1, 0, 10, tzinfo=UTC)


def test_up_to_a_day_ahead_is_tolerated_as_clock_skew() -> None:
    r = StampReader(datetime(2026, 6, 10, 12, 0, tzinfo=UTC))
    assert r.classic("Jun 11 11:59:59") == datetime(2026, 6, 11, 11, 59, 59, tzinfo=UTC)
    assert r.classic("Jun 11 12:00:01") == datetime(2025, 6, 11, 12, 0, 1, tzinfo=UTC)
    assert r.classic("Jun 12 00:00:00") == datetime(2025, 6, 12, tzinfo=UTC)


def test_feb_29_goes_back_to_a_leap_year() -> None:
    r = StampReader(datetime(2027, 3, 1, tzinfo=UTC))
    assert r.classic("Feb 29 10:00:00") == datetime(2024, 2, 29, 10, tzinfo=UTC)


@pytest.mark.parametrize("stamp", ["Feb 30 10:00:00", "Nov 27 25:00:00", "Nov 27 00:61:00", "Foo 27 00:00:00"])
def test_impossible_stamps_are_none(stamp: str) -> None:
    assert StampReader(datetime(2026, 11, 28, tzinfo=UTC)).classic(stamp) is None


def test_single_digit_day_and_fraction() -> None:
    r = StampReader(datetime(2026, 11, 28, tzinfo=UTC))
    assert r.classic("Nov  7 08:00:01") == datetime(2026, 11, 7, 8, 0, 1, tzinfo=UTC)
    assert r.classic("Nov  7 08:00:01.5") == datetime(2026, 11, 7, 8, 0, 1, 500000, tzinfo=UTC)


def test_local_zone_is_converted_to_utc_including_dst() -> None:
    r = StampReader(datetime(2026, 12, 1, tzinfo=UTC), "Europe/Berlin")
    assert r.classic("Jan 15 10:00:00") == datetime(2026, 1, 15, 9, 0, tzinfo=UTC)  # CET
    assert r.classic("Jul 15 10:00:00") == datetime(2026, 7, 15, 8, 0, tzinfo=UTC)  # CEST


def test_rollover_is_decided_in_the_log_zone() -> None:
    # 04:30 UTC on Jan 1 is still Dec 31 in New York; a Dec 31 23:00 local
    # stamp is therefore from this (local) year, not a year ago.
    r = StampReader(datetime(2027, 1, 1, 4, 30, tzinfo=UTC), "America/New_York")
    assert r.classic("Dec 31 23:00:00") == datetime(2027, 1, 1, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-27T00:43:22.123456+00:00", datetime(2026, 11, 27, 0, 43, 22, 123456, tzinfo=UTC)),
        ("2026-11-27T01:43:22+01:00", datetime(2026, 11, 27, 0, 43, 22, tzinfo=UTC)),
        ("2026-11-27T00:43:22Z", datetime(2026, 11, 27, 0, 43, 22, tzinfo=UTC)),
        ("2026-11-26T19:43:22-0500", datetime(2026, 11, 27, 0, 43, 22, tzinfo=UTC)),
        ("2026-11-27 00:43:22", datetime(2026, 11, 27, 0, 43, 22, tzinfo=UTC)),
    ],
)
def test_iso_stamps(stamp: str, expected: datetime) -> None:
    at = StampReader(datetime(2026, 12, 1, tzinfo=UTC)).iso(stamp)
    assert at == expected
    assert at is not None and at.utcoffset() == expected.utcoffset()


def test_iso_without_offset_uses_configured_zone() -> None:
    r = StampReader(datetime(2026, 12, 1, tzinfo=UTC), "Asia/Tokyo")
    assert r.iso("2026-11-27T09:43:22") == datetime(2026, 11, 27, 0, 43, 22, tzinfo=UTC)


def test_naive_reference_time_is_refused() -> None:
    with pytest.raises(ValueError):
        StampReader(datetime(2026, 12, 1))


def test_parser_applies_rollover_and_zone_end_to_end() -> None:
    line = (
        "Dec 31 23:59:58 out1 postfix/smtp[1]: 0F5383D: to=<a@b.example>, relay=mx.b.example[192.0.2.1]:25, "
        "delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 Ok)"
    )
    a = one(line, reference=datetime(2027, 1, 2, 8, 0, tzinfo=UTC), timezone="Europe/Berlin")
    assert a.at == datetime(2026, 12, 31, 22, 59, 58, tzinfo=UTC)


def test_parser_uses_utc_aware_datetimes() -> None:
    p = postfix(reference=datetime(2026, 11, 28, tzinfo=UTC), timezone="Australia/Sydney")
    (a,) = p.feed(
        "Nov 27 11:00:00 h postfix/smtp[1]: 0F5383D: to=<a@b.example>, relay=none, delay=1, "
        "delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to x.example[192.0.2.1]:25: Connection timed out)"
    )
    assert a.at == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
    assert a.at.tzinfo is UTC


# -- header shapes of the transports a Postfix log travels through --------------


@pytest.mark.parametrize(
    ("line", "stamp", "prog"),
    [
        # Postfix 3.7 maillog_file (MAILLOG_README): the day zero-padded.
        ("Dec 05 07:55:36 out postfix-out/smtp[17851]: X", "Dec 05 07:55:36", "postfix-out/smtp"),
        # RFC 3164 syslogd: the day space-padded.
        ("Dec  5 07:55:36 out mycorp/submission/smtp[17851]: X", "Dec  5 07:55:36", "mycorp/submission/smtp"),
        # journalctl -o short-iso, before and after systemd 248.
        ("2026-12-05T07:55:36+0000 out postfix/smtp[1]: X", "2026-12-05T07:55:36+0000", "postfix/smtp"),
        ("2026-12-05T07:55:36+00:00 out postfix/smtp[1]: X", "2026-12-05T07:55:36+00:00", "postfix/smtp"),
        # RFC 5424 §6: NILVALUE PROCID, MSGID and STRUCTURED-DATA; an SD element; a BOM before MSG.
        ("<22>1 2026-12-05T07:55:36Z out postfix/smtp - - - X", "2026-12-05T07:55:36Z", "postfix/smtp"),
        ('<22>1 2026-12-05T07:55:36.1Z out postfix/smtp 9 - [timeQuality tzKnown="1"] X',
         "2026-12-05T07:55:36.1Z", "postfix/smtp"),
        ("<22>1 2026-12-05T07:55:36Z out postfix/smtp 9 - - \ufeffX", "2026-12-05T07:55:36Z", "postfix/smtp"),
    ],
)  # fmt: skip
def test_transport_headers(line: str, stamp: str, prog: str) -> None:
    m = match_syslog_header(line)
    assert m is not None
    assert (m.group("ts"), m.group("prog")) == (stamp, prog)
    assert line[m.end() :] == "X"
    r = StampReader(datetime(2026, 12, 6, tzinfo=UTC))
    at = header_time(r, stamp)
    assert at is not None
    assert at.replace(microsecond=0) == datetime(2026, 12, 5, 7, 55, 36, tzinfo=UTC)


def test_journal_marker_is_no_header() -> None:
    assert match_syslog_header("-- Boot 0f1e2d3c4b5a69788796a5b4c3d2e1f0 --") is None
