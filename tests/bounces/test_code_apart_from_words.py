"""A reply read from a send log (code and words apart) gets the reason its returned message gets.

Exchange Online's Directory-Based Edge Blocking answers "550 5.4.1 Recipient address rejected:
Access denied. AS(201806281)" for a recipient its directory does not hold (Microsoft support,
"NDR error code 550 5.4.1"); Postfix's own access-map refusal says "Recipient address rejected:
Access denied" under 5.7.1. Where the relay's name says nothing of the provider (an inbound
gateway, a smart host), only the code tells them apart: the provider row names the code with
the words, so the send log's attempt, whose text comes without the code, read ``blocked``
where the DSN read ``userunknown`` (sweep BP, real Postfix against a scripted MX).
"""

from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.bounces.classify import classify
from bounceledger.ingest.sendlog import ParseOptions, make_parser

LINE = ("Dec  7 22:20:01 mta postfix/smtp[3104]: 4dR9Ks0JzTz9vNd: to=<gone@contoso.example>, "
        "relay=mx.contoso.example[192.0.2.20]:25, delay=0.4, delays=0.1/0/0.2/0.1, "
        "dsn=5.4.1, status=bounced (host mx.contoso.example[192.0.2.20] said: "
        "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DM6NAM11FT0.eop-nam11.prod."
        "protection.outlook.com 2026-12-07T22:20:01.000Z 08DE0C7A3B2F1D44] (in reply to RCPT TO command))")


def test_the_send_log_and_the_returned_message_agree_on_exchange_5_4_1() -> None:
    parser = make_parser("postfix", ParseOptions(reference_time=datetime(2026, 12, 8, tzinfo=timezone.utc)))
    (attempt,) = parser.feed(LINE)
    from_log = classify(attempt.status, attempt.replycode, attempt.text, attempt.relay_host)
    from_dsn = classify("5.4.1", "550", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)")
    assert (from_log.reason, from_log.hardbounce) == (from_dsn.reason, from_dsn.hardbounce) == ("userunknown", True)


def test_postfix_access_map_wording_under_5_7_1_stays_a_block() -> None:
    assert classify("5.7.1", "554", "Recipient address rejected: Access denied").reason != "userunknown"
