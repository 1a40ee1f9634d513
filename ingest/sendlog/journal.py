"""systemd journal records (``journalctl -o json``) read as the syslog lines they carry.

On a host without a syslog daemon (Debian 12 and later install none by
default) Postfix and Sendmail log only to the journal, and the way to take
a log out of it is ``journalctl -o json`` (or ``-o json-seq``): one JSON
object per line. systemd's "Journal JSON Format" (systemd.io,
JOURNAL_EXPORT_FORMATS) and systemd.journal-fields(7) define the fields
read here:

* ``MESSAGE``: the text the program logged; an array of numbers when it
  is not valid UTF-8 (decoded here with replacement characters), ``null``
  when larger than journalctl's field limit (4096 bytes unless ``--all``);
  a field written more than once is an array of such values;
* ``SYSLOG_IDENTIFIER`` (else ``_COMM``) and ``SYSLOG_PID`` (else
  ``_PID``): the ``prog[pid]`` of a syslog header;
* ``__REALTIME_TIMESTAMP``: microseconds since the epoch, as a decimal
  string, the time journalctl itself shows for the record;
* ``_HOSTNAME``.

:func:`syslog_line` turns such a record into ``<ISO 8601 UTC stamp> <host>
<prog>[<pid>]: <message>``, the ``journalctl -o short-iso-precise`` shape
the syslog parsers already read, so every rule about the MTA's own words
stays in one place. Other tools' JSON records of syslog messages (rsyslog,
syslog-ng, Vector, Fluent Bit, Filebeat, Logstash, GELF, Loki) are read by
:mod:`bounceledger.ingest.sendlog.envelope`; anything else comes back unchanged.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from bounceledger.ingest.sendlog.envelope import EnvelopeError, envelope_line, is_log_line, one_line, runtime_split

__all__ = ["JOURNAL_STARTS", "JournalRecordError", "as_syslog", "syslog_line"]

#: RFC 7464 record separator that ``journalctl -o json-seq`` puts before each record.
_RECORD_SEPARATOR = "\x1e"

#: What a journal record's line starts with: a JSON object, or the separator before one.
JOURNAL_STARTS = ("{", _RECORD_SEPARATOR)


class JournalRecordError(ValueError):
    """A journal record that names no message or no time: nothing to read."""


def syslog_line(line: str) -> str:
    """``line`` as a syslog line when it is a journal record (see the module
    docstring), else ``line`` itself.

    Raises :class:`JournalRecordError` for a journal record without a
    readable ``MESSAGE`` or time (a message cut by journalctl's field limit,
    say), so the caller counts it as unreadable instead of losing it unseen.
    """
    text = line.lstrip(_RECORD_SEPARATOR)
    if not text.startswith("{"):
        return line
    if '"__REALTIME_TIMESTAMP"' not in text:  # another tool's JSON record, or none at all
        try:
            carried = envelope_line(text)
        except EnvelopeError as exc:
            raise JournalRecordError(str(exc)) from None
        return line if carried is None else carried
    try:
        record = json.loads(text)
    except ValueError:
        return line
    if not isinstance(record, dict) or "__REALTIME_TIMESTAMP" not in record:
        return line
    message = _text(record.get("MESSAGE"))
    if message is None:
        raise JournalRecordError("journal record without a readable MESSAGE (journalctl --all keeps long ones)")
    try:
        micros = int(_text(record.get("__REALTIME_TIMESTAMP")) or "")
        at = datetime.fromtimestamp(micros / 1_000_000, timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        raise JournalRecordError("journal record without a valid __REALTIME_TIMESTAMP") from None
    if is_log_line(message):
        # A container's output through Docker's journald driver: SYSLOG_IDENTIFIER is the
        # container's tag and MESSAGE the MTA's whole line, its own header included (Docker
        # docs, "Journald logging driver": CONTAINER_ID, CONTAINER_NAME, CONTAINER_TAG ...).
        return one_line(message)
    prog = _text(record.get("SYSLOG_IDENTIFIER")) or _text(record.get("_COMM")) or "-"
    pid = _text(record.get("SYSLOG_PID")) or _text(record.get("_PID"))
    host = _text(record.get("_HOSTNAME")) or "localhost"
    header = f"{at.isoformat(timespec='microseconds')} {host} {prog}" + (f"[{pid}]: " if pid else ": ")
    return header + one_line(message)


def as_syslog(line: str) -> str:
    """:func:`syslog_line`, for format detection, after a container runtime's
    prefix (:func:`~bounceledger.ingest.sendlog.envelope.runtime_split`): a
    record it cannot read stays as it is (the parser counts it when it reads
    the file)."""
    split = runtime_split(line)
    if split is not None:
        line = split[0]
    try:
        return syslog_line(line)
    except JournalRecordError:
        return line


def _text(value: object) -> str | None:
    """A journal field's value as text: a string, bytes given as an array of
    numbers, or the first of several values; ``None`` for null or anything else."""
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        try:
            return bytes(value).decode("utf-8", "replace")
        except ValueError:  # numbers outside 0-255: not bytes
            return None
    if isinstance(value, list):
        return _text(value[0]) if value else None
    return value if isinstance(value, str) else None
