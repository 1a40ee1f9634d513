"""Real Exim and Sendmail bouncing on their own account, not on a remote reply:
limits they are configured with (hop count, message size) and an address no
router takes.

Exim words its hop-count failure in its log only ("Too many "Received"
headers - suspected mail loop"); the returned report lists the failed address
with no reason under it and ``Status: 5.0.0``. What the parser must not do is
make a reason or a diagnostic out of the address line. Sendmail's own words
for the same limits ("Too many hops", "Message exceeds maximum fixed size")
come in its DSN's Diagnostic-Code.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bounceledger.ingest.bounces import parse
from tests.mailstack.fixtures import require_mtas

RECEIVED_MAX = 10
SIZE_MAX = 20_000


def _message(name: str, recipient: str, extra_headers: str = "", body: str = "Hello.\n") -> bytes:
    return (f"From: News <news@sender.test>\nTo: {recipient}\nSubject: native\n"
            f"Message-ID: <{name}.1@sender.test>\n{extra_headers}\n{body}").encode()


def _hops(count: int) -> str:
    return "".join(f"Received: from h{i}.example.org by h{i + 1}.example.org; Sun, 6 Dec 2026 20:00:00 +0000\n"
                   for i in range(count))


@contextmanager
def _beside_final_mx() -> Iterator[tuple[Path, int]]:
    """A scratch folder and the port of a final MX running in it (stopped and removed after).

    The folder is not under pytest's 0700 one: the MTAs run as nobody.
    """
    require_mtas()
    from tests.mailstack.final_mx import FinalMX
    from tests.mailstack.ports import free_ports

    base = Path(tempfile.mkdtemp(prefix="mta-native-"))
    base.chmod(0o755)
    [port] = free_ports(1)
    mx = FinalMX(port=port, record_path=base / "mx.jsonl", log_path=base / "mx.log")
    mx.start()
    try:
        yield base, port
    finally:
        mx.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def exim_returns() -> Iterator[dict[str, bytes]]:
    """Each message's return from a real Exim, by the plan name in its envelope sender."""
    from tests.mailstack.exim import Exim

    with _beside_final_mx() as (base, port):
        exim = Exim(base / "exim", port, main_settings=(f"received_headers_max = {RECEIVED_MAX}",),
                    unroutable_domains="*.invalid")
        exim.configure()
        plans = {"loop": ("ok-loop@example.test", _hops(RECEIVED_MAX + 2)), "unrouted": ("someone@nowhere.invalid", "")}
        for name, (recipient, extra) in plans.items():
            exim.submit(f"bounces+{name}@sender.test", [recipient], _message(name, recipient, extra))
        deadline = time.monotonic() + 30
        while len(exim.returned()) < len(plans) and time.monotonic() < deadline:
            time.sleep(0.2)
        returns = {}
        for path in exim.returned():
            raw = path.read_bytes()
            name = raw.split(b"Envelope-to: bounces+", 1)[1].split(b"@", 1)[0].decode()
            returns[name] = raw
        assert sorted(returns) == sorted(plans), exim.mainlog.read_text()[-2000:]
        yield returns


def test_exim_own_failures(exim_returns: dict[str, bytes]) -> None:
    [loop] = parse(exim_returns["loop"]).verdicts
    assert (loop.kind, loop.recipient, loop.status) == ("bounce", "ok-loop@example.test", "5.0.0")
    assert loop.diagnostic is None  # the report names the address and nothing else
    assert loop.reason == "onhold"  # refused without a word of why (docs/suppression.md)
    [unrouted] = parse(exim_returns["unrouted"]).verdicts
    assert (unrouted.kind, unrouted.recipient) == ("bounce", "someone@nowhere.invalid")
    # Exim spec, "Routing an address": no router accepted it; for a remote domain that
    # is a destination that cannot be found
    assert (unrouted.reason, unrouted.hardbounce) == ("hostunknown", True)
    assert "Unrouteable address" in (unrouted.diagnostic or "")


@pytest.fixture
def sendmail_returns() -> Iterator[dict[str, bytes]]:
    """Each message's return from a real Sendmail with a hop and a size limit, by plan name."""
    from tests.mailstack.sendmail import Sendmail

    with _beside_final_mx() as (base, port):
        # cf/README: confMAX_HOP (MaxHopCount), confMAX_MESSAGE_SIZE (MaxMessageSize)
        sendmail = Sendmail(base / "sendmail", port, base / "mx.jsonl",
                            defines=(("confMAX_HOP", str(RECEIVED_MAX)), ("confMAX_MESSAGE_SIZE", str(SIZE_MAX))))
        sendmail.configure()
        sendmail.submit("bounces+loop@sender.test", ["ok-loop@example.test"],
                        _message("loop", "ok-loop@example.test", _hops(RECEIVED_MAX + 2)))
        sendmail.submit("bounces+big@sender.test", ["ok-big@example.test"],
                        _message("big", "ok-big@example.test", body=("x" * 76 + "\n") * (SIZE_MAX // 60)))
        returns = {}
        for raw in sendmail.returned():
            name = raw.split(b"Message-ID: <", 1)[-1].split(b".1@sender.test>", 1)[0].decode()
            returns[name] = raw
        assert sorted(returns) == ["big", "loop"]
        yield returns


def test_sendmail_own_failures(sendmail_returns: dict[str, bytes]) -> None:
    # RFC 3463: X.4.6 routing loop detected (a network and routing status), X.2.3
    # message length exceeds administrative limit
    [loop] = parse(sendmail_returns["loop"]).verdicts
    assert (loop.kind, loop.recipient, loop.status, loop.reason) == (
        "bounce", "ok-loop@example.test", "5.4.6", "networkerror")
    assert "Too many hops" in (loop.diagnostic or "")
    [big] = parse(sendmail_returns["big"]).verdicts
    assert (big.kind, big.recipient, big.status, big.reason, big.hardbounce) == (
        "bounce", "ok-big@example.test", "5.2.3", "mesgtoobig", False)
