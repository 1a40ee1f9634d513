"""Real Exim 4.96 returns with customised notice texts (bounce_message_file / warn_message_file,
bounce_return_message = false), made on loopback against an MX answering with published wordings.

Expected values come from what the MX answered and the wording's documented meaning, never from a parser.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bounceledger.ingest.bounces import parse
from bounceledger.ingest.bounces.classify import classify

FIXTURES = Path(__file__).parent / "fixtures" / "real-mta-custom"


def _records(name: str) -> dict[str, object]:
    parsed = parse((FIXTURES / name).read_bytes())
    return {v.recipient: v for v in parsed.verdicts}


def test_exim_give_up_after_a_4xx_without_enhanced_code_is_an_expiry():
    # RFC 5321 4.2.2: "450 Requested mail action not taken: mailbox unavailable" is transient; Exim
    # then failed the address ("retry timeout exceeded", Status: 5.0.0): the sender gave up.
    records = _records("exim-giveup-450-no-enhanced-code.eml")
    r05 = records["r05-f@example.test"]
    assert (r05.kind, r05.replycode, r05.reason, r05.hardbounce) == ("bounce", "450", "expired", False)


@pytest.mark.parametrize(("status", "diagnostic", "reason"), [
    # any MTA's final 5.0.0 over a remote 4xx that had no enhanced status code
    ("5.0.0", "450 Requested mail action not taken: mailbox unavailable: retry timeout exceeded", "expired"),
])
def test_final_failure_over_a_bare_4xx_reply_gave_up(status, diagnostic, reason):
    assert classify(status, None, diagnostic, action="failed").reason == reason


def test_a_bare_5xx_reply_is_no_give_up():
    # RFC 5321 4.2.3 550: permanent; nothing was retried
    assert classify("5.0.0", None, "550 Requested action not taken: mailbox unavailable",
                    action="failed").reason != "expired"


def test_gmail_ip_blocked_for_unsolicited_rate_is_a_block_of_the_sender():
    # Google Workspace SMTP error reference, 550 5.7.1: "... mail sent from your IP address has been blocked."
    records = _records("exim-fr-template-gmail-ip-blocked.eml")
    assert records["g07-c@example.test"].reason == "blocked"
    assert records["g06-c@example.test"].reason == "authfailure"


def test_gmail_ip_blocked_wording_alone():
    text = ("550-5.7.1 Our system has detected an unusual rate of unsolicited mail originating from your IP "
            "address. To protect our users from spam, mail sent from your IP address has been blocked.")
    assert classify("5.7.1", "550", text, action="failed").reason == "blocked"
