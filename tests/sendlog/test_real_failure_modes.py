"""Send-log failure modes from real Exim 4.96 and Sendmail 8.17.1.9 (Debian packages, run on
loopback against scripted servers and a private DNS; sweep WW). Every line below was written by the MTA."""

from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.sendlog import ParseOptions, make_parser

REF = datetime(2026, 12, 8, tzinfo=timezone.utc)

EXIM_TIMEOUT = ['2026-12-07 18:23:45.973 [19250] 1xadNJ-00050U-38 <= alice@sender.test U=root P=local S=346 M8S=0 RT=0.000s id=sweepww.exim_all-9@sender.test T="sweepWW exim_all-9" from <alice@sender.test> for r1@silent.test', '2026-12-07 18:23:51.988 [19251] 1xadNJ-00050U-38 == r1@silent.test R=dnslookup T=remote_smtp defer (110): Connection timed out H=mx.silent.test [127.0.0.18]:25 I=[127.0.0.1]:48282 DT=6s: SMTP timeout after initial connection']
EXIM_TIMEOUT_DEFAULT_SELECTOR = ['2026-12-07 18:27:14 1xadQZ-0006nW-2E == r1@synblack.test R=dnslookup T=remote_smtp defer (110): Connection timed out H=mx.synblack.test [127.0.0.23]: SMTP timeout after initial connection']
EXIM_REFUSED_THEN_NOT_REACHED_THEN_GIVE_UP = ['2026-12-07 18:23:43.564 [18793] 1xadNH-0004t7-1o <= alice@sender.test U=root P=local S=347 M8S=0 RT=0.001s id=sweepww.exim_all-1@sender.test T="sweepWW exim_all-1" from <alice@sender.test> for r1@refused.test', '2026-12-07 18:23:43.584 [18800] 1xadNH-0004t7-1o == r1@refused.test R=dnslookup T=remote_smtp defer (111): Connection refused DT=0.000s', "2026-12-07 18:24:24.361 [20275] 1xadNH-0004t7-1o == r1@refused.test R=dnslookup T=remote_smtp defer (-54) DT=0.000s: retry time not reached for any host for 'refused.test'", "2026-12-07 18:24:53.647 [21243] 1xadNH-0004t7-1o == r1@refused.test R=dnslookup T=remote_smtp defer (-54) DT=0.000s: retry time not reached for any host for 'refused.test'", "2026-12-07 18:25:44.169 [23431] 1xadNH-0004t7-1o ** r1@refused.test F=<alice@sender.test> P=<alice@sender.test> R=dnslookup T=remote_smtp: all hosts for 'refused.test' have been failing for a long time (and retry time not reached) DT=0.000s", '2026-12-07 18:25:44.177 [23433] 1xadPE-00065x-0Z <= <> R=1xadNH-0004t7-1o U=nobody P=local S=1650 M8S=0 RT=0.000s id*=E1xadPE-00065x-0Z@mta.sender.test T="Mail delivery failed: returning message to sender" from <> for alice@sender.test']
SENDMAIL_CLOSED_AFTER_RCPT = ['Dec  7 18:26:09 mta sendmail[24076]: 6B7IQ95d024076: from=alice@sender.test, size=138, class=0, nrcpts=1, msgid=<sweepww.sendmail14-6@sender.test>, relay=root@localhost', 'Dec  7 18:26:09 mta sendmail[24076]: 6B7IQ95d024076: to=r1@droprcpt.test, ctladdr=alice@sender.test (0/0), delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=30138, relay=mx.droprcpt.test. [127.0.0.15], dsn=4.4.2, reply=421 4.4.1 Connection reset by mx.droprcpt.test., stat=Deferred']
SENDMAIL_MX_SERVFAIL = ['Dec  7 18:26:12 mta sendmail[24473]: 6B7IQCMY024473: from=alice@sender.test, size=140, class=0, nrcpts=1, msgid=<sweepww.sendmail14-18@sender.test>, relay=root@localhost', 'Dec  7 18:26:12 mta sendmail[24473]: 6B7IQCMY024473: to=u1@servfail.test, delay=00:00:00, mailer=esmtp, pri=30140, dsn=4.4.3, stat=queued', 'Dec  7 18:27:57 mta sendmail[27019]: 6B7IQCMY024473: 6B7IRd0a027019: sender notify: Cannot send message for 1 minute, 40 seconds']


def feed(fmt, lines):
    parser = make_parser(fmt, ParseOptions(reference_time=REF))
    return [a for line in lines for a in parser.feed(line)]


def test_exim_timeout_keeps_host_and_message():
    # src: Exim 4.96 deliver.c logs "defer (110): <strerror> H=... DT=..: <message>"
    (a,) = feed("exim", EXIM_TIMEOUT)
    assert a.verdict == "deferred" and a.replycode is None
    assert a.relay_host == "mx.silent.test" and a.relay_ip == "127.0.0.18" and a.relay_port == 25
    assert a.text == "SMTP timeout after initial connection: Connection timed out"
    (b,) = feed("exim", EXIM_TIMEOUT_DEFAULT_SELECTOR)
    assert b.relay_host == "mx.synblack.test" and "H=" not in b.text
    assert b.text.startswith("SMTP timeout after initial connection")


def test_exim_expiry_keeps_last_real_failure_over_retry_time_not_reached():
    # Exim 4.96 numbers "retry time not reached" defer (-54), not -53 as 4.8x did
    got = feed("exim", EXIM_REFUSED_THEN_NOT_REACHED_THEN_GIVE_UP)
    assert {a.verdict for a in got[:-1]} == {"deferred"} and got[-1].verdict == "expired"
    assert any("retry time not reached" in a.text for a in got[:-1])
    assert got[-1].text == "Connection refused"


def test_sendmail_faked_connection_reset_reply_is_no_server_reply():
    # src: sendmail usersmtp.c reply(): "if the remote end closed early, fake an error"
    got = feed("sendmail", SENDMAIL_CLOSED_AFTER_RCPT)
    (a,) = got
    assert a.verdict == "deferred"
    assert a.replycode is None and a.status == "4.4.2"
    assert "Connection reset by" in a.text


def test_sendmail_faked_read_error_reply_is_no_server_reply():
    # src: sendmail usersmtp.c reply(): a read error is usrerr("451 4.4.1 reply: read error from %s");
    # the same real line as above with that reply: the send-log reader and the DSN reader share the list
    lines = [SENDMAIL_CLOSED_AFTER_RCPT[0], SENDMAIL_CLOSED_AFTER_RCPT[1].replace(
        "reply=421 4.4.1 Connection reset by mx.droprcpt.test.", "reply=451 4.4.1 reply: read error from mx.droprcpt.test.")]
    (a,) = feed("sendmail", lines)
    assert a.verdict == "deferred"
    assert a.replycode is None and a.status == "4.4.2"
    assert a.text == "reply: read error from mx.droprcpt.test."


def test_sendmail_queued_after_dns_failure_then_expires():
    got = feed("sendmail", SENDMAIL_MX_SERVFAIL)
    assert [(a.recipient, a.verdict) for a in got] == [("u1@servfail.test", "deferred"), ("u1@servfail.test", "expired")]
    assert got[-1].status == "4.4.3" and got[-1].replycode is None
