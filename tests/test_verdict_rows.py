"""A verdict is stored under the address the sender used, so it can find
its delivery; where the report names the address an alias led to, that
one is kept in the evidence."""

from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.bounces import parse
from bounceledger.ingest.returned import verdict_row

NOW = datetime(2026, 12, 5, tzinfo=timezone.utc)

_SENDMAIL_ALIAS = (
    "From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.org>\n"
    "To: bounces@sender.test\nSubject: Returned mail: see transcript for details\n\n"
    "   ----- The following addresses had permanent fatal errors -----\n"
    "<kim.old@mail.example.org>\n    (reason: 550 5.1.1 User unknown)\n    (expanded from: <kim@example.org>)\n"
).encode()


def _row(raw: bytes) -> dict[str, object]:
    (verdict,) = parse(raw).verdicts
    return verdict_row(verdict, "k", 1, NOW, "test", NOW)


def test_alias_expanded_by_the_receiver_is_stored_under_the_address_sent_to():
    row = _row(_SENDMAIL_ALIAS)
    assert row["recipient"] == "kim@example.org"
    assert row["evidence"]["final_recipient"] == "kim.old@mail.example.org"  # type: ignore[index]


def test_a_report_naming_one_address_is_stored_under_it():
    raw = _SENDMAIL_ALIAS.replace(b"    (expanded from: <kim@example.org>)\n", b"")
    row = _row(raw)
    assert row["recipient"] == "kim.old@mail.example.org"
    assert row["evidence"]["final_recipient"] == "kim.old@mail.example.org"  # type: ignore[index]


def test_a_forward_proved_by_the_returned_headers_is_stored_under_the_address_sent_to():
    """A .forward at the receiver: the notice names only the forward's target, and the
    returned headers show our message delivered to the address we sent to first."""
    raw = _SENDMAIL_ALIAS.replace(b"    (expanded from: <kim@example.org>)\n", b"") + (
        b"\n   ----- Original message follows -----\n\n"
        b"Delivered-To: kim@example.org\nFrom: News <news@sender.test>\nTo: <kim@example.org>\n"
        b"Subject: Spring\nMessage-ID: <m1@sender.test>\n\nHello\n"
    )
    row = _row(raw)
    assert row["recipient"] == "kim@example.org"
    assert row["evidence"]["final_recipient"] == "kim.old@mail.example.org"  # type: ignore[index]
