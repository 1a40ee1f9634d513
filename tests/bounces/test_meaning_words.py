"""Plain-words meanings: where a reply's words name another cause than its status, the words lead.

Providers reuse enhanced status codes for their own purposes: Microsoft 365
reports an unknown recipient as ``550 5.1.10 RESOLVER.ADR.RecipientNotFound``
(Microsoft Learn, "Fix NDR error 550 5.1.10"), where RFC 7505 registered
X.1.10 for a null MX; Gmail's rate limit is ``421 4.2.1`` ("The user you are
trying to contact is receiving mail at a rate that prevents additional
messages from being delivered", Google's SMTP error reference), where RFC
3463 calls X.2.1 "mailbox disabled". Support reading ``explain`` or an
address's page must hear the cause the classifier gave, and may still see
what the status alone is registered for.
"""

from __future__ import annotations

import pytest

from bounceledger.ingest.bounces.classify import REASON_WORDS, explain
from bounceledger.ingest.bounces.reasons import CATEGORIES
from bounceledger.reports import describe_reason

#: Reasons that are no delivery failure with a cause of their own: the status's words stand.
WITHOUT_WORDS = {"onhold", "undefined", "vacation", "delivered"}


def test_every_failure_reason_has_words() -> None:
    assert set(REASON_WORDS) == set(CATEGORIES) - WITHOUT_WORDS


@pytest.mark.parametrize(
    ("reply", "leads_with", "registered"),
    [
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
         REASON_WORDS["userunknown"], "null MX"),
        ("421 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
         "additional messages from being delivered", REASON_WORDS["speeding"], "the mailbox is disabled"),
    ],
)
def test_the_words_lead_and_the_registered_meaning_follows(reply: str, leads_with: str, registered: str) -> None:
    meaning = explain(reply).meaning
    assert f"Meaning: {leads_with} (status " in meaning
    assert meaning.index(leads_with) < meaning.index(registered)


@pytest.mark.parametrize("reply", ["550 5.1.1", "550 5.1.1 The email account that you tried to reach does not exist"])
def test_agreeing_words_keep_the_status_meaning_alone(reply: str) -> None:
    meaning = explain(reply).meaning
    assert "Meaning: the mailbox does not exist at that domain." in meaning
    assert "on its own means" not in meaning


def test_a_reply_without_status_gets_its_reason_in_words() -> None:
    meaning = explain("554 Your access to this mail system has been rejected due to the sending MTA's poor reputation").meaning
    assert f"Meaning: {REASON_WORDS['badreputation']}." in meaning


def test_an_address_page_words_the_stored_reason() -> None:
    described = describe_reason("userunknown", "5.1.10", "550", state="bounced")
    assert described["meaning"] is not None
    assert described["meaning"].startswith("Permanent failure")
    assert f"Meaning: {REASON_WORDS['userunknown']} (status 5.1.10 on its own means:" in described["meaning"]
    assert described["hard"] is True
