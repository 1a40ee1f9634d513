"""Corrected numbers for marketers: per campaign and per day, and by reason.

Shared by the CLI and the web dashboard. Every figure is one grouped SQL
query over the ledger (no row is loaded into Python), so the same code
answers on a demo SQLite file and on a PostgreSQL ledger with millions of
deliveries.

Definitions (each delivery is one recipient of one sent message):

``recipients``
    deliveries of the messages first seen in the window.
``messages``
    those sent messages (``sent_messages.first_seen_at`` in the window).
``accepted_first_hop``
    the first hop answered 250: the delivery is still ``accepted``
    (provisional), ``settled`` (no bounce within its first hop's settlement
    window), was confirmed ``delivered``, or was *corrected* (accepted, then
    overturned). Marketers count accepted + settled + delivered as delivered.
``corrected``
    accepted by the first hop and later turned into bounced or expired by a
    returned message (complaints are counted in ``complained``).
``bounced`` / ``expired``
    the final state; ``final_bounced`` is their sum.
``complained``
    an ARF complaint came back for the delivery.
``bounce_rate_first_hop``
    the bounce rate the sending platform shows (final bounces minus the
    corrections: what the first hop said), as a fraction of recipients.
``bounce_rate``
    the corrected, final bounce rate: ``final_bounced / recipients``.

A day is the UTC calendar day the message was first seen in the send log.
Filters: ``campaign`` (``NO_CAMPAIGN`` selects messages without one),
``since`` and ``until`` (inclusive dates).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from bounceledger.ingest.bounces.classify import explain, is_hard, is_hard_outcome
from bounceledger.ingest.bounces.reasons import CATEGORIES
from bounceledger.models import Delivery, SentMessage

if TYPE_CHECKING:
    from bounceledger.ingest.settlement import SettlementPolicy

NO_CAMPAIGN = "(none)"
FAILED_STATES = ("bounced", "expired")
REASON_STATES = ("bounced", "expired", "complained")

COUNTERS = (
    "recipients",
    "accepted_first_hop",
    "corrected",
    "bounced",
    "expired",
    "complained",
    "delivered",
    "accepted",
    "settled",
    "deferred",
    "pending",
)


class utc_day(FunctionElement[Any]):
    """The UTC calendar day of a timestamp column, on either backend."""

    inherit_cache = True
    name = "utc_day"


@compiles(utc_day)
def _utc_day_default(element: utc_day, compiler: Any, **kw: Any) -> str:
    # SQLite keeps UTC timestamps as ISO text: the first ten characters.
    return "substr(%s, 1, 10)" % compiler.process(element.clauses, **kw)


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: Any, **kw: Any) -> str:
    # timestamptz -> date follows the session time zone; pin it to UTC.
    return "CAST((%s AT TIME ZONE 'UTC') AS DATE)" % compiler.process(element.clauses, **kw)


class FilterError(ValueError):
    """Filters that cannot select anything sensible; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Filters:
    campaign: str | None = None
    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise FilterError(f"since {self.since.isoformat()} is after until {self.until.isoformat()}")

    def as_json(self) -> dict[str, str | None]:
        return {
            "campaign": self.campaign,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def message_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.campaign is not None:
        if filters.campaign == NO_CAMPAIGN:
            conditions.append(SentMessage.campaign.is_(None))
        else:
            conditions.append(SentMessage.campaign == filters.campaign)
    return conditions + arrived_in(SentMessage.first_seen_at, filters)


def arrived_in(column: Any, filters: Filters) -> list[ColumnElement[bool]]:
    """``column`` (a UTC timestamp) within the filters' days; the campaign is not looked at."""
    conditions: list[ColumnElement[bool]] = []
    if filters.since is not None:
        conditions.append(column >= _start(filters.since))
    if filters.until is not None:
        conditions.append(column < _start(filters.until + timedelta(days=1)))
    return conditions


def _day_text(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def metric_conditions() -> dict[str, ColumnElement[bool] | None]:
    """Which deliveries each funnel number counts (``None``: all of them).

    One definition for the counts and for the lists of recipients behind
    them, so the list a number opens always has that many rows.
    """
    state = Delivery.state
    return {
        "recipients": None,
        "accepted_first_hop": or_(state.in_(("accepted", "settled", "delivered")), Delivery.corrected.is_(True)),
        "corrected": and_(Delivery.corrected.is_(True), state.in_(FAILED_STATES)),
        "bounced": state == "bounced",
        "expired": state == "expired",
        "final_bounced": state.in_(FAILED_STATES),
        "complained": state == "complained",
        "delivered": state == "delivered",
        "accepted": state == "accepted",
        "settled": state == "settled",
        "deferred": state == "deferred",
        "pending": state == "pending",
    }


#: The funnel numbers a list of recipients can be opened for, with what the list shows.
METRICS: dict[str, str] = {
    "recipients": "Sent (every recipient)",
    "accepted_first_hop": "Accepted by the first hop (250)",
    "corrected": "Corrected to bounced later",
    "final_bounced": "Final bounced or expired",
    "bounced": "Bounced",
    "expired": "Expired",
    "complained": "Complained",
    "delivered": "Delivery confirmed",
    "accepted": "Accepted, nothing came back yet (provisional)",
    "settled": "Settled: no bounce within the first hop's window",
    "deferred": "Still deferred",
    "pending": "Pending (only hand-offs to our own relays)",
}


def _funnel_columns() -> list[ColumnElement[Any]]:
    conditions = metric_conditions()
    return [
        func.count().label(name) if conditions[name] is None else _count_if(conditions[name]).label(name)  # type: ignore[arg-type]
        for name in COUNTERS
    ]


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    """Add the derived figures to a row of counters."""
    recipients = row["recipients"]
    final = row["bounced"] + row["expired"]
    row["final_bounced"] = final
    row["bounce_rate"] = round(final / recipients, 6) if recipients else 0.0
    first_hop = final - row["corrected"]
    row["bounce_rate_first_hop"] = round(first_hop / recipients, 6) if recipients else 0.0
    row["complaint_rate"] = round(row["complained"] / recipients, 6) if recipients else 0.0
    return row


def _empty(**keys: Any) -> dict[str, Any]:
    return {**keys, "messages": 0, **{name: 0 for name in COUNTERS}}


def campaign_day(
    session: Session,
    campaign: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[dict[str, Any]]:
    """The funnel per campaign and day, newest day first.

    One grouped query over deliveries joined to their message (through the
    ``(sent_message_id, recipient)`` unique index), and one over
    ``sent_messages`` for the message counts.
    """
    filters = Filters(campaign, since, until)
    conditions = message_conditions(filters)
    day = utc_day(SentMessage.first_seen_at)
    campaign_col = SentMessage.campaign
    rows: dict[tuple[str | None, str], dict[str, Any]] = {}
    stmt: Select[Any] = (
        select(campaign_col.label("campaign"), day.label("day"), *_funnel_columns())
        .select_from(Delivery)
        .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        .where(*conditions)
        .group_by(campaign_col, day)
    )
    for record in session.execute(stmt).mappings():
        key = (record["campaign"], _day_text(record["day"]))
        row = rows.setdefault(key, _empty(campaign=key[0], day=key[1]))
        for name in COUNTERS:
            row[name] = int(record[name] or 0)
    messages = (
        select(campaign_col.label("campaign"), day.label("day"), func.count().label("messages"))
        .where(*conditions)
        .group_by(campaign_col, day)
    )
    for record in session.execute(messages).mappings():
        key = (record["campaign"], _day_text(record["day"]))
        rows.setdefault(key, _empty(campaign=key[0], day=key[1]))["messages"] = int(record["messages"])
    out = [_finish(row) for row in rows.values()]
    out.sort(key=lambda r: (r["day"], r["campaign"] or ""), reverse=True)
    for row in out:
        row["campaign"] = row["campaign"] if row["campaign"] is not None else NO_CAMPAIGN
    return out


def _rollup(rows: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    groups: dict[Any, dict[str, Any]] = {}
    for row in rows:
        group = row[key] if key else None
        total = groups.setdefault(group, _empty(**({key: group} if key else {})))
        for name in ("messages", *COUNTERS):
            total[name] += row[name]
    return [_finish(total) for total in groups.values()]


def by_day(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Campaign-day rows summed per day, oldest first (the chart's order)."""
    return sorted(_rollup(rows, "day"), key=lambda r: r["day"])


def by_campaign(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Campaign-day rows summed per campaign, the biggest first."""
    return sorted(_rollup(rows, "campaign"), key=lambda r: (-r["recipients"], r["campaign"]))


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Campaign-day rows summed into one funnel."""
    return _rollup(rows, None)[0] if rows else _finish(_empty())


def overview(
    session: Session,
    campaign: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> dict[str, Any]:
    """Totals, per day, per campaign and per campaign-day in one answer (two queries)."""
    rows = campaign_day(session, campaign, since, until)
    return {
        "filters": Filters(campaign, since, until).as_json(),
        "totals": totals(rows),
        "by_day": by_day(rows),
        "by_campaign": by_campaign(rows),
        "by_campaign_day": rows,
    }


def campaigns(session: Session, limit: int = 1000) -> list[str]:
    """The campaigns seen, for filter menus (``NO_CAMPAIGN`` when some messages have none)."""
    # Named campaigns from the partial index, then whether any message has none.
    names: list[str] = list(
        session.scalars(
            select(SentMessage.campaign)
            .where(SentMessage.campaign.is_not(None))
            .group_by(SentMessage.campaign)
            .order_by(SentMessage.campaign)
            .limit(limit)
        )
    )
    if len(names) < limit and session.scalar(select(SentMessage.id).where(SentMessage.campaign.is_(None)).limit(1)) is not None:
        names.append(NO_CAMPAIGN)
    return names


def _reason_query(filters: Filters, *columns: Any) -> Select[Any]:
    stmt = select(*columns).select_from(Delivery).where(Delivery.state.in_(REASON_STATES))
    conditions = message_conditions(filters)
    if conditions:
        stmt = stmt.join(SentMessage, SentMessage.id == Delivery.sent_message_id).where(*conditions)
    return stmt


#: What a failure's badge says, strongest first. ``hard``: the address
#: itself does not work (suppressed at once); ``permanent``: refused for
#: good, but not because of the address (a block, a full mailbox, a policy);
#: ``expired``: the sending MTA gave up after retrying; ``temporary``: still
#: being retried; ``complaint``: the recipient reported the mail as spam.
SEVERITIES = ("hard", "complaint", "permanent", "expired", "temporary")


def severity(reason: str | None, status: str | None, replycode: str | None, state: str | None = None) -> str | None:
    """The badge for one outcome: a permanent failure is never called soft.

    ``state`` is the ledger state of the delivery (the suppression policy's
    view: only a bounce can be hard); without it, the codes decide (a
    5.x.x or 5xx is permanent, a 4.x.x or 4xx temporary). None when there
    is neither a state nor a code to say.
    """
    name = reason or "undefined"
    if state == "complained":
        return "complaint"
    if state == "expired":
        return "expired"
    if is_hard(name, status, replycode) if state is None else is_hard_outcome(state, name, status, replycode):
        return "hard"
    if state == "bounced":
        # src: RFC 3464 2.3.3 / RFC 3463 section 3.1: "failed" on a 4.x.x status (or a 4xx reply) is a
        # persistent transient failure the reporting MTA gave up on after retrying, never a refusal for good
        return "expired" if (status or replycode or "").startswith("4") else "permanent"
    if state == "deferred":
        return "temporary"
    code = status or replycode or ""
    return "permanent" if code.startswith("5") else "temporary" if code.startswith("4") else None


_CLASS_4_WORDS = "Temporary failure: the sending server keeps retrying for a while."


def describe_reason(
    reason: str | None, status: str | None = None, replycode: str | None = None, state: str | None = None
) -> dict[str, Any]:
    """Category, hard/soft and plain words for a reason and (optionally) its code.

    With the ledger ``state`` of one outcome, hard/soft is the suppression
    policy's own verdict on it (an expired delivery is never hard), so the
    badge and the suppression list cannot disagree; ``severity`` is the
    badge (see :func:`severity`).
    """
    name = reason or "undefined"
    code = " ".join(part for part in (replycode, status) if part)
    meaning = explain(code, reason).meaning if code else None
    if meaning and state in ("expired", "bounced") and (status or replycode or " ")[0] == "4":
        # src: RFC 3464 2.3.3: a "failed" report (or our own MTA's queue expiry) on a temporary answer means
        # the retries have stopped; "keeps retrying" would tell support the opposite of the state it reads.
        meaning = meaning.replace(
            _CLASS_4_WORDS, "Gave up after retrying: the temporary failure lasted until the queue lifetime ran out; not delivered.", 1
        )
    return {
        "reason": name,
        "category": CATEGORIES.get(name, "other"),
        "hard": is_hard(name, status, replycode) if state is None else is_hard_outcome(state, name, status, replycode),
        "meaning": meaning,
        "severity": severity(name, status, replycode, state),
    }


def is_known_reason(session: Session, reason: str) -> bool:
    """A reason the classifier can give, or one the ledger holds (``undefined``: none recorded)."""
    if reason == "undefined" or reason in CATEGORIES:
        return True
    return session.scalar(select(Delivery.id).where(Delivery.reason == reason).limit(1)) is not None


def reasons(
    session: Session,
    campaign: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> dict[str, Any]:
    """Final failures (bounced, expired, complained) by reason, the most frequent first.

    Each reason comes with its category, hard/soft (``hard`` true, false, or
    ``"mixed"`` when its codes disagree), the states and status codes behind
    it, how many were corrections of a first-hop 250, and plain words for
    its most common code.
    """
    filters = Filters(campaign, since, until)
    stmt = _reason_query(
        filters,
        Delivery.reason,
        Delivery.status,
        Delivery.state,
        func.count().label("count"),
        _count_if(Delivery.corrected.is_(True)).label("corrected"),
        func.max(Delivery.replycode).label("replycode"),
    ).group_by(Delivery.reason, Delivery.status, Delivery.state)
    groups: dict[str, dict[str, Any]] = {}
    hard_counts: dict[str, int] = defaultdict(int)
    for reason, status, state, count, corrected, replycode in session.execute(stmt):
        name = reason or "undefined"
        group = groups.setdefault(
            name,
            {
                "reason": name,
                "category": CATEGORIES.get(name, "other"),
                "count": 0,
                "corrected": 0,
                "states": {},
                "statuses": {},
                "_replycodes": {},
                "severities": {},
            },
        )
        group["count"] += count
        group["corrected"] += int(corrected or 0)
        group["states"][state] = group["states"].get(state, 0) + count
        code = status or "-"
        group["statuses"][code] = group["statuses"].get(code, 0) + count
        group["_replycodes"].setdefault(code, replycode)
        if is_hard_outcome(state, name, status, replycode):
            hard_counts[name] += count  # what the suppression policy counts as hard
        kind = severity(name, status, replycode, state) or "permanent"  # every state here is final
        group["severities"][kind] = group["severities"].get(kind, 0) + count
    total = sum(g["count"] for g in groups.values())
    out = []
    for name, group in groups.items():
        hard = hard_counts[name]
        group["hard"] = True if hard == group["count"] else False if hard == 0 else "mixed"
        group["share"] = round(group["count"] / total, 6) if total else 0.0
        group["statuses"] = dict(sorted(group["statuses"].items(), key=lambda kv: -kv[1]))
        group["severities"] = {k: group["severities"][k] for k in SEVERITIES if k in group["severities"]}
        top = next((code for code in group["statuses"] if code != "-"), None)
        replycodes = group.pop("_replycodes")
        group["meaning"] = describe_reason(name, top, replycodes.get(top) if top else None)["meaning"]
        out.append(group)
    out.sort(key=lambda g: (-g["count"], g["reason"]))
    categories: dict[str, int] = defaultdict(int)
    for group in out:
        categories[group["category"]] += group["count"]
    return {
        "filters": filters.as_json(),
        "total": total,
        "reasons": out,
        "categories": [
            {"category": c, "count": n, "share": round(n / total, 6) if total else 0.0}
            for c, n in sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }


def reasons_by_day(
    session: Session,
    campaign: str | None = None,
    since: date | None = None,
    until: date | None = None,
    top: int = 6,
) -> dict[str, Any]:
    """Final failures per day and reason, for the chart over time.

    The ``top`` most frequent reasons keep their name; the rest are summed
    as ``other``. Days are oldest first.
    """
    filters = Filters(campaign, since, until)
    day = utc_day(SentMessage.first_seen_at)
    stmt = (
        select(day.label("day"), Delivery.reason, func.count().label("count"))
        .select_from(Delivery)
        .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        .where(Delivery.state.in_(REASON_STATES), *message_conditions(filters))
        .group_by(day, Delivery.reason)
    )
    cells: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sums: dict[str, int] = defaultdict(int)
    for value, reason, count in session.execute(stmt):
        name = reason or "undefined"
        cells[_day_text(value)][name] += count
        sums[name] += count
    ranked = sorted(sums, key=lambda r: (-sums[r], r))
    keep = ranked[:top]
    series = keep + (["other"] if len(ranked) > top else [])
    days = []
    for day_text in sorted(cells):
        counts = {name: 0 for name in series}
        for name, count in cells[day_text].items():
            counts[name if name in keep else "other"] += count
        days.append({"day": day_text, "counts": counts})
    return {"filters": filters.as_json(), "reasons": series, "days": days}


def _deliveries_with_messages(*conditions: ColumnElement[bool]) -> Select[Any]:
    """Deliveries with their message, the columns one row of a recipient list shows."""
    return (
        select(
            Delivery.id,
            Delivery.recipient,
            Delivery.state,
            Delivery.reason,
            Delivery.status,
            Delivery.replycode,
            Delivery.detail,
            Delivery.corrected,
            Delivery.state_at,
            SentMessage.message_id,
            SentMessage.campaign,
            SentMessage.first_seen_at,
        )
        .select_from(Delivery)
        .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
        .where(*conditions)
    )


def reason_examples(
    session: Session,
    reason: str,
    campaign: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The latest final failures with this reason (``undefined``: none recorded), as recipient rows."""
    filters = Filters(campaign, since, until)
    condition = Delivery.reason.is_(None) if reason == "undefined" else Delivery.reason == reason
    stmt = _deliveries_with_messages(condition, Delivery.state.in_(REASON_STATES), *message_conditions(filters))
    return [
        _recipient_row(row)
        for row in session.execute(stmt.order_by(Delivery.state_at.desc(), Delivery.id.desc()).limit(limit))
    ]


def _recipients_query(metric: str, filters: Filters) -> Select[Any]:
    if metric not in METRICS:
        raise FilterError(f"metric: one of {', '.join(METRICS)}")
    condition = metric_conditions()[metric]
    return _deliveries_with_messages(*message_conditions(filters), *([condition] if condition is not None else []))


def _recipient_row(row: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "delivery_id": row.id,
        "recipient": row.recipient,
        "state": row.state,
        "reason": row.reason,
        "status": row.status,
        "replycode": row.replycode,
        "corrected": bool(row.corrected),
        "campaign": row.campaign if row.campaign is not None else NO_CAMPAIGN,
        "message_id": row.message_id,
        "sent_at": iso(row.first_seen_at),
        "state_at": iso(row.state_at),
        "detail": row.detail,
    }


def recipients(
    session: Session,
    metric: str,
    campaign: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """One page of the recipients behind a funnel number, newest send first.

    ``total`` is the number the overview shows for the same metric and
    filters (the same conditions count and list them).
    """
    filters = Filters(campaign, since, until)
    stmt = _recipients_query(metric, filters)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = session.execute(
        stmt.order_by(SentMessage.first_seen_at.desc(), Delivery.id.desc()).limit(limit).offset(offset)
    )
    return {
        "filters": filters.as_json(),
        "metric": metric,
        "label": METRICS[metric],
        "total": total,
        "limit": limit,
        "offset": offset,
        "recipients": [_recipient_row(row) for row in page],
    }


def iter_recipients(
    session: Session,
    metric: str,
    campaign: str | None = None,
    since: date | None = None,
    until: date | None = None,
    batch: int = 1000,
) -> Iterator[dict[str, Any]]:
    """Every recipient behind a funnel number, streamed (for the CSV export)."""
    stmt = _recipients_query(metric, Filters(campaign, since, until))
    stmt = stmt.order_by(SentMessage.first_seen_at.desc(), Delivery.id.desc()).execution_options(yield_per=batch)
    for row in session.execute(stmt):
        yield _recipient_row(row)


__all__ = [
    "NO_CAMPAIGN",
    "METRICS",
    "SEVERITIES",
    "FilterError",
    "Filters",
    "arrived_in",
    "by_campaign",
    "by_day",
    "campaign_day",
    "campaigns",
    "describe_reason",
    "is_known_reason",
    "iter_recipients",
    "message_conditions",
    "overview",
    "reason_examples",
    "reasons",
    "reasons_by_day",
    "recipients",
    "severity",
    "totals",
]


# ------------------------------------------------------------ per first-hop organisation

#: One row of ``first_hop_organisations``: the first hop's registered domain
#: (an IP or unnamed host stands for itself), what it accepted and how much
#: of that a later bounce overturned, how late those bounces came, and the
#: settlement window in use for it.
ORGANISATION_FIELDS = (
    "organisation",
    "accepted",
    "provisional",
    "settled",
    "corrected",
    "correction_rate",
    "latency_count",
    "latency_p50_minutes",
    "latency_p95_minutes",
    "latency_p99_minutes",
    "window_minutes",
    "window_basis",
    "late_surprises",
    "provisional_until",
)


def first_hop_organisations(
    session: Session,
    policy: SettlementPolicy,
    campaign: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> dict[str, Any]:
    """Per first-hop organisation: accepted, provisional, settled, later corrected,
    the correction rate, the late-bounce latency (p50/p95/p99 and count), the
    window in use and the late surprises; the biggest first.

    The counts follow the filters like the funnel; the latencies and the
    window are the organisation's whole history, because that is what the
    settlement job holds its deliveries to.
    """
    from bounceledger.ingest import settlement

    filters = Filters(campaign, since, until)
    conditions = message_conditions(filters)
    metric = metric_conditions()
    stmt: Select[Any] = (
        select(
            Delivery.first_hop_host,
            _count_if(metric["accepted_first_hop"]).label("accepted"),  # type: ignore[arg-type]
            _count_if(metric["accepted"]).label("provisional"),  # type: ignore[arg-type]
            _count_if(metric["settled"]).label("settled"),  # type: ignore[arg-type]
            _count_if(metric["corrected"]).label("corrected"),  # type: ignore[arg-type]
        )
        .select_from(Delivery)
        .where(Delivery.first_hop_host.is_not(None))
        .group_by(Delivery.first_hop_host)
    )
    if conditions:
        stmt = stmt.join(SentMessage, SentMessage.id == Delivery.sent_message_id).where(*conditions)
    counts: dict[str | None, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "provisional": 0, "settled": 0, "corrected": 0})
    for host, *numbers in session.execute(stmt):
        row = counts[settlement.organisation(host)]
        for name, number in zip(("accepted", "provisional", "settled", "corrected"), numbers):
            row[name] += int(number or 0)
    latest: dict[str | None, datetime] = {}  # the last accepted delivery's 250, per first hop
    stmt = select(Delivery.first_hop_host, func.max(Delivery.state_at)).where(Delivery.state == "accepted")
    if conditions:
        stmt = stmt.join(SentMessage, SentMessage.id == Delivery.sent_message_id).where(*conditions)
    for host, at in session.execute(stmt.group_by(Delivery.first_hop_host)):
        org = settlement.organisation(host)
        if at is not None and (org not in latest or at > latest[org]):
            latest[org] = at
    windows = settlement.learn_windows(session, policy)
    surprises = settlement.late_surprises(session, conditions)
    names = {org for org, row in counts.items() if row["accepted"]} | set(windows.by_organisation) | set(surprises)
    rows = []
    for org in names:
        numbers = counts.get(org) or {"accepted": 0, "provisional": 0, "settled": 0, "corrected": 0}
        window = windows.by_organisation.get(org) or settlement.choose_window(org, None, policy)
        latency = window.latency
        rows.append(
            {
                "organisation": org,
                **numbers,
                "correction_rate": round(numbers["corrected"] / numbers["accepted"], 6) if numbers["accepted"] else 0.0,
                "latency_count": latency.count if latency else 0,
                "latency_p50_minutes": round(latency.p50, 1) if latency else None,
                "latency_p95_minutes": round(latency.p95, 1) if latency else None,
                "latency_p99_minutes": round(latency.p99, 1) if latency else None,
                "window_minutes": window.minutes,
                "window_basis": window.basis,
                "late_surprises": surprises.get(org, 0),
                # when the last of its provisional deliveries settles unless a bounce comes first
                "provisional_until": (latest[org] + window.length).isoformat().replace("+00:00", "Z")
                if org in latest and policy.enabled else None,
            }
        )
    rows.sort(key=lambda r: (-r["accepted"], -r["latency_count"], r["organisation"] or ""))
    return {
        "filters": filters.as_json(),
        "enabled": policy.enabled,
        "default_window_minutes": round(policy.default_window.total_seconds() / 60, 1),
        "min_samples": policy.min_samples,
        "safety_factor": policy.safety_factor,
        "organisations": rows,
    }
