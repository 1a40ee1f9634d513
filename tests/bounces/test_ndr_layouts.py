"""Non-delivery reports that carry no message/delivery-status part.

Each fixture is hand-written from the layout its vendor documents
(Microsoft Learn's Exchange Online / Exchange Server NDR pages, HCL Domino's
delivery failure report, Digital Arts' m-FILTER FAQ 2686) with example.*
addresses; none is a corpus file. Every row names the detector, so removing
a detector from ``ORDER`` fails the test even where a generic fallback
would still find something.
"""

from __future__ import annotations

import pytest

from bounceledger.ingest.bounces import parse
from tests.bounces.verdict_rows import rows
from bounceledger.ingest.bounces.detectors import ORDER
from bounceledger.ingest.bounces.detectors._html import html_text


@pytest.mark.parametrize(("name", "expected"), [
    # Exchange Online, newer layout, text + HTML alternatives, 5.1.10 from the directory look-up.
    ("exo_ndr_alternative.msg",
     [("kim.akers@example.org", "bounce", "5.1.10", "550", "userunknown", True, "exchange")]),
    # The same code in the 2013-2017 layout, HTML only (the admin section is HTML paragraphs).
    ("exo_ndr_html_only.msg",
     [("lee.ng@example.net", "bounce", "5.1.10", "550", "userunknown", True, "exchange")]),
    # The newer layout as HTML only: "couldn&#8217;t" and table rows need html.parser's reading.
    ("exo_ndr_new_html_only.msg",
     [("quota.user@example.net", "bounce", "5.2.2", "554", "mailboxfull", False, "exchange")]),
    # Exchange 2010 "#550 ... ##" lines: one local directory miss (with a "##rfc822;addr"
    # trailer naming the same recipient), one remote refusal prefixed by the remote host,
    # one relayed in the "#< #5.7.1 smtp;554 ...> #SMTP#" form.
    ("exchange2010_mixed.msg", [
        ("full.box@example.org", "bounce", "5.2.2", "552", "mailboxfull", False, "exchange"),
        ("ghost@corp.example.net", "bounce", "5.1.1", "550", "userunknown", True, "exchange"),
        ("screened@example.net", "bounce", "5.7.1", "554", "spamdetected", False, "exchange"),
    ]),
    # Three recipients, three different answers; the retry history of the second is not a recipient.
    ("exchange2016_multi.msg", [
        ("ana.ruiz@example.org", "bounce", "5.1.1", "550", "userunknown", True, "exchange"),
        ("ops@example.net", "bounce", "4.4.7", None, "expired", False, "exchange"),
        ("sales@example.org", "bounce", "5.7.1", "554", "norelaying", False, "exchange"),
    ]),
    # Headings in German: Exchange's own stamp and its quoted reply are what is read;
    # the help-desk address listed with no reply under it is no record.
    ("exchange2013_german.msg",
     [("anna.berg@example.org", "bounce", "5.1.1", "550", "userunknown", True, "exchange")]),
    # Exchange's delay notice: the same administrator section, but still retrying.
    ("exchange_delayed.msg", [("candidate@example.net", "delay", "4.4.0", "451", "expired", False, "exchange")]),
    # Exchange Online relaying a Mimecast refusal: the remote server field names the gateway.
    ("exo_relays_mimecast_rejection.msg",
     [("buyer@example.org", "bounce", "5.0.981", "554", "virusdetected", False, "exchange")]),
    # Domino: two recipients separated by blank lines share one reason.
    ("domino_two_recipients.msg", [
        ("first.reader@domino.example.net", "bounce", "5.0.944", None, "networkerror", False, "notes"),
        ("second.reader@domino.example.net", "bounce", "5.0.944", None, "networkerror", False, "notes"),
    ]),
    # Domino's report as HTML only, the returned original attached.
    ("domino_html_dfr.msg",
     [("sam.lee@domino.example.org", "bounce", "5.0.911", None, "userunknown", True, "notes")]),
    # m-FILTER's documented notice (ISO-2022-JP, base64), refused at DATA for both recipients.
    ("mfilter_failure_notice_jis.msg", [
        ("sato@example.org", "bounce", "5.7.1", "554", "policyviolation", False, "mfilter"),
        ("suzuki@example.org", "bounce", "5.7.1", "554", "policyviolation", False, "mfilter"),
    ]),
])
def test_ndr_layout(fixture_bytes, name, expected):
    parsed = parse(fixture_bytes(name))
    assert parsed.outcome == "bounce"
    assert rows(parsed) == expected


@pytest.mark.parametrize(("name", "message_id"), [
    ("exo_ndr_alternative.msg", "offer-1203-kim@example.com"),
    ("exo_ndr_html_only.msg", "order-88412@example.com"),
    ("exchange2010_mixed.msg", "invoice-20261130@example.com"),
    ("mfilter_failure_notice_jis.msg", "jp-news-1203@example.com"),
])
def test_original_message_is_found(fixture_bytes, name, message_id):
    assert {v.original_message_id for v in parse(fixture_bytes(name)).verdicts} == {message_id}


def test_server_words_and_remote_host_are_kept(fixture_bytes):
    by_recipient = {v.recipient: v for v in parse(fixture_bytes("exchange2016_multi.msg")).verdicts}
    assert by_recipient["ops@example.net"].diagnostic == "550 4.4.7 QUEUE.Expired; message expired"
    assert by_recipient["ops@example.net"].remote_mta == "mx.example.net"
    mixed = {v.recipient: v for v in parse(fixture_bytes("exchange2010_mixed.msg")).verdicts}
    assert mixed["full.box@example.org"].remote_mta == "mx1.example.org"
    assert mixed["ghost@corp.example.net"].diagnostic == "550 5.1.1 RESOLVER.ADR.ExRecipNotFound; not found"
    (relayed,) = parse(fixture_bytes("exo_relays_mimecast_rejection.msg")).verdicts
    assert relayed.remote_mta == "eu-smtp-inbound-1.mimecast.com"


@pytest.mark.parametrize("name", ["human_forwards_ndr.msg", "newsletter_couldnt_be_delivered.msg"])
def test_quoted_ndr_words_are_not_a_bounce(fixture_bytes, name):
    # A person forwarding an NDR, a newsletter using the phrases: no system
    # sender, no null Return-Path, no NDR header, so no report.
    parsed = parse(fixture_bytes(name))
    assert parsed.outcome == "ignored"
    assert parsed.verdicts == ()


def test_the_structural_signature_is_what_rules_the_forward_out(fixture_bytes):
    # The same text with a null Return-Path is read as a report: the words
    # alone were never what kept the forward out.
    raw = fixture_bytes("human_forwards_ndr.msg")
    raw = raw.replace(b"Return-Path: <jane.doe@example.org>", b"Return-Path: <>")
    assert rows(parse(raw)) == [
        ("kim.akers@example.net", "bounce", "5.1.10", "550", "userunknown", True, "exchange")]


def test_exchange_is_tried_before_the_generic_readers():
    assert "exchange" in ORDER
    assert ORDER.index("exchange") < ORDER.index("exim") < ORDER.index("qmail")


def test_html_text_keeps_blocks_as_lines_and_decodes_references():
    html = ("<html><head><style>p{}</style><title>x</title></head><body>"
            "<p>Your message couldn&#8217;t be delivered.</p><p>a@example.org<br>"
            "Remote Server returned &#39;550 5.1.1 not found&#39;</p>"
            "<table><tr><td>Reported error:</td><td>550&nbsp;5.1.10</td></tr></table>"
            "<script>var x = '<p>no</p>';</script></body></html>")
    assert [line for line in html_text(html).splitlines() if line] == [
        "Your message couldn\u2019t be delivered.",
        "a@example.org",
        "Remote Server returned '550 5.1.1 not found'",
        "Reported error: 550 5.1.10",
    ]


def test_broken_markup_gives_text_not_an_error():
    assert html_text("<p>Delivery has failed<br <a href='x").startswith("Delivery has failed")
