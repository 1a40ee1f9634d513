"""Send-log parsers: MTA log lines in, :class:`~bounceledger.ingest.records.Attempt` out.

One module per MTA format, one entry in :data:`FORMATS`. Every format
provides a cheap ``looks_like(first_lines)`` test and a parser factory; the
order of :data:`FORMATS` decides who is asked first, so a format whose lines
could be mistaken for another's goes earlier. Adding a format never touches
the others.

Usage::

    parser = make_parser(detect_format(head) or "postfix", ParseOptions(reference_time=mtime))
    for line in stream:
        for attempt in parser.feed(line):
            ...
    parser.skipped, parser.samples  # what could not be read
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog.base import DsnLink, LineParser, ParseOptions
from bounceledger.ingest.sendlog.exim import EximParser, looks_like_exim
from bounceledger.ingest.sendlog.journal import as_syslog
from bounceledger.ingest.sendlog.jsonl import JsonlParser, looks_like_jsonl
from bounceledger.ingest.sendlog.pmta import PmtaParser, looks_like_pmta
from bounceledger.ingest.sendlog.postfix import PostfixParser, looks_like_postfix
from bounceledger.ingest.sendlog.relays import DEFAULT_INTERNAL_RELAYS
from bounceledger.ingest.sendlog.sendmail import SendmailParser, looks_like_sendmail

__all__ = [
    "DEFAULT_INTERNAL_RELAYS",
    "FORMATS",
    "DsnLink",
    "LineParser",
    "ParseOptions",
    "SendlogFormat",
    "detect_format",
    "make_parser",
    "most_recognised_format",
    "parse_lines",
]


@dataclass(frozen=True, slots=True)
class SendlogFormat:
    """A registered log format."""

    name: str
    looks_like: Callable[[list[str]], bool]
    factory: Callable[[ParseOptions], LineParser]


# Ordered: detection tries these first to last. The syslog formats come
# first and each requires its own program names, so a shared mail.log goes to
# whichever MTA wrote it; Exim's own stamp ("2026-11-27 10:15:02 <id>") has no
# program field at all. The structured formats need their first line to be a
# header (PowerMTA) or JSON objects (jsonl), which no syslog line is.
FORMATS: dict[str, SendlogFormat] = {
    "postfix": SendlogFormat("postfix", looks_like_postfix, PostfixParser),
    "exim": SendlogFormat("exim", looks_like_exim, EximParser),
    "sendmail": SendlogFormat("sendmail", looks_like_sendmail, SendmailParser),
    "pmta": SendlogFormat("pmta", looks_like_pmta, PmtaParser),
    "jsonl": SendlogFormat("jsonl", looks_like_jsonl, JsonlParser),
}


def detect_format(first_lines: list[str]) -> str | None:
    """Name of the first registered format that recognises these lines (the
    head of a file, a few dozen lines is plenty), or None."""
    lines = [as_syslog(line) for line in first_lines if isinstance(line, str)]
    for fmt in FORMATS.values():
        try:
            if fmt.looks_like(lines):
                return fmt.name
        except Exception:  # detection must not break ingestion
            continue
    return None


def most_recognised_format(lines: list[str]) -> str | None:
    """The format that claims the most single lines, one line at a time
    (the test ``--format NAME`` applies, :meth:`LineParser.recognises`), or
    None when none claims any; a tie goes to the earlier format.

    For a head in which no format finds enough of its own lines: a Debian
    ``mail.log`` of a host running amavisd-new, OpenDKIM, SpamAssassin and
    Dovecot begins with dozens of their lines, Postfix's first one can be
    the 75th, and a quiet host's log is mostly IMAP logins.
    """
    counts = dict.fromkeys(FORMATS, 0)
    for line in lines:
        if not isinstance(line, str) or not line.strip():
            continue
        one = [as_syslog(line)]
        for fmt in FORMATS.values():
            try:
                if fmt.looks_like(one):
                    counts[fmt.name] += 1
            except Exception:  # detection must not break ingestion
                continue
    best = max(counts, key=lambda name: counts[name])  # the first of the highest, in FORMATS order
    return best if counts[best] else None


def make_parser(fmt: str, options: ParseOptions) -> LineParser:
    """A fresh, stateful parser for one stream of ``fmt`` lines.

    Raises ``ValueError`` for an unknown format name (a configuration error,
    unlike bad log lines, which are counted, never raised).
    """
    try:
        spec = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown send-log format {fmt!r}; known: {', '.join(FORMATS)}") from None
    return spec.factory(options)


def parse_lines(lines: Iterable[str], fmt: str, *, options: ParseOptions) -> Iterator[Attempt]:
    """Convenience generator over a whole stream; use :func:`make_parser`
    directly when you need ``skipped``/``samples`` or the DSN links."""
    parser = make_parser(fmt, options)
    for line in lines:
        yield from parser.feed(line)
