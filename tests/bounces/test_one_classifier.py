"""One classifier: the same input gets the same reason, category and hard/soft
from ``explain``, from ``parse`` of a DSN, from the suppression policy and
from the dashboard's badge.

The DSNs here are written from RFC 3464's format by the test itself; the
status codes are the whole IANA "SMTP Enhanced Status Codes" registry
(RFC 3463, RFC 5248 and the RFCs that extended it).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bounceledger.reports import describe_reason
from bounceledger.ingest.bounces import parse
from bounceledger.ingest.bounces.classify import classify, explain, is_hard_outcome
from bounceledger.ingest.bounces.reasons import STATUS_REASONS
from bounceledger.models.suppression import Outcome, SuppressionPolicy, decide_suppression

#: subject.detail of every code in the IANA registry (X.6.10 is deprecated but registered).
REGISTRY = (
    "0.0 1.0 1.1 1.2 1.3 1.4 1.5 1.6 1.7 1.8 1.9 1.10 2.0 2.1 2.2 2.3 2.4 3.0 3.1 3.2 3.3 3.4 3.5 3.6"
    " 4.0 4.1 4.2 4.3 4.4 4.5 4.6 4.7 5.0 5.1 5.2 5.3 5.4 5.5 5.6 6.0 6.1 6.2 6.3 6.4 6.5 6.6 6.7 6.8"
    " 6.9 6.10 7.0 7.1 7.2 7.3 7.4 7.5 7.6 7.7 7.8 7.9 7.10 7.11 7.12 7.13 7.14 7.15 7.16 7.17 7.18"
    " 7.19 7.20 7.21 7.22 7.23 7.24 7.25 7.26 7.27 7.28 7.29 7.30"
).split()

#: Registry codes that report success (RFC 3463 X.1.5, RFC 3886 X.1.9, RFC 6710 X.3.6): no failure reason.
SUCCESS_ONLY = {"1.5", "1.9", "3.6"}

NOW = datetime(2026, 12, 5, tzinfo=timezone.utc)


def dsn(status: str, diagnostic: str | None = None, action: str = "failed") -> bytes:
    """A minimal RFC 3464 report for one recipient."""
    lines = [
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.org>",
        "To: sender@example.com",
        "Subject: Delivery Status Notification",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
        "",
        "--B",
        "Content-Type: text/plain",
        "",
        "The message could not be delivered.",
        "",
        "--B",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.example.org",
        "",
        "Final-Recipient: rfc822; user@example.net",
        f"Action: {action}",
        f"Status: {status}",
    ]
    if diagnostic:
        lines.append(f"Diagnostic-Code: smtp; {diagnostic}")
    lines += [
        "",
        "--B",
        "Content-Type: text/rfc822-headers",
        "",
        "From: sender@example.com",
        "To: user@example.net",
        "Subject: hello",
        "Message-ID: <one-classifier@example.com>",
        "",
        "--B--",
        "",
    ]
    return "\r\n".join(lines).encode()


def _only_verdict(raw: bytes):
    parsed = parse(raw)
    verdicts = [v for v in parsed.verdicts if v.kind in ("bounce", "delay")]
    assert len(verdicts) == 1, (parsed.outcome, parsed.verdicts)
    return verdicts[0]


def _suppression_says_hard(reason: str, status: str | None, replycode: str | None) -> bool:
    outcome = Outcome(1, "bounced", NOW, reason, status, replycode)
    decision = decide_suppression([outcome], SuppressionPolicy(soft_bounce_limit=2))
    return decision is not None and decision.reason == "hardbounce"


def test_every_failure_code_of_the_registry_has_a_row():
    assert set(STATUS_REASONS) == set(REGISTRY) - SUCCESS_ONLY - {"0.0"}
    assert not set(STATUS_REASONS) - set(REGISTRY), "rows for codes the registry does not have"


@pytest.mark.parametrize("detail", REGISTRY)
@pytest.mark.parametrize("klass", ["4", "5"])
@pytest.mark.parametrize("with_reply", [False, True])
def test_explain_parse_and_suppression_agree_on_a_bare_code(detail, klass, with_reply):
    status = f"{klass}.{detail}"
    reply = "450" if klass == "4" else "550"
    code = f"{reply} {status}" if with_reply else status
    said = explain(code)
    verdict = _only_verdict(dsn(status, code if with_reply else None))
    assert (verdict.reason, verdict.category, verdict.hardbounce) == (said.reason, said.category, said.hardbounce)
    assert _suppression_says_hard(verdict.reason, verdict.status, verdict.replycode) == verdict.hardbounce
    badge = describe_reason(verdict.reason, verdict.status, verdict.replycode, "bounced")
    assert (badge["category"], badge["hard"]) == (verdict.category, verdict.hardbounce)


def test_five_three_two_is_one_reason_by_code_and_by_words():
    """RFC 3463 X.3.2 "System not accepting network messages" (RFC 7504 pairs it with 521)."""
    by_code = explain("5.3.2")
    by_words = _only_verdict(dsn("5.3.2", "554 5.3.2 System not accepting network messages"))
    by_521 = explain("521")
    assert by_code.reason == by_words.reason == by_521.reason == "notaccept"
    assert by_code.hardbounce and by_words.hardbounce and by_521.hardbounce
    assert by_code.category == by_words.category == "bad-domain"


#: (status, diagnostic as a remote server words it, expected reason). The wording is each
#: system's published or shipped text; see the source comments in ``ingest/bounces/reasons.py``.
DIAGNOSTICS = [
    ("5.1.1", "550 5.1.1 <user@example.net>: Recipient address rejected: User unknown in local recipient table",
     "userunknown"),
    ("5.7.1", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", "norelaying"),
    ("5.4.1", "550 5.4.1 Relay Access Denied", "norelaying"),
    ("5.2.2", "552 5.2.2 The email account that you tried to reach is over quota.", "mailboxfull"),
    ("5.2.2", "552 5.2.2 Mailbox quota usage exceeded", "mailboxfull"),
    ("5.3.4", "552 5.3.4 Max message size exceeded", "mesgtoobig"),
    ("5.4.4", "Host or domain name not found. Name service error for name=example.net type=MX: Host not found",
     "hostunknown"),
    ("5.4.4", "connect to example.net: Name or service not known", "hostunknown"),
    ("4.4.3", "connect to example.net: Temporary failure in name resolution", "networkerror"),
    ("4.4.1", "connect to mx.example.net[192.0.2.25]:25: Connection refused", "networkerror"),
    ("5.0.0", "552 too many connections", "toomanyconn"),
    ("4.7.0", "421 4.7.0 Too many concurrent SMTP connections; please try again later.", "toomanyconn"),
    ("5.4.5", "550 5.4.5 Daily user sending limit exceeded.", "speeding"),
    ("5.2.0", "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException", "speeding"),
    ("4.2.1", "450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional "
     "messages from being delivered.", "speeding"),
    ("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled.", "suspend"),
    ("5.1.10", "556 5.1.10 <user@example.net>: Recipient address rejected: Domain example.net does not accept "
     "mail (nullMX)", "notaccept"),
    ("5.7.27", "550 5.7.27 Sender address has null MX", "rejected"),
    # the sender's domain, then its null MX later in the sentence (RFC 7505 4.2): still the sender's
    ("5.7.27", "550 5.7.27 The sender's domain doesn't publish an MX record or has a null MX record, so its "
     "messages are rejected.", "rejected"),
    ("5.7.26", "550 5.7.26 This message does not have authentication information or fails to pass "
     "authentication checks", "authfailure"),
    ("5.4.7", "retry timeout exceeded", "expired"),
]


@pytest.mark.parametrize(("status", "diagnostic", "reason"), DIAGNOSTICS)
def test_parse_classify_and_suppression_agree_on_real_wording(status, diagnostic, reason):
    verdict = _only_verdict(dsn(status, diagnostic))
    direct = classify(status, None, diagnostic, action="failed")
    assert verdict.reason == direct.reason == reason
    assert (verdict.category, verdict.hardbounce) == (direct.category, direct.hardbounce)
    assert _suppression_says_hard(verdict.reason, verdict.status, verdict.replycode) == verdict.hardbounce
    assert describe_reason(verdict.reason, verdict.status, verdict.replycode, "bounced")["hard"] == verdict.hardbounce


def test_a_delay_is_never_hard_anywhere():
    verdict = _only_verdict(dsn("4.1.1", "450 4.1.1 <user@example.net>: Recipient address rejected: User unknown",
                                action="delayed"))
    assert verdict.kind == "delay" and verdict.hardbounce is False
    assert is_hard_outcome("deferred", verdict.reason, verdict.status, verdict.replycode) is False
    assert describe_reason(verdict.reason, verdict.status, verdict.replycode, "deferred")["hard"] is False


def test_an_expiry_is_soft_on_the_dashboard_as_for_suppression():
    """An expired delivery whose last cause was a DNS failure is not suppressed for good, nor badged hard."""
    outcome = Outcome(1, "expired", NOW, "hostunknown", "4.4.4", None)
    assert outcome.hard is False
    assert describe_reason("hostunknown", "4.4.4", None, "expired")["hard"] is False
    assert decide_suppression([outcome], SuppressionPolicy()) is None


def test_a_null_mx_notice_without_any_code_is_hard_everywhere():
    """RFC 7505: a null MX is permanent; with no code to say otherwise it must not be badged soft."""
    assert describe_reason("notaccept")["hard"] is True
    assert describe_reason("notaccept", None, None, "bounced")["hard"] is True
    assert _suppression_says_hard("notaccept", None, None)
    assert describe_reason("notaccept", "4.3.2", "421", "bounced")["hard"] is False


def test_exchange_edge_blocking_and_domino_routing_wordings():
    from bounceledger.ingest.bounces.classify import classify

    edge = classify(None, "550", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [x.outlook.com]")
    assert (edge.reason, edge.hardbounce, edge.status) == ("userunknown", True, "5.4.1")
    domino = classify(None, None, "No route found to domain example.net from server MAIL01/ACME. Check Server, "
                                  "Connection and Domain documents in Domino Directory.")
    assert (domino.reason, domino.hardbounce) == ("hostunknown", True)


def test_gmail_direct_ip_refusal_and_an_other_protocol_status():
    from bounceledger.ingest.bounces.classify import classify

    gmail = classify("5.7.1", "550", "550-5.7.1 The IP you're using to send mail is not authorized to send email "
                                     "directly to our servers. Please use the SMTP relay at your service provider.")
    assert gmail.reason == "blocked"
    # X.5.0 is RFC 3463's "Other or undefined protocol status": it names no cause, so the words decide
    outlook = classify("5.5.0", "550", "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)")
    assert (outlook.reason, outlook.hardbounce) == ("userunknown", True)
