"""Final-delivery failures named in the receiving software's own words are read as that cause.

The samples in fixtures/final-delivery/ were made on loopback by a real Postfix
delivering to Dovecot LMTP and to its own local(8) (see that folder's README).
The expected reasons come from what the software said and RFC 3463, never from
a parser's output:

* Dovecot's quota_max_mail_size refusal "Mail size is larger than the maximum
  size allowed by server configuration" names the message's size (RFC 3463
  X.3.4 "Message too big for system"), even though Dovecot says it with 451 4.2.0
  and the relay gave up after its queue lifetime: the cause is named, so it is no
  bare expiry.
* Postfix local(8) "alias database loop for X" (5.4.6) is a loop (RFC 3463 X.4.6
  "Routing loop detected"), like its "mail forwarding loop for X": the word
  "database" names the alias table, not a failing database server.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bounceledger.ingest.bounces import parse
from bounceledger.ingest.bounces.classify import classify

FIXTURES = Path(__file__).parent / "fixtures" / "final-delivery"


@pytest.mark.parametrize(("name", "recipient", "status", "reason"), [
    ("dovecot-lmtp-max-mail-size.give-up.msg", "maxsz@store.test", "4.2.0", "mesgtoobig"),
    ("postfix-local-alias-loop.msg", "loopa@local.test", "5.4.6", "networkerror"),
    ("postfix-local-forward-loop.msg", "uucp@local.test", "5.4.6", "networkerror"),
])
def test_real_final_delivery_failure(name: str, recipient: str, status: str, reason: str) -> None:
    parsed = parse((FIXTURES / name).read_bytes())
    assert [(v.kind, v.recipient, v.status, v.reason, v.hardbounce) for v in parsed.verdicts] == [
        ("bounce", recipient, status, reason, False)]


@pytest.mark.parametrize(("status", "text", "gave_up", "reason"), [
    ("4.2.0", "451 4.2.0 <u@example.org> Mail size is larger than the maximum size allowed by server configuration",
     True, "mesgtoobig"),
    ("5.4.6", "alias database loop for postmaster", False, "networkerror"),
    ("5.4.6", "mail forwarding loop for u@example.org", False, "networkerror"),
])
def test_final_delivery_wording(status: str, text: str, gave_up: bool, reason: str) -> None:
    assert classify(status, None, text, action="failed", gave_up=gave_up).reason == reason
