"""Real Postfix failing in its own words: what the remote MX's own software writes
(a size limit, a table of mailboxes, a full mailbox, a routing loop, local delivery
to an unknown user or into a failing command, network give-ups, policy refusals, a
mail store's quota, Sieve reject and vacation), read from the sender's log and from
the returned mail, ends in the ledger as the failure it is, and an auto-reply as none.

The other real-Postfix tests have the final MX answer whatever it was told to;
here Postfix B fails by its documented settings (:mod:`tests.mailstack.native`),
so the wording and the DSN layout are Postfix's own. Most are the case the
product is for: B answers 250 and bounces later.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from bounceledger import pipeline, polling
from bounceledger.db import Database
from bounceledger.ingest.settlement import SettlementPolicy
from bounceledger.queries import lookup
from tests.mailstack import MailStack
from tests.mailstack.native import REFUSED_SENDER, REFUSED_SUBJECT, SIZE_LIMIT, NativeFailureStack

#: recipient: (what A's log says B answered, final state, status, reason, corrected); a
#: bounce whose reason is "expired" leaves the delivery "expired" (the sender gave up).
#: Status and reason follow from the setting that fails and RFC 3463's codes for it:
#: X.3.4 message too big for system, X.1.1 bad destination mailbox address, X.2.2
#: mailbox full, X.4.0 other network or routing status (Postfix's "too many hops"),
#: X.3.0 other or undefined mail system status.
EXPECTED = {
    "big@example.net": ("bounced", "bounced", "5.3.4", "mesgtoobig", False),
    "nobody@box.example.net": ("bounced", "bounced", "5.1.1", "userunknown", False),
    "full@box.example.net": ("sent", "bounced", "5.2.2", "mailboxfull", True),
    "someone@loop.example.net": ("sent", "bounced", "5.4.0", "networkerror", True),
    # local(8): X.1.1 for an unknown user and for a command's exit 67 (sysexits.h
    # EX_NOUSER), X.3.0 other or undefined mail system status for a command that failed
    "ghost@local.example.net": ("sent", "bounced", "5.1.1", "userunknown", True),
    "nouser@local.example.net": ("sent", "bounced", "5.1.1", "userunknown", True),
    "broken@local.example.net": ("sent", "bounced", "5.3.0", "mailererror", True),
    # B's give-ups on the network, with its 4.x.x status: X.4.1 no answer from host,
    # X.4.2 bad connection, X.7.4 security features not supported; a host that never
    # answered until the sender gave up is "expired" (classify: _TIMED_OUT_RE)
    "a@refused.example.net": ("sent", "bounced", "4.4.1", "networkerror", True),
    "b@hangup.example.net": ("sent", "bounced", "4.4.2", "networkerror", True),
    "c@silent.example.net": ("sent", "expired", "4.4.2", "expired", True),
    "d@tls.example.net": ("sent", "bounced", "4.7.4", "securityerror", True),
    # Dovecot's LMTP behind B: over quota (X.2.2 mailbox full), no such user (X.1.1)
    "full@store.example.net": ("sent", "bounced", "5.2.2", "mailboxfull", True),
    "ghost@store.example.net": ("sent", "bounced", "5.1.1", "userunknown", True),
    # B's policy refusals at RCPT or end of DATA, all X.7.1 "delivery not authorized":
    # the sender refused (rejected), the content refused (contenterror), relaying refused
    "policy@example.net": ("bounced", "bounced", "5.7.1", "rejected", False),
    "content@example.net": ("bounced", "bounced", "5.7.1", "contenterror", False),
    "someone@elsewhere.example.com": ("bounced", "bounced", "5.7.1", "norelaying", False),
    # address verification: B's probe was told 5.1.1, and B refuses with what it was told
    "unknown-v@verify.example.net": ("bounced", "bounced", "5.1.1", "userunknown", False),
    # a Sieve reject is the recipient's own filter refusing the message (RFC 5429 2.1);
    # its text names no cause, so the reason is the structure's: filtered
    "rejecter@store.example.net": ("sent", "bounced", "5.0.910", "filtered", True),
}
#: Delivered, and answered by an auto-reply (a Sieve vacation): the delivery stays accepted.
AUTO_REPLIED = ("away@store.example.net",)
#: How a recipient's message differs from the plain one it is otherwise sent as.
SENT_AS: dict[str, dict[str, str]] = {
    "big@example.net": {"body": ("x" * 76 + "\n") * (SIZE_LIMIT // 60)},
    "policy@example.net": {"sender": REFUSED_SENDER},
    "content@example.net": {"subject": f"{REFUSED_SUBJECT} inside"},
}


def test_postfix_own_failures_end_in_the_ledger(
    mail_stack_factory: Callable[..., MailStack], database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = mail_stack_factory(kind=NativeFailureStack)
    before = len(stack.maildir_messages())
    for number, recipient in enumerate([*EXPECTED, *AUTO_REPLIED]):
        stack.send([recipient], tag=f"native{number}", **SENT_AS.get(recipient, {}))
    for recipient, (logged, *_) in EXPECTED.items():
        stack.wait_for_log(rf"to=<{re.escape(recipient)}>,.*status={logged} ")
    # one return each: A's for a refusal at the first hop, else B's, or the store's reply
    stack.wait_for_maildir(before + len(EXPECTED) + len(AUTO_REPLIED))

    summary = pipeline.ingest_logs(database, [str(stack.log_a)], "auto")
    assert summary.skipped == 0
    dovecot = stack.dovecot
    monkeypatch.setenv("BOUNCELEDGER_IMAP_PASSWORD", dovecot.password)
    polled = polling.poll(database, f"imaps://{dovecot.user}@{dovecot.host}:{dovecot.imaps_port}/INBOX?ca={dovecot.ca_cert}")
    assert polled.seen >= len(EXPECTED) + len(AUTO_REPLIED)

    found = {}
    with database.session() as session:
        for recipient in EXPECTED:
            [delivery] = lookup(session, recipient, policy=SettlementPolicy.from_settings(database.settings))["deliveries"]
            found[recipient] = delivery
    assert {
        recipient: (delivery["state"], delivery["status"], delivery["reason"], delivery["corrected"])
        for recipient, delivery in found.items()
    } == {recipient: tuple(expected[1:]) for recipient, expected in EXPECTED.items()}
    for recipient, delivery in found.items():
        verdicts = [e for e in delivery["events"] if e["kind"] == "verdict"]
        assert [(v["status"], v["reason"]) for v in verdicts] == [EXPECTED[recipient][2:4]], recipient
        if EXPECTED[recipient][4]:  # B's 250 first, then its bounce corrected it
            assert [e["replycode"] for e in delivery["events"] if e["kind"] == "attempt"] == ["250"]
    with database.session() as session:
        replied = {r: lookup(session, r, policy=SettlementPolicy.from_settings(database.settings))["deliveries"]
                   for r in AUTO_REPLIED}
    for recipient, [delivery] in replied.items():
        assert (delivery["state"], delivery["corrected"]) == ("accepted", False), recipient
        verdicts = [(e["outcome"], e["reason"]) for e in delivery["events"] if e["kind"] == "verdict"]
        assert verdicts == [("autoreply", "vacation")], recipient  # tied to its send, and no bounce
    # Postfix's DSN says only "x-unix; input/output error" (a sysexits.h class): what
    # support is shown is the notice's own line, which names the cause
    [full_bounce] = [e for e in found["full@box.example.net"]["events"] if e["kind"] == "verdict"]
    assert "File too large" in full_bounce["detail"]
