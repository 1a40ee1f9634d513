"""Real Exim and Sendmail send logs under several logging settings, made on loopback.

    python -m tests.sendlog.real_logs OUTDIR

One scripted send per logging variant: Exim with its default ``log_selector``
and with ``log_selector = +all``, Sendmail at ``LogLevel`` 9 (its default) and
14. Each MTA runs from its unpacked Debian package (tests/mailstack) and sends
to an aiosmtpd final MX on 127.0.0.1 that answers by local part (final_mx.py:
``ok*`` 250, ``unknown*`` 550 5.1.1, ``full*`` 552 5.2.2, ``block*`` 554
5.7.1, ``temp*`` 451 4.2.0). Exim knows the final MX by two names: ``localhost``
for example.net and the address literal 127.0.0.1 for everything else, which
it reaches after a refused connection to 127.0.0.2 (a host list of two).
Retries are every 2 s and give up after 8 s, so the ``temp*`` recipients are
deferred, then expire, within a run of some tens of seconds.

``expected()`` says, recipient by recipient, what the script did, derived from
the local parts and the MTA's set-up, never from a parser: the verdicts in
order, the MX's reply code and enhanced status, the relay address, and
whether the delivery went to another host (first hop). Where an MTA does not
write a datum into its log at all, the expectation says so (``None``) and
names why.
"""
from __future__ import annotations

import email.utils
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bounceledger.ingest.records import Attempt
from bounceledger.ingest.sendlog import ParseOptions, make_parser

#: variant -> (MTA, logging setting)
VARIANTS: dict[str, tuple[str, str | int | None]] = {
    "exim-default": ("exim", None),
    "exim-all": ("exim", "+all"),
    "sendmail-9": ("sendmail", 9),
    "sendmail-14": ("sendmail", 14),
}
MX_IP = "127.0.0.1"
#: What an MTA may call the final MX: its address literal, or a name 127.0.0.1 has in the
#: harness's hosts file (mta_packages.write_nss_files: "127.0.0.1 mta.sender.test localhost"),
#: which Exim uses for the route's name and for its reverse lookups.
MX_NAMES = [MX_IP, "localhost", "mta.sender.test"]
#: What final_mx.py answers for each local-part prefix: (reply code, enhanced status).
ANSWERS: dict[str, tuple[int, str]] = {
    "ok": (250, "2.0.0"),  # the reply to DATA: "250 2.0.0 Ok: queued as ..."
    "unknown": (550, "5.1.1"),
    "full": (552, "5.2.2"),
    "block": (554, "5.7.1"),
    "temp": (451, "4.2.0"),
}
RETRY_EVERY, GIVE_UP_AFTER = "2s", "8s"
#: Exim reaches the final MX as ``localhost`` for example.net; for the rest it tries 127.0.0.2
#: first, where nothing listens, then 127.0.0.1 (so 127.0.0.1 must not count as Exim's own
#: interface: EXIM_INTERFACES).
ROUTE_LIST = "example.net localhost ; * 127.0.0.2:127.0.0.1"
EXIM_INTERFACES = "127.0.0.254"


@dataclass(frozen=True)
class Message:
    name: str
    recipients: tuple[str, ...]

    @property
    def return_path(self) -> str:
        return f"bounces+{self.name}@sender.test"


def messages(variant: str) -> list[Message]:
    """The script: one message with every kind of answer, one to a second domain."""
    tag = variant.replace("-", "")
    return [
        Message(f"{tag}-mix", tuple(f"{kind}-{tag}@example.test"
                                    for kind in ("ok", "unknown", "temp", "full", "block"))
                + (f"ok2-{tag}@example.test",)),
        Message(f"{tag}-net", (f"ok-{tag}@example.net", f"unknown-{tag}@example.net")),
    ]


def _prefix(address: str) -> str:
    local = address.split("@", 1)[0]
    return next(p for p in ANSWERS if local.startswith(p))


def expected(variant: str) -> dict[str, dict[str, Any]]:
    """recipient -> what the script did to it (see the module docstring)."""
    mta, _ = VARIANTS[variant]
    table: dict[str, dict[str, Any]] = {}
    for message in messages(variant):
        for rcpt in message.recipients:
            kind = _prefix(rcpt)
            code, status = ANSWERS[kind]
            row: dict[str, Any] = {
                # a 4xx is retried (each try its own "deferred") until the give-up: "expired",
                # which still carries the MX's last answer
                "verdicts": ["deferred", "expired"] if kind == "temp"
                else ["accepted" if code < 400 else "rejected"],
                "replycode": str(code), "status": status, "relay_ip": MX_IP,
                "relay_hosts": MX_NAMES, "first_hop": True,
            }
            if mta == "sendmail" and code < 400:
                # Sendmail logs "stat=Sent (<the reply text without its code>)" and dsn=2.0.0
                row["replycode"] = None
            table[rcpt] = row
        returned = any(_prefix(r) != "ok" for r in message.recipients)
        if returned:
            if mta == "exim":
                # Exim delivers the bounce for sender.test itself (appendfile into a Maildir)
                table[message.return_path] = {"verdicts": ["accepted"], "replycode": None,
                                              "status": None, "relay_ip": None, "relay_hosts": [None],
                                              "first_hop": False}
            else:
                # Sendmail sends it through SMART_HOST to the final MX, which answers 250
                table[message.return_path] = {"verdicts": ["accepted"], "replycode": None,
                                              "status": "2.0.0", "relay_ip": MX_IP,
                                              "relay_hosts": MX_NAMES, "first_hop": True}
    return table


def build(message: Message) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Newsletter <news@sender.test>"
    msg["To"] = ", ".join(message.recipients)
    msg["Subject"] = f"Send-log test ({message.name})"
    msg["Message-ID"] = f"<{message.name}.1@sender.test>"
    msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    msg.set_content("Hello.\n")
    return msg.as_bytes()


def run(base: Path, variants: list[str], timeout: float = 60.0) -> dict[str, str]:
    """Run every variant's script at once; returns variant -> its real log text."""
    from tests.mailstack.exim import Exim
    from tests.mailstack.final_mx import FinalMX
    from tests.mailstack.ports import free_ports
    from tests.mailstack.sendmail import Sendmail

    mxes: list[FinalMX] = []
    instances: dict[str, Exim | Sendmail] = {}
    try:
        for variant, port in zip(variants, free_ports(len(variants))):
            folder = base / variant
            folder.mkdir(parents=True)
            mx = FinalMX(port=port, record_path=folder / "final-mx.jsonl", log_path=folder / "final-mx.log")
            mx.start()
            mxes.append(mx)
            mta, setting = VARIANTS[variant]
            if mta == "exim":
                instance: Exim | Sendmail = Exim(
                    folder / "exim", port, delay_warning="1h", give_up_after=GIVE_UP_AFTER,
                    retry_every=RETRY_EVERY, route_list=ROUTE_LIST, local_interfaces=EXIM_INTERFACES,
                    log_selector=setting if isinstance(setting, str) else None)
            else:
                assert isinstance(setting, int)
                instance = Sendmail(folder / "sendmail", port, mx.record_path, queuewarn="1h",
                                    queuereturn=GIVE_UP_AFTER, log_level=setting, keep_log=True)
            instance.configure()
            instances[variant] = instance
        for variant, instance in instances.items():
            for message in messages(variant):
                instance.submit(message.return_path, list(message.recipients), build(message))
        began = time.monotonic()
        while any(instance.queue_count() for instance in instances.values()):
            if time.monotonic() - began > timeout:
                raise AssertionError(f"queues not empty after {timeout:.0f}s; see {base}")
            time.sleep(2.5)
            for instance in instances.values():
                if instance.queue_count():
                    instance.queue_run()
        time.sleep(1.0)  # a bounce is delivered by a process of its own
        logs: dict[str, str] = {}
        for variant, instance in instances.items():
            if isinstance(instance, Sendmail):
                instance.stop_log()
                logs[variant] = instance.maillog.read_text(errors="replace")
            else:
                logs[variant] = instance.mainlog.read_text(errors="replace")
        return logs
    finally:
        for instance in instances.values():
            if isinstance(instance, Sendmail):
                instance.stop_log()
        for mx in mxes:
            mx.stop()


def write_fixtures(logs: dict[str, str], outdir: Path, made_at: datetime) -> None:
    """OUTDIR/<variant>.log and expected.json (written from the script, not from a parser)."""
    outdir.mkdir(parents=True, exist_ok=True)
    for variant, text in logs.items():
        (outdir / f"{variant}.log").write_text(text)
    document = {
        "made_at": made_at.isoformat(),
        "generated_by": "python -m tests.sendlog.real_logs tests/sendlog/fixtures/real",
        "how_expected_was_made": __doc__.split("``expected()``", 1)[1].strip(),
        "variants": {variant: {"mta": VARIANTS[variant][0], "logging": VARIANTS[variant][1],
                               "expected": expected(variant)} for variant in logs},
    }
    (outdir / "expected.json").write_text(json.dumps(document, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="sendlog-real-"))
    base.chmod(0o755)
    try:
        logs = run(base, list(VARIANTS))
        write_fixtures(logs, Path(args[0]), datetime.now(timezone.utc))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def mismatches(attempts: list[Attempt], table: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """recipient -> every way its attempts differ from `table` (an empty list: all right).

    Attempts for a recipient the script never sent to are filed under that
    recipient with an "invented" line. The verdicts are compared as runs
    (five ``deferred`` in a row match one ``"deferred"``).
    """
    by_rcpt: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        by_rcpt.setdefault(attempt.recipient, []).append(attempt)
    found: dict[str, list[str]] = {}
    for rcpt, want in table.items():
        got = by_rcpt.get(rcpt, [])
        problems: list[str] = []
        runs = [a.verdict for i, a in enumerate(got) if i == 0 or got[i - 1].verdict != a.verdict]
        if runs != want["verdicts"]:
            problems.append(f"verdicts {runs}, want {want['verdicts']}")
        for a in got:
            have = (a.replycode, a.status, a.relay_ip, a.first_hop)
            wanted = (want["replycode"], want["status"], want["relay_ip"], want["first_hop"])
            if have != wanted or a.relay_host not in want["relay_hosts"]:
                problems.append(f"{a.verdict}: code/status/ip/first_hop {have} host {a.relay_host!r}, "
                                f"want {wanted} host in {want['relay_hosts']}: {a.raw[:160]}")
        found[rcpt] = problems
    for rcpt, got in by_rcpt.items():
        if rcpt not in table:
            found[rcpt] = [f"invented: {a.verdict} {a.raw[:160]}" for a in got]
    return found


def read_log(mta: str, text: str, reference: datetime) -> list[Attempt]:
    """Every attempt our parser for `mta` reads in `text`."""
    parser = make_parser(mta, ParseOptions(reference_time=reference, timezone="UTC"))
    return [attempt for line in text.splitlines(keepends=True) for attempt in parser.feed(line)]
