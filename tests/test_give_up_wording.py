"""What sweep AC (real Postfix and Exim first hops on loopback) found in how a give-up is read and told:
a peer's host name is no word of its reply, and an expired delivery is not "still retrying"."""

from __future__ import annotations

from bounceledger.ingest.bounces.classify import classify
from bounceledger.reports import describe_reason


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
