"""Syslog records that log software stored as JSON, read as the syslog lines they carry.

Many sites do not keep ``mail.log`` as text: rsyslog or syslog-ng writes
each record as a JSON object, or a shipper (Vector, Fluent Bit, Filebeat,
Logstash, Graylog, Loki) forwards it as one. The MTA's own line is still
in there, either whole (the shipper read a file and kept the line) or in
parts (a syslog receiver split the header into fields). This module finds
it, by the field names each tool documents, and hands the syslog parsers
a plain line in a shape they already read, so every rule about the MTA's
own words stays in one place. systemd's journal export, the oldest case,
is :mod:`bounceledger.ingest.sendlog.journal`.

Fields read (any one of each kind; a dotted name is also looked up as
nested objects, as ECS documents are written):

* the message: rsyslog ``msg`` (property reference) or the ``message`` of
  its documented ``jsonf`` template; syslog-ng ``MESSAGE`` (``format-json``);
  Vector, Fluent Bit, Logstash and ECS ``message``; GELF ``short_message``;
* the program: rsyslog ``syslogtag`` (``postfix/smtp[123]:``, whole), then
  ``programname``, which rsyslog cuts at "/"; syslog-ng ``PROGRAM``; Vector
  ``appname``; Fluent Bit ``ident``; Logstash ``program``; ECS
  ``process.name`` and ``log.syslog.appname``; GELF ``_application_name``;
* the pid: ``procid``, ``PID``, ``pid``, ``process.pid``,
  ``log.syslog.procid``, GELF ``_process_id``;
* the time, with its offset: ECS and Logstash ``@timestamp``, rsyslog
  ``timereported``, syslog-ng ``ISODATE``, Vector ``timestamp``, GELF
  ``timestamp`` (seconds since the epoch); without year or zone, as the
  syslog header had it: syslog-ng ``DATE``, Fluent Bit ``time``, Logstash's
  legacy ``timestamp``;
* the whole line, when no program is given: ECS ``event.original``,
  Vector's and Filebeat's ``message`` as read from a file, Loki's ``line``,
  rsyslog's ``rawmsg``.

A record split into fields becomes ``<UTC ISO 8601 time> <host>
<prog>[<pid>]: <message>`` when its time has an offset (the record's own
time, not the shipper's), else ``<time as given> <host> ...``, which the
parsers read with the configured time zone like any classic syslog line.
A record carrying a whole line gives that line: its own stamp is the
MTA's time, where a shipper's ``@timestamp`` is when the file was read.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from bounceledger.ingest.sendlog.syslogtime import match_syslog_header

__all__ = ["EnvelopeError", "RuntimeLines", "envelope_line", "is_log_line", "one_line", "runtime_split", "unwrapped"]


class EnvelopeError(ValueError):
    """A record with a syslog message but no time: nothing to place it by."""


# src: rsyslog properties (msg, rawmsg, syslogtag, programname, procid, timereported, hostname);
# syslog-ng format-json macros (MESSAGE, PROGRAM, PID, ISODATE, DATE, HOST); Vector syslog/file
# sources (message, appname, procid, timestamp, host); Fluent Bit syslog-rfc3164 parser (time,
# host, ident, pid, message); Logstash syslog input (program, pid, logsource, timestamp);
# ECS (message, process.name, process.pid, log.syslog.appname/procid/hostname, host.hostname,
# event.original, @timestamp); GELF 1.1 (short_message, host, timestamp, _application_name,
# _process_id); Loki logcli jsonl (line).
_MESSAGE_FIELDS = ("msg", "MESSAGE", "message", "short_message")
_TAG_FIELDS = ("syslogtag", "syslog-tag", "tag", "LEGACY_MSGHDR")
_PROGRAM_FIELDS = (
    "PROGRAM", "appname", "app-name", "app_name", "ident", "program", "process.name",
    "log.syslog.appname", "_application_name", "programname",
)  # fmt: skip
_PID_FIELDS = ("PID", "procid", "pid", "process.pid", "log.syslog.procid", "_process_id")
_ZONED_TIME_FIELDS = ("@timestamp", "timereported", "ISODATE", "timestamp", "time", "timegenerated")
_PLAIN_TIME_FIELDS = ("DATE", "time", "timestamp", "date")
_HOST_FIELDS = ("hostname", "HOST", "host", "host.hostname", "host.name", "log.syslog.hostname", "logsource")
_LINE_FIELDS = ("event.original", "message", "line", "log", "MESSAGE", "rawmsg")

#: A syslog tag: "postfix/smtp[123]:" (RFC 3164 4.1.3), the program and pid with their colon.
_TAG_RE = re.compile(r"([^\s\[\]:]+)(?:\[(\d+)\])?:?\s*")
#: A classic syslog stamp as a receiver may keep it ("Dec  7 16:01:16"), no year, no zone.
_PLAIN_STAMP_RE = re.compile(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?")


def _field(record: dict[str, object], name: str) -> object:
    """``record[name]``, or for a dotted name the nested objects' value (ECS writes both ways)."""
    if name in record:
        return record[name]
    if "." not in name:
        return None
    value: object = record
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _first_text(record: dict[str, object], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = _field(record, name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _zoned_time(record: dict[str, object]) -> datetime | None:
    """The record's time where it carries an offset (or is seconds since the epoch, GELF)."""
    for name in _ZONED_TIME_FIELDS:
        value = _field(record, name)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            seconds = float(value)
            while seconds > 1e11:  # milli-, micro- or nanoseconds since the epoch
                seconds /= 1000
            try:
                return datetime.fromtimestamp(seconds, timezone.utc)
            except (OverflowError, OSError, ValueError):
                continue
        if isinstance(value, str) and value[:4].isdigit():
            try:
                at = datetime.fromisoformat(value.strip().replace("z", "Z"))
            except ValueError:
                continue
            if at.tzinfo is not None:
                return at.astimezone(timezone.utc)
    return None


def _plain_time(record: dict[str, object]) -> str | None:
    for name in _PLAIN_TIME_FIELDS:
        value = _field(record, name)
        if isinstance(value, str) and _PLAIN_STAMP_RE.fullmatch(value.strip()):
            return value.strip()
    return None


def _tag(record: dict[str, object]) -> str | None:
    """``prog[pid]`` of the syslog header the record was split from, or None."""
    tag = _first_text(record, _TAG_FIELDS)
    if tag is not None:
        found = _TAG_RE.fullmatch(tag.strip())
        if found is not None and (found.group(2) or tag.rstrip().endswith(":")):
            program, pid = found.group(1), found.group(2)
            if pid is None:
                pid = _first_text(record, _PID_FIELDS)
            return f"{program}[{pid}]" if pid else program
    program = _first_text(record, _PROGRAM_FIELDS)
    if program is None:
        return None
    pid = _first_text(record, _PID_FIELDS)
    program = program.strip()
    return f"{program}[{pid.strip()}]" if pid else program


def unwrapped(record: dict[str, object]) -> str | None:
    """The syslog line a log tool's JSON record carries (see the module docstring), or None
    when the record is no such envelope (bounceledger's own JSON-lines schema, say).

    Raises :class:`EnvelopeError` for a record that names a program and a
    message but no time, so the caller counts it instead of losing it unseen.
    """
    message = _first_text(record, _MESSAGE_FIELDS)
    tag = _tag(record)
    if tag is not None and message is not None:
        host = (_first_text(record, _HOST_FIELDS) or "localhost").split()[0]
        text = one_line(message.strip())
        at = _zoned_time(record)
        if at is not None:
            return f"{at.isoformat(timespec='microseconds')} {host} {tag}: {text}"
        stamp = _plain_time(record)
        if stamp is not None:
            return f"{stamp} {host} {tag}: {text}"
        raise EnvelopeError("JSON log record without a time (no @timestamp, timereported, ISODATE, DATE ...)")
    if tag is None:
        for name in _LINE_FIELDS:
            line = _field(record, name)
            if isinstance(line, str) and is_log_line(line):
                return one_line(line.rstrip("\r\n"))
    return None


def one_line(text: str) -> str:
    """A record's message as one line of the log: a newline inside would start a line the MTA never wrote."""
    return text.replace("\r", " ").replace("\n", " ")


#: Exim's own main log line: its stamp, then a message id or a word (Exim spec, "Log files").
_OWN_STAMP_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def is_log_line(text: str) -> bool:
    """Does ``text`` hold a whole line of a send log (a syslog header, or Exim's own stamp)?"""
    return match_syslog_header(text) is not None or _OWN_STAMP_RE.match(text) is not None


def envelope_line(text: str) -> str | None:
    """:func:`unwrapped` for a line of text: None unless it is a JSON object that is an envelope."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    return unwrapped(record)


# -- container runtimes ------------------------------------------------------

#: A container runtime's stamp before a line it read from a container: ``docker logs
#: --timestamps`` and ``kubectl logs --timestamps`` print "<RFC 3339 time> <line>"; the CRI
#: log files of containerd and CRI-O hold "<RFC 3339 time> <stdout|stderr> <P|F> <text>",
#: a line longer than the runtime's limit (16 KiB by default) cut into P chunks ended by
#: an F one.
# src: Docker CLI reference, "docker container logs" (--timestamps: RFC3339Nano); Kubernetes
# CRI container log format (kubelet pkg/kubelet/kuberuntime/logs: "timestamp stream tag log",
# tag P partial / F full); containerd CRI config max_container_log_line_size.
_RUNTIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d) (?:(stdout|stderr) ([PF]) )?")


def runtime_split(text: str) -> tuple[str, str | None, str | None] | None:
    """``(line, stream, tag)`` for a line a container runtime prefixed, or None.

    A CRI line (stream and tag given) is the runtime's whatever follows; a
    bare stamp only when what follows is itself a whole log line, so that
    rsyslog's own RFC 3339 header ("2026-12-07T21:01:16+01:00 host
    postfix/smtp[1]: ...") is left as the line it is.
    """
    found = _RUNTIME_RE.match(text)
    if found is None:
        return None
    rest = text[found.end():]
    if found.group(1) is None and not is_log_line(rest):
        return None
    return rest, found.group(1), found.group(2)


class RuntimeLines:
    """A parser's reading of runtime-prefixed lines: the prefix taken off, CRI chunks joined.

    One per parser: the P chunks of a line wait, per stream, for the F
    chunk that ends it.
    """

    __slots__ = ("_partial",)

    def __init__(self) -> None:
        self._partial: dict[str, str] = {}

    def line(self, text: str) -> str | None:
        """``text`` without its runtime prefix (``text`` itself when it has none), or None
        for a P chunk, kept until its line is complete."""
        if text[10:11] != "T" or not text[:1].isdigit():
            return text  # no RFC 3339 stamp first: every line of a plain log, cheaply
        split = runtime_split(text)
        if split is None:
            return text
        rest, stream, tag = split
        if stream is None:
            return rest
        if tag == "P":
            self._partial[stream] = self._partial.get(stream, "") + rest
            return None
        head = self._partial.pop(stream, "")
        return head + rest if head else rest
