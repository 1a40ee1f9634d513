"""PostgreSQL's statistics kept fresh while a run grows the ledger, so batch look-ups use the indexes."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import text

from bounceledger.db import ANALYZE_FROM_ROWS, Database
from bounceledger.ingest.dbutil import insert_tuples
from bounceledger.models import ReturnedMessage

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
COLUMNS = ("sha256", "message_id", "source", "outcome", "size", "raw", "received_at", "recorded_at")


def _returned(count: int, start: int = 0) -> list[tuple[object, ...]]:
    return [
        (f"{index:064x}", f"m{index}@sender.test", "test", "processed", 1, b"x", NOW, NOW)
        for index in range(start, start + count)
    ]


def test_tables_are_analysed_once_a_run_has_doubled_them(database: Database, backend: str) -> None:
    with database.session() as session:
        insert_tuples(session, ReturnedMessage.__table__, COLUMNS, _returned(ANALYZE_FROM_ROWS + 200), ["sha256"])
        if backend == "postgresql":
            session.execute(text("SELECT pg_stat_force_next_flush()"))  # the counts are otherwise sent within seconds
    if backend == "sqlite":
        assert database.analyze_grown_tables() == []  # SQLite plans these look-ups by its indexes alone
        return
    assert "returned_messages" in database.analyze_grown_tables()
    with database.engine.connect() as conn:
        analysed = conn.scalar(text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'returned_messages'"))
    assert analysed is not None
    assert "returned_messages" not in database.analyze_grown_tables()  # nothing changed since

    with database.session() as session:  # fewer new rows than the table held: not yet
        insert_tuples(session, ReturnedMessage.__table__, COLUMNS, _returned(ANALYZE_FROM_ROWS, start=10_000), ["sha256"])
        session.execute(text("SELECT pg_stat_force_next_flush()"))
    assert "returned_messages" not in database.analyze_grown_tables()
    with database.session() as session:  # now it has doubled since
        insert_tuples(session, ReturnedMessage.__table__, COLUMNS, _returned(400, start=20_000), ["sha256"])
        session.execute(text("SELECT pg_stat_force_next_flush()"))
    assert "returned_messages" in database.analyze_grown_tables()


def test_a_table_analysed_large_is_left_to_autovacuum(database: Database, backend: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past ANALYZE_UP_TO_ROWS the statistics already give the right plans: a doubling
    costs no in-run ANALYZE (measured: a third of the server's work on a fresh ledger)."""
    if backend == "sqlite":
        return
    import bounceledger.db as dbmod

    monkeypatch.setattr(dbmod, "ANALYZE_UP_TO_ROWS", ANALYZE_FROM_ROWS + 500)
    with database.session() as session:
        insert_tuples(session, ReturnedMessage.__table__, COLUMNS, _returned(ANALYZE_FROM_ROWS + 200), ["sha256"])
        session.execute(text("SELECT pg_stat_force_next_flush()"))
    assert "returned_messages" in database.analyze_grown_tables()  # small: analysed
    with database.session() as session:
        insert_tuples(session, ReturnedMessage.__table__, COLUMNS, _returned(ANALYZE_FROM_ROWS + 300, start=10_000), ["sha256"])
        session.execute(text("SELECT pg_stat_force_next_flush()"))
    assert "returned_messages" in database.analyze_grown_tables()  # doubled while small: analysed again
    with database.session() as session:
        insert_tuples(session, ReturnedMessage.__table__, COLUMNS, _returned(6000, start=20_000), ["sha256"])
        session.execute(text("SELECT pg_stat_force_next_flush()"))
    assert "returned_messages" not in database.analyze_grown_tables()  # doubled, but analysed large last time
