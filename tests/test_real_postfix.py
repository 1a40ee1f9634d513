"""Real Postfix on loopback: what the first hop answered is what the ledger records,
and a remote MX's later bounce corrects its 250."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from bounceledger import pipeline
from bounceledger.db import Database
from bounceledger.models import Event, SentMessage
from tests.mailstack import MailStack

FIRST_HOP_ANSWERS = {
    # recipient: (verdict, reply code, enhanced status) as the final MX answers it
    "ok1@example.test": ("accepted", "250", "2.0.0"),
    "unknown1@example.test": ("rejected", "550", "5.1.1"),
    "temp1@example.test": ("deferred", "451", "4.2.0"),
    "full1@example.test": ("rejected", "552", "5.2.2"),
    "block1@example.test": ("rejected", "554", "5.7.1"),
    "ok2@example.net": ("accepted", "250", "2.0.0"),  # Postfix B, the "remote MX"
}


def test_every_first_hop_answer_is_recorded(mail_stack_factory: Callable[..., MailStack], database: Database) -> None:
    stack = mail_stack_factory()
    sent = stack.send(list(FIRST_HOP_ANSWERS), tag="v1", message_id="<verdicts.1@sender.test>")
    for recipient in FIRST_HOP_ANSWERS:
        stack.wait_for_log(rf"{sent.queue_id}: to=<{re.escape(recipient)}>,.*status=")

    summary = pipeline.ingest_logs(database, [str(stack.log_a)], "auto")
    assert summary.skipped == 0

    with database.session() as session:
        rows = session.scalars(select(Event).where(Event.kind == "attempt")).all()
        message = session.scalars(select(SentMessage).where(SentMessage.queue_id == sent.queue_id)).one()
    assert message.message_id == "verdicts.1@sender.test"
    assert message.sender == "bounces+v1@sender.test"
    first = {}
    for event in sorted(rows, key=lambda e: e.at):
        first.setdefault(event.recipient, event)
    for recipient, (verdict, replycode, status) in FIRST_HOP_ANSWERS.items():
        event = first[recipient]
        assert (event.outcome, event.replycode, event.status) == (verdict, replycode, status), recipient
        assert event.first_hop
        assert event.remote_host == "127.0.0.1"
    assert (first["ok2@example.net"].evidence or {}).get("next_hop_queue_id")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    return result


def test_remote_mx_accepts_then_bounces_and_the_ledger_corrects_it(
    mail_stack_factory: Callable[..., MailStack], database_url: str
) -> None:
    stack = mail_stack_factory()
    before = len(stack.maildir_messages())
    sent = stack.send(["ok9@example.net", "unknown9@example.net"], tag="e2e", message_id="<e2e.1@sender.test>")
    (handoff,) = stack.wait_for_log(
        rf"{sent.queue_id}: to=<unknown9@example\.net>,.*status=sent \(250 2\.0\.0 Ok: queued as (\w+)\)"
    )
    stack.wait_for_maildir(before + 1)  # B's asynchronous DSN, delivered to Dovecot

    dovecot = stack.dovecot
    mailbox = (
        f"imaps://{dovecot.user}@{dovecot.host}:{dovecot.imaps_port}/INBOX?ca={dovecot.ca_cert}"
    )
    env = {"BOUNCELEDGER_DATABASE_URL": database_url, "BOUNCELEDGER_IMAP_PASSWORD": dovecot.password}
    _cli("ingest-log", str(stack.log_a), env=env)
    provisional = json.loads(_cli("lookup", "unknown9@example.net", "--json", env=env).stdout)
    assert provisional["deliveries"][0]["state"] == "accepted"

    polled = _cli("poll", "--mailbox", mailbox, "--once", env=env).stdout
    assert "1 processed" in polled

    result = json.loads(_cli("lookup", "unknown9@example.net", "--json", env=env).stdout)
    [delivery] = result["deliveries"]
    assert delivery["state"] == "bounced"
    assert delivery["corrected"] is True
    assert delivery["status"] == "5.1.1"
    accepted, bounce, correction = delivery["events"]
    assert (accepted["kind"], accepted["replycode"]) == ("attempt", "250")
    assert (bounce["kind"], bounce["status"], bounce["match_key"]) == ("verdict", "5.1.1", "token")
    assert handoff.group(1) in accepted["detail"]
    assert (correction["from_state"], correction["to_state"]) == ("accepted", "bounced")

    still_ok = json.loads(_cli("lookup", "ok9@example.net", "--json", env=env).stdout)
    assert still_ok["deliveries"][0]["state"] == "accepted"
    assert Path(stack.log_a).exists()
