"""Returns made by a real Postfix 3.7.11 on loopback (SMTPUTF8 on, ORCPT/ENVID set by the
submitting client), delivered by Dovecot 2.3.19 LMTP or Postfix virtual(8), and people's
forwards of them sent through the same stack (Thunderbird's and Gmail's forward layouts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bounceledger.ingest.bounces import parse

HERE = Path(__file__).parent / "fixtures" / "real-postfix-smtputf8"


def _read(name: str) -> bytes:
    return (HERE / name).read_bytes()


def test_an_orcpt_from_the_client_keeps_the_final_recipient_too():
    # RFC 3464 2.3.2: Final-Recipient is required and names the recipient the report is
    # about; the sender's own Postfix logged to=<block-r@example.test> (no orig_to)
    parsed = parse(_read("a03_m8_envid_orcpt.eml"))
    by_final = {v.final_recipient or v.recipient: v for v in parsed.verdicts}
    assert set(by_final) == {"block-r@example.test", "unknown+tag@example.test"}
    assert by_final["block-r@example.test"].original_recipient == "alias+x@example.test"
    assert {v.envelope_id for v in parsed.verdicts} == {"QQ+m8=xtext"}


def test_a_utf8_orcpt_keeps_the_ascii_final_recipient():
    (verdict,) = parse(_read("a04_m8u_utf8_orcpt.eml")).verdicts
    assert (verdict.final_recipient or verdict.recipient) == "unknown-u@example.test"
    assert verdict.original_recipient == "jörg@bücher.example"


def test_a_global_delivery_status_keeps_utf8_recipients_as_written():
    parsed = parse(_read("b01_m1_global_failed.eml"))
    assert sorted(v.recipient for v in parsed.verdicts) == sorted(
        ["unknown@bücher.example", "ünbekannt@bücher.example", "用户@例え.テスト"])
    assert {(v.status, v.replycode, v.hardbounce) for v in parsed.verdicts} == {("5.1.1", "550", True)}


@pytest.mark.parametrize("name", [
    "g05_stranger_tb_forward_as_attachment.eml",         # message/rfc822 attachment
    "g06_stranger_tb_inline_forward_with_parts.eml",     # Thunderbird inline: status part attached
    "g07_stranger_gmail_inline_forward_with_report_text.eml",  # Gmail inline: fields as text
])
def test_a_strangers_forward_of_a_bounce_is_no_notice(name):
    parsed = parse(_read(name))
    assert (parsed.outcome, parsed.verdicts) == ("ignored", ())


def test_a_colleagues_forward_as_attachment_is_still_read():
    # the in-house exception (_forwarded_in_house) is kept as designed
    parsed = parse(_read("g01_tb_forward_as_attachment_m9.eml"))
    assert {v.recipient for v in parsed.verdicts} == {"unknown-a@example.test", "full-b@example.test",
                                                     "block-c@example.test"}
