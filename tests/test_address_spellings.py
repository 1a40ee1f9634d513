"""One mailbox, one spelling: what a send log and a returned message write for the same
recipient must meet (seen with real Exim 4.96 and Sendmail 8.17 on loopback, sweep AB)."""

from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.keys import normalise_address
from bounceledger.ingest.sendlog import make_parser
from bounceledger.ingest.sendlog.base import LineParser, ParseOptions


def _exim() -> LineParser:
    """An Exim log parser for the real 4.96 lines below (December 2026)."""
    return make_parser("exim", ParseOptions(reference_time=datetime(2026, 12, 7, tzinfo=timezone.utc)))


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
    assert [a.recipient for a in _exim().feed(line)] == ["john bad doe@example.net"]


def test_a_label_and_u_label_are_one_domain():
    # src: RFC 5890 2.3.2.1 (an A-label and its U-label are the same label); RFC 5891 5.3 (U-labels are
    # NFC). Real Postfix 3.7.11 and Exim 4.96 log and report each form as it was given (sweep BL).
    assert normalise_address("unknown.a@xn--bcher-kva.example") == normalise_address("unknown.a@bücher.example")
    assert normalise_address("Unknown.A@XN--BCHER-KVA.EXAMPLE.") == "unknown.a@bücher.example"
    assert normalise_address("u@bu\u0308cher.example") == "u@bücher.example"  # decomposed ü
    assert normalise_address("gone@xn--0xaajbq.example") == "gone@σοφος.example"
    # IDNA2008 keeps ß and final sigma: faß is not fass, σοφος is not σοφοσ
    assert normalise_address("full@xn--fa-hia.example") == "full@faß.example" != normalise_address("full@fass.example")
    assert normalise_address("gone@xn--0xaakcn.example") != normalise_address("gone@σοφος.example")
    # the local part is never decoded: an ASCII local part may start with xn--
    assert normalise_address("xn--jrg-goa@example.org") == "xn--jrg-goa@example.org"
    # not Punycode, or not round-tripping: left as written
    assert normalise_address("a@xn--zz-.example") == "a@xn--zz-.example"
    assert normalise_address("a@xn--.example") == "a@xn--.example"
    assert normalise_address("a@xn--abc.example") == "a@xn--abc.example"


def test_exim_downconverted_delivery_is_the_address_as_given():
    # src: real Exim 4.96 mainlog line (sweep BL): sending without SMTPUTF8 to a host that lacks it,
    # Exim logs its ASCII form first (the whole domain as one Punycode label; the wire carried
    # unknown.nu@xn--bcher-kva.example) and the address as given in brackets, which its DSN names.
    line = ("2026-12-07 21:28:07.675 [19474] 1xagFj-000545-27 ** unknown.nu@xn--bcher.example-wob "
            "<unknown.nu@bücher.example> F=<nu@sender.test> P=<nu@sender.test> R=to_mx2 T=mx2_smtp "
            "H=mta.sender.test [127.0.0.1]:27526 I=[127.0.0.1]:37784: SMTP error from remote mail server "
            "after RCPT TO:<unknown.nu@b\\303\\274cher.example>: 550 5.1.1 The email account that you "
            "tried to reach does not exist.")
    ok = ("2026-12-07 21:28:07.728 [19480] 1xagFj-00054B-2I => xn--jrg.nu-wxa@example.org <jörg.nu@example.org> "
          "F=<nu@sender.test> P=<nu@sender.test> R=to_mx2 T=mx2_smtp S=523 H=mta.sender.test [127.0.0.1]:27526 "
          'I=[127.0.0.1]:37796 C="250 2.0.0 OK MX1796678887001 - gsmtp" QT=0.015s DT=0.002s')
    parser = _exim()
    attempts = parser.feed(line) + parser.feed(ok)
    assert [a.recipient for a in attempts] == ["unknown.nu@bücher.example", "jörg.nu@example.org"]
    # a case-only change (no xn--) keeps Exim's first form, as before
    case = ("2026-12-07 21:28:07.471 [19446] 1xagFj-00053d-1S ** unknown.groß@bÜcher.example "
            "<UNKNOWN.Groß@BÜCHER.example> F=<bounces@sender.test> P=<bounces@sender.test> R=to_mx1 T=mx1_smtp "
            "H=mta.sender.test [127.0.0.1]:27525 I=[127.0.0.1]:42496: SMTP error from remote mail server after "
            "RCPT TO:<x@y>: 550 5.1.1 no such user")
    assert [a.recipient for a in parser.feed(case)] == ["unknown.groß@bücher.example"]
