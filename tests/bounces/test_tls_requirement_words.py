"""The sending MTA's own TLS requirement for the next hop, unmet, in its own words (sweep BS).

The fixtures were returned by real Sendmail 8.17.1.9 (Debian package, unpacked) sending to a scripted
MX on loopback with ``TLS_Srv:127.0.0.1`` in its access map: ``ENCR:112`` against a server that offers
no STARTTLS ("encryption too weak 0 less than 112") or answers STARTTLS with 454, and ``VERIFY`` against
a self-signed or an expired certificate ("authentication failed": the peer's certificate did not
verify). cf/m4/proto.m4, ruleset tls_server, writes those words after "454 4.7.0". The log lines are
Sendmail's and Exim 4.96's own (Exim with ``hosts_require_dane = *`` and no DNSSEC). None of these is
an SPF/DKIM failure or a plain expiry: the TLS requirement is the named cause.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from bounceledger.ingest.attempts import _reason
from bounceledger.ingest.bounces import parse
from bounceledger.ingest.bounces.classify import classify
from bounceledger.ingest.sendlog import ParseOptions, make_parser

FIXTURES = Path(__file__).parent / "fixtures" / "tls-requirement"
REF = datetime(2026, 12, 8, tzinfo=timezone.utc)


@pytest.mark.parametrize(("name", "recipient", "kind"), [
    ("sendmail_encr_giveup.eml", "rcpt@notls.test", "bounce"),
    ("sendmail_encr_delay.eml", "rcpt@tls454.test", "delay"),
    ("sendmail_verify_giveup.eml", "rcpt@selfsigned.test", "bounce"),
    ("sendmail_verify_delay.eml", "rcpt@expired.test", "delay"),
])
def test_sendmail_tls_server_refusal_is_a_security_error(name: str, recipient: str, kind: str) -> None:
    (verdict,) = parse((FIXTURES / name).read_bytes()).verdicts
    assert (verdict.recipient, verdict.kind, verdict.status, verdict.replycode) == (recipient, kind, "4.7.0", "454")
    assert verdict.reason == "securityerror" and not verdict.hardbounce


SENDMAIL_VERIFY_FAILED = [
    "Dec  7 23:58:15 mta sendmail[15275]: 6B7NwFQj015275: from=sender@sender.test, size=141, class=0, nrcpts=1, "
    "msgid=<bs-sm-selfsigned@sender.test>, relay=root@localhost",
    "Dec  7 23:58:15 mta sendmail[15275]: 6B7NwFQj015275: to=rcpt@selfsigned.test, ctladdr=sender@sender.test (0/0), "
    "delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=30141, relay=[127.0.0.1] [127.0.0.1], dsn=4.7.0, "
    "stat=Deferred: 454 4.7.0 authentication failed",
]
EXIM_DANE_REQUIRED = [
    '2026-12-07 23:52:28.949 [32044] 1xaiVQ-0008Kq-32 <= sender@sender.test U=root P=local S=347 M8S=0 RT=0.005s '
    'id=bs-exim-dane.test@sender.test T="tls sweep dane.test" from <sender@sender.test> for rcpt@dane.test',
    "2026-12-07 23:52:28.999 [32045] 1xaiVQ-0008Kq-32 ** rcpt@dane.test F=<sender@sender.test> P=<sender@sender.test> "
    "R=r_dane T=t_dane: DANE error: mx.good.test lookup not DNSSEC DT=0.000s",
]


@pytest.mark.parametrize(("fmt", "lines", "verdict"), [
    ("sendmail", SENDMAIL_VERIFY_FAILED, "deferred"),
    ("exim", EXIM_DANE_REQUIRED, "rejected"),
])
def test_send_log_tls_requirement_is_a_security_error(fmt: str, lines: list[str], verdict: str) -> None:
    parser = make_parser(fmt, ParseOptions(reference_time=REF))
    (attempt,) = [a for line in lines for a in parser.feed(line)]
    assert attempt.verdict == verdict
    assert _reason(attempt)[0] == "securityerror"


def test_sender_authentication_failures_stay_authfailure() -> None:
    """The SPF/DKIM/DMARC row still reads what names the check."""
    assert classify("5.7.1", "550", "550 5.7.1 SPF authentication failed").reason == "authfailure"
    assert classify("5.7.1", "554", "554 5.7.1 DMARC authentication failed for example.com").reason == "authfailure"
