"""One first-hop rule, explained: RelayClassifier.explain is the rule, and
``sendlog parse --explain-first-hop`` shows the reason the parser's own
decision came with."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bounceledger.ingest.sendlog.relays import DEFAULT_INTERNAL_RELAYS, RelayClassifier

FIXTURES = Path(__file__).parent / "fixtures"

AGENTS = [None, "smtp", "lmtp", "LOCAL", "pipe", "virtual", "error", "relay"]
HOSTS = [None, "mx1.example.org", "hub.corp.example", "localhost", "127.0.0.1", "dovecot", "inbox.shop.example"]
ADDRS = [None, "192.0.2.10", "10.0.3.4", "127.0.0.1", "::1", "private/dovecot-lmtp"]
PORTS = [None, 25, 587, 10024, 10026, 2525]
PATTERNS = (*DEFAULT_INTERNAL_RELAYS, "*.corp.example:25", "10.0.*:5?7")


@pytest.mark.parametrize("patterns", [DEFAULT_INTERNAL_RELAYS, PATTERNS, ()])
def test_verdict_is_the_explanations_verdict(patterns: tuple[str, ...]) -> None:
    classifier = RelayClassifier(patterns)
    for agent, host, addr, port in itertools.product(AGENTS, HOSTS, ADDRS, PORTS):
        reason = classifier.explain(agent, host, addr, port)
        assert classifier.classify(agent, host, addr, port) is reason.first_hop
        assert classifier.is_first_hop(agent, host, addr, port) is reason.first_hop
        assert classifier.is_first_hop(agent, host, addr, port) is reason.first_hop  # from the memo
        assert reason.rule in {"agent", "no-relay", "internal-relay", "external-relay"}
        assert reason.first_hop is (reason.rule in {"no-relay", "external-relay"})


def test_reasons_name_what_decided() -> None:
    classifier = RelayClassifier(PATTERNS)
    agent = classifier.explain("pipe", "mx1.example.org", "192.0.2.10", 25)
    assert (agent.first_hop, agent.rule) == (False, "agent")
    assert "'pipe'" in agent.text

    socket = classifier.explain("lmtp", "inbox.shop.example", "private/dovecot-lmtp", None)
    assert socket.rule == "internal-relay"
    assert socket.text == "relay inbox.shop.example[private/dovecot-lmtp] matches internal pattern 'private/*'"

    port_glob = classifier.explain("smtp", "hub", "10.0.3.4", 587)
    assert port_glob.text == "relay hub[10.0.3.4]:587 matches internal pattern '10.0.*:5?7'"
    assert classifier.explain("smtp", "hub", "10.0.3.4", 25).rule == "external-relay"

    host_glob = classifier.explain("smtp", "hub.corp.example", "10.9.9.9", 25)
    assert host_glob.text == "relay hub.corp.example[10.9.9.9]:25 matches internal pattern '*.corp.example:25'"

    outward = classifier.explain("smtp", None, None, None)
    assert (outward.first_hop, outward.rule) == (True, "no-relay")

    external = classifier.explain("smtp", "mx1.example.org", "192.0.2.10", 25)
    assert external.text == "relay mx1.example.org[192.0.2.10]:25 matches no internal pattern"


def test_trace_reports_every_decision_even_memoised_ones() -> None:
    classifier = RelayClassifier()
    seen = []
    classifier.is_first_hop("smtp", "mx1.example.org", "192.0.2.10", 25)  # now in the memo
    classifier.trace(lambda inputs, reason: seen.append((inputs, reason.rule)))
    classifier.is_first_hop("smtp", "mx1.example.org", "192.0.2.10", 25)
    classifier.classify("local", None, None, None)
    classifier.trace(None)
    classifier.is_first_hop("smtp", "mx1.example.org", "192.0.2.10", 25)
    assert seen == [
        (("smtp", "mx1.example.org", "192.0.2.10", 25), "external-relay"),
        (("local", None, None, None), "agent"),
    ]


def _parse(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", "sendlog", "parse", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


RULE_WORDS = {
    True: ("matches no internal pattern", "aimed outward"),
    False: ("matches internal pattern", "never hands mail to another organisation", "set by the log record"),
}


@pytest.mark.parametrize(
    "fixture", ["outbound_mixed.log", "exim_mainlog.log", "sendmail_maillog.log", "postfix_out_real.log"]
)
def test_every_attempt_gets_a_reason_that_agrees_with_its_verdict(tmp_path: Path, fixture: str) -> None:
    plain = [json.loads(line) for line in _parse(str(FIXTURES / fixture), "--json", cwd=tmp_path).stdout.splitlines()]
    explained = [
        json.loads(line)
        for line in _parse(str(FIXTURES / fixture), "--json", "--explain-first-hop", cwd=tmp_path).stdout.splitlines()
    ]
    assert plain and len(plain) == len(explained)
    for before, after in zip(plain, explained):
        assert "first_hop_reason" not in before  # the default shape is unchanged
        reason = after.pop("first_hop_reason")
        assert after == before  # the option only adds the field
        assert any(word in reason for word in RULE_WORDS[before["first_hop"]]), (before, reason)
        assert not any(word in reason for word in RULE_WORDS[not before["first_hop"]]), (before, reason)


def test_text_output_explains_the_internal_hand_offs(tmp_path: Path) -> None:
    out = _parse(str(FIXTURES / "outbound_mixed.log"), "--explain-first-hop", cwd=tmp_path).stdout
    assert (
        "not a first hop: relay inbox.shop.example[private/dovecot-lmtp] matches internal pattern 'private/*'" in out
    )
    assert "not a first hop: relay 127.0.0.1:10024 matches internal pattern '127.0.0.1:10024'" in out
    assert "first hop: relay mx1.fabrikam.example[198.51.100.20]:25 matches no internal pattern" in out


def test_configured_internal_relays_are_the_ones_named(tmp_path: Path) -> None:
    config = tmp_path / "bounceledger.toml"
    config.write_text('internal_relays = ["mx1.fabrikam.example"]\n', encoding="utf-8")
    rows = [
        json.loads(line)
        for line in _parse(
            str(FIXTURES / "outbound_mixed.log"), "--json", "--explain-first-hop", cwd=tmp_path
        ).stdout.splitlines()
    ]
    fabrikam = [r for r in rows if r["relay_host"] == "mx1.fabrikam.example"]
    assert fabrikam
    for row in fabrikam:
        assert row["first_hop"] is False
        assert row["first_hop_reason"] == "relay mx1.fabrikam.example[198.51.100.20]:25 matches internal pattern 'mx1.fabrikam.example'"
    # The defaults were replaced: the content filter's port is an outward relay now.
    [scan] = [r for r in rows if r["recipient"] == "scan@shop.example"]
    assert scan["first_hop"] is True
    assert scan["first_hop_reason"] == "relay 127.0.0.1:10024 matches no internal pattern"


def test_a_defaults_entry_keeps_the_built_in_internal_relays(tmp_path: Path) -> None:
    """A configured list replaces the built-in one; "defaults" in it adds the built-in patterns
    back (a user naming only their own smarthost lost the content filter's ports)."""
    config = tmp_path / "bounceledger.toml"
    config.write_text('internal_relays = ["defaults", "mx1.fabrikam.example"]\n', encoding="utf-8")
    rows = [
        json.loads(line)
        for line in _parse(
            str(FIXTURES / "outbound_mixed.log"), "--json", "--explain-first-hop", cwd=tmp_path
        ).stdout.splitlines()
    ]
    assert all(r["first_hop"] is False for r in rows if r["relay_host"] == "mx1.fabrikam.example")
    [scan] = [r for r in rows if r["recipient"] == "scan@shop.example"]
    assert scan["first_hop"] is False
    assert scan["first_hop_reason"] == "relay 127.0.0.1:10024 matches internal pattern '127.0.0.1:10024'"
