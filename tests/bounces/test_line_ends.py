"""A returned message reads the same with CRLF line ends as with LF, and with blanks before them.

Mail is CRLF on the wire and as an IMAP server hands it out (RFC 5322 2.1),
LF in a Maildir, an mbox or a saved file. Every real returned message among
the fixtures is parsed both ways, and a base64 body written with CRLF (as
Exchange and most Windows mailers write theirs) reads as the same text does
unencoded. Before line ends were made LF, a CRLF copy of a Sendmail 8.18
give-up lost its transcript (the patterns end lines at ``$``, which does not
match before a CR) and read ``expired`` for ``networkerror``; in the shared
corpus 8 of 418 messages read differently. Blanks at a line's end carry
nothing either (RFC 5322 3.2.2, RFC 2045 6.7, RFC 2046 5.1.1), but with a space
after every line 7 of the corpus's messages read differently, one of them as no
bounce at all.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from bounceledger.ingest.bounces import parse

FIXTURES = Path(__file__).parent / "fixtures"
MESSAGES = sorted(path for path in FIXTURES.rglob("*") if path.suffix in (".eml", ".msg") and path.is_file())


def _reading(raw: bytes) -> list[tuple[object, ...]]:
    parsed = parse(raw)
    return [(parsed.outcome,)] + sorted(
        (v.kind, v.recipient or "", v.status or "", v.replycode or "", v.reason, v.hardbounce, v.diagnostic or "")
        for v in parsed.verdicts
    )


def test_there_are_messages_to_compare() -> None:
    assert len(MESSAGES) > 100


@pytest.mark.parametrize("path", MESSAGES, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_crlf_and_lf_read_alike(path: Path) -> None:
    lf = path.read_bytes().replace(b"\r\n", b"\n")
    assert _reading(lf.replace(b"\n", b"\r\n")) == _reading(lf)


@pytest.mark.parametrize("path", MESSAGES, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_blanks_at_line_ends_change_nothing(path: Path) -> None:
    lf = path.read_bytes().replace(b"\r\n", b"\n")
    assert _reading(re.sub(rb"(?m)([^\n])$", rb"\1 \t", lf)) == _reading(lf)


SENDMAIL_GIVE_UP = """Transcript of a failed delivery

   ----- Transcript of session follows -----
451 4.4.1 reply: read error from [192.0.2.1]
user@example.test... Deferred: Connection timed out with [192.0.2.1]
Message could not be delivered for 5 days
Message will be deleted from queue
"""


def _notice(body: bytes, encoding: str) -> bytes:
    head = (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@sender.example>\n"
        "To: sender@sender.example\n"
        "Subject: Returned mail: see transcript for details\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\n"
        f"Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: {encoding}\n\n"
    ).encode()
    tail = (
        "\n--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; sender.example\n\n"
        "Final-Recipient: RFC822; user@example.test\nAction: failed\nStatus: 4.4.7\n\n--b--\n"
    ).encode()
    return head + body + tail


def test_a_base64_body_with_crlf_reads_as_plain_text() -> None:
    plain = _reading(_notice(SENDMAIL_GIVE_UP.encode(), "7bit"))
    encoded = base64.encodebytes(SENDMAIL_GIVE_UP.replace("\n", "\r\n").encode())
    assert _reading(_notice(encoded, "base64"))[1:] == plain[1:]
    assert [row[4] for row in plain[1:]] == ["networkerror"]
