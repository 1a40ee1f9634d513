"""bounceledger.reports on a ledger filled by the real pipeline, on both backends."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import update

from bounceledger import reports
from bounceledger.db import Database
from bounceledger.models import SentMessage
from tests.web.conftest import SAMPLE_TOTALS


def _day(database: Database) -> date:
    with database.session() as session:
        rows = reports.campaign_day(session)
    assert len(rows) == 1
    return date.fromisoformat(rows[0]["day"])


def test_totals_match_the_pipeline(seeded: Database) -> None:
    with seeded.session() as session:
        data = reports.overview(session)
    totals = data["totals"]
    for key, value in SAMPLE_TOTALS.items():
        assert totals[key] == value, key
    assert totals["bounce_rate"] == round(9 / 17, 6)
    # What the first hop said: 6 rejections/expiries out of 17; corrections add 3.
    assert totals["bounce_rate_first_hop"] == round(6 / 17, 6)
    assert sum(totals[s] for s in ("accepted", "delivered", "bounced", "expired", "complained", "deferred", "pending")) == 17
    assert data["by_campaign"][0]["campaign"] == "nov-newsletter"  # logged by Postfix's header_checks
    assert data["by_day"][0]["recipients"] == 17
    assert data["by_day"][0]["day"].endswith("-11-27")


def test_campaign_and_date_filters(seeded: Database) -> None:
    day = _day(seeded)
    with seeded.session() as session:
        session.execute(
            update(SentMessage).where(SentMessage.message_id == "campaign-nov.5@sender.test").values(campaign="dec-reminder")
        )
        session.execute(
            update(SentMessage).where(SentMessage.message_id == "campaign-nov.4@sender.test").values(campaign=None)
        )
    with seeded.session() as session:
        assert set(reports.campaigns(session)) == {reports.NO_CAMPAIGN, "nov-newsletter", "dec-reminder"}
        dec = reports.overview(session, campaign="dec-reminder")["totals"]
        assert (dec["messages"], dec["recipients"], dec["corrected"], dec["final_bounced"]) == (1, 4, 2, 2)
        rest = reports.overview(session, campaign="nov-newsletter")["totals"]
        assert rest["recipients"] == 10
        assert reports.overview(session, campaign=reports.NO_CAMPAIGN)["totals"]["recipients"] == 3
        rows = reports.campaign_day(session)
        assert {r["campaign"] for r in rows} == {"nov-newsletter", "dec-reminder", reports.NO_CAMPAIGN}
        assert reports.overview(session, since=day, until=day)["totals"]["recipients"] == 17
        assert reports.overview(session, since=day + timedelta(days=1))["totals"]["recipients"] == 0
        assert reports.overview(session, until=day - timedelta(days=1))["totals"]["messages"] == 0
        assert reports.reasons(session, campaign="dec-reminder")["total"] == 2
        assert reports.reasons(session, since=day + timedelta(days=1))["total"] == 0


def test_reasons(seeded: Database) -> None:
    with seeded.session() as session:
        data = reports.reasons(session)
        over_time = reports.reasons_by_day(session, top=2)
        examples = reports.reason_examples(session, "userunknown")
    by_name = {r["reason"]: r for r in data["reasons"]}
    assert data["total"] == 9
    assert data["reasons"][0]["reason"] == "userunknown"
    unknown = by_name["userunknown"]
    assert (unknown["count"], unknown["corrected"], unknown["category"], unknown["hard"]) == (6, 3, "bad-mailbox", True)
    assert unknown["statuses"] == {"5.1.1": 6}
    assert "does not exist" in unknown["meaning"]
    assert by_name["mailboxfull"]["hard"] is False
    assert by_name["expired"]["states"] == {"expired": 1}
    assert {c["category"] for c in data["categories"]} >= {"bad-mailbox", "quota-issues"}
    assert over_time["reasons"] == ["userunknown", "expired", "other"]  # ties: by name
    assert sum(over_time["days"][0]["counts"].values()) == 9
    assert len(examples) == 6
    assert {e["recipient"] for e in examples} >= {"unknown2@example.net", "unknown1@example.test"}
    assert sum(e["corrected"] for e in examples) == 3


def test_empty_ledger(database: Database) -> None:
    with database.session() as session:
        data = reports.overview(session)
        assert data["totals"]["recipients"] == 0 and data["totals"]["bounce_rate"] == 0.0
        assert data["by_campaign_day"] == []
        assert reports.reasons(session)["reasons"] == []
        assert reports.reasons_by_day(session)["days"] == []
        assert reports.campaigns(session) == []


def test_report_headline_follows_the_filters(seeded: Database) -> None:
    """report --campaign/--since/--until: the headline numbers are the funnel's, not the whole ledger's."""
    from bounceledger import queries

    day = _day(seeded)
    with seeded.session() as session:
        session.execute(
            update(SentMessage).where(SentMessage.message_id == "campaign-nov.5@sender.test").values(campaign="dec-reminder")
        )
    with seeded.session() as session:
        whole = queries.report(session)
        for campaign in ("dec-reminder", "nov-newsletter"):
            headline = queries.report(session, campaign=campaign)
            funnel = reports.overview(session, campaign=campaign)["totals"]
            assert headline["deliveries"] == funnel["recipients"]
            assert headline["corrected"] == funnel["corrected"]
            assert headline["sent_messages"] == funnel["messages"]
            for state in ("bounced", "expired", "delivered", "accepted", "deferred", "complained", "pending"):
                assert headline["states"][state] == funnel[state], (campaign, state)
            assert headline["filters"] == {"campaign": campaign, "since": None, "until": None}
            assert headline["unfiltered"] == ["suppressed", "orphans", "stale_orphans"]
        dec = queries.report(session, campaign="dec-reminder")
        # m5: one DSN from B for unknown5 and unknown6: one returned message, matched to this campaign.
        assert (dec["deliveries"], dec["corrected"], dec["states"]["bounced"]) == (4, 2, 2)
        assert dec["returned_messages"]["processed"] == 1
        nov = queries.report(session, campaign="nov-newsletter")
        assert nov["returned_messages"]["processed"] == whole["returned_messages"]["processed"] - 1
        assert nov["events"] + dec["events"] == whole["events"]  # every event of the samples belongs to a delivery
        # The suppression list is the list as it is now, whatever the filters.
        assert dec["suppressed"] == nov["suppressed"] == whole["suppressed"]
        same_day = queries.report(session, since=day, until=day)
        assert {k: same_day[k] for k in ("deliveries", "states", "corrected", "returned_messages", "events")} == {
            k: whole[k] for k in ("deliveries", "states", "corrected", "returned_messages", "events")
        }
        assert same_day["unfiltered"] == ["suppressed"]
        later = queries.report(session, since=day + timedelta(days=1))
        assert (later["deliveries"], later["sent_messages"], later["corrected"], later["events"]) == (0, 0, 0, 0)
        assert sum(later["returned_messages"].values()) == 0


def test_returned_mail_tied_to_no_send_counts_by_the_day_it_arrived(database: Database, tmp_path) -> None:
    """A person's reply in the return-path mailbox belongs to no campaign; a date window still counts it."""
    from sqlalchemy import select

    from bounceledger import queries
    from bounceledger.models import ReturnedMessage
    from tests.web.conftest import seed

    note = tmp_path / "reply.eml"
    note.write_bytes(
        b"From: Jane <jane@example.org>\r\nTo: bounces+m1@sender.test\r\nSubject: Re: November news\r\n"
        b"Message-ID: <reply-1@example.org>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nThanks, see you soon.\r\n"
    )
    seed(database, tmp_path / "work", (note,))
    with database.session() as session:
        [(outcome, received)] = session.execute(
            select(ReturnedMessage.outcome, ReturnedMessage.received_at).where(ReturnedMessage.subject == "Re: November news")
        ).all()
        assert outcome == "ignored"
        day = received.date()
        assert queries.report(session)["returned_messages"]["ignored"] == 1
        assert queries.report(session, since=day, until=day)["returned_messages"]["ignored"] == 1
        assert queries.report(session, since=day + timedelta(days=1))["returned_messages"]["ignored"] == 0
        assert queries.report(session, campaign="nov-newsletter")["returned_messages"]["ignored"] == 0


def test_since_after_until_is_an_error(seeded: Database) -> None:
    import pytest

    day = _day(seeded)
    with seeded.session() as session:
        for call in (reports.overview, reports.reasons, reports.reasons_by_day):
            with pytest.raises(reports.FilterError, match="is after"):
                call(session, since=day, until=day - timedelta(days=1))
        from bounceledger import queries

        with pytest.raises(reports.FilterError):
            queries.report(session, since=day, until=day - timedelta(days=1))
        assert queries.report(session, since=day, until=day)["deliveries"] == 17  # one day is a window
