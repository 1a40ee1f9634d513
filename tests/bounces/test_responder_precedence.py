"""Auto-replies marked only by the Precedence their responder writes (no Auto-Submitted).

Both shapes were produced by the real programs (procmail 3.22 + formail, vacation 3.3.3,
Debian bookworm) on loopback; src: procmailex(5) "A simple autoreply recipe", vacation(1).
"""

from __future__ import annotations

from bounceledger.ingest.bounces import parse

# procmailex(5): formail -r -I"Precedence: junk" -A"X-Loop: ..." | $SENDMAIL -t
# (Postfix cleanup added From/Date/Message-ID, as for any local submission)
FORMAIL_REPLY = (
    "Return-Path: <procuser@example.net>\n"
    "Delivered-To: bounces+procsimple2@sender.test\n"
    "To: bounces+procsimple2@sender.test\n"
    "Subject: Re: {subject}\n"
    "References: <procsimple2.20261207@sender.test>\n"
    "In-Reply-To: <procsimple2.20261207@sender.test>\n"
    "X-Loop: procuser@example.net\n"
    "Precedence: junk\n"
    "Message-Id: <20261207174400.1A2B3C@mta.sender.test>\n"
    "Date: Mon,  7 Dec 2026 17:44:00 +0000 (UTC)\n"
    "From: procuser@example.net\n"
    "\n"
    "Mail received.\n"
)

# vacation(1) -z with a .vacation.msg in the man page's shape (Precedence: bulk, $SUBJECT)
VACATION_Z = (
    "Return-Path: <>\n"
    "Delivered-To: bounces+bwvac1@sender.test\n"
    "To: bounces+bwvac1@sender.test\n"
    "From: Vac User <vacuser@example.net>\n"
    "Subject: Re: Delivery failed: your parcel could not be delivered\n"
    "Precedence: bulk\n"
    "Message-Id: <20261207174500.4D5E6F@mta.sender.test>\n"
    "Date: Mon,  7 Dec 2026 17:45:00 +0000 (UTC)\n"
    "\n"
    "I am away until 14 December and will read your message then.\n"
)


def test_formail_reply_is_an_autoreply():
    (v,) = parse(FORMAIL_REPLY.format(subject="Your order #A-1042 has shipped").encode()).verdicts
    assert (v.kind, v.recipient, v.hardbounce) == ("autoreply", "procuser@example.net", False)


def test_formail_reply_to_a_subject_with_bounce_words_is_no_bounce():
    raw = FORMAIL_REPLY.format(subject="Delivery failed: your parcel could not be delivered").encode()
    (v,) = parse(raw).verdicts
    assert v.kind == "autoreply"


def test_vacation1_null_path_reply_without_in_reply_to():
    (v,) = parse(VACATION_Z.encode()).verdicts
    assert (v.kind, v.recipient) == ("autoreply", "vacuser@example.net")


def test_person_reply_with_precedence_but_own_return_path_and_no_thread_is_ignored():
    # a bulk-marked message that answers nothing and has a sender's return path stays ignored
    raw = VACATION_Z.replace("Return-Path: <>", "Return-Path: <vacuser@example.net>").replace(
        "Subject: Re: Delivery failed: your parcel could not be delivered", "Subject: Hello").encode()
    assert parse(raw).outcome == "ignored"
