"""Mail from a person that talks about bounces is not a bounce: the weak
stages (flufl.bounce's heuristics, the plain-text reader) need a bounce's
structure, not words a person may write."""

from __future__ import annotations

import pytest

from bounceledger.ingest.bounces import parse

_BODY = ("Hi, my colleague said your mail to alice@example.org was rejected with\n"
         "550 5.1.1 user unknown. Is that right? She does not exist any more.\nBob\n")


@pytest.mark.parametrize("subject", [
    "Re: November offers - rejected?",
    "AW: bounce from your list",
    "Fwd: Undeliverable: November offers",
    "WG: Mail delivery failed: returning message to sender",
    "FW: could not be delivered",
])
def test_a_person_replying_or_forwarding_is_not_a_bounce(subject):
    raw = f"From: Bob <bob@example.org>\nTo: news@sender.test\nSubject: {subject}\n\n{_BODY}".encode()
    parsed = parse(raw)
    assert [v.kind for v in parsed.verdicts if v.kind in ("bounce", "delay")] == []


def test_the_same_words_from_a_mailer_daemon_are_a_bounce():
    raw = ("From: MAILER-DAEMON@mx.example.org\nTo: news@sender.test\nSubject: Re: November offers\n\n"
           "Delivery to alice@example.org failed: 550 5.1.1 user unknown\n").encode()
    assert [(v.kind, v.recipient) for v in parse(raw).verdicts] == [("bounce", "alice@example.org")]


def test_a_gateway_that_prefixes_re_to_its_ndr_subject_is_still_read():
    raw = ("From: gateway@example.org\nTo: news@sender.test\nSubject: RE: November offers : non remis\n\n"
           "Your message to alice@example.org could not be delivered: 550 5.1.1 user unknown\n").encode()
    assert [(v.kind, v.recipient) for v in parse(raw).verdicts] == [("bounce", "alice@example.org")]


def test_a_mailing_list_post_about_bounces_is_not_a_bounce():
    raw = ("From: Anna <anna@example.org>\nTo: users@lists.example.org\n"
           "Subject: [users] How do I handle bounced messages?\nList-Id: <users.lists.example.org>\n"
           "List-Post: <mailto:users@lists.example.org>\n\n" + _BODY).encode()
    assert [v for v in parse(raw).verdicts if v.kind in ("bounce", "delay")] == []


def test_a_person_forwarding_a_whole_bounce_is_not_a_bounce(fixture_bytes):
    bounce = fixture_bytes("sendmail_nonmime_sections.msg").decode()
    _, _, body = bounce.partition("\n\n")
    forwarded = ("From: Bob <bob@example.org>\nTo: news@sender.test\nSubject: Fwd: Returned mail: see transcript\n\n"
                 "Look at this one:\n\n" + body).encode()
    assert [v for v in parse(forwarded).verdicts if v.kind in ("bounce", "delay")] == []
    # the same text from the mail system itself is read
    assert {v.recipient for v in parse(fixture_bytes("sendmail_nonmime_sections.msg")).verdicts if v.kind == "bounce"}


def test_a_gateway_postmaster_replying_with_the_subject_is_a_bounce_sender():
    raw = ("From: post_master@gw.example.net\nTo: news@sender.test\nSubject: Re:November offers\n\n"
           "Error: 550 5.1.1 <5551234567@gw.example.net>: user unknown\n").encode()
    assert [(v.kind, v.recipient) for v in parse(raw).verdicts] == [("bounce", "5551234567@gw.example.net")]
