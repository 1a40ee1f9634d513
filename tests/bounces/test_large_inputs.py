"""Behaviour of ``parse`` on very large returned messages.

Each message here is large in one dimension (encoded words, recipient
blocks, header lines, parts, nesting) and built from the formats of
RFC 3464 and RFC 2047. The tests check what comes out, never how long it
took: ``benchmarks/bounce_sizes.py`` prints the times.
"""

from __future__ import annotations

import base64
import email.header

import pytest

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces import _mime, parse

BOUNDARY = "=_large_inputs_4c1d"


def _word(index: int) -> str:
    return "=?UTF-8?B?" + base64.b64encode(f"Échec n°{index:06d} ".encode()).decode() + "?="


def _folded(count: int) -> str:
    return "\r\n ".join(" ".join(_word(i) for i in range(start, min(start + 2, count)))
                        for start in range(0, count, 2))


def _block(index: int, diagnostic: bool = True) -> str:
    block = (f"Final-Recipient: rfc822; user{index}@example.net\r\n"
             "Action: failed\r\nStatus: 5.1.1\r\n")
    if diagnostic:
        block += f"Diagnostic-Code: smtp; 550 5.1.1 <user{index}@example.net>: User unknown\r\n"
    return block


def _dsn(*, subject: str = "Undelivered Mail Returned to Sender", recipients: int = 1, head: str = "",
         human: str = "The mail system could not deliver your message.\r\n", diagnostic: bool = True,
         returned: str = "From: a@example.org\r\nSubject: hi\r\n\r\nhi\r\n", attachments: int = 0) -> bytes:
    status = "Reporting-MTA: dns; mx.example.org\r\n\r\n" + "\r\n".join(
        _block(i, diagnostic) for i in range(recipients))
    parts = ["Content-Type: text/plain\r\n\r\n" + human,
             "Content-Type: message/delivery-status\r\n\r\n" + status,
             "Content-Type: message/rfc822\r\n\r\n" + returned]
    parts += [f"Content-Type: text/plain\r\n\r\nattachment {i}\r\n" for i in range(attachments)]
    body = "".join(f"--{BOUNDARY}\r\n{part}\r\n" for part in parts) + f"--{BOUNDARY}--\r\n"
    return (head + "From: MAILER-DAEMON@mx.example.org\r\nTo: a@example.org\r\n"
            f"Subject: {subject}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"{BOUNDARY}\"\r\n\r\n"
            + body).encode("utf-8")


def _only_bounce_of_user0(parsed) -> None:
    assert parsed.outcome == "bounce", parsed.error
    assert [(v.kind, v.recipient, v.status) for v in parsed.verdicts] == [("bounce", "user0@example.net", "5.1.1")]


def test_a_subject_of_100000_encoded_words_decodes_and_the_verdict_stands():
    subject = _folded(100_000)
    parsed = parse(_dsn(subject=subject))
    _only_bounce_of_user0(parsed)
    decoded = parsed.subject or ""
    # the first MAX_ENCODED_WORDS words are decoded, the rest kept as they came
    assert decoded.startswith("Échec n°000000 Échec n°000001 ")
    assert f"Échec n°{m.MAX_ENCODED_WORDS - 1:06d}" in decoded
    assert f"Échec n°{m.MAX_ENCODED_WORDS:06d}" not in decoded
    assert decoded.endswith(_word(99_999))
    assert any("encoded words" in note for note in _skipped(parsed_raw=_dsn(subject=subject)))


def _skipped(parsed_raw: bytes) -> tuple[str, ...]:
    msg = m.load(parsed_raw)
    m.header(msg, "Subject")
    return m.skipped_of(msg)


def test_a_subject_under_the_limit_decodes_as_the_stdlib_does():
    subject = _folded(3_000)
    parsed = parse(_dsn(subject=subject))
    _only_bounce_of_user0(parsed)
    expected = " ".join(str(email.header.make_header(email.header.decode_header(subject))).split())
    assert parsed.subject == expected
    assert expected.count("Échec") == 3_000
    assert not _skipped(_dsn(subject=subject))


def test_a_report_of_1000_recipient_blocks_gives_1000_verdicts():
    parsed = parse(_dsn(recipients=1_000))
    assert parsed.outcome == "bounce"
    assert [v.recipient for v in parsed.verdicts] == [f"user{i}@example.net" for i in range(1_000)]
    assert all(v.kind == "bounce" and v.status == "5.1.1" and v.reason == "userunknown" for v in parsed.verdicts)
    assert not m.skipped_of(m.load(_dsn(recipients=1_000)))


def test_the_returned_message_after_1000_recipient_blocks_is_still_found():
    returned = "From: a@example.org\r\nMessage-ID: <orig.77@example.org>\r\nX-Mailer-Ref: a81f3\r\n\r\nhi\r\n"
    parsed = parse(_dsn(recipients=1_000, returned=returned), quoted=("X-Mailer-Ref",))
    assert {v.original_message_id for v in parsed.verdicts} == {"orig.77@example.org"}
    assert parsed.quoted == {"X-Mailer-Ref": "a81f3"}


def test_recipient_blocks_past_the_limit_are_noted_not_read():
    raw = _dsn(recipients=1_500)
    parsed = parse(raw)
    assert [v.recipient for v in parsed.verdicts] == [f"user{i}@example.net" for i in range(_mime.MAX_STATUS_BLOCKS - 1)]
    notes = m.skipped_of(m.load(raw))
    assert any("delivery-status field blocks" in note for note in notes)


def test_each_of_many_recipients_reads_its_own_lines_of_the_notice():
    count = 800
    human = "".join(f"<user{i}@example.net>: host mx{i}.example.net said: 550 5.1.1 mailbox {i} unknown\r\n"
                    f"    (in reply to RCPT TO command)\r\n" for i in range(count))
    parsed = parse(_dsn(recipients=count, human=human, diagnostic=False))
    assert len(parsed.verdicts) == count
    for index, verdict in enumerate(parsed.verdicts):
        assert verdict.recipient == f"user{index}@example.net"
        assert f"mailbox {index} unknown" in (verdict.diagnostic or ""), verdict.diagnostic
        assert f"user{index + 1}@" not in (verdict.diagnostic or "")


def test_twenty_thousand_header_lines_before_the_report():
    head = "".join(f"Received: from relay{i}.example.org\r\n\tby mx.example.org; Mon, 2 Nov 2026 10:00:00 +0000\r\n"
                   for i in range(20_000))
    parsed = parse(_dsn(head=head))
    _only_bounce_of_user0(parsed)
    assert m.headers_all(m.load(_dsn(head=head)), "Received")[-1].startswith("from relay19999.example.org")


def test_parts_past_the_limit_are_noted_and_the_report_still_read():
    raw = _dsn(attachments=3 * _mime.MAX_PARTS)
    _only_bounce_of_user0(parse(raw))
    assert any("parts beyond" in note for note in m.skipped_of(m.load(raw)))


def test_deep_nesting_of_returned_messages():
    inner = "From: a@example.org\r\nSubject: hi\r\n\r\nhi\r\n"
    for level in range(2_000):
        inner = f"From: MAILER-DAEMON@mx.example.org\r\nMessage-ID: <n{level}@x>\r\nContent-Type: message/rfc822\r\n\r\n" + inner
    raw = _dsn(returned=inner)
    _only_bounce_of_user0(parse(raw))
    assert any("nested deeper" in note for note in m.skipped_of(m.load(raw)))


def test_a_long_notice_line():
    human = "<user0@example.net>: 550 5.1.1 User unknown " + "x" * 5_000_000 + "\r\n"
    _only_bounce_of_user0(parse(_dsn(human=human)))


@pytest.mark.parametrize("limit", [1_000, 9_999])
def test_over_the_size_limit_is_unparsed_with_an_error(limit):
    raw = _dsn(recipients=100)
    assert len(raw) > limit
    parsed = parse(raw, max_size=limit)
    assert parsed.outcome == "unparsed"
    assert parsed.verdicts == ()
    assert "max_size" in (parsed.error or "")
    assert parse(raw, max_size=len(raw)).outcome == "bounce"


def test_a_plain_bounce_longer_than_the_text_limit_notes_the_cut():
    body = "".join(f"<user{i}@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n" for i in range(5_000))
    raw = ("From: MAILER-DAEMON@mx.example.org\nTo: a@example.org\nSubject: failure notice\n\n"
           "Hi. This is the qmail-send program at mx.example.org.\n" + body).encode()
    msg = m.load(raw)
    assert len(m.body_text(msg)) == 200_000
    assert any("human-readable text" in note for note in m.skipped_of(msg))
    parsed = parse(raw)
    assert parsed.outcome == "bounce"
    assert parsed.verdicts[0].recipient == "user0@example.net"


def test_the_parse_result_says_what_a_limit_left_unread():
    from bounceledger.ingest.bounces import parse

    cut = parse(_dsn(subject=" ".join(["=?utf-8?q?w?="] * 20_000)))
    assert any("encoded words" in note for note in cut.skipped)
    assert parse(_dsn(subject="plain")).skipped == ()


def _qmail_notice(recipients: int) -> bytes:
    """qmail-send's notice (its own wording) naming ``recipients`` addresses, with no copy of the message."""
    body = "".join(f"<user{i}@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n" for i in range(recipients))
    return ("From: MAILER-DAEMON@mx.example.org\nTo: a@example.org\nSubject: failure notice\n\n"
            "Hi. This is the qmail-send program at mx.example.org.\n" + body).encode()


def test_a_notice_cut_before_its_last_recipient_says_so_in_skipped():
    parsed = parse(_qmail_notice(1_000))  # about 70,000 characters, no marker of the original
    assert 0 < len(parsed.verdicts) < 1_000
    assert any("bounce text beyond the first 20000 characters" in note for note in parsed.skipped)
    whole = parse(_qmail_notice(50))  # within the limit: every recipient, nothing noted
    assert len(whole.verdicts) == 50 and whole.skipped == ()


def test_free_text_naming_more_addresses_than_are_read_says_so_in_skipped():
    lines = "".join(f"Could not deliver to user{i}@example.net: 550 5.1.1 mailbox unavailable\n\n" for i in range(80))
    raw = ("From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\nTo: a@example.org\n"
           "Subject: Undeliverable: your message\n\n" + lines).encode()
    parsed = parse(raw)
    assert parsed.outcome == "bounce" and len(parsed.verdicts) == 50
    assert any("addresses after the first" in note for note in parsed.skipped)
