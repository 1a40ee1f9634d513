"""A correction is carried by the verdict that caused it, and every face still shows it
as an event of its own, quoting the acceptance it overturned; on both databases.

Through the writers poll (record_verdicts) and ingest-log (store_attempts) use.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from bounceledger import queries
from bounceledger.db import Database
from bounceledger.ingest.attempts import store_attempts
from bounceledger.ingest.records import Attempt, Verdict
from bounceledger.ingest.returned import record_verdicts, verdict_row
from bounceledger.models import Event
from bounceledger.web import queries as web_queries

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ADDRESS = "kim@example.org"
SENT_AT = NOW - timedelta(hours=3)
LINE = f"{SENT_AT.isoformat()} postfix/smtp[1]: M1: to=<{ADDRESS}>, relay=mx.example.org, status=sent (250 2.0.0 Ok)"


def _sent() -> Attempt:
    return Attempt(
        at=SENT_AT, recipient=ADDRESS, verdict="accepted", queue_id="M1", message_id="m1@news.example",
        sender="bounces+m1@news.example", relay_host="mx.example.org", replycode="250", status="2.0.0",
        text="250 2.0.0 Ok: queued as XM1", raw=LINE,
    )


def _verdict(key: str, kind: str, minutes: int, recipient: str = ADDRESS, tied: bool = True) -> dict[str, object]:
    """A verdict row as poll stores it, tied to the send by its original Message-ID (unless not ``tied``)."""
    bounce = kind == "bounce"
    verdict = Verdict(
        kind=kind, recipient=recipient, reason="userunknown" if bounce else "delayed", hardbounce=bounce,
        action="failed" if bounce else "delayed", status="5.1.1" if bounce else "4.4.7",
        replycode="550" if bounce else "450", diagnostic="user unknown" if bounce else "still trying",
        original_message_id="m1@news.example" if tied else None,
    )
    return verdict_row(verdict, key, None, SENT_AT + timedelta(minutes=minutes), "test-box", NOW)  # type: ignore[arg-type]


def _log(database: Database) -> None:
    with database.session() as session:
        store_attempts(session, [_sent()], "test-log", database.rules)


def _poll(database: Database, *rows: dict[str, object]) -> None:
    with database.session() as session:
        record_verdicts(session, list(rows), database.rules)


def _folds(database: Database) -> dict[str, tuple[str | None, str | None, bool]]:
    """Each verdict's fold: (corrected_from, corrected_to, has corrected_at), by its key."""
    with database.session() as session:
        rows = session.execute(
            select(Event.dedupe_key, Event.corrected_from, Event.corrected_to, Event.corrected_at).where(Event.kind == "verdict")
        )
        return {key: (f, t, at is not None) for key, f, t, at in rows}


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def test_a_bounce_on_an_accepted_delivery_carries_its_correction(database: Database) -> None:
    _log(database)
    _poll(database, _verdict("b1", "bounce", 40))
    assert _folds(database) == {"b1": ("accepted", "bounced", True)}
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "correction")) == 0
        result = queries.lookup(session, ADDRESS)
        report = queries.report(session)
        [summary] = [row for row in queries.delivery_table(session) if row["recipient"] == ADDRESS]
        page = web_queries.recipient(session, ADDRESS)
    [delivery] = result["deliveries"]
    assert [(e["kind"], e["outcome"]) for e in delivery["events"]] == [
        ("attempt", "accepted"), ("verdict", "bounce"), ("correction", "bounced"),
    ]
    verdict, correction = delivery["events"][1:]
    detail = (
        f"accepted by mx.example.org at {_stamp(SENT_AT)} UTC, corrected to bounced at "
        f"{_stamp(SENT_AT + timedelta(minutes=40))} UTC: 5.1.1 userunknown"
    )
    assert correction == {
        **correction,
        "source": "reconcile", "at": verdict["at"], "from_state": "accepted", "to_state": "bounced",
        "status": "5.1.1", "replycode": "550", "reason": "userunknown", "remote_host": "mx.example.org",
        "first_hop": True, "match_key": verdict["match_key"], "reporting_mta": None, "detail": detail,
    }
    assert verdict["from_state"] is None and verdict["to_state"] is None  # the verdict itself shows as before
    assert summary["correction"] == detail
    assert report["events"] == 3  # the attempt, the verdict and its correction
    web_correction = page["deliveries"][0]["events"][2]
    assert web_correction["log_line"] == LINE  # the acceptance it quotes
    assert web_correction["evidence"]["accepted_line"] == LINE


def test_a_verdict_the_ledger_holds_already_corrects_nothing_again(database: Database) -> None:
    """A batch row whose key the ledger holds (stored before, tied elsewhere) is not written
    again, so it cannot decide: its delivery is decided from the events the ledger holds,
    and no correction stands without the verdict that carries it."""
    _poll(database, _verdict("x1", "bounce", 40, recipient="other@example.net", tied=False))  # kept as an orphan
    _log(database)
    _poll(database, _verdict("x1", "bounce", 40), _verdict("d2", "delay", 45))
    assert _folds(database) == {"x1": (None, None, False), "d2": (None, None, False)}
    with database.session() as session:
        [delivery] = queries.lookup(session, ADDRESS)["deliveries"]
    assert (delivery["state"], delivery["corrected"]) == ("accepted", False)
    assert [e["kind"] for e in delivery["events"]] == ["attempt", "verdict"]
    _poll(database, _verdict("b3", "bounce", 50), _verdict("x1", "bounce", 40))
    assert _folds(database)["b3"] == ("accepted", "bounced", True)
    with database.session() as session:
        [delivery] = queries.lookup(session, ADDRESS)["deliveries"]
    assert (delivery["state"], delivery["corrected"]) == ("bounced", True)
    assert [e["kind"] for e in delivery["events"]] == ["attempt", "verdict", "verdict", "correction"]


def test_a_bounce_read_before_its_send_is_folded_when_the_send_is_read(database: Database) -> None:
    """Decided from the history (the send came later): the stored verdict takes the correction."""
    _poll(database, _verdict("b3", "bounce", 30))
    assert _folds(database) == {"b3": (None, None, False)}  # an orphan corrects nothing
    _log(database)
    assert _folds(database) == {"b3": ("accepted", "bounced", True)}
    _log(database)  # the same line again: nothing changes, nothing is folded twice
    with database.session() as session:
        [delivery] = queries.lookup(session, ADDRESS)["deliveries"]
    assert [e["kind"] for e in delivery["events"]] == ["attempt", "verdict", "correction"]
    assert delivery["events"][2]["detail"].startswith(f"accepted by mx.example.org at {_stamp(SENT_AT)} UTC")


def test_forgetting_the_address_counts_its_correction_among_the_events_rewritten(database: Database) -> None:
    """``forget`` says how many events it rewrote; a correction counts as one, as its row did."""
    from bounceledger.forget import forget

    _log(database)
    _poll(database, _verdict("b5", "bounce", 40))
    with database.session() as session:
        done = forget(session, ADDRESS, NOW)
    assert done.events == 3  # the acceptance, the bounce and the correction it carries
    with database.session() as session:
        assert _folds(database) == {"b5": ("accepted", "bounced", True)}  # forgetting keeps the history's shape
        [delivery] = queries.lookup(session, _pseudonym(session))["deliveries"]
    assert [e["kind"] for e in delivery["events"]] == ["attempt", "verdict", "correction"]


def _pseudonym(session: object) -> str:
    """The pseudonym the forgotten address became (the one erasure event names it)."""
    from bounceledger.models import Delivery

    return str(session.scalar(select(Delivery.recipient)))  # type: ignore[attr-defined]
