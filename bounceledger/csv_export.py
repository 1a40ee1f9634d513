"""CSV for spreadsheets and sending systems: one column list per export, and safe cells.

The dashboard's downloads and the CLI's ``--csv`` outputs write the same
columns for the same rows, so a file from either loads into the same
import job.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

#: One delivery's corrected state (``reports.iter_recipients`` rows).
DELIVERY_FIELDS = (
    "recipient", "state", "reason", "status", "replycode", "corrected", "campaign", "message_id", "sent_at",
    "state_at", "detail", "delivery_id",
)
#: One change of the suppression list (``suppressions --since``).
SUPPRESSION_CHANGE_FIELDS = ("seq", "change", "address", "reason", "at", "note")


def cell(value: Any) -> str:
    """Neutralise spreadsheet formulas: the data came from strangers (OWASP "CSV injection")."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def write(out: TextIO, fields: tuple[str, ...], rows: Iterable[Mapping[str, Any]]) -> int:
    """A header and one line per row; how many rows."""
    writer = csv.writer(out)
    writer.writerow(fields)
    count = 0
    for row in rows:
        writer.writerow([cell(row[f]) for f in fields])
        count += 1
    return count
