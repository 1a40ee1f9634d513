"""A multi-line SMTP reply copied into Diagnostic-Code with its later lines unindented.

nullmailer-dsn (nullmailer 2.2, Debian 1:2.2-4), run on loopback against an SMTP server
answering Gmail's multi-line end-of-DATA refusal, writes the reply's continuation lines at
the left margin. RFC 5321 4.2.1 makes them one reply ("NNN-" lines, then "NNN "), so they
are the field's value; the reason is on the later lines (Gmail SMTP errors and codes,
https://support.google.com/a/answer/3726730: 550 5.7.1 "... this message is likely
unsolicited mail ...").
"""

from __future__ import annotations

from bounceledger.ingest.bounces import parse

DSN = b"""Return-Path: <>
From: Message Delivery Subsystem <MAILER-DAEMON@vm>
To: <bounces+n06@sender.test>
Subject: Returned mail: Could not send message
Message-Id: <1796677545.897196.27737.nullmailer@vm>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="1796677545.897096.27737"

--1796677545.897096.27737
Content-Type: text/plain; charset=us-ascii

This is the nullmailer delivery system.  The message attached below
could not be delivered to one or more of the intended recipients:

\t<data-gmail-spam@gmail.test>

--1796677545.897096.27737
Content-Type: message/delivery-status

Reporting-MTA: x-local-hostname; vm
Arrival-Date: Mon, 07 Dec 2026 21:05:45 +0000

Final-Recipient: rfc822; data-gmail-spam@gmail.test
Action: failed
Status: 5.7.1
Last-Attempt-Date: Mon, 07 Dec 2026 21:05:45 +0000
Remote-MTA: dns; 127.0.0.1
Diagnostic-Code: SMTP; 550-5.7.1 Our system has detected that this message is likely unsolicited
550-5.7.1 mail. To reduce the amount of spam sent to Gmail, this message has been
550-5.7.1 blocked. For more information, go to
550 5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError a1b2c3-gsmtp

--1796677545.897096.27737
Content-Type: message/rfc822

From: Sender <news@sender.test>
To: data-gmail-spam@gmail.test
Subject: sweep n06
Message-ID: <179667754567.27641.7304068028802098400.n06@sender.test>

test message n06

--1796677545.897096.27737--
"""


def test_unindented_reply_lines_belong_to_the_diagnostic():
    (verdict,) = parse(DSN).verdicts
    assert verdict.recipient == "data-gmail-spam@gmail.test"
    assert verdict.status == "5.7.1" and verdict.replycode == "550"
    assert "550-5.7.1 mail. To reduce the amount of spam" in verdict.diagnostic
    assert verdict.diagnostic.endswith("a1b2c3-gsmtp")
    assert verdict.reason == "spamdetected"


def test_a_line_of_another_reply_code_is_not_taken():
    other = DSN.replace(b"550-5.7.1 mail. To", b"421-4.7.0 mail. To")
    (verdict,) = parse(other).verdicts
    assert "421-4.7.0" not in verdict.diagnostic
