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


def _forwarded_notice(returned_headers: str) -> bytes:
    """A sendmail-style DSN naming only where our message went (no Original-Recipient)."""
    return (
        "Return-Path: <>\nFrom: MAILER-DAEMON@mx.final.example\nTo: bounces+t1@sender.test\n"
        "Subject: Returned mail: see transcript for details\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\n   ----- The following addresses had permanent fatal errors -----\n"
        "<kim@final.example>\n    (reason: 550 5.1.1 User unknown)\n\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.final.example\n\n"
        "Final-Recipient: RFC822; kim@final.example\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: SMTP; 550 5.1.1 <kim@final.example>... User unknown\n\n"
        "--b\nContent-Type: text/rfc822-headers\n\n" + returned_headers + "\n--b--\n"
    ).encode()


_OURS = "From: News <news@sender.test>\nSubject: Spring\nMessage-ID: <m1@sender.test>\n"


@pytest.mark.parametrize("evidence", [
    "Delivered-To: kim@alias.example\n",  # qmail and Postfix local delivery, before a .forward
    "X-Original-To: kim@alias.example\n",
    "Received: from mta1.sender.test by mx1.alias.example with ESMTP id A1 for <kim@alias.example>; "
    "Tue, 12 Mar 2024 10:15:00 +0100\n",  # the forwarder's own MX took it in (RFC 5321 4.4)
    "Return-Path: <SRS0=Qq9r=5K=sender.test=bounces+t1@alias.example>\n",  # an SRS forwarder
])
def test_a_forward_is_read_as_about_the_address_we_sent_to(evidence):
    """A forward sends our message on under its own headers, and the notice names only the
    forward's target: the returned headers show that the addressee's own system took our
    message in, so the ledger's address is the addressee (as an Original-Recipient would say)."""
    (verdict,) = parse(_forwarded_notice(evidence + _OURS + "To: <kim@alias.example>\n")).verdicts
    assert (verdict.recipient, verdict.original_recipient, verdict.reason) == (
        "kim@final.example", "kim@alias.example", "userunknown")


@pytest.mark.parametrize("headers", [
    # a blind copy: our message to one person, the failed copy went to another; nothing shows a forward
    "Received: from app.sender.test by mta1.sender.test with ESMTP id A1 for <kim@final.example>; "
    "Tue, 12 Mar 2024 10:15:00 +0100\n" + _OURS + "To: <ann@alias.example>\n",
    # a "Received ... for" the addressee by a host of another organisation is no forward of theirs
    "Received: from mta1.sender.test by relay.elsewhere.example for <ann@alias.example>; "
    "Tue, 12 Mar 2024 10:15:00 +0100\n" + _OURS + "To: <ann@alias.example>\n",
    # two addressees: which one forwarded cannot be told
    "Delivered-To: ann@alias.example\n" + _OURS + "To: <ann@alias.example>, <bo@alias.example>\n",
    # addressed to our own domain (a newsletter's generic To:)
    "Delivered-To: list@sender.test\n" + _OURS + "To: <list@sender.test>\n",
])
def test_nothing_is_attributed_to_an_addressee_without_proof_of_a_forward(headers):
    (verdict,) = parse(_forwarded_notice(headers)).verdicts
    assert verdict.recipient == "kim@final.example"
    assert verdict.original_recipient in (None, "kim@final.example")
