"""A send log reads the same whatever its line ends and the blanks before them.

A log copied from a Windows host or exported by a tool has CRLF line ends; a
pipeline or an editor may pad lines with blanks. Neither says anything, but
before blanks were trimmed a padded Postfix line kept its closing parenthesis
in the reply text and lost its SMTP stage ("(in reply to RCPT TO command))"),
and an Exim line's text took the ``DT=`` field that follows it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bounceledger.ingest.sendlog import ParseOptions, detect_format, make_parser
from tests.sendlog.helpers import FIXTURES, REFERENCE

LOGS = sorted([*FIXTURES.glob("*.log"), *FIXTURES.glob("real/*.log"), *FIXTURES.glob("*.csv"), *FIXTURES.glob("*.jsonl")])


def _attempts(lines: list[str], fmt: str) -> list[dict[str, object]]:
    parser = make_parser(fmt, ParseOptions(reference_time=REFERENCE))
    found = [attempt for line in lines for attempt in parser.feed(line)]
    # the raw line is kept as read: everything read from it must agree
    return [{**dataclasses.asdict(attempt), "raw": None} for attempt in found]


def test_there_are_logs_with_attempts() -> None:
    assert sum(1 for path in LOGS if _attempts(*_read(path))) >= 10


def _read(path: Path) -> tuple[list[str], str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines, detect_format(lines[:50]) or "postfix"


@pytest.mark.parametrize("path", LOGS, ids=lambda path: str(path.relative_to(FIXTURES)))
@pytest.mark.parametrize("ending", ["\r\n", "  \n", "\t\r\n", " \t \n"])
def test_line_ends_and_blanks_change_nothing(path: Path, ending: str) -> None:
    lines, fmt = _read(path)
    assert _attempts([line + ending for line in lines], fmt) == _attempts([line + "\n" for line in lines], fmt)
