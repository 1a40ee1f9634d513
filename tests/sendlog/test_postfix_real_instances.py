"""A real Postfix instance under its own syslog_name, logging to its
maillog_file, read back recipient by recipient against what was scripted.

postconf(5) syslog_name: the prefix before the daemon name in every log
record; MULTI_INSTANCE_README names secondary instances like "postfix-out",
and master.cf services like "postfix/submission" override it with
``-o syslog_name=``. MAILLOG_README: Postfix ≥ 3.4 writes its own log file
through postlogd(8). The parser must read all of these the same way.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import ParseOptions, detect_format, make_parser
from bounceledger.ingest.sendlog.postfix import PostfixParser
from tests.mailstack.fixtures import require_mail_stack
from tests.mailstack.stack import OutboundPostfix, ipv6_loopback

# What each recipient meets, as scripted: final_mx.py answers example.test by
# local part; silent.test never greets (smtp_helo_timeout = 3s) and
# hangup.test closes the connection at once. Postfix reports both connection
# failures with no SMTP reply, as 4.4.2 ("bad connection", RFC 3463 §3.5).
# recipient: (verdict, reply code, enhanced status)
SCRIPT: dict[str, tuple[str, str | None, str]] = {
    "ok1@example.test": ("accepted", "250", "2.0.0"),
    "unknown1@example.test": ("rejected", "550", "5.1.1"),
    "temp1@example.test": ("deferred", "451", "4.2.0"),
    "full1@example.test": ("rejected", "552", "5.2.2"),
    "block1@example.test": ("rejected", "554", "5.7.1"),
    "slow1@silent.test": ("deferred", None, "4.4.2"),
    "drop1@hangup.test": ("deferred", None, "4.4.2"),
}
# The same verdicts over IPv6 (example.org -> an MX on [::1], hangup6.test ->
# a dropping peer on [::1]), when the kernel has ::1.
SCRIPT6: dict[str, tuple[str, str | None, str]] = {
    "ok6@example.org": ("accepted", "250", "2.0.0"),
    "unknown6@example.org": ("rejected", "550", "5.1.1"),
    "temp6@example.org": ("deferred", "451", "4.2.0"),
    "drop6@hangup6.test": ("deferred", None, "4.4.2"),
}
# Address verification (sendmail -bv): the final MX answers these RCPTs as it
# answers any, but no message is delivered (verify(8): probes are "discarded
# rather than being deferred or bounced"): no attempt may come of them.
PROBED = ("ok3@example.test", "unknown3@example.test", "temp3@example.test")


def _first_attempts(log: Path, reference: datetime) -> tuple[PostfixParser, dict[str, Attempt]]:
    lines = log.read_text(encoding="utf-8").splitlines()
    assert detect_format(lines[:50]) == "postfix"
    parser = make_parser("postfix", ParseOptions(reference_time=reference))
    assert isinstance(parser, PostfixParser)
    first: dict[str, Attempt] = {}
    for line in lines:
        for attempt in parser.feed(line):
            first.setdefault(attempt.recipient, attempt)
    return parser, first


@pytest.mark.realstack
@pytest.mark.parametrize(("syslog_name", "ipv6"), [("postfix-out", True), ("mycorp/submission", False)])
def test_instance_log_gives_every_scripted_first_hop_verdict(syslog_name: str, ipv6: bool) -> None:
    require_mail_stack()
    keep = os.environ.get("MAILSTACK_KEEP") == "1"
    ipv6 = ipv6 and ipv6_loopback()
    script = {**SCRIPT, **(SCRIPT6 if ipv6 else {})}
    with OutboundPostfix(syslog_name, keep=keep, ipv6=ipv6) as out:
        sent = out.send(list(script), tag="mix1", message_id="<mix.1@sender.test>")
        assert sent.queue_id
        for recipient in script:
            out.wait_for_log(rf"{sent.queue_id}: to=<{re.escape(recipient)}>,.*status=")
        probed = PROBED if syslog_name == "postfix-out" else ()
        for recipient in probed:
            out.verify(recipient, tag="v1")
        for recipient in probed:
            out.wait_for_log(rf": to=<{re.escape(recipient)}>,.*status=(?:un)?deliverable")
        raw_log = out.log_path.read_text(encoding="utf-8")
        parser, first = _first_attempts(out.log_path, datetime.now(timezone.utc) + timedelta(hours=1))
        ports = {"example.test": out.mx_port, "silent.test": out.silent.port,
                 "hangup.test": out.hangup.port}
        if out.mx6 is not None and out.hangup6 is not None:
            ports.update({"example.org": out.mx6.port, "hangup6.test": out.hangup6.port})

    assert f" {syslog_name}/smtp[" in raw_log  # the instance's own name, as Postfix wrote it
    assert parser.skipped == 0, parser.samples
    right = 0
    for recipient, (verdict, replycode, status) in script.items():
        a = first[recipient]
        peer = "::1" if recipient in SCRIPT6 else "127.0.0.1"
        got = (a.verdict, a.replycode, a.status, a.relay_host, a.relay_ip, a.first_hop, a.delivery_agent)
        assert got == (verdict, replycode, status, peer, peer, True, "smtp"), (recipient, a.raw)
        assert (a.queue_id, a.message_id, a.sender) == (sent.queue_id, "mix.1@sender.test", sent.sender)
        assert a.relay_port == ports[recipient.rsplit("@", 1)[1]], recipient
        right += 1
    assert right == len(script)
    assert parser.probes == len(probed)
    assert not set(probed) & set(first)
    assert first["slow1@silent.test"].smtp_stage == "initial server greeting"
    assert first["drop1@hangup.test"].smtp_stage == "initial server greeting"
