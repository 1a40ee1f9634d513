"""``--format auto`` on a shared ``mail.log`` whose head belongs to other programs.

The fixture is the head of a real Debian 12 mail host's log (sweep BY): rsyslogd
8.2302 writing Postfix 3.7 with amavisd-new as content filter, OpenDKIM,
OpenDMARC, spamass-milter and spamd, postgrey and Dovecot, all on loopback.
amavisd-new alone writes dozens of start-up lines, and Postfix's first line is
the 75th, after all of the first 50. Auto-detection
refused the file ("not a send log in any known format") while ``--format
postfix`` read every attempt, since that check (one line of the first thousand
is the format's) is made line by line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bounceledger.ingest.sendlog import most_recognised_format
from bounceledger.logfiles import DETECT_LINES, UnknownFormatError, detect_file_format
from tests.sendlog.helpers import FIXTURES

MAIL_HOST = FIXTURES / "debian_mail_host.log"
NOISE = "Nov 27 00:43:22 h dovecot[1]: imap-login: Login: user=<a>, method=PLAIN, rip=127.0.0.1"
SENDMAIL = ("Nov 27 00:43:22 h sm-mta[2]: 5239E5aT002301: to=<a@b.example>, delay=00:00:01, mailer=esmtp, "
            "pri=1, relay=mx. [192.0.2.1], dsn=2.0.0, stat=Sent")
POSTFIX = ("Nov 27 00:43:22 h postfix/smtp[3]: 4F1A2B3C: to=<a@b.example>, relay=mx[192.0.2.1]:25, delay=1, "
           "delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok)")


def test_the_fixture_is_a_head_the_first_lines_do_not_decide() -> None:
    lines = MAIL_HOST.read_text(encoding="utf-8").splitlines()
    postfix_at = next(number for number, line in enumerate(lines) if " postfix/" in line)
    assert postfix_at >= DETECT_LINES
    assert any("status=sent" in line for line in lines)


def test_a_shared_mail_log_is_read_as_postfix() -> None:
    assert detect_file_format(MAIL_HOST) == "postfix"


def test_other_programs_alone_are_still_refused(tmp_path: Path) -> None:
    only_noise = tmp_path / "imap.log"
    only_noise.write_text((NOISE + "\n") * 200, encoding="utf-8")
    with pytest.raises(UnknownFormatError):
        detect_file_format(only_noise)


def test_the_most_recognised_format_wins() -> None:
    assert most_recognised_format([NOISE] * 60 + [SENDMAIL]) == "sendmail"
    assert most_recognised_format([NOISE] * 60 + [SENDMAIL, POSTFIX, POSTFIX]) == "postfix"
    assert most_recognised_format([NOISE] * 60 + [SENDMAIL, SENDMAIL, POSTFIX]) == "sendmail"
    assert most_recognised_format([NOISE, "", "garbage"]) is None
