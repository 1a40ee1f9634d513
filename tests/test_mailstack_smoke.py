"""Smoke test of the real mail stack: one message, three fates, two DSNs, IMAP over TLS.

This guards the harness itself (and the packages it needs): if it passes, the
samples and the integration tests built on it are fed by real Postfix logs
and real Dovecot deliveries.
"""
from __future__ import annotations

import email
import email.policy
import re
import ssl
import uuid
from email.message import Message
from pathlib import Path

from imapclient import IMAPClient

from tests.mailstack import MailStack


def _dsns_for(stack: MailStack, return_path: str) -> list[tuple[Message, str]]:
    """Parsed DSNs (and raw text) in Dovecot's maildir that were delivered to `return_path`."""
    found = []
    for path in stack.maildir_messages():
        raw = path.read_text(encoding="utf-8", errors="replace")
        msg = email.message_from_string(raw, policy=email.policy.compat32)
        if msg.get("Delivered-To", "").strip() == return_path:
            found.append((msg, raw))
    return found


def _imap_uids(stack: MailStack, return_path: str) -> list[int]:
    """Log in over implicit TLS, verifying the stack's self-signed cert, and search INBOX."""
    dovecot = stack.dovecot
    ctx = ssl.create_default_context(cafile=str(dovecot.ca_cert))
    with IMAPClient(dovecot.host, port=dovecot.imaps_port, ssl=True, ssl_context=ctx,
                    timeout=10) as client:
        client.login(dovecot.user, dovecot.password)
        client.select_folder("INBOX", readonly=True)
        return client.search(["TO", return_path])


def test_sync_and_async_bounces_reach_dovecot(mail_stack: MailStack) -> None:  # noqa: F811
    tag = f"smoke{uuid.uuid4().hex[:8]}"
    before = len(mail_stack.maildir_messages())
    sent = mail_stack.send(["ok1@example.test", "unknown1@example.test", "unknown2@example.net"],
                           tag=tag, message_id=f"<{tag}@sender.test>",
                           headers={"X-Campaign": "smoke"})
    qid = sent.queue_id
    assert qid, "A's DATA reply should carry 'queued as'"

    mail_stack.wait_for_log(rf"{qid}: to=<ok1@example\.test>,.*status=sent \(250 ")
    mail_stack.wait_for_log(rf"{qid}: to=<unknown1@example\.test>,.*dsn=5\.1\.1, status=bounced")
    (handoff,) = mail_stack.wait_for_log(
        rf"{qid}: to=<unknown2@example\.net>,.*status=sent \(250 2\.0\.0 Ok: queued as (\w+)\)")
    b_queue_id = handoff.group(1)

    mail_stack.wait_for_maildir(before + 2)
    dsns = _dsns_for(mail_stack, sent.sender)
    assert len(dsns) == 2, [m["From"] for m, _ in dsns]
    by_origin = {m["From"]: raw for m, raw in dsns}
    sync = by_origin["Mail Delivery System <MAILER-DAEMON@sender.test>"]
    async_ = by_origin["Mail Delivery System <MAILER-DAEMON@example.net>"]
    assert re.search(r"^Final-Recipient: rfc822; unknown1@example\.test$", sync, re.M)
    assert re.search(rf"^X-Postfix-Queue-ID: {b_queue_id}$", async_, re.M)
    assert re.search(r"^Final-Recipient: rfc822; unknown2@example\.net$", async_, re.M)
    assert sent.message_id in async_, "B's DSN should return the original headers"

    assert len(_imap_uids(mail_stack, sent.sender)) == 2


def test_final_mx_recorded_accepted_message(mail_stack: MailStack) -> None:  # noqa: F811
    """The final MX keeps what it accepted, so tests can assert on delivered content too."""
    tag = f"rec{uuid.uuid4().hex[:8]}"
    sent = mail_stack.send(["ok9@example.test"], tag=tag, headers={"X-Campaign": "smoke"})
    mail_stack.wait_for_log(rf"{sent.queue_id}: to=<ok9@example\.test>,.*status=sent")
    records = [r for r in mail_stack.final_mx_a.received() if sent.message_id in r["data"]]
    assert records and records[0]["rcpt_tos"] == ["ok9@example.test"]
    assert records[0]["mail_from"] == sent.sender
    assert Path(mail_stack.dovecot.ca_cert).exists()
