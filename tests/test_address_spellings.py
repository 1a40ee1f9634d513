"""One mailbox, one spelling: what a send log and a returned message write for the same
recipient must meet (seen with real Exim 4.96 and Sendmail 8.17 on loopback, sweep AB)."""

from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.keys import normalise_address
from bounceledger.ingest.sendlog import make_parser
from bounceledger.ingest.sendlog.base import ParseOptions


def test_quoting_is_not_part_of_the_local_part():
    # src: RFC 5321 4.1.2 (Local-part = Dot-string / Quoted-string) and 4.1.2's note that a
    # Quoted-string which is a valid Dot-string should be written as one
    assert normalise_address('"ok"@Example.NET') == "ok@example.net"
    # the DSN quotes what Exim's mainlog writes unquoted: both give one key
    assert normalise_address('"john bad doe"@example.net') == normalise_address("john bad doe@example.net")
    assert normalise_address('"bad@b"@example.net') == normalise_address("bad@b@example.net") == "bad@b@example.net"
    assert normalise_address('"a\\"b"@x.example') == 'a"b@x.example'


def test_trailing_root_dot_is_not_part_of_the_domain():
    # src: RFC 5321 4.1.2 Domain grammar (no trailing dot); RFC 1034 3.1 (absolute name)
    assert normalise_address("bad.trail@example.net.") == "bad.trail@example.net"
    assert normalise_address("u@[192.0.2.7]") == "u@[192.0.2.7]"


def test_exim_logs_a_quoted_local_part_unquoted():
    # src: real Exim 4.96 mainlog line (sweepAB, log_selector +all -arguments)
    line = ('2026-12-07 18:25:00.228 [21917] 1xadOg-0005hU-0h ** john bad doe@example.net '
            '<"john bad doe"@example.net> F=<bounces+x@sender.test> P=<bounces+x@sender.test> '
            'R=to_final_mx T=final_mx_smtp H=127.0.0.1 [127.0.0.1]:33029 I=[127.0.0.1]:58766: '
            'SMTP error from remote mail server after RCPT TO:<"john bad doe"@example.net>: '
            '550 5.1.1 <"john bad doe"@example.net>: Recipient address rejected: User unknown')
    parser = make_parser("exim", ParseOptions(reference_time=datetime(2026, 12, 7, tzinfo=timezone.utc)))
    attempts = parser.feed(line)
    assert [a.recipient for a in attempts] == ["john bad doe@example.net"]
