"""Lists sent to PostgreSQL as one array text read back as the same values, and keep index plans."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from bounceledger.ingest.dbutil import array_param, array_text

AWKWARD = ['plain', 'quote " inside', 'back\\slash', 'both \\" of them', '', ' spaced ', '{braces,comma}', 'NULL', 'é 日本', None]


def test_text_form() -> None:
    assert array_text([1, -2, 30]) == "{1,-2,30}"
    assert array_text([]) == "{}"
    assert array_text(['a"b', None]) == '{"a\\"b",NULL}'


def test_values_come_back_unchanged(postgres_database_url: str) -> None:
    engine = create_engine(postgres_database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(array_param(AWKWARD, "TEXT"))).scalar_one() == AWKWARD
            assert conn.execute(select(array_param([7, 2**40, -1], "BIGINT"))).scalar_one() == [7, 2**40, -1]
            assert conn.execute(text("SELECT CAST(:v AS text[])"), {"v": array_text(AWKWARD)}).scalar_one() == AWKWARD
    finally:
        engine.dispose()


def test_the_planner_sees_the_array(postgres_database_url: str) -> None:
    """A look-up by a list of keys probes the unique index, on a big table and a small one alike."""
    engine = create_engine(postgres_database_url)
    try:
        with engine.connect() as conn:
            explain = text("EXPLAIN SELECT id FROM sent_messages WHERE msg_key = ANY(:keys)").bindparams(
                array_param(["mid:a@x", "mid:b@x"], "TEXT", key="keys")
            )
            plan = "\n".join(row[0] for row in conn.execute(explain))
    finally:
        engine.dispose()
    assert "uq_sent_messages_msg_key" in plan, plan


@pytest.mark.parametrize("value", ["x", 'a"b', "c\\d"])
def test_single_values(value: str) -> None:
    assert array_text([value]).startswith('{"') and array_text([value]).endswith('"}')
