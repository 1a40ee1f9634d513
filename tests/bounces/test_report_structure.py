"""RFC 3464 reports whose structure bends the rules still give every
recipient: an encoded status part, groups without blank lines between them."""

from __future__ import annotations

import base64
import quopri

from bounceledger.ingest.bounces import parse


def _rows(raw: bytes) -> set[tuple]:
    return {(v.recipient, v.status, v.replycode, v.reason) for v in parse(raw).verdicts}


def test_base64_status_part(fixture_bytes):
    assert _rows(fixture_bytes("dsn_base64_status_part.msg")) == {("ann@example.net", "5.1.1", "550", "userunknown")}


def test_quoted_printable_status_part(fixture_bytes):
    raw = fixture_bytes("dsn_base64_status_part.msg")
    head, _, rest = raw.partition(b"Content-Transfer-Encoding: base64\n\n")
    encoded, _, tail = rest.partition(b"\n--zz--")
    fields = base64.decodebytes(encoded)
    qp = quopri.encodestring(fields.replace(b"No such user", b"No such user =\xc3\xa9t\xc3\xa9"))
    raw = head + b"Content-Transfer-Encoding: quoted-printable\n\n" + qp + b"\n--zz--" + tail
    assert _rows(raw) == {("ann@example.net", "5.1.1", "550", "userunknown")}


def test_groups_without_blank_lines(fixture_bytes):
    assert _rows(fixture_bytes("dsn_groups_without_blank_lines.msg")) == {
        ("ann@example.net", "5.1.1", "550", "userunknown"),
        ("bob@example.net", "5.2.2", "552", "mailboxfull"),
    }


def test_original_recipient_before_final_recipient_stays_one_group():
    raw = (
        "From: MAILER-DAEMON@mx.example.org\nTo: news@sender.test\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="zz"\n\n'
        "--zz\nContent-Type: text/plain\n\nfailed.\n\n--zz\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n"
        "Original-Recipient: rfc822; list@example.net\nFinal-Recipient: rfc822; ann@example.net\n"
        "Action: failed\nStatus: 5.1.1\n"
        "Original-Recipient: rfc822; other@example.net\nFinal-Recipient: rfc822; bob@example.net\n"
        "Action: failed\nStatus: 5.1.1\n\n--zz--\n"
    ).encode()
    # the record names the address the sender used (Original-Recipient), as
    # for every report: two groups, not one, and none merged into the other
    got = [(v.recipient, v.original_recipient, v.status) for v in parse(raw).verdicts]
    assert sorted(got) == [("list@example.net", "list@example.net", "5.1.1"),
                           ("other@example.net", "other@example.net", "5.1.1")]


def _report(final_recipient: str, returned_to: str, groups: int = 1) -> bytes:
    group = f"Final-Recipient: rfc822; {final_recipient}\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n"
    return (
        "From: MAILER-DAEMON@mx.example.org\nTo: news@sender.test\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="zz"\n\n'
        "--zz\nContent-Type: text/plain\n\nThe mail system could not deliver your message.\n\n"
        "--zz\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        + "\n".join([group] * groups)
        + "\n--zz\nContent-Type: text/rfc822-headers\n\n"
        f"From: news@sender.test\nTo: {returned_to}\nMessage-ID: <m1@sender.test>\n\n--zz--\n"
    ).encode()


def test_an_empty_final_recipient_is_the_returned_messages_one_addressee():
    assert _rows(_report("", "Ann <Ann@example.net>")) == {("ann@example.net", "5.1.1", "550", "userunknown")}


def test_an_empty_final_recipient_stays_empty_when_the_addressee_is_uncertain():
    assert {row[0] for row in _rows(_report("", "ann@example.net, bob@example.net"))} == {None}
    # two blocks: the one addressee is not both of them
    assert {v.recipient for v in parse(_report("", "ann@example.net", groups=2)).verdicts} == {None}


def _refusal(diagnostic: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.org\nTo: bounces+t1@sender.test\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="zz"\n\n'
        "--zz\nContent-Type: text/plain\n\nThe mail system could not deliver your message.\n\n"
        "--zz\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        f"Final-Recipient: rfc822; ann@example.net\nAction: failed\nStatus: 5.1.0\nDiagnostic-Code: smtp; {diagnostic}\n"
        "\n--zz\nContent-Type: text/rfc822-headers\n\n"
        "From: News <news@sender.test>\nTo: ann@example.net\nMessage-ID: <m1@sender.test>\n\n--zz--\n"
    ).encode()


def test_a_reply_naming_only_the_senders_address_refuses_the_sender_not_the_recipient():
    """The words fit a recipient's refusal, the address is ours (the report's To:, the returned
    From:): the sender was refused (RFC 3463 X.1.7/X.1.8 territory), and a good recipient
    must not be suppressed as unknown."""
    for named in ("bounces+t1@sender.test", "news@sender.test"):
        [v] = parse(_refusal(f"550 5.1.0 Address rejected {named}")).verdicts
        assert (v.recipient, v.reason, v.hardbounce) == ("ann@example.net", "rejected", False)


def test_a_reply_naming_the_recipient_stays_the_recipients():
    [v] = parse(_refusal("550 5.1.0 <ann@example.net>: Address rejected (sender news@sender.test)")).verdicts
    assert (v.reason, v.hardbounce) == ("userunknown", True)
    [v] = parse(_refusal("550 5.1.0 Address rejected")).verdicts
    assert (v.reason, v.hardbounce) == ("userunknown", True)


def test_the_senders_addresses_are_read_once_per_report(monkeypatch):
    """Finding the returned headers walks every part (a big report has thousands); a report whose
    replies each name an address asks for the sender's addresses once, not once per recipient."""
    from bounceledger.ingest.bounces import returned

    calls = []
    real = returned.returned_headers
    monkeypatch.setattr(returned, "returned_headers", lambda msg: calls.append(1) or real(msg))

    def lookups(groups: int) -> int:
        blocks = "\n".join(
            f"Final-Recipient: rfc822; r{i}@example.net\nAction: failed\nStatus: 5.1.1\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 <alias{i}@example.net>... User unknown\n" for i in range(groups))
        raw = _report("", "x@example.net").replace(
            b"Final-Recipient: rfc822; \nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n",
            blocks.encode())
        calls.clear()
        assert len(parse(raw).verdicts) == groups
        return len(calls)

    assert lookups(50) == lookups(2)
