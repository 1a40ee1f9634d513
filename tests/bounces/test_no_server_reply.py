"""Returns for failures no remote server replied to, made by real MTAs on loopback
(sweep XX: Sendmail 8.17.1.9 and Exim 4.96 from Debian packages, a fake server that
closes the connection or never answers, a DNS server whose only MX for the domain
points back at the sending host).

* Sendmail writes a reply of its own when the server closed the connection or a
  read failed (usersmtp.c reply(): "if the remote end closed early, fake an error":
  "421 4.4.1 Connection reset by %s", "451 4.4.1 reply: read error from %s"; 8.18
  writes "451 4.4.2" there). No server said 421 or 451, so the record has no reply code.
* Exim's router "self" check fails an address whose lowest MX is this host with
  "lowest numbered MX record points to local host" (rf_self_action.c): a routing
  loop, RFC 3463 X.4.6.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bounceledger.ingest.bounces import parse

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(("name", "recipient", "kind"), [
    ("sendmail_connection_reset_delay.msg", "user@lostrcpt.test", "delay"),   # Diagnostic-Code: 421 4.4.1 Connection reset by
    ("sendmail_read_error_giveup.msg", "user@lostdata.test", "bounce"),       # Diagnostic-Code: 451 4.4.1 reply: read error from
    ("sendmail_read_error_transcript.msg", "user@stallmail.test", "delay"),   # transcript line only, no Diagnostic-Code
    # Sendmail 8.18.1 (Debian trixie, sweep BQ): its read error is "451 4.4.2 reply: read error from"
    ("sendmail818_read_error_delay.msg", "user4@silent.test", "delay"),
    ("sendmail818_read_error_giveup.msg", "user4@silent.test", "bounce"),
])
def test_sendmail_faked_reply_has_no_replycode(name: str, recipient: str, kind: str) -> None:
    parsed = parse((FIXTURES / name).read_bytes())
    [verdict] = parsed.verdicts
    assert (verdict.recipient, verdict.kind, verdict.reason) == (recipient, kind, "networkerror")
    assert verdict.replycode is None
    assert (verdict.status or "")[0] == "4"


def test_exim_mx_points_to_local_host_is_a_routing_loop() -> None:
    parsed = parse((FIXTURES / "exim_mx_points_to_local_host.msg").read_bytes())
    [verdict] = parsed.verdicts
    assert (verdict.recipient, verdict.kind, verdict.reason, verdict.replycode) == (
        "user@loopmx.test", "bounce", "networkerror", None)
    assert "points to local host" in (verdict.diagnostic or "")
