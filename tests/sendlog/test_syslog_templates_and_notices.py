"""Real configurations the send-log parsers met in the HH sweep (lines from real Postfix 3.7.11,
Exim 4.96 and Sendmail 8.17.1.9 runs on loopback; headers as rsyslog's built-in templates write them)."""
from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.sendlog import ParseOptions, detect_format, make_parser

REF = datetime(2026, 12, 7, 18, 0, tzinfo=timezone.utc)

# RSYSLOG_SyslogProtocol23Format = "<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID%
# %MSGID% %STRUCTURED-DATA% %msg%\n"; %msg% of a message received in RFC 3164 form keeps the space after
# the tag (pmrfc3164 remove.msgFirstSpace=off), and APP-NAME is the programname, cut at "/" unless
# parser.PermitSlashInProgramname="on".
P23 = [
    "<22>1 2026-12-07T18:39:35.000000+01:00 mailhost postfix-out 13430 - -  4jjq9M2nh3zJFTY: message-id=<a1@sender.test>",
    "<22>1 2026-12-07T18:39:35.000001+01:00 mailhost postfix-out 12860 - -  4jjq9M2nh3zJFTY: from=<alice@sender.test>, size=489, nrcpt=5 (queue active)",
    "<22>1 2026-12-07T18:39:36.000002+01:00 mailhost postfix-out 13432 - -  4jjq9M2nh3zJFTY: to=<ok1@example.test>, relay=127.0.0.1[127.0.0.1]:31025, delay=1.1, delays=0.02/1/0.04/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as MX651760002)",
    "<22>1 2026-12-07T18:39:36.000003+01:00 mailhost postfix-out 13432 - -  4jjq9M2nh3zJFTY: to=<unknown1@example.test>, relay=127.0.0.1[127.0.0.1]:31025, delay=1.1, delays=0.02/1/0.04/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <unknown1@example.test>: Recipient address rejected: User unknown (in reply to RCPT TO command))",
    "<22>1 2026-12-07T18:39:35.000004+01:00 mailhost postfix-out 13446 - -  4jjq9M3Hg8zJFTp: to=<box@virt.test>, relay=virtual, delay=0.02, delays=0.01/0.01/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
]


def _feed(fmt: str, lines: list[str]):
    parser = make_parser(fmt, ParseOptions(reference_time=REF))
    return [a for line in lines for a in parser.feed(line)], parser


def test_rsyslog_protocol23_with_slash_and_leading_space() -> None:
    lines = [line.replace("postfix-out 13", "postfix-out/smtp 13", 1) if "to=<ok1" in line or "to=<unknown1" in line else line for line in P23]
    attempts, parser = _feed("postfix", lines)
    assert [(a.recipient, a.verdict, a.replycode, a.message_id) for a in attempts[:2]] == [
        ("ok1@example.test", "accepted", "250", "a1@sender.test"),
        ("unknown1@example.test", "rejected", "550", "a1@sender.test"),
    ]
    assert attempts[0].at.replace(microsecond=0) == datetime(2026, 12, 7, 17, 39, 36, tzinfo=timezone.utc)
    assert parser.skipped == 0


def test_rsyslog_protocol23_default_app_name_without_daemon() -> None:
    assert detect_format(P23) == "postfix"
    attempts, _ = _feed("postfix", P23)
    got = {a.recipient: (a.verdict, a.status, a.sender, a.first_hop) for a in attempts}
    assert got == {
        "ok1@example.test": ("accepted", "2.0.0", "alice@sender.test", True),
        "unknown1@example.test": ("rejected", "5.1.1", "alice@sender.test", True),
        "box@virt.test": ("accepted", "2.0.0", None, False),  # relay=virtual stays internal
    }


def test_exim_syslog_split_line_keeps_the_failure() -> None:
    lines = [
        "Dec  7 17:44:28 mta exim[19726]: 1xaclI-00058A-2y <= alice@sender.test U=root P=local S=399 id=xs2@sender.test",
        "Dec  7 17:44:29 mta exim[19731]: [1/2] 1xaclI-00058A-2y ** long2@example.test R=to_final_mx T=final_mx_smtp H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after RCPT TO:<long2@example.test>: 550 5.1.1 <long2@example.test> This mailbox does not exist here and never did; This mailbox does",
        "Dec  7 17:44:29 mta exim[19731]: [2/2] is mailbox does not exist here and never did; This mailb DT=0s",
    ]
    attempts, parser = _feed("exim", lines)
    assert [(a.recipient, a.verdict, a.replycode, a.status, a.sender) for a in attempts] == [
        ("long2@example.test", "rejected", "550", "5.1.1", "alice@sender.test")
    ]
    assert parser.skipped == 0


def test_sendmail_own_notices_carry_the_null_sender() -> None:
    lines = [
        "Dec  7 17:40:11 mta sendmail[14228]: 6B7HeBoC014228: from=alice@sender.test, size=286, class=0, nrcpts=5, msgid=<sm9-s1@sender.test>, relay=root@localhost",
        "Dec  7 17:40:11 mta sendmail[14228]: 6B7HeBoC014228: to=unknown1@example.test, ctladdr=alice@sender.test (0/0), delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=150286, relay=[127.0.0.1] [127.0.0.1], dsn=5.1.1, reply=550 5.1.1 <unknown1@example.test>: Recipient address rejected: User unknown, stat=User unknown",
        "Dec  7 17:40:11 mta sendmail[14228]: 6B7HeBoC014228: 6B7HeBoD014228: DSN: User unknown",
        "Dec  7 17:40:11 mta sendmail[14228]: 6B7HeBoD014228: to=alice@sender.test, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=31310, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (Ok: queued as MX652110014)",
        "Dec  7 17:40:32 mta sendmail[14551]: 6B7HeBoC014228: 6B7HeW1C014551: sender notify: Warning: could not send message for past 20 seconds",
        "Dec  7 17:40:32 mta sendmail[14551]: 6B7HeW1C014551: to=alice@sender.test, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=31482, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (Ok: queued as MX652320022)",
    ]
    attempts, _ = _feed("sendmail", lines)
    assert [(a.queue_id, a.sender) for a in attempts] == [
        ("6B7HeBoC014228", "alice@sender.test"),
        ("6B7HeBoD014228", ""),
        ("6B7HeW1C014551", ""),
    ]
