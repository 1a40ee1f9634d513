"""Sweep BP (support faces against a real Postfix pair on loopback): a returned message with
``Action: failed`` on a temporary status is the sender's MTA giving up after retrying, and must be
told as such whichever words the last deferral had (Gmail's "452 4.2.2 ... out of storage space",
Microsoft's "451 4.7.500 Server busy", Yahoo's "421 4.7.0 [TSS04] ... temporarily deferred")."""

from __future__ import annotations

from bounceledger.ingest.bounces.classify import explain
from bounceledger.reports import describe_reason


def test_a_failed_report_on_a_temporary_status_is_not_badged_permanent() -> None:
    # Postfix's own give-up DSN (Action: failed, Status: 4.2.2) after Gmail's "452 4.2.2 ... OverQuotaTemp":
    # the delivery may stay "bounced", but its badge must not call a temporary deferral a refusal for good
    told = describe_reason("mailboxfull", "4.2.2", "452", "bounced")
    assert told["severity"] == "expired", told
    assert "Gave up after retrying" in told["meaning"]
    assert describe_reason("badreputation", "4.7.0", "421", "bounced")["severity"] == "expired"
    # a permanent status is still a permanent failure, a 5.1.1 still hard
    assert describe_reason("mailboxfull", "5.2.2", "554", "bounced")["severity"] == "permanent"
    assert describe_reason("userunknown", "5.1.1", "550", "bounced")["severity"] == "hard"


def test_status_4_4_7_is_not_explained_as_still_retrying() -> None:
    # RFC 3463 X.4.7 "Delivery time expired": "useful only as a persistent transient error"
    for code in ("4.4.7", "451 4.4.7"):
        meaning = explain(code).meaning
        assert "keeps retrying" not in meaning, meaning
        assert "Gave up after retrying" in meaning
    assert "keeps retrying" in explain("4.2.2").meaning
