"""Suppressions written by other programs: a CSV import and the HTTP write API.

Both state what the list should say for an address (:class:`Entry`) and go
through :func:`put`, which changes a row only when it says something else
already: importing the same file twice, or posting the same entry again,
changes nothing and records nothing the second time. Each real change goes
through :func:`bounceledger.ingest.suppress.add`, so it is the same audit event a
``suppressions add`` by hand records.

The CSV has a header row. ``address`` is required (``email`` and
``recipient`` are read as it); ``note``, ``reason`` (``manual``, the
default, or ``hardbounce``, ``softbounce``, ``complaint``), ``since`` and
``expires_at`` (``expires``, ``expiry``; ISO dates or times, UTC unless
they say otherwise; empty: until released) are optional. So the export of
another ledger (``suppressions --csv``) imports as it is. A column nobody
reads is an error, not ignored: a misspelt ``expiry_date`` would otherwise
suppress for ever.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bounceledger.forget import remembered, remembered_line
from bounceledger.ingest import suppress
from bounceledger.ingest.keys import valid_address
from bounceledger.models import ForgottenSuppression, Suppression

REASONS = ("manual", "hardbounce", "softbounce", "complaint")
#: Header names as written in files, by the field they fill.
COLUMNS: Mapping[str, str] = {
    "address": "address",
    "email": "address",
    "recipient": "address",
    "note": "note",
    "reason": "reason",
    "since": "since",
    "expires_at": "expires_at",
    "expires": "expires_at",
    "expiry": "expires_at",
}

Change = Literal["added", "changed", "unchanged"]


class EntryError(ValueError):
    """An entry that cannot go on the list; the message is safe to show."""


class ImportFileError(ValueError):
    """The file as a whole cannot be read; one line, safe to print."""


@dataclass(frozen=True, slots=True)
class Entry:
    """What the list should say for one address."""

    address: str
    reason: str = "manual"
    note: str | None = None
    since: datetime | None = None  # None: now, or as it was if only the note or expiry changes
    expires_at: datetime | None = None  # None: until released


def _time(text: str, what: str) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), timezone.utc)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise EntryError(f"{what} is not an ISO date or time (2026-12-31 or 2026-12-31T08:00:00Z): {text!r}") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def entry_from(values: Mapping[str, Any], now: datetime) -> Entry:
    """An entry from a CSV row or a JSON body (field names as in :class:`Entry`), checked."""
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise EntryError(f"{name} must be a string, not {type(value).__name__}")
    raw = str(values.get("address") or "").strip()
    if not raw:
        raise EntryError("no address")
    address = valid_address(raw)
    if address is None:
        raise EntryError(f"not an e-mail address (local@domain): {raw!r}")
    reason = (values.get("reason") or "").strip().lower() or "manual"
    if reason not in REASONS:
        raise EntryError(f"reason must be one of {', '.join(REASONS)} (free text goes in note): {reason!r}")
    since = _time(values["since"], "since") if (values.get("since") or "").strip() else None
    expires = _time(values["expires_at"], "expires_at") if (values.get("expires_at") or "").strip() else None
    if since is not None and since > now:
        raise EntryError(f"since is in the future: {values['since'].strip()}")
    if expires is not None and expires <= now:
        raise EntryError(f"expires_at has already passed: {values['expires_at'].strip()}")
    note = (values.get("note") or "").strip() or None
    return Entry(address, reason, note, since, expires)


@dataclass(frozen=True, slots=True)
class Put:
    change: Change
    row: Suppression
    #: What the ledger kept of this address's suppression when it was forgotten.
    previously: ForgottenSuppression | None = None


def _same(row: Suppression | None, entry: Entry, now: datetime) -> bool:
    return (
        row is not None
        and suppress.is_active(row, now)
        and (row.reason, row.expires_at) == (entry.reason, entry.expires_at)
        and (entry.since is None or row.since == entry.since)
        and (entry.note is None or row.note == entry.note)
    )


def put(session: Session, entry: Entry, now: datetime, default_note: str) -> Put:
    """Make the list say ``entry`` for its address; an audit event only when that changed something."""
    row = session.scalar(select(Suppression).where(Suppression.address == entry.address))
    if row is not None and _same(row, entry, now):
        return Put("unchanged", row)
    change: Change = "changed" if row is not None and suppress.is_active(row, now) else "added"
    kept_since = row.since if row is not None and change == "changed" and row.reason == entry.reason else None
    kept = remembered(session, entry.address) if row is None else None
    suppress.add(session, entry.address, entry.note or default_note, now, entry.reason)
    row = session.scalar(select(Suppression).where(Suppression.address == entry.address))
    assert row is not None  # suppress.add just wrote it
    row.reason, row.since, row.expires_at = entry.reason, entry.since or kept_since or now, entry.expires_at
    return Put(change, row, kept)


# ----------------------------------------------------------------- CSV


@dataclass(slots=True)
class ImportSummary:
    rows: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    #: ``line N: what is wrong``, for every row not imported.
    problems: list[str] = field(default_factory=list)
    #: ``line N: ADDRESS previously suppressed ...`` for addresses forgotten before.
    recognised: list[str] = field(default_factory=list)

    def line(self) -> str:
        bad = f"; {len(self.problems)} bad rows not imported" if self.problems else ""
        return (
            f"{self.rows} rows: {self.added} added, {self.changed} changed, "
            f"{self.unchanged} already on the list as they say{bad}"
        )


def _header(cells: list[str], path: Path) -> list[str]:
    names = [cell.strip().lower().replace(" ", "_").replace("-", "_") for cell in cells]
    unknown = [cells[i] for i, name in enumerate(names) if name and name not in COLUMNS]
    if unknown:
        raise ImportFileError(f"{path}: unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})")
    fields = [COLUMNS.get(name, "") for name in names]
    if "address" not in fields:
        raise ImportFileError(f"{path}: the first line must name the columns, one of them 'address'")
    repeated = {name for name in fields if name and fields.count(name) > 1}
    if repeated:
        raise ImportFileError(f"{path}: more than one column gives the {sorted(repeated)[0]}")
    return fields


def read_csv(path: Path, now: datetime) -> tuple[list[tuple[int, Entry]], list[str]]:
    """The entries of a CSV file with their line numbers, and its bad rows as ``line N: why``."""
    entries: list[tuple[int, Entry]] = []
    problems: list[str] = []
    first_line: dict[str, tuple[int, Entry]] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ImportFileError(f"{path}: empty file (the first line must name the columns)")
            fields = _header(header, path)
            line = reader.line_num + 1
            for cells in reader:
                start, line = line, reader.line_num + 1
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) > len(fields):
                    problems.append(f"line {start}: {len(cells)} fields, the header names {len(fields)}")
                    continue
                values = {name: cell for name, cell in zip(fields, cells) if name}
                try:
                    entry = entry_from(values, now)
                except EntryError as exc:
                    problems.append(f"line {start}: {exc}")
                    continue
                earlier = first_line.get(entry.address)
                if earlier is None:
                    first_line[entry.address] = (start, entry)
                    entries.append((start, entry))
                elif earlier[1] != entry:
                    problems.append(f"line {start}: {entry.address} is already on line {earlier[0]}, saying otherwise")
    except FileNotFoundError:
        raise ImportFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path} is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not UTF-8 text (save it as UTF-8 CSV)") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path}: not CSV: {exc}") from None
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    return entries, problems


def import_entries(
    session: Session, entries: Iterable[tuple[int, Entry]], now: datetime, default_note: str
) -> ImportSummary:
    summary = ImportSummary()
    for line, entry in entries:
        summary.rows += 1
        done = put(session, entry, now, default_note)
        setattr(summary, done.change, getattr(summary, done.change) + 1)
        if done.previously:
            summary.recognised.append(f"line {line}: {entry.address} {remembered_line(done.previously, now)}")
    return summary


def import_csv(session: Session, path: Path, now: datetime) -> ImportSummary:
    """Import a CSV file in this transaction; bad rows are reported, the good ones imported."""
    entries, problems = read_csv(path, now)
    summary = import_entries(session, entries, now, f"imported from {path.name}")
    summary.rows += len(problems)
    summary.problems = problems
    return summary

