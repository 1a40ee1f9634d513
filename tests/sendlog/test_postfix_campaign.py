"""The campaign header that Postfix's header_checks INFO action logs."""

from __future__ import annotations

from datetime import datetime, timezone

from bounceledger.ingest.sendlog import ParseOptions, make_parser

LINES = [
    "Mar  3 09:15:01 mta postfix/cleanup[2102]: 4A1B2C3D4E: info: header X-Campaign: spring-sale 2026 from "
    "app.shop.test[10.1.0.5]; from=<bounces+s42@shop.test> to=<alice@mail.example.org> proto=ESMTP helo=<app>",
    "Mar  3 09:15:01 mta postfix/cleanup[2102]: 4A1B2C3D4E: message-id=<spring-sale.42@shop.test>",
    "Mar  3 09:15:01 mta postfix/qmgr[990]: 4A1B2C3D4E: from=<bounces+s42@shop.test>, size=4210, nrcpt=1 (queue active)",
    "Mar  3 09:15:02 mta postfix/smtp[2103]: 4A1B2C3D4E: to=<alice@mail.example.org>, relay=mx1.example.org"
    "[192.0.2.10]:25, delay=1.1, delays=0.1/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7F00AA11)",
]


def _parse(lines: list[str], header: str = "X-Campaign") -> list:  # type: ignore[type-arg]
    parser = make_parser(
        "postfix", ParseOptions(reference_time=datetime(2026, 3, 4, tzinfo=timezone.utc), campaign_header=header)
    )
    return [a for line in lines for a in parser.feed(line)]


def test_campaign_header_logged_before_the_message_id_is_kept() -> None:
    [attempt] = _parse(LINES)
    assert attempt.campaign == "spring-sale 2026"
    assert attempt.message_id == "spring-sale.42@shop.test"


def test_other_headers_and_a_configured_name() -> None:
    assert _parse(LINES, header="X-Mailing")[0].campaign is None
    renamed = [LINES[0].replace("X-Campaign", "X-Mailing"), *LINES[1:]]
    assert _parse(renamed, header="x-mailing")[0].campaign == "spring-sale 2026"


def _parse_matching(lines: list[str], *names: str) -> list:  # type: ignore[type-arg]
    parser = make_parser(
        "postfix", ParseOptions(reference_time=datetime(2026, 3, 4, tzinfo=timezone.utc), match_headers=names)
    )
    return [a for line in lines for a in parser.feed(line)]


def test_configured_match_header_is_kept_from_header_checks() -> None:
    ref_line = LINES[0].replace("X-Campaign: spring-sale 2026", "X-Mailer-Ref: a81f3")
    [attempt] = _parse_matching([ref_line, *LINES], "X-Other", "X-Mailer-Ref")
    assert attempt.header_ref == "x-mailer-ref:a81f3"
    assert attempt.campaign == "spring-sale 2026"  # both headers read from their own lines
    assert _parse_matching([ref_line, *LINES])[0].header_ref is None  # not configured: not kept
    # the campaign header may itself be the match header
    assert _parse_matching(LINES, "X-Campaign")[0].header_ref == "x-campaign:spring-sale 2026"
