"""When an address goes on the suppression list: the policy, as a pure function.

* A **hard bounce** (the address itself does not exist: Sisimai's
  userunknown, hostunknown, hasmoved, or notaccept with a 5xx) suppresses at
  once, by default for good.
* A **complaint** suppresses at once, for good: the recipient asked.
* **Soft bounces** (full mailbox, blocked, expired, ...) suppress once
  ``soft_bounce_limit`` of them fall within ``soft_bounce_window``, for
  ``soft_bounce_duration``; a mailbox that was full last month may work
  again.

Defaults: 3 soft bounces in 30 days suppress for 30 days. Every number is a
setting (``[suppression]`` in the config file).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


SuppressionReason = Literal["hardbounce", "softbounce", "complaint", "manual"]


@dataclass(frozen=True, slots=True)
class SuppressionPolicy:
    soft_bounce_limit: int = 3
    soft_bounce_window: timedelta = timedelta(days=30)
    soft_bounce_duration: timedelta | None = timedelta(days=30)
    hard_bounce_duration: timedelta | None = None  # None: until released by hand
    complaint_duration: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A final outcome of one delivery to the address."""

    delivery_id: int
    state: str  # bounced, expired, complained
    at: datetime
    reason: str | None = None
    status: str | None = None
    replycode: str | None = None

    @property
    def hard(self) -> bool:
        """The classifier's own rule for a ledger outcome, the same one the dashboard badges use.

        Imported here: the classifier compiles its rule tables on import,
        which settings-only commands (``sendlog parse``) must not pay for."""
        from ingest.bounces.classify import is_hard_outcome

        return is_hard_outcome(self.state, self.reason, self.status, self.replycode)


@dataclass(frozen=True, slots=True)
class SuppressionDecision:
    reason: SuppressionReason
    since: datetime
    expires_at: datetime | None
    delivery_id: int


def _until(since: datetime, duration: timedelta | None) -> datetime | None:
    return None if duration is None else since + duration


def decide_suppression(outcomes: Iterable[Outcome], policy: SuppressionPolicy) -> SuppressionDecision | None:
    """The strongest reason to suppress, if any: complaint, then hard, then soft bounces."""
    outcomes = sorted(outcomes, key=lambda o: (o.at, o.delivery_id))
    complaints = [o for o in outcomes if o.state == "complained"]
    if complaints:
        first = complaints[0]
        return SuppressionDecision("complaint", first.at, _until(first.at, policy.complaint_duration), first.delivery_id)
    hard = [o for o in outcomes if o.hard]
    if hard:
        first = hard[0]
        return SuppressionDecision("hardbounce", first.at, _until(first.at, policy.hard_bounce_duration), first.delivery_id)
    soft = [o for o in outcomes if o.state in ("bounced", "expired")]
    limit = max(1, policy.soft_bounce_limit)
    latest: SuppressionDecision | None = None
    for end in range(limit - 1, len(soft)):
        window = soft[end - limit + 1 : end + 1]
        if window[-1].at - window[0].at <= policy.soft_bounce_window:
            trigger = window[-1]
            latest = SuppressionDecision(
                "softbounce", trigger.at, _until(trigger.at, policy.soft_bounce_duration), trigger.delivery_id
            )
    return latest
