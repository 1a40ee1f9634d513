"""Real Exim bouncing on its own account (not on a remote reply): an address no
router takes, and a message with more Received headers than it allows.

Exim words the second one in its log only ("Too many "Received" headers -
suspected mail loop"); the returned report lists the failed address with no
reason under it and ``Status: 5.0.0``. What the parser must not do is make a
reason or a diagnostic out of the address line.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bounceledger.ingest.bounces import parse
from tests.mailstack.fixtures import require_mtas

RECEIVED_MAX = 10


@pytest.fixture
def exim_returns() -> Iterator[dict[str, bytes]]:
    """Each message's return from a real Exim, by the plan name in its envelope sender."""
    require_mtas()
    from tests.mailstack.exim import Exim
    from tests.mailstack.final_mx import FinalMX
    from tests.mailstack.ports import free_ports

    base = Path(tempfile.mkdtemp(prefix="exim-native-"))  # not under pytest's 0700 folder: Exim runs as nobody
    base.chmod(0o755)
    [port] = free_ports(1)
    mx = FinalMX(port=port, record_path=base / "mx.jsonl", log_path=base / "mx.log")
    mx.start()
    try:
        exim = Exim(base / "exim", port, main_settings=(f"received_headers_max = {RECEIVED_MAX}",),
                    unroutable_domains="*.invalid")
        exim.configure()
        hops = "".join(f"Received: from h{i}.example.org by h{i + 1}.example.org; Sun, 6 Dec 2026 20:00:00 +0000\n"
                       for i in range(RECEIVED_MAX + 2))
        plans = {"loop": ("ok-loop@example.test", hops), "unrouted": ("someone@nowhere.invalid", "")}
        for name, (recipient, extra) in plans.items():
            data = (f"From: News <news@sender.test>\nTo: {recipient}\nSubject: native\n"
                    f"Message-ID: <{name}.1@sender.test>\n{extra}\nHello.\n").encode()
            exim.submit(f"bounces+{name}@sender.test", [recipient], data)
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
    finally:
        mx.stop()
        shutil.rmtree(base, ignore_errors=True)


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
