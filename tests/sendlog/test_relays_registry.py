"""First-hop rules and the format registry."""

from __future__ import annotations

import pytest

from bounceledger.ingest.sendlog import FORMATS, detect_format, make_parser
from bounceledger.ingest.sendlog.relays import DEFAULT_INTERNAL_RELAYS, RelayClassifier, RelayPattern, parse_pattern
from tests.sendlog.helpers import REFERENCE


@pytest.mark.parametrize(
    ("pattern", "parsed"),
    [
        ("dovecot", RelayPattern("dovecot")),
        ("127.0.0.1:10024", RelayPattern("127.0.0.1", "10024")),
        ("MX.Corp.Example:25", RelayPattern("mx.corp.example", "25")),
        ("[::1]:10024", RelayPattern("::1", "10024")),
        ("[2001:db8::1]", RelayPattern("2001:db8::1")),
        ("2001:db8::1", RelayPattern("2001:db8::1")),
        ("private/*", RelayPattern("private/*")),
        ("10.0.*:2?", RelayPattern("10.0.*", "2?")),
    ],
)
def test_parse_pattern(pattern: str, parsed: RelayPattern) -> None:
    assert parse_pattern(pattern) == parsed


@pytest.mark.parametrize(
    ("agent", "host", "addr", "port", "first_hop"),
    [
        ("smtp", "mx.example.net", "192.0.2.1", 25, True),
        ("smtp", None, None, None, True),  # relay=none
        ("smtp", "127.0.0.1", "127.0.0.1", 2525, True),  # loopback is not internal as such
        ("smtp", "127.0.0.1", "127.0.0.1", 10024, False),
        ("lmtp", "localhost", "::1", 10026, False),
        ("lmtp", "ip6-localhost", "::1", 10025, False),
        ("lmtp", "inbox", "private/dovecot-lmtp", None, False),
        ("pipe", "dovecot", None, None, False),
        ("LOCAL", "local", None, None, False),
        ("retry", None, None, None, False),
        ("smtp", "Dovecot", None, None, False),  # case-insensitive
    ],
)
def test_default_first_hop_rules(
    agent: str, host: str | None, addr: str | None, port: int | None, first_hop: bool
) -> None:
    c = RelayClassifier(DEFAULT_INTERNAL_RELAYS)
    assert c.is_first_hop(agent, host, addr, port) is first_hop
    assert c.is_first_hop(agent, host, addr, port) is first_hop  # memoised answer agrees


def test_port_globs() -> None:
    c = RelayClassifier(("10.0.*:2?", "*.corp.example"))
    assert c.is_first_hop("smtp", "hub", "10.0.3.4", 25) is False
    assert c.is_first_hop("smtp", "hub", "10.0.3.4", 587) is True
    assert c.is_first_hop("smtp", "hub", "10.0.3.4", None) is True
    assert c.is_first_hop("smtp", "a.corp.example", "192.0.2.1", 587) is False
    assert RelayClassifier(()).is_first_hop("smtp", "127.0.0.1", "127.0.0.1", 10024) is True


def test_registry_and_detection() -> None:
    assert "postfix" in FORMATS
    with pytest.raises(ValueError):
        from bounceledger.ingest.sendlog import ParseOptions

        make_parser("nonesuch", ParseOptions(reference_time=REFERENCE))
    assert detect_format([]) is None
    assert detect_format(["hello", "world"]) is None
    assert detect_format(["2026-11-27T00:43:22+00:00 mta pfA/qmgr[1]: ABCDE12: removed"]) == "postfix"
    # a mail.log where Postfix is a minority among other daemons still counts
    mixed = ["Nov 27 00:43:22 h dovecot[1]: imap-login: Login"] * 3 + [
        "Nov 27 00:43:22 h postfix/smtpd[2]: connect from x[192.0.2.1]"
    ]
    assert detect_format(mixed) == "postfix"
    # a single stray line in a sea of others does not
    noise = ["Nov 27 00:43:22 h kernel: eth0 up"] * 20 + ["Nov 27 00:43:22 h postfix/smtpd[2]: connect"]
    assert detect_format(noise) is None


def test_naive_reference_time_is_a_configuration_error() -> None:
    from datetime import datetime

    from bounceledger.ingest.sendlog import ParseOptions

    with pytest.raises(ValueError):
        ParseOptions(reference_time=datetime(2026, 1, 1))
