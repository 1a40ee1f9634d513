"""A first hop (or our own MTA) that retried a temporary failure until its queue lifetime ran out.

Seen on loopback (sweep AC): Postfix 3.7 sender whose first hop answered 450 4.2.1 until
maximal_queue_lifetime; its log says "status=expired, returned to sender" and its own DSN says
"Action: failed / Status: 4.2.1" in the same second. The two events must give one state whatever
their keys, and that state is expired (RFC 3464 2.3.3, RFC 3463 class 4).
"""
from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.bounces.classify import classify
from bounceledger.models.state import Fact, decide
from bounceledger.reports import describe_reason

T = datetime(2026, 12, 7, 18, 44, 6, tzinfo=timezone.utc)


def test_own_expiry_line_and_own_failed_4xx_dsn_agree_in_any_key_order() -> None:
    for expired_key, dsn_key in (("a", "b"), ("b", "a")):
        facts = [
            Fact("attempt", "deferred", T.replace(second=0), "d0", status="4.2.1", replycode="450", reason="suspend"),
            Fact("attempt", "expired", T, expired_key, status="4.2.1", replycode="450", reason="expired"),
            Fact("verdict", "bounce", T, dsn_key, status="4.2.1", replycode="450", reason="suspend"),
        ]
        decision = decide(facts)
        assert decision is not None and decision.state == "expired"


def test_first_hop_failed_report_with_a_4xx_status_is_an_expiry_after_its_250() -> None:
    facts = [
        Fact("attempt", "accepted", T.replace(minute=41), "a", status="2.0.0", replycode="250"),
        Fact("verdict", "bounce", T, "v", status="4.2.1", replycode="450", reason="suspend"),
    ]
    decision = decide(facts)
    assert decision is not None
    assert (decision.state, decision.corrected_from) == ("expired", "accepted")


def test_a_failed_5xx_report_stays_bounced() -> None:
    facts = [
        Fact("attempt", "accepted", T.replace(minute=41), "a", status="2.0.0", replycode="250"),
        Fact("verdict", "bounce", T, "v", status="5.1.1", replycode="550", reason="userunknown"),
    ]
    assert decide(facts).state == "bounced"  # type: ignore[union-attr]


def test_a_host_name_beside_its_address_is_not_the_reply_s_words() -> None:
    # Postfix smtp(8)'s own words around a peer called mx.filter.example.net
    timeout = classify("4.4.1", None, "connect to mx.filter.example.net[192.0.2.10]:25: Connection timed out")
    assert timeout.reason != "filtered"
    # Exim's delay warning: "Delay reason: H=HOST [IP]: SMTP error from remote mail server after RCPT TO"
    exim = classify("4.2.0", "451", "temp4@example.org Delay reason: H=mx.filter.test [127.0.0.1]: SMTP error from "
                    "remote mail server after RCPT TO:<temp4@example.org>: 451 4.2.0 <temp4@example.org>: Recipient address r")
    assert exim.reason != "filtered"
    # the word in the reply itself still counts
    assert classify("5.7.1", "550", "host mx.example.net[192.0.2.1] said: 550 5.7.1 Message rejected by content filter").reason != "undefined"


def test_an_expired_delivery_is_not_explained_as_still_retrying() -> None:
    words = describe_reason("expired", "4.2.0", "451", "expired")["meaning"]
    assert "keeps retrying" not in words and "not delivered" in words
    assert "keeps retrying" in describe_reason("expired", "4.2.0", "451", "deferred")["meaning"]
