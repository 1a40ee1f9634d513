"""A returned message read before its send-log line is tied when the line is read, by
the same batch, on both databases; weak ties follow what a later send shows.

Through the writers ``poll`` (record_verdicts, as after parsing) and
``ingest-log`` (store_attempts) use; no retry step anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy import event, select

from bounceledger.db import Database
from bounceledger.ingest import corrections
from bounceledger.ingest.attempts import store_attempts
from bounceledger.ingest.records import Attempt, Verdict
from bounceledger.ingest.returned import record_verdicts, verdict_row
from bounceledger.models import Delivery, Event, SentMessage

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ADDRESS = "sam@example.org"


def _sent(name: str, days_ago: float, recipient: str = ADDRESS, next_hop: str | None = None) -> Attempt:
    at = NOW - timedelta(days=days_ago)
    return Attempt(
        at=at, recipient=recipient, verdict="accepted", queue_id=name.upper(), message_id=f"{name}@news.example",
        sender=f"bounces+{name}@news.example", relay_host="mx.example.org", replycode="250", status="2.0.0",
        text=f"250 2.0.0 Ok: queued as {next_hop or 'X' + name.upper()}", next_hop_queue_id=next_hop,
        raw=f"{at.isoformat()} {name} {recipient} sent",
    )


def _bounce(key: str, days_ago: float, recipient: str = ADDRESS, **keys: str) -> dict[str, object]:
    """A verdict row as poll stores it: a 5.1.1 bounce carrying only the given match keys."""
    verdict = Verdict(kind="bounce", recipient=recipient, reason="userunknown", hardbounce=True, action="failed",
                      status="5.1.1", replycode="550", diagnostic="550 5.1.1 user unknown", **keys)  # type: ignore[arg-type]
    return verdict_row(verdict, key, None, NOW - timedelta(days=days_ago), "test-box", NOW)  # type: ignore[arg-type]


def _poll(database: Database, *rows: dict[str, object]) -> list[tuple[int, str] | None]:
    with database.session() as session:
        return record_verdicts(session, list(rows), database.rules)


def _log(database: Database, *attempts: Attempt) -> None:
    with database.session() as session:
        store_attempts(session, list(attempts), "test-log", database.rules)


def _states(database: Database) -> dict[str, tuple[str, bool]]:
    with database.session() as session:
        rows = session.execute(
            select(SentMessage.message_id, Delivery.state, Delivery.corrected)
            .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        )
        return {message_id.split("@")[0]: (state, corrected) for message_id, state, corrected in rows}


def _ties(database: Database) -> dict[str, tuple[str | None, str | None]]:
    """Each verdict's delivery (by message name) and the key that tied it."""
    with database.session() as session:
        rows = session.execute(
            select(Event.dedupe_key, SentMessage.message_id, Event.match_key)
            .outerjoin(Delivery, Delivery.id == Event.delivery_id)
            .outerjoin(SentMessage, SentMessage.id == Delivery.sent_message_id)
            .where(Event.kind == "verdict")
        )
        return {key: (message_id.split("@")[0] if message_id else None, match_key) for key, message_id, match_key in rows}


def _corrections(database: Database) -> int:
    """The corrections the ledger holds (each carried by the verdict that made it)."""
    with database.session() as session:
        return len(corrections.corrections(session))


def test_every_key_ties_a_waiting_verdict_when_its_send_is_read(database: Database) -> None:
    _poll(
        database,
        _bounce("by-token", 1, "a@example.org", return_path_token="m1"),
        _bounce("by-queue-id", 1, "b@example.org", next_hop_queue_id="Q2NEXT"),
        _bounce("by-message-id", 1, "c@example.org", original_message_id="m3@news.example"),
        _bounce("by-recipient", 1, "d@example.org"),
    )
    assert set(_ties(database).values()) == {(None, None)}
    _log(
        database,
        _sent("m1", 2, "a@example.org"),
        _sent("m2", 2, "b@example.org", next_hop="Q2NEXT"),
        _sent("m3", 2, "c@example.org"),
        _sent("m4", 2, "d@example.org"),
    )
    assert _ties(database) == {
        "by-token": ("m1", "token"),
        "by-queue-id": ("m2", "queue_id"),
        "by-message-id": ("m3", "message_id"),
        "by-recipient": ("m4", "weak"),
    }
    assert _states(database) == {f"m{n}": ("bounced", True) for n in range(1, 5)}
    assert _corrections(database) == 4


def test_a_later_send_makes_a_weak_tie_ambiguous(database: Database) -> None:
    """Read in the other order, two sends to the address before the bounce leave it untied:
    reading the bounce first must end the same way."""
    _poll(database, _bounce("no-keys", 1))
    _log(database, _sent("monday", 3))
    assert _ties(database) == {"no-keys": ("monday", "weak")}
    assert _states(database) == {"monday": ("bounced", True)}

    _log(database, _sent("tuesday", 2))
    assert _ties(database) == {"no-keys": (None, None)}
    assert _states(database) == {"monday": ("accepted", False), "tuesday": ("accepted", False)}
    assert _corrections(database) == 0  # monday's acceptance was never overturned after all


def test_a_later_send_with_a_stronger_key_takes_the_verdict(database: Database) -> None:
    _poll(database, _bounce("names-tuesday", 1, original_message_id="tuesday@news.example"))
    _log(database, _sent("monday", 3))
    assert _ties(database) == {"names-tuesday": ("monday", "weak")}
    _log(database, _sent("tuesday", 2))
    assert _ties(database) == {"names-tuesday": ("tuesday", "message_id")}
    assert _states(database) == {"monday": ("accepted", False), "tuesday": ("bounced", True)}
    assert _corrections(database) == 1


def test_a_send_read_later_outside_the_window_leaves_a_weak_tie_alone(database: Database) -> None:
    _poll(database, _bounce("no-keys", 1))
    _log(database, _sent("recent", 2))
    _log(database, _sent("long-ago", 30))  # weeks before the bounce: not a candidate
    assert _ties(database) == {"no-keys": ("recent", "weak")}
    assert _states(database)["recent"] == ("bounced", True)


@contextmanager
def _statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


def test_a_batch_never_pages_through_the_orphans_about_other_people(database: Database) -> None:
    """The waiting verdicts are found by the batch's recipients: a thousand orphans about
    other addresses cost the same statements as none."""

    def batch_cost(prefix: str) -> int:
        with _statements(database) as seen:
            _log(database, *(_sent(f"{prefix}{n}", 1, f"{prefix}{n}@example.org") for n in range(20)))
        return len(seen)

    _poll(database, _bounce("other-one", 1, "someone@example.net"))
    few = batch_cost("first")
    _poll(database, *(_bounce(f"other-{n}", 1, f"other{n}@example.net") for n in range(1000)))
    assert batch_cost("second") == few
