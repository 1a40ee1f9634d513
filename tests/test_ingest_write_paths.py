"""The two ways a batch of attempts is written, on both databases, giving the same ledger.

PostgreSQL COPYs rows with new keys straight into their tables, with ids it
reserved (``ingest.attempts._write_new_keys``); anything that turns out to
exist already fails that COPY inside a savepoint and the batch is written
again the careful way (``INSERT ... ON CONFLICT``). SQLite always takes the
careful way. Either way: every line once, nothing lost, the feed told once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bounceledger.db import Database
from bounceledger.ingest import attempts as attempts_module
from bounceledger.ingest.attempts import store_attempts
from bounceledger.ingest.records import Attempt
from bounceledger.models import Change, Delivery, Event, SentMessage

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _attempt(message: str, recipient: str, minutes: int = 0, verdict: str = "accepted") -> Attempt:
    at = NOW - timedelta(minutes=60 - minutes)
    return Attempt(
        at=at, recipient=recipient, verdict=verdict, queue_id=message.upper(), message_id=f"{message}@news.example",
        sender="news@news.example", relay_host="mx.example.org", replycode="250" if verdict == "accepted" else "450",
        status="2.0.0" if verdict == "accepted" else "4.7.1", text="ok",
        raw=f"{at.isoformat()} {message} {recipient} {verdict}",
    )


def _store(database: Database, *attempts: Attempt) -> set[int]:
    with database.session() as session:
        return store_attempts(session, list(attempts), "test-log", database.rules)


def _counts(database: Database) -> tuple[int, int, int, int]:
    with database.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(m)) or 0 for m in (SentMessage, Delivery, Event, Change))  # type: ignore[return-value]


@pytest.fixture
def careful_ways(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the batches that took the careful way."""
    taken: list[int] = []
    careful = attempts_module._write_ignoring_known

    def counting(session, batch):  # type: ignore[no-untyped-def]
        taken.append(1)
        return careful(session, batch)

    monkeypatch.setattr(attempts_module, "_write_ignoring_known", counting)
    return taken


def test_a_fresh_batch_is_copied_and_a_batch_after_it_finds_what_it_wrote(
    database: Database, backend: str, careful_ways: list[int]
) -> None:
    first = _store(database, _attempt("m1", "a@x.example"), _attempt("m1", "b@x.example"), _attempt("m2", "a@x.example"))
    # m1 again (a retry of b, a new recipient c) and a new message: known keys are looked up, not re-copied
    second = _store(database, _attempt("m1", "b@x.example", 5, "deferred"), _attempt("m1", "c@x.example", 5),
                    _attempt("m3", "a@x.example", 5))
    assert careful_ways == ([1, 1] if backend == "sqlite" else [])
    assert len(first) == 3 and len(second) == 3 and len(first & second) == 1
    assert _counts(database) == (3, 5, 6, 5)


def test_the_same_line_twice_in_one_batch_is_one_event(database: Database, backend: str, careful_ways: list[int]) -> None:
    line = _attempt("m1", "a@x.example")
    _store(database, line, line, _attempt("m1", "b@x.example"))
    assert careful_ways == [1]  # PostgreSQL: the COPY's unique violation sent the batch the careful way
    assert _counts(database) == (1, 2, 2, 2)


def test_a_key_written_meanwhile_sends_the_batch_the_careful_way(
    database: Database, backend: str, careful_ways: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another ingester writes the message between this batch's look-up and its COPY."""
    if backend == "sqlite":
        pytest.skip("SQLite has no COPY path: every batch is written the careful way")
    looked_up = attempts_module._ids_by_key
    raced: list[int] = []

    def racing(session, keys):  # type: ignore[no-untyped-def]
        found = looked_up(session, keys)
        if not raced:
            raced.append(1)
            with database.session() as other:
                store_attempts(other, [_attempt("m1", "z@x.example")], "other-log", database.rules)
        return found

    monkeypatch.setattr(attempts_module, "_ids_by_key", racing)
    _store(database, _attempt("m1", "a@x.example"), _attempt("m2", "a@x.example"))
    assert careful_ways == [1]  # the other writer met no conflict; ours did, and took the careful way
    assert _counts(database) == (2, 3, 3, 3)
