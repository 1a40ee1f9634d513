"""chasquid's give-up: a recipient still pending when the queue lifetime ran out.

chasquid 1.11 (internal/queue/dsn.go) writes one report for permanent failures and
give-ups alike: "Action: failed" for both, "Status: 5.0.0" for a permanent failure and
"Status: 4.0.0" for a recipient that "failed repeatedly and timed out" (queue.go:
SendLoop stops retrying once GiveUpAfter, 20 hours by default, has passed). A give-up on
a reply that only ever said "try again later" is an expiry, as for Postfix's 4.x.x
failures; a permanent failure beside it in the same report keeps its cause.

The fixtures were returned by the real chasquid 1.11 (Debian 12 package) relaying to a
scripted MX on loopback: defer451 answered 451 4.3.0 until chasquid gave up, unknown
answered 550 5.1.1 at once, multi_mixed had both and an accepted recipient.
"""

from __future__ import annotations

from pathlib import Path

from bounceledger.ingest.bounces import parse
from bounceledger.ingest.bounces.classify import classify

FIXTURES = Path(__file__).parent / "fixtures" / "chasquid"


def _rows(name: str) -> dict[str, tuple[str, str | None, str | None, str, bool]]:
    parsed = parse((FIXTURES / name).read_bytes())
    return {v.recipient: (v.kind, v.status, v.replycode, v.reason, v.hardbounce) for v in parsed.verdicts}


def test_give_up_on_temporary_replies_is_an_expiry() -> None:
    assert _rows("defer451.eml") == {
        "defer451a@remote.test": ("bounce", "4.3.0", "451", "expired", False),
    }


def test_give_up_beside_a_permanent_failure() -> None:
    assert _rows("multi_mixed.eml") == {
        "gmail1@remote.test": ("bounce", "5.1.1", "550", "userunknown", True),
        "defer451b@remote.test": ("bounce", "4.3.0", "451", "expired", False),
    }


def test_permanent_failure_keeps_its_cause() -> None:
    assert _rows("unknown.eml") == {
        "unknown1@remote.test": ("bounce", "5.1.1", "550", "userunknown", True),
    }


def test_go_resolver_no_such_host_is_an_unknown_domain() -> None:
    """Go's net package says "lookup NAME on SERVER: no such host" for an NXDOMAIN answer
    (errNoSuchHost, DNSError.IsNotFound); under a permanent status it is the unknown domain.
    chasquid's own give-up on it (Status 4.0.0) stays soft: the MTA itself retried it."""
    text = "Could not dial: dial tcp: lookup nxdomain.test on 127.0.0.53:53: no such host"
    assert classify("5.0.0", None, text).reason == "hostunknown"
    assert classify(None, None, "lookup nxdomain.test: no such host").reason == "hostunknown"
