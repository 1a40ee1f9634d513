"""The state rules: precedence, and the same answer in any arrival order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from bounceledger.models.state import UNKNOWN, Decision, Fact, decide, outranking

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)


def attempt(outcome: str, minutes: int = 0, first_hop: bool = True, key: str | None = None) -> Fact:
    return Fact("attempt", outcome, T0 + timedelta(minutes=minutes), key or f"a-{outcome}-{minutes}", first_hop)


def verdict(outcome: str, minutes: int = 0, reason: str | None = None, key: str | None = None) -> Fact:
    return Fact("verdict", outcome, T0 + timedelta(minutes=minutes), key or f"v-{outcome}-{minutes}", reason=reason)


def state_of(*facts: Fact) -> str | None:
    decision = decide(facts)
    return decision.state if decision else None


def test_first_hop_answers() -> None:
    assert state_of(attempt("accepted")) == "accepted"
    assert state_of(attempt("deferred")) == "deferred"
    assert state_of(attempt("rejected")) == "bounced"
    assert state_of(attempt("expired")) == "expired"
    assert state_of(attempt("deferred", 0), attempt("accepted", 10)) == "accepted"


def test_timeout_expires_a_deferral_but_any_real_answer_beats_it() -> None:
    assert state_of(attempt("deferred", 0), attempt("timeout", 60)) == "expired"
    assert state_of(attempt("deferred", 0), attempt("timeout", 60), attempt("accepted", 90)) == "accepted"
    assert state_of(attempt("deferred", 0), attempt("timeout", 60), attempt("accepted", 10)) == "accepted"
    assert state_of(attempt("deferred", 0), attempt("timeout", 60), attempt("deferred", 90)) == "expired"


def test_internal_hand_off_sets_no_provisional_state() -> None:
    assert state_of(attempt("accepted", first_hop=False)) is None
    assert state_of(attempt("accepted", 0, first_hop=False), attempt("deferred", 1)) == "deferred"


def test_failed_dsn_corrects_an_acceptance() -> None:
    decision = decide([attempt("accepted", 0), verdict("bounce", 50, "userunknown")])
    assert decision is not None
    assert decision.state == "bounced"
    assert decision.corrected_from == "accepted"


def test_expiry_dsn_is_expired() -> None:
    assert state_of(attempt("deferred", 0), verdict("bounce", 90, "expired")) == "expired"


def test_delay_notice_never_undoes_an_acceptance() -> None:
    assert state_of(attempt("accepted", 0), verdict("delay", 30)) == "accepted"
    assert state_of(verdict("delay", 30)) == "deferred"


def test_success_notice_confirms_delivery_but_not_over_a_bounce() -> None:
    assert state_of(attempt("accepted", 0), verdict("success", 5)) == "delivered"
    assert state_of(attempt("accepted", 0), verdict("success", 5), verdict("bounce", 9)) == "bounced"


def test_complaint_outranks_everything_and_autoreply_changes_nothing() -> None:
    assert state_of(attempt("accepted"), verdict("bounce", 1), verdict("complaint", 2)) == "complained"
    assert state_of(attempt("accepted"), verdict("autoreply", 3)) == "accepted"
    assert state_of(verdict("autoreply", 3)) is None


def test_rejection_at_first_hop_is_not_a_correction() -> None:
    decision = decide([attempt("rejected"), verdict("bounce", 1)])
    assert decision is not None and decision.corrected_from is None


FACTS = st.lists(
    st.one_of(
        st.builds(
            attempt,
            st.sampled_from(["accepted", "deferred", "rejected", "expired", "timeout"]),
            st.integers(0, 120),
            st.booleans(),
        ),
        st.builds(
            verdict,
            st.sampled_from(["bounce", "delay", "success", "autoreply", "complaint"]),
            st.integers(0, 120),
            st.sampled_from([None, "userunknown", "expired", "mailboxfull"]),
        ),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda f: f.key,
)


@given(FACTS, st.randoms())
def test_same_events_in_any_order_give_the_same_state(facts: list[Fact], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(facts)
    rnd.shuffle(shuffled)
    assert decide(facts) == decide(shuffled)


VERDICTS = st.lists(
    st.builds(
        verdict,
        st.sampled_from(["bounce", "delay", "success", "autoreply", "complaint"]),
        st.integers(0, 120),
        st.sampled_from([None, "userunknown", "expired", "mailboxfull"]),
        st.sampled_from([None, "x", "y"]).map(lambda k: None if k is None else f"new-{k}"),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda f: f.key,
)


@settings(max_examples=400)
@given(FACTS, VERDICTS, st.booleans())
def test_outranking_agrees_with_the_whole_history_whenever_it_answers(
    history: list[Fact], arrivals: list[Fact], provisional: bool
) -> None:
    """Reconciliation skips re-reading a delivery's events on this answer: it must be decide()'s."""
    if provisional:  # half the cases stand accepted or settled: the ones the answer is for
        history = [f for f in history if f.kind == "attempt" and f.outcome in ("accepted", "deferred", "timeout")]
        history.append(attempt("settled" if len(history) % 3 == 0 else "accepted", 60, key="a-provisional"))
    before = decide(history)
    arrivals = [f for f in arrivals if f.key not in {h.key for h in history}] or arrivals[:0]
    if before is None or not arrivals:
        return
    answer = outranking(before.state, before.corrected_from is not None, arrivals)
    after = decide([*history, *arrivals])
    if answer is UNKNOWN:
        assert before.state not in ("accepted", "settled") or before.corrected_from
        return
    if answer is None:
        assert after == before
    else:
        assert after == answer


def test_outranking_answers_the_common_cases_without_history() -> None:
    accepted = decide([attempt("accepted", 0)])
    assert accepted is not None
    bounced = outranking(accepted.state, False, [verdict("bounce", 40, "userunknown")])
    assert isinstance(bounced, Decision) and (bounced.state, bounced.corrected_from) == ("bounced", "accepted")
    assert outranking("accepted", False, [verdict("delay", 40)]) is None  # the state stands
    assert outranking("deferred", False, [verdict("bounce", 40)]) is UNKNOWN
    assert outranking("delivered", False, [verdict("bounce", 40)]) is UNKNOWN
