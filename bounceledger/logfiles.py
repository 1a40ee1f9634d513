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

from bounceledger.ingest.sendlog import FORMATS, ParseOptions, detect_format, make_parser, most_recognised_format
from bounceledger.ingest.sendlog.reader import LogFileError, OverlongLine, read_complete_lines, rotation_order
from bounceledger.ingest.sendlog.relays import with_defaults

if TYPE_CHECKING:
    from bounceledger.config import Settings
    from bounceledger.ingest.records import Attempt
    from bounceledger.ingest.sendlog.relays import FirstHopReason

DETECT_LINES = 50
# How far into a file the chosen format must find one of its own lines.
# Generous: a file in the right format passes at its first own line, so the
# limit only costs time on a file about to be refused, and a shared mail.log
# or a burst of lines the format does not claim as its own (an Exim main
# log opening with SMTP-time rejections) must not be refused.
CHECK_LINES = 1000


class UnknownFormatError(ValueError):
    """No send-log format recognised the file's first lines."""


class FormatMismatchError(UnknownFormatError):
    """The format asked for recognises none of the file's first lines."""


def detect_file_format(path: Path) -> str | None:
    """The file's format from its first lines; None for a file with no complete line yet.

    The first ``DETECT_LINES`` decide as a whole; where they do not (other
    programs' lines first, as in a shared ``mail.log``), the format that
    claims most of the first ``CHECK_LINES`` one by one, the test an
    explicit ``--format`` passes with a single line.
    """
    first: list[str] = []
    for raw, _ in read_complete_lines(path):
        if type(raw) is OverlongLine:
            continue
        first.append(raw.decode("utf-8", "replace"))
        if len(first) >= CHECK_LINES:
            break
    if not first:
        return None
    fmt = detect_format(first[:DETECT_LINES]) or most_recognised_format(first)
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


def check_format(path: Path, fmt: str, options: ParseOptions) -> None:
    """Refuse a file the chosen format cannot read, before any of it is read.

    "Cannot read" means: none of the file's first ``CHECK_LINES`` non-empty
    lines (all of them, in a shorter file) is one of the format's own lines,
    as the format's parser judges (:meth:`CountingParser.recognises`, the
    test auto-detection uses). Reading such a file would record nothing and
    still move the cursor past it, so a later run with the right format
    would find nothing left: a silent loss. The file's head is checked, not
    the part after the cursor, because the head is what says which MTA
    wrote a file. A file without a complete line yet passes (nothing to
    lose), and so does any file in which one line of the first thousand is
    the format's: a shared ``mail.log`` mixes in other programs' lines.
    """
    parser = make_parser(fmt, options)
    head: list[str] = []
    for raw, _ in read_complete_lines(path):
        if type(raw) is OverlongLine:
            continue
        line = raw.decode("utf-8", "replace")
        if not line.strip():
            continue
        head.append(line)
        if parser.recognises(line):
            return
        if len(head) >= CHECK_LINES:
            break
    if not head:
        return
    seen = len(head)
    found = detect_format(head[:DETECT_LINES]) or most_recognised_format(head)
    looks = f"it looks like {found}" if found else "no known format recognises it either"
    if found and found != fmt and head[0].lstrip("\x1e").startswith("{"):
        looks += f": syslog records stored as JSON, read as the {found} lines they carry with --format {found} or auto"
    raise FormatMismatchError(
        f"{path}: the {fmt} format recognises none of its first {seen} non-empty line(s) ({looks}); "
        "nothing was read from it: check --format"
    )


def checked_formats(settings: Settings, paths: Sequence[Path], fmt: str) -> dict[Path, str]:
    """Each file's format, every file checked (:func:`check_format`) before any is read."""
    formats = file_formats(paths, fmt)
    for path in paths:
        check_format(path, formats[path], parse_options(settings, path))
    return formats


def parse_options(settings: Settings, path: Path) -> ParseOptions:
    """The settings a line parser needs; the file's mtime dates lines that carry no year."""
    return ParseOptions(
        reference_time=datetime.fromtimestamp(path.stat().st_mtime, timezone.utc),
        timezone=settings.timezone,
        campaign_header=settings.campaign_header,
        match_headers=settings.match_headers,
        **({"internal_relays": with_defaults(settings.internal_relays)} if settings.internal_relays else {}),
    )


def checked_paths(paths: Sequence[str]) -> list[Path]:
    """Oldest rotation first; fails before anything is read if a path is wrong."""
    ordered = rotation_order(paths)
    for path in ordered:
        if not path.is_file():
            raise LogFileError(f"no such file: {path}" if not path.exists() else f"not a file: {path}")
    return ordered


def parse_log_files(
    settings: Settings, paths: Sequence[str], fmt: str = "auto", *, explain_first_hop: bool = False
) -> Iterator[tuple[Path, int, list[Attempt], Any, list[FirstHopReason | None]]]:
    """Parse whole files without a database or cursors:
    ``(path, lines, attempts, parser, reasons)`` per chunk.

    ``reasons`` is empty unless ``explain_first_hop``; then it holds, for
    each attempt, the reason the parser's own first-hop rule gave when it
    decided that attempt (see :class:`FirstHopTracer`). An over-long line is
    counted as skipped by the parser, not as a line read.
    """
    ordered = checked_paths(paths)
    formats = checked_formats(settings, ordered, fmt)
    parser = None
    parser_format = None
    tracer: FirstHopTracer | None = None
    for path in ordered:
        if parser is None or formats[path] != parser_format:
            parser, parser_format = make_parser(formats[path], parse_options(settings, path)), formats[path]
            tracer = FirstHopTracer(parser) if explain_first_hop else None
        lines = 0
        found: list[Attempt] = []
        reasons: list[FirstHopReason | None] = []
        for raw, _ in read_complete_lines(path):
            if type(raw) is OverlongLine:
                parser.count_skipped(overlong_sample(raw))
                continue
            lines += 1
            got = parser.feed(raw.decode("utf-8", "replace"))
            if tracer is not None:
                reasons.extend(tracer.reasons(got))
            found.extend(got)
            if len(found) >= 1000:
                yield path, lines, found, parser, reasons
                lines, found, reasons = 0, [], []
        yield path, lines, found, parser, reasons


def overlong_sample(raw: OverlongLine) -> str:
    """What ``skipped:`` shows for a line too long to read."""
    return f"[line of {raw.length:,} bytes, over the limit] " + bytes(raw).decode("utf-8", "replace")


class FirstHopTracer:
    """Pairs each attempt a parser returns with the reason its first-hop
    rule gave, by watching the rule decide (``RelayClassifier.trace``)
    rather than by deciding again from the attempt's fields, which lose
    what the parser saw (a socket path, the transport's kind).

    A decision made while the line was fed is the attempt's own. A parser
    that remembers whole relays (Postfix) does not ask again for a relay it
    has seen, and an expiry reports deferrals decided earlier: those take
    the last decision for the same relay host and port. An attempt whose
    ``first_hop`` the rule did not decide (a JSON record that says it, an
    asynchronous bounce record) gets None.
    """

    def __init__(self, parser: Any) -> None:
        self._now: list[tuple[tuple[str | None, str | None, str | None, int | None], FirstHopReason]] = []
        self._by_relay: dict[tuple[str | None, int | None], FirstHopReason] = {}
        self._by_host: dict[str | None, FirstHopReason] = {}
        classifier = parser.relay_classifier()
        if classifier is not None:
            classifier.trace(self._record)

    def _record(
        self, inputs: tuple[str | None, str | None, str | None, int | None], reason: FirstHopReason
    ) -> None:
        self._now.append((inputs, reason))
        _, host, addr, port = inputs
        key = (host or addr or "").lower() or None
        self._by_relay[(key, port)] = reason
        self._by_host[key] = reason
        if len(self._by_relay) > 4096:
            self._by_relay.clear()
            self._by_host.clear()

    def reasons(self, attempts: list[Attempt]) -> list[FirstHopReason | None]:
        """One reason per attempt of the line just fed; forgets that line's decisions."""
        now, self._now = self._now, []
        out: list[FirstHopReason | None] = []
        for attempt in attempts:
            host = (attempt.relay_host or attempt.relay_ip or "").lower() or None
            reason = next(
                (r for (_, h, a, p), r in reversed(now) if (h or a or "").lower() == (host or "") and p == attempt.relay_port),
                None,
            )
            if reason is None and len(now) == 1 and len(attempts) == 1:
                reason = now[0][1]
            if reason is None:
                reason = self._by_relay.get((host, attempt.relay_port)) or self._by_host.get(host)
            out.append(reason if reason is not None and reason.first_hop == attempt.first_hop else None)
        return out
