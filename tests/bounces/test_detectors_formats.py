"""Detectors for legacy and gateway formats, each on a hand-written fixture
modelled on its format (never a corpus file)."""

from __future__ import annotations

import pytest

from bounceledger.ingest.bounces import parse
from tests.bounces.verdict_rows import rows


@pytest.mark.parametrize(("name", "expected"), [
    ("activehunter_unknown.msg",
     [("hanako@far.example", "bounce", "5.1.1", "550", "userunknown", True, "activehunter")]),
    ("fml_not_member.msg", [("owners@lists.example", "bounce", "5.0.918", None, "rejected", False, "fml")]),
    ("mailmarshal_unknown.msg",
     [("ghost@relay.example", "bounce", "5.1.1", "550", "userunknown", True, "mailmarshal")]),
    ("verizon_sms_unknown.msg",
     [("5550100@vtext.com", "bounce", "5.0.911", "550", "userunknown", True, "verizon")]),
    ("mfilter_rcpt.msg", [("hanako@far.example", "bounce", "5.1.1", "550", "userunknown", True, "mfilter")]),
    ("postfix_report_unavailable.msg",
     [("lost@far.example", "bounce", "5.0.900", None, "undefined", False, "postfix")]),
    ("postfix_smtpd_errors.msg", [("taro@shop.example", "bounce", "4.3.1", "452", "systemfull", False, "postfix")]),
    ("netscape_not_responding.msg", [
        ("one@far.example", "bounce", "5.0.947", None, "expired", False, "netscape"),
        ("two@far.example", "bounce", "5.0.947", None, "expired", False, "netscape"),
    ]),
    ("mimesweeper_not_found.msg",
     [("nobody@agency.example", "bounce", "5.0.911", None, "userunknown", True, "mimesweeper")]),
    ("sieve_reject_mdn.msg", [("full@far.example", "bounce", "5.0.922", None, "mailboxfull", False, "mdnreject")]),
    # the script owner's own words name no cause: the recipient's filter refused it (RFC 5429)
    ("sieve_reject_owner_text.msg", [("lena@far.example", "bounce", "5.0.910", None, "filtered", False, "mdnreject")]),
    ("gmail_send_as_denied.msg", [("partner@far.example", "bounce", "5.0.918", None, "rejected", False, "gmail")]),
])
def test_format(fixture_bytes, name, expected):
    assert rows(parse(fixture_bytes(name))) == expected


def test_exchange2003_code_names_the_reason_and_bare_words_do_not(fixture_bytes):
    # "(000C05A6) Unknown Recipient" is Exchange's own verdict; a bare
    # "Recipient Not Found" without the SMTP stage proves nothing (filtered).
    assert rows(parse(fixture_bytes("exchange2003_ims.msg"))) == [
        ("jiro@corp.example", "bounce", "5.0.910", None, "filtered", False, "exchange2003"),
        ("taro@corp.example", "bounce", "5.0.911", None, "userunknown", True, "exchange2003"),
    ]


def test_relay_summary_without_stage_is_filtered(fixture_bytes):
    assert rows(parse(fixture_bytes("x1_bracketed.msg"))) == [
        ("hanako@far.example", "bounce", "5.0.910", None, "filtered", False, "x1")]


def test_hotmail_legacy_complaint(fixture_bytes):
    (v,) = parse(fixture_bytes("hotmail_complaint_legacy.msg")).verdicts
    assert (v.kind, v.recipient, v.reason, v.feedback_type, v.original_message_id) == (
        "complaint", "annoyed@hotmail.example", "feedback", "abuse", "sale-0303@shop.example")


def test_provider_rules():
    from bounceledger.ingest.bounces.classify import classify

    assert classify("4.7.650", None, "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited "
                    "due to IP reputation.").reason == "badreputation"
    assert classify(None, None, "550 SC-001 Unfortunately, messages from 192.0.2.1 weren't sent.").reason == "blocked"
    assert classify("5.1.1", None, "550 5.1.1 <a@b.example> - 192.0.2.1 has sent to too many recipients this hour.",
                    "smtp.secureserver.net").reason == "speeding"
    assert classify("5.0.0", None, "554 Email rejected due to security policies - MCSpamSignature",
                    "eu-smtp-1.mimecast.com").reason == "virusdetected"
    assert classify("5.0.0", None, "550 Unknown user a@docomo.example", "mfsmax.docomo.ne.jp").reason == "rejected"
    assert classify("5.0.0", None, "542 a@b.example Rejected", None,
                    reporting_host="server-1.tower-2.messagelabs.com").reason == "userunknown"
    assert classify("5.3.2", "521", "521 5.3.2 System not accepting network messages").reason == "notaccept"
    assert classify(None, "550", "550-REJECTED - Blacklisted URL in message. (example.com)").reason == "spamdetected"
    assert classify("4.3.0", "451", "451 4.3.0 Error: queue file write error").reason == "systemerror"


def test_1and1_reason_on_its_own_line_and_remote_host_rules(fixture_bytes):
    # "The following address(es)\nfailed:" wraps; the reason follows "addr:"
    # unindented; the remote host named in it selects Orange's code table.
    assert rows(parse(fixture_bytes("oneandone_orange_spam.msg"))) == [
        ("client@orange.example", "bounce", "5.2.0", "550", "spamdetected", False, "exim")]


def test_address_quoted_in_a_reply_is_not_a_recipient(fixture_bytes):
    got = rows(parse(fixture_bytes("plaintext_quoted_address.msg")))
    assert [r[0] for r in got] == ["buyer@far.example"]


@pytest.mark.parametrize(("name", "expected"), [
    # InterScan MSS: "Unable to deliver message to <a@b> (and other recipients ...)"
    # alone is its wording for a refused recipient
    ("interscanmss_notice.msg",
     [("hanako@shop.example", "bounce", "5.0.911", None, "userunknown", True, "interscanmss")]),
    # with a "Sent <<< / Received >>>" exchange above it, the server's reply decides
    ("interscanmss_transcript.msg",
     [("taro@shop.example", "bounce", "5.2.2", "552", "mailboxfull", False, "interscanmss")]),
    # Lotus Domino writes its Diagnostic-Code in undeclared ISO-2022-JP; the
    # directory lookup it names is the recipient stage (not a filter)
    ("domino_jis_directory.msg",
     [("jiro@corp.example", "bounce", "5.0.0", None, "userunknown", True, "rfc3464")]),
    # au (EZweb): the notice's opening sentence names the cause for the
    # recipients below it, over the quoted "550 user unknown"
    ("ezweb_account_disabled.msg",
     [("sakura.mobile@ezweb.ne.jp", "bounce", "5.0.0", None, "suspend", False, "rfc3464")]),
])
def test_format_round5(fixture_bytes, name, expected):
    assert rows(parse(fixture_bytes(name))) == expected


def test_domino_jis_diagnostic_is_decoded(fixture_bytes):
    verdict, = parse(fixture_bytes("domino_jis_directory.msg")).verdicts
    assert "ディレクトリ" in verdict.diagnostic
