"""Turn the timestamps that prefix MTA log lines into aware UTC datetimes.

Two shapes occur in practice:

* classic BSD syslog (RFC 3164, also what Postfix's own ``maillog_file``
  writes): ``Nov 27 00:43:22`` -- no year, no zone. The year is inferred from
  a reference time (typically the log file's mtime) and the zone comes from
  configuration;
* RFC 3339 / ISO 8601 (rsyslog's high-precision template, ``journalctl -o
  short-iso``): ``2026-11-27T00:43:22.123456+00:00``. When the offset is
  missing the configured zone applies.

A log has many lines per second, so :class:`StampReader` remembers the last
stamp it converted and the year decision per calendar day: the expensive
zoneinfo arithmetic runs about once per distinct second, not once per line.
Nothing here reads the clock; "now" is always the caller's reference time.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = [
    "CLASSIC_HEADER",
    "MONTHS",
    "StampReader",
    "ascii_only",
    "epoch_to_utc",
    "header_time",
    "match_syslog_header",
]

MONTHS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}

# How far a year-less stamp may lie after the reference time before we decide
# it belongs to the previous year. A day absorbs clock skew between the host
# that wrote the log and the one that stat()ed it, plus zone confusion.
FUTURE_SLACK = timedelta(days=1)

# A Feb 29 stamp needs a leap year; look back at most this many years for one.
_MAX_YEARS_BACK = 8

_UTC = timezone.utc


class StampReader:
    """Converts log stamps to aware UTC datetimes for one stream.

    ``classic`` and ``iso`` return ``None`` for stamps that look right but do
    not denote a real instant (``Feb 30``, ``25:00:00``); callers treat such a
    line as unparseable rather than guessing.
    """

    __slots__ = (
        "_is_utc",
        "_last_at",
        "_last_stamp",
        "_ref_year",
        "_threshold",
        "_threshold_day",
        "_year_for_day",
        "_zone",
    )

    def __init__(self, reference_time: datetime, tz: str = "UTC") -> None:
        if reference_time.tzinfo is None or reference_time.utcoffset() is None:
            raise ValueError("reference_time must be timezone-aware")
        self._zone = ZoneInfo(tz)
        self._is_utc = tz in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu")
        local_ref = reference_time.astimezone(self._zone).replace(tzinfo=None)
        # Compared as naive wall-clock time: a DST hour either way is noise
        # next to the one-day slack.
        self._threshold: datetime = local_ref + FUTURE_SLACK
        self._threshold_day: date = self._threshold.date()
        self._ref_year: int = local_ref.year
        self._year_for_day: dict[tuple[int, int], int] = {}
        self._last_stamp: str | None = None
        self._last_at: datetime | None = None

    # -- classic syslog ------------------------------------------------------

    def classic(self, stamp: str) -> datetime | None:
        """``"Nov 27 00:43:22"`` or ``"Nov  7 00:43:22"`` (optionally with a
        fractional second) -> aware UTC datetime, or None if not a real time."""
        if stamp == self._last_stamp:
            return self._last_at
        at = self._classic_uncached(stamp)
        self._last_stamp = stamp
        self._last_at = at
        return at

    def _classic_uncached(self, stamp: str) -> datetime | None:
        month = MONTHS.get(stamp[:3])
        if month is None:
            return None
        try:
            day = int(stamp[4:6])
            hour = int(stamp[7:9])
            minute = int(stamp[10:12])
            second = int(stamp[13:15])
            micro = 0
            if len(stamp) > 16 and stamp[15] == ".":
                micro = int((stamp[16:22] + "000000")[:6])
        except ValueError:
            return None
        year = self._year_of(month, day, hour, minute, second)
        if year is None:
            return None
        try:
            naive = datetime(year, month, day, hour, minute, second, micro)
        except ValueError:
            return None
        return self._to_utc(naive)

    def _year_of(self, month: int, day: int, hour: int, minute: int, second: int) -> int | None:
        """Latest year in which this month/day/time is not in the future.

        The decision only depends on the time of day when the stamp falls on
        the threshold's own calendar day, so everything else is cached per
        (month, day).
        """
        key = (month, day)
        cached = self._year_for_day.get(key)
        if cached is not None:
            return cached
        year = self._ref_year
        for _ in range(_MAX_YEARS_BACK):
            try:
                candidate_day = date(year, month, day)
            except ValueError:  # Feb 29 outside a leap year, Apr 31, ...
                year -= 1
                continue
            if candidate_day < self._threshold_day:
                self._year_for_day[key] = year
                return year
            if candidate_day > self._threshold_day:
                year -= 1
                continue
            # Same calendar day as the threshold: compare the time of day.
            if (hour, minute, second) <= (
                self._threshold.hour,
                self._threshold.minute,
                self._threshold.second,
            ):
                return year
            year -= 1
        return None

    # -- ISO 8601 ------------------------------------------------------------

    def iso(self, stamp: str) -> datetime | None:
        """``2026-11-27T00:43:22.123456+00:00`` (``Z``, ``+0000``, a space
        instead of ``T`` and a missing offset are accepted) -> aware UTC."""
        if stamp == self._last_stamp:
            return self._last_at
        try:
            parsed = datetime.fromisoformat(stamp)
        except ValueError:
            parsed = None
        at: datetime | None
        if parsed is None:
            at = None
        elif parsed.tzinfo is None:
            at = self._to_utc(parsed)
        else:
            at = parsed.astimezone(_UTC)
        self._last_stamp = stamp
        self._last_at = at
        return at

    # -- shared --------------------------------------------------------------

    def _to_utc(self, naive: datetime) -> datetime | None:
        if self._is_utc:
            return naive.replace(tzinfo=_UTC)
        # fold=0: an ambiguous wall time in the autumn DST overlap is read as
        # the first occurrence; syslog gives us nothing to do better with.
        try:
            return naive.replace(tzinfo=self._zone).astimezone(_UTC)
        except (OverflowError, ValueError):
            return None


# -- epoch seconds -----------------------------------------------------------

# 1970..2200: anything outside is a corrupt field, not a time worth keeping.
_EPOCH_MAX = 7_258_118_400


def epoch_to_utc(value: object) -> datetime | None:
    """Unix seconds (int, float or their decimal text; milliseconds when the
    number is too large to be seconds) -> aware UTC, None when it is not a
    plausible instant. Used by the CSV and JSON formats."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value) if ("." in value or "e" in value.lower()) else int(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value > _EPOCH_MAX:
        value = value / 1000  # JavaScript-style milliseconds
    if not 0 <= value <= _EPOCH_MAX:
        return None
    try:
        return datetime.fromtimestamp(value, _UTC)
    except (OverflowError, OSError, ValueError):
        return None


# -- regexes for ASCII text ---------------------------------------------------

# What \s matches among the ASCII characters (str.isspace: the C0 separators
# 0x1c-0x1f included, unlike re.ASCII's \s).
_ASCII_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f "
_ASCII_SETS = {"d": "0-9", "s": _ASCII_SPACE}


def ascii_only(pattern: str) -> str:
    """``pattern`` with ``\\d`` and ``\\s`` spelled out as the ASCII
    characters they match, for use on text where ``str.isascii()`` holds.

    On such text the result matches exactly what ``pattern`` matches, and
    several times faster: re tests a Unicode class by a call into the
    Unicode database per character, an explicit set by one bitmap lookup.
    Every other escape is left alone (still correct, merely not faster).
    """
    out: list[str] = []
    class_start = -1  # index in pattern of the current "[", or -1 outside a class
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            spelled = _ASCII_SETS.get(pattern[i + 1])
            if spelled is None:
                out.append(pattern[i : i + 2])
            else:
                out.append(spelled if class_start != -1 else f"[{spelled}]")
            i += 2
            continue
        if class_start == -1:
            if ch == "[":
                class_start = i
        elif ch == "]" and i > class_start + 1 and pattern[class_start + 1 : i] != "^":
            class_start = -1  # a "]" first in the class is a literal
        out.append(ch)
        i += 1
    return "".join(out)


# -- syslog headers ----------------------------------------------------------

# The same three header shapes the Postfix parser reads, for the other
# syslog-based formats (Sendmail, Exim with log_file_path=syslog): classic
# "Nov 27 00:43:22 host prog[pid]: ", ISO "2026-11-27T00:43:22+00:00 host
# prog[pid]: " and RFC 5424 "<22>1 2026-... host prog pid - - ".
#
# CLASSIC_HEADER is public so that a parser can extend it (the Postfix parser
# appends its queue id and delivery fields to read a line in one match). It
# is written for speed without changing what it matches: "(?:X|)" for an
# optional part, "X(?:Y: |: )" for "X(?:Y)?: " and possessive runs where
# the next character can never be part of the run. re runs an optional
# group ("(?:...)?") through its general repeat machinery, which costs more
# than the rest of the header put together.
#
# ``daemon`` is the part of ``prog`` after its last "/" when that "/" is not
# the first character ("postfix/smtp", "pfA/submission/smtpd"), else None:
# the first branch backtracks from the end of the name to its last "/", and
# only names without such a "/" reach the second.
_PRI = r"(?:<\d{1,3}>)?"
CLASSIC_HEADER = (
    r"(?P<ts>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d(?:\.\d{1,9}|))"
    r" (?P<host>[^\s\[\]]++)"
    r" (?P<prog>[^\s\[\]:]+/(?P<daemon>[^\s\[\]:/]*+)|[^\s\[\]:]++)(?:\[\d++\]: |: )(?: |)"
)
# The final "(?: |)": one more space after "prog[pid]: " is part of the header, not of the message.
# A message that reached a syslog daemon as RFC 5424 keeps the space that followed its tag
# (rsyslog's RSYSLOG_SyslogProtocol23Format writes "%STRUCTURED-DATA% %msg%", and %msg% of a
# message received in RFC 3164 form starts with that space), and a daemon that files it again as
# "$MSGHDR$MSG" (syslog-ng's default file template) writes "prog[pid]:  QID: ..." (seen with
# rsyslog 8.2302 forwarding to syslog-ng 3.38 over TCP). src: rsyslog template_SyslogProtocol23Format;
# rsyslog doc pmrfc3164 remove.msgFirstSpace; syslog-ng doc "file() destination" default template.
_CLASSIC = re.compile(_PRI + CLASSIC_HEADER)
_ISO = re.compile(
    r"(?:<\d{1,3}>)?"
    r"(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d(?::?\d\d)?)?)"
    r" (?P<host>[^\s\[\]]+) (?P<prog>[^\s\[\]:]+)(?:\[\d+\])?:  ?"
)
_RFC5424 = re.compile(
    r"<\d{1,3}>1 (?P<ts>\d{4}-\d\d-\d\dT\S+) (?P<host>\S+) (?P<prog>[^\s\[\]:]+) \S+ \S+ "
    r"(?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?\ufeff? ?"
)
# The trailing " ?": rsyslog's RSYSLOG_SyslogProtocol23Format writes "%STRUCTURED-DATA% %msg%", and
# for a message received in RFC 3164 form %msg% still starts with the space that followed the tag
# (pmrfc3164 remove.msgFirstSpace defaults to off), so "- -  QID: ..." has two spaces.
# src: rsyslog template_SyslogProtocol23Format (tools/syslogd.c); rsyslog doc pmrfc3164 remove.msgFirstSpace


def match_syslog_header(line: str) -> re.Match[str] | None:
    """The syslog header of ``line`` (groups ``ts``, ``host``, ``prog``), or
    None. Exim's own ``2026-11-27 00:43:22 <id> ...`` lines do not match:
    no ``prog: `` follows the stamp."""
    first = line[:1]
    if first.isdigit():
        return _ISO.match(line)
    if first == "<":
        return _CLASSIC.match(line) or _RFC5424.match(line) or _ISO.match(line)
    return _CLASSIC.match(line)


def header_time(stamps: StampReader, ts: str) -> datetime | None:
    """Convert a ``ts`` group from :func:`match_syslog_header`."""
    if ts[:1].isdigit():
        return stamps.iso(ts.replace(",", ".", 1))
    return stamps.classic(ts)
