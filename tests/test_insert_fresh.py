"""Rows written the fast way when their keys are new, the careful way when one is not.

Reconciliation writes verdicts, corrections, suppressions and returned
messages with :func:`bounceledger.ingest.dbutil.insert_fresh`: a COPY
straight into the table on PostgreSQL, which a key that already exists
turns into the careful ``INSERT ... ON CONFLICT`` inside a savepoint.
Either way the rows already there are left alone and left out of the
answer, nothing else in the transaction is lost, and SQLite gives the same.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from bounceledger.db import Database
from bounceledger.ingest.dbutil import insert_fresh
from bounceledger.models import Suppression

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def _row(address: str, note: str) -> dict[str, object]:
    return {"address": address, "reason": "hardbounce", "active": True, "source_delivery_id": None, "note": note,
            "since": NOW, "expires_at": None, "released_at": None, "updated_at": NOW}


def _stored(database: Database) -> dict[str, tuple[int, str | None]]:
    with database.session() as session:
        return {r.address: (r.id, r.note) for r in session.scalars(select(Suppression))}


def test_new_keys_are_written_with_their_ids(database: Database) -> None:
    with database.session() as session:
        ids = insert_fresh(session, Suppression, [_row("a@x.example", "1"), _row("b@x.example", "1")], ["address"], key="address")
    stored = _stored(database)
    assert ids == {address: row_id for address, (row_id, _) in stored.items()}
    assert set(stored) == {"a@x.example", "b@x.example"}


def test_a_key_already_there_is_skipped_and_the_rest_of_the_transaction_kept(database: Database) -> None:
    with database.session() as session:
        insert_fresh(session, Suppression, [_row("a@x.example", "first")], ["address"])
    first_id = _stored(database)["a@x.example"][0]
    with database.session() as session:
        session.add(Suppression(**_row("c@x.example", "same transaction, before")))  # pending: flushed first
        ids = insert_fresh(
            session, Suppression, [_row("a@x.example", "second"), _row("b@x.example", "second")], ["address"], key="address"
        )
        without_ids = insert_fresh(session, Suppression, [_row("b@x.example", "third"), _row("d@x.example", "third")], ["address"])
    stored = _stored(database)
    assert set(ids) == {"b@x.example"}  # the one it wrote
    assert without_ids == {}
    assert stored["a@x.example"] == (first_id, "first")  # left as it was
    assert stored["b@x.example"] == (ids["b@x.example"], "second")
    assert {address: note for address, (_, note) in stored.items()} == {
        "a@x.example": "first", "b@x.example": "second", "c@x.example": "same transaction, before", "d@x.example": "third",
    }
