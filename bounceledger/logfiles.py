"""Send-log files without a database: check the paths, find each file's format, parse.

Kept apart from :mod:`bounceledger.pipeline` (which needs the ORM and the
database edge) so that ``bounceledger sendlog parse``, a tool for checking a
log format, starts without loading SQLAlchemy, Alembic or a driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.sendlog import FORMATS, ParseOptions, detect_format, make_parser
from ingest.sendlog.reader import LogFileError, read_complete_lines, rotation_order

if TYPE_CHECKING:
    from bounceledger.config import Settings
    from ingest.records import Attempt

DETECT_LINES = 50


class UnknownFormatError(ValueError):
    """No send-log format recognised the file's first lines."""


def detect_file_format(path: Path) -> str | None:
    """The file's format from its first lines; None for a file with no complete line yet."""
    first: list[str] = []
    for raw, _ in read_complete_lines(path):
        first.append(raw.decode("utf-8", "replace"))
        if len(first) >= DETECT_LINES:
            break
    if not first:
        return None
    fmt = detect_format(first)
    if fmt is None:
        raise UnknownFormatError(f"{path}: not a send log in any known format (use --format to say which)")
    return fmt


def file_formats(paths: Sequence[Path], fmt: str) -> dict[Path, str]:
    """Each file's format; an empty file (a log just rotated) takes its neighbour's."""
    if fmt != "auto":
        if fmt not in FORMATS:
            raise UnknownFormatError(f"unknown format {fmt!r} (known: auto, {', '.join(FORMATS)})")
        return {path: fmt for path in paths}
    found = {path: detect_file_format(path) for path in paths}
    fallback = next((f for f in found.values() if f), next(iter(FORMATS)))
    return {path: f or fallback for path, f in found.items()}


def parse_options(settings: Settings, path: Path) -> ParseOptions:
    """The settings a line parser needs; the file's mtime dates lines that carry no year."""
    return ParseOptions(
        reference_time=datetime.fromtimestamp(path.stat().st_mtime, timezone.utc),
        timezone=settings.timezone,
        campaign_header=settings.campaign_header,
        match_headers=settings.match_headers,
        **({"internal_relays": settings.internal_relays} if settings.internal_relays else {}),
    )


def checked_paths(paths: Sequence[str]) -> list[Path]:
    """Oldest rotation first; fails before anything is read if a path is wrong."""
    ordered = rotation_order(paths)
    for path in ordered:
        if not path.is_file():
            raise LogFileError(f"no such file: {path}" if not path.exists() else f"not a file: {path}")
    return ordered


def parse_log_files(
    settings: Settings, paths: Sequence[str], fmt: str = "auto"
) -> Iterator[tuple[Path, int, list[Attempt], Any]]:
    """Parse whole files without a database or cursors: ``(path, lines, attempts, parser)`` per chunk."""
    ordered = checked_paths(paths)
    formats = file_formats(ordered, fmt)
    parser = None
    parser_format = None
    for path in ordered:
        if parser is None or formats[path] != parser_format:
            parser, parser_format = make_parser(formats[path], parse_options(settings, path)), formats[path]
        lines = 0
        found: list[Attempt] = []
        for raw, _ in read_complete_lines(path):
            lines += 1
            found.extend(parser.feed(raw.decode("utf-8", "replace")))
            if len(found) >= 1000:
                yield path, lines, found, parser
                lines, found = 0, []
        yield path, lines, found, parser
