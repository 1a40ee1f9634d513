"""Soft-bounce suppression counts only the recipient's trouble, and a clean delivery resets it.

The pure rule for every row of the reason table, then the ledger on both
databases: real send-log attempts and a real success notice go through the
same writers ``ingest-log`` and ``poll`` use.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from bounceledger import pipeline
from bounceledger.db import Database
from bounceledger.ingest import suppress
from bounceledger.ingest.attempts import store_attempts
from bounceledger.ingest.records import Attempt, Verdict
from bounceledger.ingest.returned import record_verdicts, verdict_row
from bounceledger.ingest.rules import LedgerRules
from bounceledger.models import Delivery, Event
from bounceledger.models.suppression import (
    COUNTING_REASONS,
    SENDER_SIDE_REASONS,
    Outcome,
    SuppressionPolicy,
    checked_reasons,
    decide_suppression,
    known_reasons,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "suppression.md"
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
SOFT_STATUS = ("4.0.0", "450")  # a temporary code: only HARD_REASONS are hard whatever the code


def _three(reason: str, state: str = "bounced", days: tuple[float, ...] = (0, 10, 20)) -> list[Outcome]:
    return [Outcome(i, state, T0 + timedelta(days=d), reason, *SOFT_STATUS) for i, d in enumerate(days, 1)]


@pytest.mark.parametrize("reason", sorted(SENDER_SIDE_REASONS))
def test_sender_side_reason_never_counts(reason: str) -> None:
    assert decide_suppression(_three(reason), SuppressionPolicy()) is None
    assert decide_suppression(_three(reason) * 3, SuppressionPolicy()) is None  # however many


@pytest.mark.parametrize("reason", sorted(COUNTING_REASONS))
def test_recipient_side_reason_counts(reason: str) -> None:
    assert decide_suppression(_three(reason)[:2], SuppressionPolicy()) is None or reason in ("userunknown", "hostunknown", "hasmoved")
    decision = decide_suppression(_three(reason), SuppressionPolicy())
    assert decision is not None
    # The address-level reasons are hard whatever the code; the others add up to a soft suppression.
    expected = "hardbounce" if reason in ("userunknown", "hostunknown", "hasmoved") else "softbounce"
    assert decision.reason == expected


def test_every_reason_is_in_the_table_once() -> None:
    """A reason the classifier can give a bounce is either counted or named as the sender's side."""
    not_bounces = {"delivered", "feedback", "vacation"}  # success, complaint, auto-reply: never a soft bounce
    assert COUNTING_REASONS.isdisjoint(SENDER_SIDE_REASONS)
    assert known_reasons() - not_bounces == COUNTING_REASONS | set(SENDER_SIDE_REASONS)


def test_a_bounce_without_a_reason_counts_as_undefined() -> None:
    outcomes = [Outcome(i, "bounced", T0 + timedelta(days=i), None) for i in range(3)]
    assert decide_suppression(outcomes, SuppressionPolicy()) is not None
    assert decide_suppression(outcomes, SuppressionPolicy(soft_bounce_reasons=frozenset({"mailboxfull"}))) is None


def test_expired_queue_does_not_count_but_an_expiry_naming_a_full_mailbox_does() -> None:
    assert decide_suppression(_three("expired", state="expired"), SuppressionPolicy()) is None
    assert decide_suppression(_three("mailboxfull", state="expired"), SuppressionPolicy()) is not None


def test_the_table_is_a_setting() -> None:
    policy = SuppressionPolicy(soft_bounce_reasons=frozenset({"mailboxfull", "blocked"}))
    assert decide_suppression(_three("blocked"), policy) is not None
    assert decide_suppression(_three("suspend"), policy) is None


def test_a_clean_delivery_resets_the_count() -> None:
    policy = SuppressionPolicy()
    two = _three("mailboxfull")[:2]
    clean = Outcome(9, "delivered", T0 + timedelta(days=12))
    third = Outcome(3, "bounced", T0 + timedelta(days=15), "mailboxfull", *SOFT_STATUS)
    assert decide_suppression([*two, third], policy) is not None
    assert decide_suppression([*two, clean, third], policy) is None
    later = [Outcome(i, "bounced", T0 + timedelta(days=d), "mailboxfull", *SOFT_STATUS) for i, d in ((4, 16), (5, 17))]
    decision = decide_suppression([*two, clean, third, *later], policy)
    assert decision is not None and decision.delivery_id == 5  # three more after the clean one


def test_a_clean_delivery_does_not_undo_a_hard_bounce_or_a_complaint() -> None:
    clean = Outcome(9, "delivered", T0 + timedelta(days=5))
    hard = Outcome(1, "bounced", T0, "userunknown", "5.1.1", "550")
    complaint = Outcome(2, "complained", T0, "feedback")
    assert decide_suppression([hard, clean], SuppressionPolicy()).reason == "hardbounce"  # type: ignore[union-attr]
    assert decide_suppression([complaint, clean], SuppressionPolicy()).reason == "complaint"  # type: ignore[union-attr]


def test_the_setting_names_reasons_the_classifier_knows() -> None:
    assert checked_reasons(["MailboxFull", " suspend "]) == {"mailboxfull", "suspend"}
    with pytest.raises(ValueError, match=r"unknown bounce reason 'mailboxful' \(did you mean mailboxfull\?\)"):
        checked_reasons(["mailboxful"])


def test_docs_table_says_what_the_code_does() -> None:
    """docs/suppression.md lists every reason once, counted or not, as the default table has it."""
    rows = dict(re.findall(r"^\| `(\w+)` \| (yes|no) \|", DOCS.read_text(), re.M))
    assert rows == {r: "yes" for r in COUNTING_REASONS} | {r: "no" for r in SENDER_SIDE_REASONS}


# ---------------------------------------------------------------- the ledger

ADDRESS = "jane@example.org"
#: What first hops answer, worded as real servers word it; the classifier gives the reason.
ANSWERS = {
    "blocked": ("554", "5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"),
    "badreputation": ("550", "5.7.1", "550 5.7.1 Rejected due to poor sender reputation"),
    "mailboxfull": ("552", "5.2.2", "552 5.2.2 <jane@example.org>: Recipient address rejected: Mailbox full"),
}


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _attempt(name: str, at: datetime, verdict: str, answer: str | None = None) -> Attempt:
    replycode, status, text = ANSWERS[answer] if answer else ("250", "2.0.0", "250 2.0.0 Ok: queued as 4Xk2")
    return Attempt(
        at=at, recipient=ADDRESS, verdict=verdict,  # type: ignore[arg-type]
        queue_id=name.upper(), message_id=f"{name}@news.example", sender="news@sender.example",
        relay_host="mx.example.org", relay_ip="192.0.2.25", replycode=replycode, status=status, text=text,
        raw=f"{at.isoformat()} {name} {ADDRESS} {verdict} {text}",
    )


def _store(database: Database, *attempts: Attempt, rules: LedgerRules | None = None) -> None:
    with database.session() as session:
        store_attempts(session, list(attempts), "test-log", rules or database.rules)


def _bounces(database: Database, reason: str, days_ago: tuple[float, ...], rules: LedgerRules | None = None) -> None:
    now = _now()
    for ago in days_ago:  # each its own message
        _store(database, _attempt(f"{reason}-{ago:g}", now - timedelta(days=ago), "rejected", reason), rules=rules)


def _suppressed(database: Database) -> str | None:
    with database.session() as session:
        row = suppress.lookup(session, ADDRESS)
        return row.reason if row is not None else None


def _reasons(database: Database) -> set[str | None]:
    with database.session() as session:
        return set(session.scalars(select(Delivery.reason).where(Delivery.state == "bounced")))


def _returned(database: Database, name: str, at: datetime, kind: str, reason: str, action: str, status: str) -> None:
    """A returned message about the send ``name``, as poll records it (tied by its Message-ID)."""
    verdict = Verdict(kind=kind, recipient=ADDRESS, reason=reason, hardbounce=False, action=action,  # type: ignore[arg-type]
                      status=status, original_message_id=f"{name}@news.example")
    with database.session() as session:
        row = verdict_row(verdict, name[:32], None, at, "test-box", _now())  # type: ignore[arg-type]
        [found] = record_verdicts(session, [row], database.rules)
    assert found is not None and found[1] == "message_id"


def _returned_bounces(database: Database, reason: str, days_ago: tuple[float, ...]) -> None:
    """Accepted sends, each bounced later by a returned message giving ``reason``."""
    now = _now()
    for ago in days_ago:
        name = f"dsn-{reason}-{ago:g}"
        _store(database, _attempt(name, now - timedelta(days=ago, hours=1), "accepted"))
        _returned(database, name, now - timedelta(days=ago), "bounce", reason, "failed", SOFT_STATUS[0])


@pytest.mark.parametrize("reason", sorted(COUNTING_REASONS | set(SENDER_SIDE_REASONS)))
def test_each_row_of_the_table_in_the_ledger(database: Database, reason: str) -> None:
    _returned_bounces(database, reason, (25, 14, 2))
    with database.session() as session:
        assert set(session.scalars(select(Delivery.reason))) == {reason}
    if reason in SENDER_SIDE_REASONS:
        assert _suppressed(database) is None
    else:
        assert _suppressed(database) == ("hardbounce" if reason in ("userunknown", "hostunknown", "hasmoved") else "softbounce")


@pytest.mark.parametrize("reason", ["blocked", "badreputation"])
def test_three_sender_side_bounces_in_30_days_do_not_suppress(database: Database, reason: str) -> None:
    _bounces(database, reason, (25, 14, 2))
    assert _reasons(database) == {reason}  # the classifier read them as the sender's side
    assert _suppressed(database) is None


def test_three_full_mailboxes_in_30_days_suppress(database: Database) -> None:
    _bounces(database, "mailboxfull", (25, 14))
    assert _suppressed(database) is None
    _bounces(database, "mailboxfull", (2,))
    assert _reasons(database) == {"mailboxfull"}
    assert _suppressed(database) == "softbounce"


def test_counting_reasons_are_configurable(database: Database) -> None:
    rules = replace(database.rules, suppression=SuppressionPolicy(soft_bounce_reasons=COUNTING_REASONS | {"blocked"}))
    _bounces(database, "blocked", (25, 14, 2), rules=rules)
    assert _suppressed(database) == "softbounce"


def test_a_settled_250_resets_the_count(database: Database) -> None:
    now = _now()
    _bounces(database, "mailboxfull", (25, 20))
    _store(database, _attempt("clean", now - timedelta(days=15), "accepted"))  # settled: 15 days > 5
    _bounces(database, "mailboxfull", (10,))
    assert _suppressed(database) is None  # one counting bounce since the clean delivery
    _bounces(database, "mailboxfull", (5, 1))
    assert _suppressed(database) == "softbounce"  # three since it


def test_a_250_still_inside_the_settlement_window_does_not_reset(database: Database) -> None:
    now = _now()
    _bounces(database, "mailboxfull", (4, 3))
    _store(database, _attempt("fresh", now - timedelta(days=2), "accepted"))  # may still be bounced
    _bounces(database, "mailboxfull", (1,))
    assert _suppressed(database) == "softbounce"


def test_a_suppression_is_lifted_once_a_later_250_settles(database: Database) -> None:
    now = _now()
    _bounces(database, "mailboxfull", (9, 8, 7))
    assert _suppressed(database) == "softbounce"
    _store(database, _attempt("clean", now - timedelta(days=1), "accepted"))

    assert pipeline.expire_and_settle(database, now) == (0, 0)  # not settled yet: a bounce may still come
    assert _suppressed(database) == "softbounce"
    assert pipeline.expire_and_settle(database, now + timedelta(days=5)) == (0, 1)
    assert _suppressed(database) is None
    with database.session() as session:
        [audit] = session.scalars(select(Event).where(Event.kind == "suppression")).all()
    assert (audit.outcome, audit.source, audit.recipient) == ("lifted", "reconcile", ADDRESS)
    assert audit.detail.startswith("soft-bounce count reset by a clean delivery at ")
    assert pipeline.expire_and_settle(database, now + timedelta(days=6)) == (0, 0)  # nothing left to lift

    _bounces(database, "mailboxfull", (0.3, 0.2, 0.1))  # three new ones suppress again
    assert _suppressed(database) == "softbounce"


def test_a_success_notice_resets_at_once(database: Database) -> None:
    now = _now()
    _bounces(database, "mailboxfull", (9, 8, 7))
    assert _suppressed(database) == "softbounce"
    _store(database, _attempt("relayed", now - timedelta(hours=2), "accepted"))
    _returned(database, "relayed", now - timedelta(hours=1), "success", "delivered", "relayed", "2.0.0")
    assert _suppressed(database) is None


def test_a_hand_added_suppression_is_never_lifted_by_a_clean_delivery(database: Database) -> None:
    now = _now()
    with database.session() as session:
        suppress.add(session, ADDRESS, "asked by phone")
    _store(database, _attempt("clean", now - timedelta(days=15), "accepted"))
    pipeline.expire_and_settle(database, now)
    assert _suppressed(database) == "manual"


def test_suppressions_made_under_an_older_table_are_lifted(database: Database) -> None:
    """Blocks that suppressed good addresses before this table existed end at the next settle."""
    older = replace(database.rules, suppression=SuppressionPolicy(soft_bounce_reasons=COUNTING_REASONS | {"blocked"}))
    _bounces(database, "blocked", (25, 14, 2), rules=older)
    assert _suppressed(database) == "softbounce"
    assert pipeline.expire_and_settle(database) == (0, 1)
    assert _suppressed(database) is None


# ---------------------------------------------------------------- the settings


def _settings_from(tmp_path: Path, text: str) -> SuppressionPolicy:
    from bounceledger.config import load_settings

    path = tmp_path / "bl.toml"
    path.write_text(text)
    return load_settings(str(path), env={}).suppression


def test_the_table_and_the_settlement_window_are_read_from_the_file(tmp_path: Path) -> None:
    policy = _settings_from(tmp_path, '[suppression]\nsoft_reasons = ["MailboxFull", "blocked"]\nclean_after_days = 2.5\n')
    assert policy.soft_bounce_reasons == {"mailboxfull", "blocked"}
    assert policy.clean_after == timedelta(days=2.5)
    assert _settings_from(tmp_path, "[suppression]\nsoft_bounces = 4\n").soft_bounce_reasons == COUNTING_REASONS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('soft_reasons = ["mailbox_full"]', "[suppression] soft_reasons: unknown bounce reason 'mailbox_full' (did you mean mailboxfull?)"),
        ('soft_reasons = "mailboxfull"', '[suppression] soft_reasons must be a list of bounce reasons, e.g. ["mailboxfull"], not a string'),
        ("clean_after_days = 0", "[suppression] clean_after_days must be more than 0 (got 0)"),
        ('clean_after_days = "5 days"', "[suppression] clean_after_days must be a number, not a string"),
        ("clean_after_hours = 120", "unknown key clean_after_hours in [suppression] (did you mean clean_after_days?)"),
    ],
)
def test_a_mistyped_suppression_setting_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    from bounceledger.config import ConfigError

    with pytest.raises(ConfigError) as raised:
        _settings_from(tmp_path, f"[suppression]\n{text}\n")
    assert message in str(raised.value)
