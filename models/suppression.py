"""When an address goes on the suppression list: the policy, as a pure function.

* A **hard bounce** (the address itself does not exist: Sisimai's
  userunknown, hostunknown, hasmoved, or notaccept with a 5xx) suppresses at
  once, by default for good.
* A **complaint** suppresses at once, for good: the recipient asked.
* **Soft bounces** suppress once ``soft_bounce_limit`` of them fall within
  ``soft_bounce_window``, for ``soft_bounce_duration``; a mailbox that was
  full last month may work again. Only bounces that say something about
  the *recipient* count (``soft_bounce_reasons``, see
  :data:`COUNTING_REASONS`): a block of the sender's IP, a failed SPF check
  or a rate limit says nothing about the address, and must never take a
  good address off the list.
* A **clean delivery** (a ``delivered`` notice, or a first-hop 250 that no
  bounce corrected within ``clean_after``) resets the soft count: only
  soft bounces after it count.

Defaults: 3 counting soft bounces in 30 days suppress for 30 days; a 250
is clean after 5 days. Every number and the reason table are settings
(``[suppression]`` in the config file; docs/suppression.md lists the table).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple


SuppressionReason = Literal["hardbounce", "softbounce", "complaint", "manual"]

#: The reasons (Sisimai's names, as :mod:`bounceledger.ingest.bounces.reasons` gives
#: them) whose soft bounces count toward suppression: each says the
#: recipient's mailbox or domain is in trouble. Every other reason is the
#: sender's side or the message's (docs/suppression.md gives each one's
#: why), and a bounce without a reason the classifier could name counts,
#: as ``undefined``: nothing says it was the sender's fault.
COUNTING_REASONS: frozenset[str] = frozenset(
    {
        "mailboxfull",  # the recipient's mailbox is full (X.2.2)
        "systemfull",  # the recipient's mail system is out of space (X.3.1)
        "suspend",  # the mailbox is disabled, inactive or suspended (X.2.1)
        "filtered",  # the recipient's mailbox or filter refuses it (X.2.0, address-level rules)
        "mailererror",  # the recipient's local delivery program failed
        "notaccept",  # the domain accepts no mail (a 4xx null MX; with 5xx it is hard anyway)
        "hasmoved",  # the mailbox has moved (hard anyway)
        "userunknown",  # no such mailbox (hard anyway)
        "hostunknown",  # no such domain (hard anyway)
        "onhold",  # refused with no word of why: could be the address
        "undefined",  # no reason could be read at all
    }
)

#: The soft bounce reasons that never count, and why: the cause is on the
#: sender's side or in the message, not in the recipient's address.
SENDER_SIDE_REASONS: dict[str, str] = {
    "blocked": "the sending IP or domain is blocked",
    "badreputation": "the sender's IP or domain has a bad reputation",
    "requireptr": "the sending IP has no reverse DNS (PTR)",
    "authfailure": "SPF, DKIM, DMARC or ARC failed for the sender",
    "securityerror": "TLS or authentication between the servers failed",
    "norelaying": "the receiving server refused to relay for the sender",
    "policyviolation": "the receiving server's policy refused the sender or message",
    "rejected": "the sender's address was refused",
    "speeding": "the sender went over a sending rate or quota",
    "toomanyconn": "too many connections or messages at once from the sender",
    "spamdetected": "the message was taken for spam",
    "virusdetected": "the message was taken for a virus",
    "contenterror": "the message's content or format was refused",
    "mesgtoobig": "the message was too big",
    "notcompliantrfc": "the message broke the mail format rules",
    "exceedlimit": "the message went over a size or recipient limit",
    "syntaxerror": "the servers did not understand each other (SMTP protocol error)",
    "networkerror": "the connection failed or timed out (routing, DNS, network)",
    "systemerror": "a mail system failed on the way (not the mailbox)",
    "expired": "the sender's queue gave up waiting (nothing was said about the address)",
}

CLEAN_STATES = ("delivered", "accepted")
SOFT_STATES = ("bounced", "expired")


def known_reasons() -> frozenset[str]:
    """Every reason name the classifier can give a bounce (for checking the setting)."""
    from bounceledger.ingest.bounces.reasons import CATEGORIES

    return frozenset(CATEGORIES) | COUNTING_REASONS | frozenset(SENDER_SIDE_REASONS)


def checked_reasons(raw: Iterable[str]) -> frozenset[str]:
    """The ``soft_reasons`` setting, lowercased; ValueError names an unknown reason
    (with the close one it may mean), so a typo never silently counts nothing."""
    known = known_reasons()
    reasons = frozenset(r.strip().lower() for r in raw if r.strip())
    for reason in sorted(reasons - known):
        close = difflib.get_close_matches(reason, sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"unknown bounce reason {reason!r}{hint}; see docs/suppression.md for the names")
    return reasons


@dataclass(frozen=True, slots=True)
class SuppressionPolicy:
    soft_bounce_limit: int = 3
    soft_bounce_window: timedelta = timedelta(days=30)
    soft_bounce_duration: timedelta | None = timedelta(days=30)
    hard_bounce_duration: timedelta | None = None  # None: until released by hand
    complaint_duration: timedelta | None = None
    soft_bounce_reasons: frozenset[str] = COUNTING_REASONS
    # A first-hop 250 no bounce corrected for this long is a clean delivery.
    # Remote servers that accept and bounce later do so within their queue
    # lifetime (Postfix's default maximal_queue_lifetime is 5 days).
    clean_after: timedelta = timedelta(days=5)

    def counts(self, outcome: Outcome) -> bool:
        """Whether a soft bounce counts toward suppression: its reason is the recipient's side."""
        return outcome.state in SOFT_STATES and (outcome.reason or "undefined") in self.soft_bounce_reasons


class Outcome(NamedTuple):
    """A final outcome of one delivery to the address, or a clean delivery
    (state ``delivered``, or ``accepted`` once settled: see :data:`CLEAN_STATES`).

    A named tuple: the suppression refresh makes one per delivery it weighs.
    """

    delivery_id: int
    state: str  # bounced, expired, complained; delivered, accepted
    at: datetime
    reason: str | None = None
    status: str | None = None
    replycode: str | None = None

    @property
    def hard(self) -> bool:
        """The classifier's own rule for a ledger outcome, the same one the dashboard badges use.

        Imported here: the classifier compiles its rule tables on import,
        which settings-only commands (``sendlog parse``) must not pay for."""
        from bounceledger.ingest.bounces.classify import is_hard_outcome

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
    """The strongest reason to suppress, if any: complaint, then hard, then soft bounces.

    Clean outcomes are taken as given: the caller passes an ``accepted``
    one only once it has settled (:attr:`SuppressionPolicy.clean_after`).
    """
    outcomes = sorted(outcomes, key=lambda o: (o.at, o.delivery_id))
    complaints = [o for o in outcomes if o.state == "complained"]
    if complaints:
        first = complaints[0]
        return SuppressionDecision("complaint", first.at, _until(first.at, policy.complaint_duration), first.delivery_id)
    hard = [o for o in outcomes if o.hard]
    if hard:
        first = hard[0]
        return SuppressionDecision("hardbounce", first.at, _until(first.at, policy.hard_bounce_duration), first.delivery_id)
    clean = [o.at for o in outcomes if o.state in CLEAN_STATES]
    soft = [o for o in outcomes if policy.counts(o) and (not clean or o.at > max(clean))]
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
