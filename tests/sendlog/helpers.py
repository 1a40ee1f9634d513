"""Small helpers shared by the send-log tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import ParseOptions, make_parser
from bounceledger.ingest.sendlog.postfix import PostfixParser

FIXTURES = Path(__file__).parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "corpus"

REFERENCE = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)


def postfix(reference: datetime = REFERENCE, **options: object) -> PostfixParser:
    parser = make_parser("postfix", ParseOptions(reference_time=reference, **options))  # type: ignore[arg-type]
    assert isinstance(parser, PostfixParser)
    return parser


def feed_all(parser: PostfixParser, lines: Iterable[str]) -> list[Attempt]:
    out: list[Attempt] = []
    for line in lines:
        out.extend(parser.feed(line))
    return out


def one(line: str, **options: object) -> Attempt:
    """The single attempt a line yields on a fresh parser."""
    attempts = postfix(**options).feed(line)  # type: ignore[arg-type]
    assert len(attempts) == 1, attempts
    return attempts[0]
