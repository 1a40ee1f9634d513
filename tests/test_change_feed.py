"""The change feed, on both databases: what it records, in what order, and what it never records.

Sends and returned messages go through the real log parser and the real
returned-mail writer (:mod:`tests.settlement_history`); settlement, manual
suppression and the migration backfill through their own code paths. Each
test reads the feed back with :func:`bounceledger.changes.read`, the reader
every face (CLI, API, webhooks) uses.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from bounceledger import changes
from bounceledger import db as dbmod
from bounceledger.db import Database
from bounceledger.ingest import feed, settlement, suppress
from bounceledger.models import Change, Delivery, Suppression
from tests.settlement_history import MIMECAST, PROOFPOINT, Send, record_bounces, record_sends
from tests.test_settlement import POLICY
from tests.web.conftest import seed

T0 = datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc)


def feed_of(database: Database, after: int = 0, **options: Any) -> list[dict[str, Any]]:
    with database.session() as session:
        return changes.read(session, after, **options)


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None, str]]:
    return [(e["type"], e["recipient"], e["from_state"], e["to_state"]) for e in entries]


def test_an_acceptance_then_its_correction_and_the_suppression_it_causes(database: Database) -> None:
    send = Send(1, "ann@customer.example", PROOFPOINT.relays[0], T0)
    record_sends(database, [send])
    (accepted,) = feed_of(database)
    assert set(accepted) == changes.ENTRY_KEYS
    assert set(accepted["message"]) == changes.MESSAGE_KEYS and set(accepted["evidence"]) == changes.EVIDENCE_KEYS
    assert summary([accepted]) == [("delivery.accepted", send.recipient, None, "accepted")]
    assert (accepted["message"]["message_id"], accepted["message"]["queue_id"]) == (send.message_id, send.queue_id)
    assert (accepted["replycode"], accepted["status"], accepted["hard"]) == ("250", "2.0.0", None)
    assert accepted["evidence"]["kind"] == "attempt" and "status=sent (250 2.0.0" in accepted["evidence"]["line"]
    assert accepted["at"] == "2026-03-04T09:00:00Z"

    record_bounces(database, [(send, T0 + timedelta(minutes=40))])
    corrected, added = feed_of(database, accepted["seq"])
    assert summary([corrected, added]) == [
        ("delivery.corrected", send.recipient, "accepted", "bounced"),
        ("suppression.added", send.recipient, None, "suppressed"),
    ]
    assert (corrected["reason"], corrected["category"], corrected["hard"]) == ("userunknown", "bad-mailbox", True)
    assert (corrected["status"], corrected["replycode"]) == ("5.1.1", "550")
    assert corrected["at"] == "2026-03-04T09:40:00Z"
    assert corrected["evidence"]["kind"] == "verdict" and corrected["evidence"]["reporting_mta"] == "gateway.example"
    assert corrected["evidence"]["match_key"] == "message_id"
    assert corrected["delivery_id"] == accepted["delivery_id"] == added["delivery_id"]
    assert (added["reason"], added["hard"], added["status"]) == ("hardbounce", True, "5.1.1")

    # the same returned message read again changes nothing, so says nothing
    record_bounces(database, [(send, T0 + timedelta(minutes=40))])
    assert feed_of(database, added["seq"]) == []


def test_settlement_and_a_bounce_after_it(database: Database) -> None:
    quiet = Send(2, "quiet@customer.example", MIMECAST.relays[0], T0)
    late = Send(3, "late@customer.example", MIMECAST.relays[1], T0)
    record_sends(database, [quiet, late])
    with database.session() as session:
        start = changes.last_seq(session)
    with database.session() as session:
        assert settlement.settle_due(session, POLICY, T0 + timedelta(minutes=119), database.rules) == 0
    assert feed_of(database, start) == []
    with database.session() as session:
        assert settlement.settle_due(session, POLICY, T0 + timedelta(hours=3), database.rules) == 2
    settled = feed_of(database, start)
    assert sorted(summary(settled)) == [
        ("delivery.settled", late.recipient, "accepted", "settled"),
        ("delivery.settled", quiet.recipient, "accepted", "settled"),
    ]
    assert {e["at"] for e in settled} == {"2026-03-04T11:00:00Z"}  # the default window: two hours after the 250

    record_bounces(database, [(late, T0 + timedelta(hours=5))])
    corrected = feed_of(database, settled[-1]["seq"], types=["delivery.corrected"])
    assert summary(corrected) == [("delivery.corrected", late.recipient, "settled", "bounced")]
    assert corrected[0]["hard"] is True


def test_manual_suppressions_are_added_and_released_with_their_notes(database: Database) -> None:
    at = T0 + timedelta(days=1)
    with database.session() as session:
        suppress.add(session, "Bob@Customer.example", "asked on the phone", at)
    with database.session() as session:
        suppress.add(session, "bob@customer.example", "asked twice", at + timedelta(minutes=1))  # already on: no change
    with database.session() as session:
        assert suppress.release(session, "bob@customer.example", "mailbox fixed", at + timedelta(hours=1))
    entries = feed_of(database)
    assert summary(entries) == [
        ("suppression.added", "bob@customer.example", None, "suppressed"),
        ("suppression.released", "bob@customer.example", "suppressed", "released"),
    ]
    assert [(e["reason"], e["note"], e["hard"], e["delivery_id"], e["message"]) for e in entries] == [
        ("manual", "asked on the phone", False, None, None),
        ("manual", "mailbox fixed", False, None, None),
    ]
    assert entries[1]["at"] == "2026-03-05T10:00:00Z"


def test_a_rolled_back_change_leaves_no_entry(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as session:
        suppress.add(session, "gone@customer.example", "never happened", T0)
        session.flush()
        raise RuntimeError("the transaction fails after the change")
    assert feed_of(database) == []
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0
    # the session that rolled back carries nothing into its next commit
    with database.sessions() as session:
        suppress.add(session, "kept@customer.example", "rolled back", T0)
        session.rollback()
        suppress.add(session, "second@customer.example", "real", T0)
        session.commit()
    assert [e["recipient"] for e in feed_of(database)] == ["second@customer.example"]


def test_sequence_numbers_rise_and_readers_page_and_filter(database: Database, tmp_path: Any) -> None:
    seed(database, tmp_path)
    entries = feed_of(database, limit=changes.MAX_LIMIT)
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(set(seqs)) and len(seqs) > 10
    with database.session() as session:
        assert changes.last_seq(session) == seqs[-1]
    # paging by ``after`` gives exactly the same entries, none twice, none skipped
    paged: list[dict[str, Any]] = []
    after = 0
    while page := feed_of(database, after, limit=4):
        paged += page
        after = page[-1]["seq"]
    assert paged == entries
    types = {e["type"] for e in entries}
    assert {"delivery.accepted", "delivery.corrected", "suppression.added"} <= types <= set(feed.TYPES)
    chosen = changes.check_types(["suppression.*", "delivery.corrected"])
    assert chosen is not None and set(chosen) == {"suppression.added", "suppression.released", "delivery.corrected"}
    assert feed_of(database, types=chosen) == [e for e in entries if e["type"] in chosen]
    with pytest.raises(changes.UnknownType):
        changes.check_types(["delivery.nosuch"])
    campaign = next(e["message"]["campaign"] for e in entries if e["message"] and e["message"]["campaign"])
    by_campaign = feed_of(database, campaign=campaign)
    assert by_campaign == [e for e in entries if e["message"] and e["message"]["campaign"] == campaign]
    # every delivery with a verdict has exactly the entries that walk it to its state
    with database.session() as session:
        states = dict(session.execute(select(Delivery.id, Delivery.state).where(Delivery.state != "pending")).all())
    last: dict[int, str] = {}
    for e in entries:
        if e["type"].startswith("delivery."):
            assert e["from_state"] == last.get(e["delivery_id"]), e
            last[e["delivery_id"]] = e["to_state"]
    assert last == states


def test_concurrent_writers_get_sequence_numbers_in_commit_order(database: Database) -> None:
    """PostgreSQL: the later committer waits for the earlier one's lock, so its seq is higher."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: commit order is seq order by construction")
    first = database.session()
    first_session = first.__enter__()
    suppress.add(first_session, "first@customer.example", "slow transaction", T0)
    feed._write_pending(first_session)  # what its commit would do first: lock, insert
    done = threading.Event()

    def second_writer() -> None:
        with database.session() as session:
            suppress.add(session, "second@customer.example", "quick transaction", T0)
        done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.5)
    assert not done.is_set(), "the second commit must wait for the first writer's lock"
    first.__exit__(None, None, None)
    thread.join(10)
    assert done.is_set()
    assert [e["recipient"] for e in feed_of(database)] == ["first@customer.example", "second@customer.example"]


def test_the_migration_backfills_a_ledger_that_had_no_feed(database: Database, tmp_path: Any) -> None:
    seed(database, tmp_path)
    with database.session() as session:
        deliveries = dict(
            session.execute(select(Delivery.id, Delivery.state).where(Delivery.state != "pending")).all()
        )
        corrected = set(session.scalars(select(Delivery.id).where(Delivery.corrected)))
        suppressed = set(session.scalars(select(Suppression.address).where(Suppression.active)))
    database.dispose()
    dbmod.downgrade(database, "0004")
    dbmod.upgrade(database)
    entries = feed_of(database, limit=changes.MAX_LIMIT)
    by_delivery = {e["delivery_id"]: e for e in entries if e["type"].startswith("delivery.")}
    assert len(by_delivery) == len([e for e in entries if e["type"].startswith("delivery.")])
    assert {i: e["to_state"] for i, e in by_delivery.items()} == deliveries
    assert {i for i, e in by_delivery.items() if e["type"] == "delivery.corrected"} == {
        i for i in corrected if deliveries[i] in ("bounced", "expired")
    }
    assert {e["recipient"] for e in entries if e["type"] == "suppression.added"} == suppressed
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Change)) == len(entries)


def test_a_large_batch_is_written_whole_and_in_order(database: Database) -> None:
    """Hundreds of entries in one commit (PostgreSQL takes them by COPY): the same entries as one at a time."""
    sends = [Send(100 + n, f"bulk{n}@customer.example", PROOFPOINT.relays[n % 2], T0 + timedelta(seconds=n)) for n in range(300)]
    record_sends(database, sends)
    entries = feed_of(database)
    assert [(e["type"], e["recipient"], e["at"], e["message"]["message_id"]) for e in entries] == [
        ("delivery.accepted", s.recipient, s.at.isoformat().replace("+00:00", "Z"), s.message_id) for s in sends
    ]
    assert len({e["recorded_at"] for e in entries}) == 1 and all(e["evidence"]["kind"] == "attempt" for e in entries)


def test_a_suppression_that_runs_out_is_announced_once_and_again_after_a_renewal(database: Database) -> None:
    from bounceledger import pipeline
    from bounceledger.suppression_import import Entry, put

    def imported(at: datetime, until: datetime) -> None:
        with database.session() as session:
            put(session, Entry("temp@customer.example", "softbounce", "from the CRM", None, until), at, "imported")

    imported(T0, T0 + timedelta(days=1))
    assert pipeline.expire_and_settle(database, T0 + timedelta(hours=12)) == (0, 0)
    assert summary(feed_of(database)) == [("suppression.added", "temp@customer.example", None, "suppressed")]
    pipeline.expire_and_settle(database, T0 + timedelta(days=2))
    pipeline.expire_and_settle(database, T0 + timedelta(days=2, hours=1))  # told once
    ended = feed_of(database)[1:]
    assert [(e["type"], e["at"], e["note"], e["reason"]) for e in ended] == [
        ("suppression.released", "2026-03-05T09:00:00Z", "expired", "softbounce")
    ]
    imported(T0 + timedelta(days=3), T0 + timedelta(days=5))  # renewed after it ran out: added again
    pipeline.expire_and_settle(database, T0 + timedelta(days=6))
    assert summary(feed_of(database, ended[0]["seq"])) == [
        ("suppression.added", "temp@customer.example", None, "suppressed"),
        ("suppression.released", "temp@customer.example", "suppressed", "released"),
    ]
