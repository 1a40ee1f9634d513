"""Settlement: the state rule, the learned windows, and the job, on both databases."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bounceledger import pipeline
from bounceledger.db import Database
from bounceledger.ingest import corrections, settlement
from bounceledger.ingest.settlement import Latency, SettlementPolicy, choose_window, organisation, percentile
from bounceledger.models import Delivery, Event
from bounceledger.models.state import STATES, Fact, decide
from bounceledger.scheduler import SETTLEMENT_INTERVAL_SECONDS, build_scheduler
from tests.settlement_history import MIMECAST, ORGANISATIONS, OUTLOOK, PROOFPOINT, Send, history, record_bounces, record_sends

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=timezone.utc)
SAMPLES = Path(__file__).resolve().parent.parent / "bounceledger" / "samples"
POLICY = SettlementPolicy(default_window=timedelta(hours=2), min_samples=20, safety_factor=1.5)


# ----------------------------------------------------------------- the state rule (pure)


def fact(kind: str, outcome: str, minutes: int, reason: str | None = None) -> Fact:
    return Fact(kind, outcome, T0 + timedelta(minutes=minutes), f"{kind}-{outcome}-{minutes}", reason=reason)  # type: ignore[arg-type]


def state_of(*facts: Fact) -> str | None:
    decision = decide(facts)
    return decision.state if decision else None


def test_settled_is_a_state_ranked_above_accepted_and_below_every_later_answer() -> None:
    assert "settled" in STATES
    accepted, settled = fact("attempt", "accepted", 0), fact("attempt", "settled", 120)
    assert state_of(accepted, settled) == "settled"
    assert state_of(settled, accepted) == "settled"
    assert state_of(accepted, settled, fact("attempt", "accepted", 200)) == "settled"  # a later 250 does not undo it
    assert state_of(accepted, settled, fact("verdict", "delay", 130)) == "settled"
    assert state_of(accepted, settled, fact("verdict", "success", 10)) == "delivered"
    assert state_of(accepted, settled, fact("verdict", "bounce", 300, "expired")) == "expired"
    assert state_of(accepted, settled, fact("verdict", "complaint", 400)) == "complained"


def test_a_bounce_after_settlement_still_corrects_the_acceptance() -> None:
    decision = decide([fact("attempt", "accepted", 0), fact("attempt", "settled", 120), fact("verdict", "bounce", 500)])
    assert decision is not None
    assert (decision.state, decision.corrected_from) == ("bounced", "accepted")
    assert decision.decided_by.kind == "verdict"


ANY_FACT = st.one_of(
    st.builds(fact, st.just("attempt"), st.sampled_from(["accepted", "deferred", "rejected", "timeout", "settled"]),
              st.integers(0, 600)),
    st.builds(fact, st.just("verdict"), st.sampled_from(["bounce", "delay", "success", "complaint", "autoreply"]),
              st.integers(0, 600), st.sampled_from([None, "userunknown", "expired"])),
)


@given(st.lists(ANY_FACT, min_size=1, max_size=10, unique_by=lambda f: f.key), st.randoms())
def test_same_events_with_settlements_give_the_same_state_in_any_order(facts: list[Fact], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(facts)
    rnd.shuffle(shuffled)
    assert decide(facts) == decide(shuffled)


# ----------------------------------------------------------------- statistics and windows (pure)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    latency = Latency.of([30.0, 10.0, 20.0])
    assert latency == Latency(3, 20.0, pytest.approx(29.0), pytest.approx(29.8))  # type: ignore[arg-type]
    assert Latency.of([]) is None


def test_window_is_learned_only_from_rich_history() -> None:
    rich = Latency(20, 12.0, 50.0, 80.0)
    thin = Latency(19, 12.0, 50.0, 80.0)
    learned = choose_window("pphosted.com", rich, POLICY)
    assert (learned.basis, learned.length) == ("learned", timedelta(minutes=120))  # 80 x 1.5
    assert (choose_window("pphosted.com", thin, POLICY).basis, choose_window("pphosted.com", thin, POLICY).length) == (
        "default", timedelta(hours=2))
    assert choose_window("unknown.example", None, POLICY).length == timedelta(hours=2)
    stricter = SettlementPolicy(default_window=timedelta(minutes=30), min_samples=5, safety_factor=2.0)
    assert choose_window("x", thin, stricter).length == timedelta(minutes=160)


@pytest.mark.parametrize(
    ("host", "group"),
    [
        ("mx0a-001a2b3c.pphosted.com", "pphosted.com"),
        ("mx0b-001a2b3c.pphosted.com.", "pphosted.com"),
        ("eu-smtp-inbound-1.mimecast.com[195.130.217.1]:25", "mimecast.com"),
        ("contoso-com.mail.protection.outlook.com", "outlook.com"),
        ("gmail-smtp-in.l.google.com", "google.com"),
        ("alt1.aspmx.l.google.com.", "google.com"),
        ("d123.barracudanetworks.com", "barracudanetworks.com"),
        ("mx1.example.co.uk", "example.co.uk"),
        ("MX2.Example.CO.UK.", "example.co.uk"),
        ("mail.city.kawasaki.jp", "city.kawasaki.jp"),
        ("[192.0.2.7]", "192.0.2.7"),
        ("192.0.2.7", "192.0.2.7"),
        ("127.0.0.1[127.0.0.1]:10025", "127.0.0.1"),
        ("2a01:111:f403:c100::1", "2a01:111:f403:c100::1"),
        ("[ipv6:2001:db8::5]", "2001:db8::5"),
        ("localhost", "localhost"),
        ("mail.grey.example.", "grey.example"),
        (None, None),
        ("", None),
    ],
)
def test_first_hops_group_by_registered_domain(host: str | None, group: str | None) -> None:
    assert organisation(host) == group


# ----------------------------------------------------------------- learned from the ledger


def test_learned_latencies_are_within_ten_percent_of_the_truth(database: Database) -> None:
    history(database)
    with database.session() as session:
        minutes = settlement.late_bounce_minutes(session)
        windows = settlement.learn_windows(session, POLICY)
    assert set(minutes) == {org.domain for org in ORGANISATIONS}
    for org in ORGANISATIONS:
        latency = Latency.of(minutes[org.domain])
        assert latency is not None and latency.count == org.samples
    for org in (PROOFPOINT, MIMECAST):
        window = windows.by_organisation[org.domain]
        assert window.basis == "learned"
        assert window.latency is not None
        for p, learned in ((95, window.latency.p95), (99, window.latency.p99)):
            assert learned == pytest.approx(org.truth(p), rel=0.10), (org.domain, p)
        assert window.length.total_seconds() == pytest.approx(window.latency.p99 * 1.5 * 60)
    outlook = windows.by_organisation[OUTLOOK.domain]
    assert (outlook.basis, outlook.length) == ("default", timedelta(hours=2))
    # every relay of an organisation shares its window
    assert windows.for_host("mx0b-001a2b3c.pphosted.com.") == windows.by_organisation["pphosted.com"]
    assert windows.for_host("mx.unknown.example").basis == "default"


def _new_sends(start: datetime) -> dict[str, Send]:
    relays = {
        "pphosted.com": PROOFPOINT.relays[0],
        "mimecast.com": MIMECAST.relays[1],
        "outlook.com": OUTLOOK.relays[0],
        "google.com": "gmail-smtp-in.l.google.com[142.250.102.26]:25",
        "192.0.2.9": "192.0.2.9[192.0.2.9]:25",
    }
    return {org: Send(1000 + n, f"fresh{n}@{org.replace('.', '-')}.example", relay, start) for n, (org, relay) in enumerate(relays.items())}


def _state(database: Database, recipient: str) -> tuple[str, bool, datetime | None]:
    with database.session() as session:
        row = session.execute(
            select(Delivery.state, Delivery.corrected, Delivery.state_at).where(Delivery.recipient == recipient)
        ).one()
    return row.state, row.corrected, row.state_at


def test_the_job_settles_each_delivery_when_its_own_window_ends(database: Database) -> None:
    history(database)
    start = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
    fresh = _new_sends(start)
    record_sends(database, list(fresh.values()))
    with database.session() as session:
        windows = settlement.learn_windows(session, POLICY)
    ends = {org: start + windows.for_host(send.relay).length for org, send in fresh.items()}
    assert ends["mimecast.com"] < ends["google.com"] == ends["outlook.com"] == ends["192.0.2.9"] < ends["pphosted.com"]

    def settle(at: datetime) -> int:
        with database.session() as session:
            return settlement.settle_due(session, POLICY, at, database.rules)

    assert settle(ends["mimecast.com"] - timedelta(seconds=1)) == 0
    assert {org: _state(database, s.recipient)[0] for org, s in fresh.items()} == dict.fromkeys(fresh, "accepted")
    assert settle(ends["mimecast.com"] + timedelta(minutes=1)) == 1
    assert _state(database, fresh["mimecast.com"].recipient) == ("settled", False, ends["mimecast.com"])
    assert settle(ends["google.com"]) == 3
    assert settle(ends["pphosted.com"] - timedelta(seconds=1)) == 0
    assert _state(database, fresh["pphosted.com"].recipient)[0] == "accepted"
    assert settle(ends["pphosted.com"] + timedelta(hours=5)) == 1
    # the settlement is dated when the window ran out, not when the job ran
    assert _state(database, fresh["pphosted.com"].recipient) == ("settled", False, ends["pphosted.com"])
    assert settle(ends["pphosted.com"] + timedelta(days=1)) == 0  # a re-run writes nothing
    with database.session() as session:
        events = session.execute(
            select(Event.delivery_id, Event.source, Event.evidence).where(Event.kind == "attempt", Event.outcome == "settled")
        ).all()
        history_bounced = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.state == "bounced"))
    assert len(events) == 5 and {e.source for e in events} == {"settlement"}
    assert {e.evidence["basis"] for e in events} == {"learned", "default"}
    assert history_bounced == sum(org.samples for org in ORGANISATIONS)  # the history itself stays corrected


def test_a_first_hop_without_history_settles_at_the_default_even_when_every_learned_window_is_longer(
    database: Database,
) -> None:
    history(database)
    patient = SettlementPolicy(default_window=timedelta(hours=2), min_samples=5, safety_factor=40.0)
    start = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
    fresh = _new_sends(start)
    record_sends(database, [fresh["google.com"], fresh["outlook.com"]])
    with database.session() as session:
        windows = settlement.learn_windows(session, patient)
        assert all(w.basis == "learned" and w.length > timedelta(hours=2) for w in windows.by_organisation.values())
        assert settlement.settle_due(session, patient, start + timedelta(hours=2, minutes=1), database.rules) == 1
    assert _state(database, fresh["google.com"].recipient) == ("settled", False, start + timedelta(hours=2))
    assert _state(database, fresh["outlook.com"].recipient)[0] == "accepted"


def test_a_bounce_after_settlement_corrects_and_is_a_late_surprise(database: Database) -> None:
    start = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
    early, late = (Send(2000 + n, f"{name}@corp-customer.example", PROOFPOINT.relays[0], start) for n, name in enumerate(("early", "late")))
    record_sends(database, [early, late])
    record_bounces(database, [(early, start + timedelta(minutes=20))])  # inside the window: an ordinary correction
    with database.session() as session:
        assert settlement.settle_due(session, POLICY, start + timedelta(hours=3), database.rules) == 1
    assert _state(database, late.recipient)[0] == "settled"
    record_bounces(database, [(late, start + timedelta(hours=4))])
    state, corrected, _ = _state(database, late.recipient)
    assert (state, corrected) == ("bounced", True)
    with database.session() as session:
        [correction] = [c for c in corrections.corrections(session) if c.recipient == late.recipient]
        surprises = settlement.late_surprises(session)
        minutes = settlement.late_bounce_minutes(session)
    assert (correction.from_state, correction.to_state) == ("accepted", "bounced")
    assert surprises == {"pphosted.com": 1}  # the early bounce came before any settlement
    assert sorted(minutes["pphosted.com"]) == [20.0, 240.0]
    # the same bounce read again changes nothing, and is still one surprise
    record_bounces(database, [(late, start + timedelta(hours=4))])
    with database.session() as session:
        assert settlement.late_surprises(session) == {"pphosted.com": 1}


def test_disabled_settlement_leaves_acceptances_provisional(database: Database) -> None:
    start = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
    send = Send(3000, "kept@corp-customer.example", OUTLOOK.relays[0], start)
    record_sends(database, [send])
    off = SettlementPolicy(enabled=False)
    with database.session() as session:
        assert settlement.settle_due(session, off, start + timedelta(days=30), database.rules) == 0
    assert _state(database, send.recipient)[0] == "accepted"
    database.settings = replace(database.settings, settlement_enabled=False)
    assert pipeline.settle_deliveries(database, start + timedelta(days=30)) == 0
    database.settings = replace(database.settings, settlement_enabled=True, settlement_default_window_minutes=60)
    assert pipeline.settle_deliveries(database, start + timedelta(minutes=59)) == 0
    assert pipeline.settle_deliveries(database, start + timedelta(minutes=61)) == 1
    assert _state(database, send.recipient) == ("settled", False, start + timedelta(minutes=60))


def test_run_schedules_the_settlement_job_unless_disabled(database: Database) -> None:
    scheduler, jobs = build_scheduler(database)
    assert "settlement" in jobs
    first = {job.id: job.next_run_time for job in scheduler.get_jobs()}
    # sources first: a bounce still unread must not find its delivery settled
    assert first["settlement"] - first["orphans"] == timedelta(seconds=SETTLEMENT_INTERVAL_SECONDS)
    database.settings = replace(database.settings, settlement_enabled=False)
    _, jobs = build_scheduler(database)
    assert "settlement" not in jobs and "expiry" in jobs


def test_run_once_settles_after_reading_the_bounces(database: Database, database_url: str, tmp_path: Path) -> None:
    """The bundled samples, sent long ago: every acceptance nothing overturned settles
    in the same pass that reads the bounces, and none of those bounces is a surprise."""
    shutil.copy(SAMPLES / "sendlog" / "postfix.log", tmp_path / "mail.log")
    shutil.copytree(SAMPLES / "returned", tmp_path / "Maildir")
    config = tmp_path / "bounceledger.toml"
    log, maildir = tmp_path / "mail.log", tmp_path / "Maildir"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n[[sendlog]]\npath = "{log}"\n[[mailbox]]\nurl = "maildir:{maildir}"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run", "--once"],
        capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )
    assert result.returncode == 0, result.stderr
    with database.session() as session:
        states = {state: count for state, count in session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))}
        surprises = settlement.late_surprises(session)
    assert states.get("settled", 0) > 0 and "accepted" not in states
    assert f"provisional 250s settled (no bounce within their window): {states['settled']}" in result.stdout
    assert surprises == {}
    again = subprocess.run(
        [sys.executable, "-m", "bounceledger", "--config", str(config), "run", "--once"],
        capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("BOUNCELEDGER_")},
    )
    assert "provisional 250s settled (no bounce within their window): 0" in again.stdout
