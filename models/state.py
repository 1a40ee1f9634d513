"""The one place that decides a delivery's state from its events.

Precedence, strongest first (a stronger fact wins whenever it arrived):

==========  ===============================================================
complained  an ARF complaint: the recipient got the mail and objected.
bounced     a 5xx from the first hop, or a returned message saying
expired     ``Action: failed`` (``expired`` when the reason is a queue
            timeout); both are final and outrank any earlier 250.
delivered   a success notice (``Action: delivered``/``relayed``) confirmed
            delivery beyond the first hop.
settled     the first hop answered 250 and no bounce came back within its
            organisation's settlement window (``bounceledger.ingest.settlement``
            writes an ``attempt`` event with outcome ``settled``): as good as
            delivered, though a bounce arriving later still overturns it.
accepted    the first hop answered 250: provisionally delivered.
deferred    a 4xx from the first hop or a ``delayed`` notice. A delay
            notice never undoes an acceptance.
==========  ===============================================================

Auto-replies and hand-offs to internal relays that merely accepted or
deferred change nothing. A ``timeout`` (the scheduler gave up waiting on a
deferred delivery) turns ``deferred`` into ``expired``, but any real answer
(an acceptance, a success notice) beats it: it only ever stood for silence. Within one rank the latest event wins (ties broken
by the event key), so the same set of events yields the same state in any
arrival order: a bounce may be read before the log line it corrects.

A delivery is *corrected* when its attempts alone say ``accepted`` (or
``settled``: the settlement only vouched for that acceptance) but the
returned messages turn it into bounced, expired or complained; the
correction is always reported as overturning ``accepted``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

State = Literal["accepted", "deferred", "bounced", "delivered", "complained", "expired", "settled"]
STATES: tuple[State, ...] = ("accepted", "deferred", "bounced", "delivered", "complained", "expired", "settled")
#: What the first hop's 250 stands for while nothing overturned it: provisionally
#: (``accepted``) or past the settlement window (``settled``).
ACCEPTED_STATES: frozenset[str] = frozenset({"accepted", "settled"})
CORRECTED_TO: frozenset[str] = frozenset({"bounced", "expired", "complained"})

_RANK: dict[str, int] = {
    "deferred": 10,
    "accepted": 20,
    "settled": 25,
    "delivered": 30,
    "bounced": 50,
    "expired": 50,
    "complained": 60,
}


class Fact(NamedTuple):
    """The parts of an event that matter to the state decision.

    A named tuple rather than a frozen dataclass: reconciliation builds one
    per event of every delivery it touches, straight from a result row
    (``Fact._make``), at a third of the cost.
    """

    kind: Literal["attempt", "verdict"]
    outcome: str  # attempt: accepted/deferred/rejected/expired/timeout/settled; verdict: bounce/delay/...
    at: datetime
    key: str  # the event's dedupe key: a stable tie-breaker
    first_hop: bool = True
    status: str | None = None
    replycode: str | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    state: State
    decided_by: Fact
    corrected_from: State | None  # set when a verdict overturned an acceptance


def implied_state(fact: Fact) -> State | None:
    """The state one event argues for on its own, or None if it is neutral."""
    if fact.kind == "attempt":
        if fact.outcome == "rejected":
            return "bounced"
        if fact.outcome in ("expired", "timeout"):
            return "expired"
        if fact.outcome == "settled":  # written by the settlement job, never by a send log
            return "settled"
        if not fact.first_hop:
            return None
        if fact.outcome == "accepted":
            return "accepted"
        if fact.outcome == "deferred":
            return "deferred"
        return None
    if fact.outcome == "complaint":
        return "complained"
    if fact.outcome == "bounce":
        return "expired" if fact.reason == "expired" else "bounced"
    if fact.outcome == "success":
        return "delivered"
    if fact.outcome == "delay":
        return "deferred"
    return None


def _strongest(facts: Iterable[Fact]) -> tuple[State, Fact] | None:
    facts = list(facts)
    answered = _ranked(f for f in facts if f.outcome != "timeout")
    if answered is not None and answered[0] != "deferred":
        return answered
    timed_out = _ranked(f for f in facts if f.outcome == "timeout")
    return timed_out or answered


def _ranked(facts: Iterable[Fact]) -> tuple[State, Fact] | None:
    best: tuple[int, datetime, str] | None = None
    chosen: tuple[State, Fact] | None = None
    for fact in facts:
        state = implied_state(fact)
        if state is None:
            continue
        order = (_RANK[state], fact.at, fact.key)
        if best is None or order > best:
            best, chosen = order, (state, fact)
    return chosen


def decide(facts: Iterable[Fact]) -> Decision | None:
    """Fold a delivery's events into its state; None if no event decides."""
    facts = list(facts)
    if len(facts) == 1:  # the common case (a new delivery's one attempt): nothing to weigh
        [only] = facts
        alone = implied_state(only)
        return Decision(state=alone, decided_by=only, corrected_from=None) if alone else None
    overall = _strongest(facts)
    if overall is None:
        return None
    state, fact = overall
    from_attempts = _strongest(f for f in facts if f.kind == "attempt")
    corrected_from: State | None = None
    if (
        from_attempts is not None
        and from_attempts[0] in ACCEPTED_STATES
        and state in CORRECTED_TO
        and fact.kind == "verdict"
    ):
        corrected_from = "accepted"
    return Decision(state=state, decided_by=fact, corrected_from=corrected_from)


#: What :func:`outranking` answers when it cannot tell without the whole history.
UNKNOWN = object()


def outranking(state: str, corrected: bool, arrivals: Iterable[Fact]) -> Decision | None | object:
    """The decision after ``arrivals`` (new verdicts), knowing only the delivery's current state.

    Equal to ``decide(history + arrivals)`` whenever it answers, without the
    history: a delivery that stands ``accepted`` or ``settled`` was decided
    by an attempt, and no verdict ranks with those two states, so either the
    strongest arrival outranks the state (it decides, and a final failure is
    a correction of the acceptance) or the state stands (None: nothing to
    write). Any other state, or an arrival that is not a verdict, may hang
    on facts only the history holds (a timeout, the attempts under a
    delivered notice): :data:`UNKNOWN`, and the caller reads the history.
    """
    arrivals = list(arrivals)
    if state not in ACCEPTED_STATES or corrected or any(f.kind != "verdict" for f in arrivals):
        return UNKNOWN
    strongest = _ranked(arrivals)
    if strongest is None or _RANK[strongest[0]] <= _RANK[state]:
        return None
    new_state, fact = strongest
    return Decision(state=new_state, decided_by=fact, corrected_from="accepted" if new_state in CORRECTED_TO else None)
