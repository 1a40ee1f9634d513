"""A non-delivery notice that names nobody in its own words is about the one
address its returned message was sent to; anything less certain gives nothing."""

from __future__ import annotations

import pytest

from bounceledger.ingest.bounces import parse

RETURNED = """--B
Content-Type: message/rfc822

From: sender@news.example.com
To: {to}
Subject: Weekly news
Message-ID: <m9@news.example.com>

hello
--B--
"""


def notice(subject: str, words: str, *, sender: str = "MAILER-DAEMON@mx.example.net", null_path: bool = True,
           to: str = "Zed <zed@example.org>") -> bytes:
    return_path = "Return-Path: <>\n" if null_path else ""
    return (
        f"{return_path}From: {sender}\nTo: sender@news.example.com\nSubject: {subject}\n"
        "Date: Mon, 7 Dec 2026 01:00:00 +0000\nMessage-ID: <n1@mx.example.net>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="B"\n\n'
        f"--B\nContent-Type: text/plain\n\n{words}\n\n" + RETURNED.format(to=to)
    ).encode()


def records(raw: bytes) -> set[tuple[str, str | None, str | None, str | None, str | None]]:
    return {(v.kind, v.recipient, v.reason, v.status, v.detector) for v in parse(raw).verdicts}


def test_a_notice_naming_nobody_is_about_the_returned_messages_one_recipient():
    raw = notice("Returned mail: see transcript for details", "Delivery failed: 552 5.2.2 mailbox over quota.")
    assert records(raw) == {("bounce", "zed@example.org", "mailboxfull", "5.2.2", "returned-to")}
    [verdict] = parse(raw).verdicts
    assert verdict.original_message_id == "m9@news.example.com"
    assert verdict.hardbounce is False


def test_a_warning_that_delivery_goes_on_is_a_delay():
    raw = notice("Delivery Status Notification (Delay)",
                 "This is a warning only. Your message has not yet been delivered: connection timed out.")
    assert {(kind, rcpt) for kind, rcpt, *_ in records(raw)} == {("delay", "zed@example.org")}


@pytest.mark.parametrize(
    "raw",
    [
        # two addressees: which one failed is a guess
        notice("Undelivered Mail Returned to Sender", "Delivery failed: mailbox unavailable.",
               to="zed@example.org, amy@example.org"),
        # a success notice without its report part
        notice("Delivery Status Notification (Success)", "Your message was successfully delivered to the destination."),
        # no failure words at all
        notice("Undelivered Mail Returned to Sender", "Please see the attached message."),
        # a postmaster writing by hand (no null return path, a reply's subject)
        notice("Re: spam from your network", "We received this spam and rejected it.", sender="postmaster@example.org",
               null_path=False),
        # a bounce subject from a person: no daemon sender, no null return path
        notice("Undeliverable parcel", "Delivery failed, the parcel came back.", sender="amy@example.org", null_path=False),
        # the returned message was sent to the notice's own addressee
        notice("Undelivered Mail Returned to Sender", "Delivery failed: mailbox unavailable.", to="sender@news.example.com"),
    ],
    ids=["two-addressees", "success", "no-failure-words", "postmaster-reply", "person", "own-address"],
)
def test_nothing_is_taken_from_the_returned_message_when_in_doubt(raw):
    assert records(raw) == set()
