"""RFC 6533 utf-8 addresses in a delivery report: escapes that name no character must not break a poll."""

from __future__ import annotations

from bounceledger.ingest.bounces import parse
from bounceledger.ingest.bounces.rfc3464 import decode_utf8_address


def _dsn(final: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mta.example\r\nTo: bounces@sender.test\r\nSubject: Undelivered Mail\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mta.example\r\n\r\n"
        f"Final-Recipient: {final}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <x>: Recipient address rejected: User unknown\r\n\r\n--B--\r\n"
    ).encode()


def test_escapes_decode_to_the_address():
    # src: RFC 6533 section 3 (utf-8-addr-xtext / embedded-unicode-char "\x{HEXPOINT}")
    assert decode_utf8_address("j\\x{F6}rg@b\\x{00FC}cher.example") == "jörg@bücher.example"


def test_escapes_outside_unicode_scalar_values_are_left_as_written():
    # src: RFC 6533 section 3: HEXPOINT names a Unicode scalar value (no surrogates, at most 10FFFF)
    assert decode_utf8_address("bad\\x{110000}x@example.org") == "bad\\x{110000}x@example.org"
    assert decode_utf8_address("bad\\x{D800}y@example.org") == "bad\\x{D800}y@example.org"
    for final in ("utf-8; bad\\x{110000}x@example.org", "utf-8; bad\\x{D800}y@example.org"):
        parsed = parse(_dsn(final))
        assert parsed.outcome == "bounce"
        [verdict] = parsed.verdicts
        assert verdict.status == "5.1.1"
        verdict.recipient.encode("utf-8")  # storable and printable
