"""The same events in any arrival order give the same ledger, on both databases,
as soon as the last batch is written (no later retry step).

Real events: the bundled samples' send-log attempts and returned messages,
shuffled together and fed in random batches, as a scheduler would meet them
when a bounce is read before the log line it corrects.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bounceledger.db import Database
from bounceledger.ingest.attempts import is_notice, store_attempts
from bounceledger.ingest.records import Attempt
from bounceledger.ingest.returned import Incoming, store_returned_messages
from bounceledger.ingest.sendlog import ParseOptions, make_parser
from bounceledger.models import Base, Delivery, SentMessage

SAMPLES = Path(__file__).resolve().parent.parent / "bounceledger" / "samples"


def _attempts() -> list[Attempt]:
    parser = make_parser("postfix", ParseOptions(reference_time=datetime(2026, 11, 28, tzinfo=timezone.utc)))
    with (SAMPLES / "sendlog" / "postfix.log").open() as handle:
        found = [a for line in handle for a in parser.feed(line)]
    return [a for a in found if not is_notice(a)]


ATTEMPTS = _attempts()
MESSAGES = [p.read_bytes() for p in sorted((SAMPLES / "returned" / "new").glob("*.msg"))]
UNITS: list[tuple[str, int]] = [("attempt", i) for i in range(len(ATTEMPTS))] + [
    ("message", i) for i in range(len(MESSAGES))
]


def _reset(database: Database) -> None:
    with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def _feed(database: Database, order: list[tuple[str, int]], cuts: list[int]) -> dict[tuple[str | None, str], tuple]:
    _reset(database)
    batches: list[list[tuple[str, int]]] = []
    start = 0
    for cut in sorted(set(cuts)) + [len(order)]:
        if cut > start:
            batches.append(order[start:cut])
            start = cut
    for batch in batches:
        with database.session() as session:
            store_attempts(session, [ATTEMPTS[i] for kind, i in batch if kind == "attempt"], "sample", database.rules)
            store_returned_messages(
                session,
                [Incoming(MESSAGES[i], "sample-box", f"m{i}") for kind, i in batch if kind == "message"],
                database.rules,
            )
    with database.session() as session:  # no retry step: each batch ties what it can at once
        rows = session.execute(
            select(SentMessage.message_id, Delivery.recipient, Delivery.state, Delivery.corrected, Delivery.reason, Delivery.status)
            .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        ).all()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(UNITS), cuts=st.lists(st.integers(0, len(UNITS)), max_size=6))
def test_any_arrival_order_gives_the_same_states(database: Database, order, cuts) -> None:  # type: ignore[no-untyped-def]
    canonical = _feed(database, UNITS, [len(ATTEMPTS)])
    assert canonical[("campaign-nov.1@sender.test", "unknown2@example.net")][:2] == ("bounced", True)
    assert _feed(database, list(order), cuts) == canonical
