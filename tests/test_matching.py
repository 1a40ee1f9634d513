"""Tying verdicts to deliveries: every key, strongest first, and forged tokens refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bounceledger.db import Database
from bounceledger.ingest.attempts import store_attempts
from bounceledger.ingest.matching import MatchKeys, match_many
from bounceledger.ingest.records import Attempt
from bounceledger.ingest.verp import return_path, token_of

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=timezone.utc)
SECRET = "s3cret-key"


def _send(database: Database, **overrides: object) -> None:
    base = dict(
        at=T0,
        recipient="ann@example.org",
        verdict="accepted",
        queue_id="QA1",
        message_id="m1@shop.test",
        sender=return_path("c7-u1", SECRET, "shop.test"),
        relay_host="mx.example.org",
        replycode="250",
        status="2.0.0",
        text="Ok: queued as NX1",
        next_hop_queue_id="NX1",
        envelope_id="ENV1",
        raw="line-1",
    )
    base.update(overrides)
    with database.session() as session:
        store_attempts(session, [Attempt(**base)], "test", database.rules)  # type: ignore[arg-type]


def _keys(**overrides: object) -> MatchKeys:
    base: dict[str, object] = dict(recipient="ann@example.org", at=T0 + timedelta(minutes=40))
    base.update(overrides)
    return MatchKeys(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"return_path_token": token_of(return_path("c7-u1", SECRET, "shop.test"))}, "token"),
        ({"envelope_id": "ENV1"}, "envelope_id"),
        ({"next_hop_queue_id": "NX1"}, "queue_id"),  # the next hop's own DSN
        ({"next_hop_queue_id": "QA1"}, "queue_id"),  # our MTA's DSN
        ({"original_message_id": "m1@shop.test"}, "message_id"),
        ({}, "weak"),
    ],
)
def test_each_key_ties_the_verdict(database: Database, keys: dict[str, object], expected: str) -> None:
    _send(database)
    with database.session() as session:
        [found] = match_many(session, [_keys(**keys)], SECRET)
    assert found is not None and found[1] == expected


def test_forged_token_is_never_matched(database: Database) -> None:
    _send(database)
    forged = "c7-u1.aaaaaaaaaa"
    with database.session() as session:
        assert match_many(session, [_keys(return_path_token=forged, original_message_id="m1@shop.test")], SECRET) == [None]
        # Without a secret the same token is a plain VERP key, and other keys still work.
        [found] = match_many(session, [_keys(return_path_token=forged, original_message_id="m1@shop.test")])
    assert found is not None and found[1] == "message_id"


def test_weak_match_needs_exactly_one_delivery_in_the_window(database: Database) -> None:
    _send(database)
    _send(database, message_id="m2@shop.test", queue_id="QA2", raw="line-2", at=T0 + timedelta(minutes=5))
    with database.session() as session:
        assert match_many(session, [_keys()]) == [None]
        too_late = _keys(at=T0 + timedelta(days=30))
        assert match_many(session, [too_late]) == [None]


def test_queue_ids_are_reused_so_old_sends_do_not_match(database: Database) -> None:
    _send(database)
    with database.session() as session:
        assert match_many(session, [_keys(next_hop_queue_id="NX1", at=T0 + timedelta(days=12))]) == [None]


def test_a_batch_of_verdicts_costs_one_query_per_key(database: Database) -> None:
    from sqlalchemy import event

    for i in range(50):
        _send(database, recipient=f"r{i}@example.org", raw=f"line-{i}")
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(database.engine, "before_cursor_execute", listener)
    try:
        with database.session() as session:
            found = match_many(
                session, [_keys(recipient=f"r{i}@example.org", original_message_id="m1@shop.test") for i in range(50)]
            )
    finally:
        event.remove(database.engine, "before_cursor_execute", listener)
    assert all(f is not None and f[1] == "message_id" for f in found)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 2


def test_a_report_about_an_address_our_mta_rewrote_ties_by_its_final_recipient(database: Database) -> None:
    """RFC 3464 2.3.1-2.3.2: the verdict goes by the Original-Recipient (the ORCPT); where our own MTA
    rewrote that address before sending (a virtual alias: "to=<ann@example.org>, orig_to=<team@shop.test>"),
    the send log knows the delivery by the Final-Recipient, and the strong keys tie it by that."""
    _send(database, orig_recipient="team@shop.test")
    keys = _keys(recipient="team@shop.test", final_recipient="ann@example.org", original_message_id="m1@shop.test")
    with database.session() as session:
        [found] = match_many(session, [keys])
        assert found is not None and found[1] == "message_id"
        # by recipient alone (the weak match) a rewritten address ties nothing
        assert match_many(session, [_keys(recipient="team@shop.test", final_recipient="ann@example.org")]) == [None]


def test_a_token_shared_by_two_sends_is_decided_by_the_returned_message_id(database: Database) -> None:
    # One return-path token per contact (verp.py's "c42-u1001"), two messages to one address; the
    # DSN returns the first message's Message-ID and the next hop's queue id of the first (sweep BF,
    # real Postfix: the token picked the later send and left the one that failed accepted).
    sender = return_path("c7-u1", SECRET, "shop.test")
    _send(database, sender=sender)
    _send(database, sender=sender, message_id="m2@shop.test", queue_id="QA2", next_hop_queue_id="NX2",
          envelope_id=None, raw="line-2", at=T0 + timedelta(minutes=5))
    token = token_of(sender)
    with database.session() as session:
        first, second, only_token = match_many(session, [
            _keys(return_path_token=token, original_message_id="m1@shop.test"),
            _keys(return_path_token=token, next_hop_queue_id="NX2"),
            _keys(return_path_token=token),
        ], SECRET)
        ids = dict(session.connection().exec_driver_sql(
            "select s.msg_key, d.id from deliveries d join sent_messages s on s.id = d.sent_message_id").all())
    assert first == (ids["mid:m1@shop.test"], "message_id")
    assert second == (ids["mid:m2@shop.test"], "queue_id")
    assert only_token == (ids["mid:m2@shop.test"], "token")  # nothing else to go by: the latest, as before
