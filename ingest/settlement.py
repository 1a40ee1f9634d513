"""Settlement: when a first hop's 250 can be trusted as delivered.

A 250 from the first hop is provisional: gateways such as Proofpoint
(pphosted.com), Mimecast or Microsoft's accept first and bounce later.
How much later depends on the organisation running the first hop, so the
ledger learns it from its own history: every correction records the
acceptance it overturned and the verdict that did it, and the time between
the two is one *late-bounce latency* of that organisation. Once an
organisation has ``min_samples`` of them, its settlement window is their p99
times ``safety_factor``; until then, the configured default window.

A delivery still ``accepted`` once its window has passed gets an ``attempt``
event with outcome ``settled`` (source ``settlement``), dated when the window
ran out (not when this job happened to run, so the result does not depend on
the schedule), and :func:`bounceledger.ingest.reconcile.recompute` derives the
state from it, as for every other event: the state rule
(:mod:`bounceledger.models.state`) ranks ``settled`` just above ``accepted``,
so a bounce arriving afterwards still corrects the delivery. Such a bounce
is a *late surprise*: the platform was told the delivery had settled before
the ledger learnt otherwise.

The organisation is the registered domain of the first hop (the Public
Suffix List, bundled by :mod:`publicsuffixlist`, ICANN section: no network
at run time); an IP address or a name with no registered domain groups under
itself.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from bounceledger.ingest import corrections, reconcile
from bounceledger.ingest.dbutil import among, insert_ignoring_duplicates
from bounceledger.ingest.keys import settlement_key
from bounceledger.ingest.rules import LedgerRules
from bounceledger.models import Delivery, Event, SentMessage

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

    from bounceledger.config import Settings

#: What a late bounce turned an acceptance into (a complaint is no bounce:
#: the mail was delivered and the person objected).
LATE_BOUNCE_STATES = ("bounced", "expired")
SOURCE = "settlement"
BATCH = 5000

Basis = Literal["learned", "default"]


# ------------------------------------------------------------ the policy


@dataclass(frozen=True, slots=True)
class SettlementPolicy:
    """The ``[settlement]`` settings, as the job uses them."""

    enabled: bool = True
    default_window: timedelta = timedelta(hours=2)
    min_samples: int = 20
    safety_factor: float = 1.5

    @classmethod
    def from_settings(cls, settings: Settings) -> SettlementPolicy:
        return cls(
            enabled=settings.settlement_enabled,
            default_window=timedelta(minutes=settings.settlement_default_window_minutes),
            min_samples=settings.settlement_min_samples,
            safety_factor=settings.settlement_safety_factor,
        )


# ------------------------------------------------------------ organisations

_BRACKETED = re.compile(r"([^\[\]]*)\[([^\[\]]*)\](?::\d+)?")


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    # ICANN only: the private section splits hosting platforms per customer
    # (x.herokuapp.com), while a mail gateway's organisation is the domain
    # it registered.
    return PublicSuffixList(only_icann=True)


def host_name(raw: str) -> str:
    """A first hop as MTAs log it (``mx[192.0.2.1]:25``, ``[192.0.2.1]``,
    ``mx.example.com.``), reduced to the bare host name or address, lowercased."""
    text = raw.strip().lower()
    bracketed = _BRACKETED.fullmatch(text)
    if bracketed is not None:
        text = bracketed.group(1) or bracketed.group(2)
    text = text.removeprefix("ipv6:").rstrip(".")
    return text


@lru_cache(maxsize=4096)
def organisation(host: str | None) -> str | None:
    """The registered domain a first hop belongs to (``mx0a-001.pphosted.com`` ->
    ``pphosted.com``, ``mx1.example.co.uk`` -> ``example.co.uk``); an IP address,
    or a name that has no registered domain (``localhost``), stands for itself."""
    if not host:
        return None
    name = host_name(host)
    if not name:
        return None
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        pass
    return _suffixes().privatesuffix(name) or name


# ------------------------------------------------------------ statistics


def percentile(ordered: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of sorted values, interpolating between
    the closest ranks (the usual "linear" definition)."""
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Latency:
    """An organisation's late-bounce latencies, in minutes."""

    count: int
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, minutes: Iterable[float]) -> Latency | None:
        ordered = sorted(minutes)
        if not ordered:
            return None
        return cls(len(ordered), percentile(ordered, 50), percentile(ordered, 95), percentile(ordered, 99))


@dataclass(frozen=True, slots=True)
class Window:
    """How long an organisation's 250 stays provisional, and why."""

    organisation: str | None
    length: timedelta
    basis: Basis
    latency: Latency | None

    @property
    def minutes(self) -> float:
        return round(self.length.total_seconds() / 60, 1)


def choose_window(organisation: str | None, latency: Latency | None, policy: SettlementPolicy) -> Window:
    """The organisation's p99 times the safety factor when its history is rich
    enough to trust a p99, else the default window."""
    if latency is not None and latency.count >= policy.min_samples:
        return Window(organisation, timedelta(minutes=latency.p99 * policy.safety_factor), "learned", latency)
    return Window(organisation, policy.default_window, "default", latency)


@dataclass(frozen=True, slots=True)
class Windows:
    """Every organisation's window, learned once per job run or page."""

    policy: SettlementPolicy
    by_organisation: Mapping[str | None, Window]

    def for_host(self, host: str | None) -> Window:
        org = organisation(host)
        return self.by_organisation.get(org) or Window(org, self.policy.default_window, "default", None)

    def shortest(self) -> timedelta:
        """No delivery settles sooner: a first hop with no history of its own has the default."""
        return min([self.policy.default_window, *(w.length for w in self.by_organisation.values())])


def late_bounce_minutes(session: Session) -> dict[str | None, list[float]]:
    """Per organisation, the minutes from each overturned 250 to the bounce that
    overturned it, read from the corrections the ledger's verdicts carry
    (:mod:`bounceledger.ingest.corrections`).

    A bounce dated before its acceptance (clocks disagree) counts as 0.
    """
    rows = session.execute(
        select(Event.at, corrections.quoted_acceptance_id().scalar_subquery(), Delivery.first_hop_host)
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(Event.corrected_to.in_(LATE_BOUNCE_STATES))
    ).all()
    accepted_ids = {accepted_id for _, accepted_id, _ in rows if accepted_id is not None}
    accepted: dict[int, tuple[datetime, str | None]] = {}
    for id_in in among(session, Event.id, sorted(accepted_ids)):
        accepted.update(
            (event_id, (at, host)) for event_id, at, host in session.execute(select(Event.id, Event.at, Event.remote_host).where(id_in))
        )
    out: dict[str | None, list[float]] = defaultdict(list)
    for bounced_at, accepted_id, first_hop_host in rows:
        if accepted_id is None or accepted_id not in accepted:
            continue
        when, remote_host = accepted[accepted_id]
        minutes = max((bounced_at - when).total_seconds() / 60, 0.0)
        out[organisation(first_hop_host or remote_host)].append(minutes)
    return dict(out)


def learn_windows(session: Session, policy: SettlementPolicy) -> Windows:
    """Every organisation's window, from its whole history of late bounces."""
    return Windows(
        policy,
        {org: choose_window(org, Latency.of(minutes), policy) for org, minutes in late_bounce_minutes(session).items()},
    )


def late_surprises(session: Session, conditions: Sequence[ColumnElement[bool]] = ()) -> dict[str | None, int]:
    """Per organisation, the deliveries a bounce corrected after they had settled.

    "After" in the ledger's own order (the settlement was recorded before
    the correction was made): that is when a platform that acted on
    ``delivery.settled`` is surprised, whatever the bounce's Date says.
    Reconciliation records it with the correction, which then overturned a
    ``settled`` 250 (``Event.corrected_from``).
    """
    stmt = (
        select(Delivery.first_hop_host, func.count(func.distinct(Event.delivery_id)))
        .select_from(Event)
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(Event.corrected_to.in_(LATE_BOUNCE_STATES), Event.corrected_from == "settled")
        .group_by(Delivery.first_hop_host)
    )
    if conditions:
        stmt = stmt.join(SentMessage, SentMessage.id == Delivery.sent_message_id).where(*conditions)
    out: dict[str | None, int] = defaultdict(int)
    for host, count in session.execute(stmt):
        out[organisation(host)] += count
    return dict(out)


# ------------------------------------------------------------ the job


def _event_row(delivery_id: int, recipient: str, host: str | None, accepted_at: datetime,
               window: Window, now: datetime) -> dict[str, object]:
    basis = (
        f"p99 of {window.latency.count} late bounces x safety factor" if window.basis == "learned" and window.latency
        else "the default window"
    )
    return {
        "dedupe_key": settlement_key(delivery_id, accepted_at),
        "delivery_id": delivery_id,
        "recipient": recipient,
        "kind": "attempt",
        "source": SOURCE,
        "at": accepted_at + window.length,
        "outcome": "settled",
        "first_hop": True,
        "remote_host": host,
        "status": None,
        "replycode": None,
        "reason": None,
        "detail": f"no bounce within {window.minutes:g} minutes of the first hop's 250 "
                  f"({window.organisation or 'unknown first hop'}: {basis}): settled",
        "from_state": None,
        "to_state": None,
        "match_key": None,
        "returned_message_id": None,
        "evidence": {"organisation": window.organisation, "window_minutes": window.minutes, "basis": window.basis},
        "recorded_at": now,
    }


def settle_due(session: Session, policy: SettlementPolicy, now: datetime, rules: LedgerRules, batch: int = BATCH) -> int:
    """Settle every ``accepted`` delivery whose window has passed; returns how many.

    Only deliveries accepted longer ago than the shortest window in use are
    read, a batch at a time, and each is held against its own
    organisation's window.
    """
    if not policy.enabled:
        return 0
    windows = learn_windows(session, policy)
    cutoff = now - windows.shortest()
    settled = 0
    after = 0
    while True:
        candidates = session.execute(
            select(Delivery.id, Delivery.recipient, Delivery.first_hop_host, Delivery.state_at)
            .where(Delivery.state == "accepted", Delivery.state_at <= cutoff, Delivery.id > after)
            .order_by(Delivery.id)
            .limit(batch)
        ).all()
        if not candidates:
            return settled
        after = candidates[-1].id
        rows = []
        for delivery_id, recipient, host, accepted_at in candidates:
            window = windows.for_host(host)
            if accepted_at + window.length <= now:
                rows.append(_event_row(delivery_id, recipient, host, accepted_at, window, now))
        if rows:
            insert_ignoring_duplicates(session, Event, rows, ["dedupe_key"])
            settled += reconcile.recompute(session, [row["delivery_id"] for row in rows], rules)  # type: ignore[misc]


def provisional_until(windows: Windows, host: str | None, accepted_at: datetime | None) -> datetime | None:
    """When an accepted delivery settles if no bounce comes back first."""
    if accepted_at is None:
        return None
    return accepted_at + windows.for_host(host).length


def settlement_words(at: datetime, now: datetime | None = None) -> str:
    """``HH:MM UTC`` for a time today (UTC), ``YYYY-MM-DD HH:MM UTC`` otherwise: how the faces say it."""
    at = at.astimezone(timezone.utc)
    today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
    return f"{at:%H:%M} UTC" if at.date() == today else f"{at:%Y-%m-%d %H:%M} UTC"
