"""Real Exim 4.96 and Sendmail 8.17.1.9 lines as rsyslog 8.2302 filed them (sweep BI).

Exim with ``syslog_timestamp = false`` and ``+pid`` (in ``+all``) writes "[pid] " where its
stamp would be; Sendmail splits a long ``to=`` list over lines ending in ", [more]".
"""

from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.sendlog import ParseOptions, make_parser

REF = datetime(2026, 12, 8, 12, 0, tzinfo=timezone.utc)

EXIM_NOSTAMP_PID = [
    'Dec  8 03:35:30 vm exim4[31686]: [31686] 1xagpu-0008F4-0Y <= sender@sender.test U=root P=local S=401 M8S=0 RT=0.000s id=bi-exim-nostamp-A@sender.test T="plain" from <sender@sender.test> for ok1-exim-nostamp@example.test gnouser1-exim-nostamp@example.test msnouser1-exim-nostamp@example.test ynouser1-exim-nostamp@example.test grey1-exim-nostamp@example.test',
    'Dec  8 03:35:30 vm exim4[31687]: [31687] 1xagpu-0008F4-0Y => ok1-exim-nostamp@example.test F=<sender@sender.test> P=<sender@sender.test> R=to_final_mx T=final_mx_smtp S=415 H=127.0.0.1 [127.0.0.1]:48567 I=[127.0.0.1]:37660 C="250 2.0.0 Ok: queued as FH1796681130001" QT=0.019s DT=0.002s',
    'Dec  8 03:35:30 vm exim4[31687]: [31687] 1xagpu-0008F4-0Y ** gnouser1-exim-nostamp@example.test F=<sender@sender.test> P=<sender@sender.test> R=to_final_mx T=final_mx_smtp H=127.0.0.1 [127.0.0.1]:48567 I=[127.0.0.1]:37660: SMTP error from remote mail server after RCPT TO:<gnouser1-exim-nostamp@example.test>: 550-5.1.1 The email account that you tried to reach does not exist. Please try\\n550-5.1.1 ',
]

SENDMAIL_MORE = [
    'Dec  8 03:38:57 vm sendmail[3009]: 6B7M8vRT003009: from=sender@sender.test, size=543, class=0, nrcpts=30, msgid=<bi-sendmail-ll9-C@sender.test>, relay=root@localhost',
    'Dec  8 03:38:57 vm sendmail[3009]: 6B7M8vRT003009: to=ok32-long-recipient-local-part-sendmail-ll9@example.test,ok31-long-recipient-local-part-sendmail-ll9@example.test,ok30-long-recipient-local-part-sendmail-ll9@example.test,ok29-long-recipient-local-part-sendmail-ll9@example.test,ok28-long-recipient-local-part-sendmail-ll9@example.test,ok27-long-recipient-local-part-sendmail-ll9@example.test,ok26-long-recipient-local-part-sendmail-ll9@example.test,ok25-long-recipient-local-part-sendmail-ll9@example.test,ok24-long-recipient-local-part-sendmail-ll9@example.test,ok23-long-recipient-local-part-sendmail-ll9@example.test,ok22-long-recipient-local-part-sendmail-ll9@example.test,ok21-long-recipient-local-part-sendmail-ll9@example.test,ok20-long-recipient-local-part-sendmail-ll9@example.test, [more], ctladdr=sender@sender.test (0/0), delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=900543, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (2.0.0 Ok: queued as FH1796681337004)',
]


def _parse(fmt: str, lines: list[str]):
    parser = make_parser(fmt, ParseOptions(reference_time=REF, timezone="Asia/Kolkata"))
    out = [attempt for line in lines for attempt in parser.feed(line)]
    return parser, out


def test_exim_syslog_without_timestamp_but_with_pid_is_read() -> None:
    parser, attempts = _parse("exim", EXIM_NOSTAMP_PID)
    assert [(a.recipient, a.verdict, a.replycode, a.status) for a in attempts] == [
        ("ok1-exim-nostamp@example.test", "accepted", "250", "2.0.0"),
        ("gnouser1-exim-nostamp@example.test", "rejected", "550", "5.1.1"),
    ]
    assert all(a.queue_id == "1xagpu-0008F4-0Y" for a in attempts)
    assert all(a.message_id == "bi-exim-nostamp-A@sender.test" for a in attempts)
    # no Exim stamp: the syslog header's (Asia/Kolkata) is the time
    assert attempts[0].at == datetime(2026, 12, 7, 22, 5, 30, tzinfo=timezone.utc)
    assert parser.skipped == 0


def test_exim_syslog_without_timestamp_but_with_pid_is_detected() -> None:
    from bounceledger.ingest.sendlog import detect_format

    assert detect_format(EXIM_NOSTAMP_PID) == "exim"


def test_sendmail_more_marker_is_not_a_recipient() -> None:
    _, attempts = _parse("sendmail", SENDMAIL_MORE)
    recipients = [a.recipient for a in attempts]
    assert "[more]" not in recipients
    assert len(recipients) == 13 and all(r.endswith("@example.test") for r in recipients)
    assert all(a.verdict == "accepted" and a.message_id == "bi-sendmail-ll9-C@sender.test" for a in attempts)
