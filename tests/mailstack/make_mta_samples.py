"""Real bounces and delay warnings from Exim, Sendmail, OpenSMTPD, DMA and Courier, made on loopback.

    python -m tests.mailstack.make_mta_samples OUTDIR [--quick] [--keep] [--only MTA ...]
        [--logs LOGDIR]

Each MTA runs from an unpacked Debian package (``mta_packages.py``; OpenSMTPD,
DMA and Courier inside an overlay root, ``overlay_root.py``) as the sender's MTA and
relays to a final MX on 127.0.0.1 that answers by local
part (``final_mx.py``: ``unknown*`` 550 5.1.1, ``full*`` 552 5.2.2,
``temp*`` 451 4.2.0, ``ok*`` 250). Every message has its own envelope
sender ``bounces+<plan>@sender.test``, so each return is tied to the message
it reports by its envelope recipient, never by what it says.

``expected.json`` is written from what was sent: which recipients the MX
refused (5xx: a bounce right away) or deferred (4xx: a delay warning once
the warning time has passed, then a give-up bounce once the retry time is
over), and which phase of the plan a return is: each message's returns come
in the order of its phases (immediate, warning, give-up), so the n-th return
to a message's envelope sender is its n-th phase, and the MTA's own log is
checked to agree where it says so (Exim, OpenSMTPD, DMA). It is never
written from what any parser reads in the returns. ``--quick`` runs only
the immediate scenarios (seconds instead of minutes); ``--only`` runs the
plans of some MTAs (and leaves the other samples in OUTDIR alone);
``--logs`` also writes the send logs of OpenSMTPD, DMA and Courier there.

Samples written: ``<plan>.<phase>.msg`` (phase: immediate, warning, give-up),
``expected.json`` and ``README.md``.
"""
from __future__ import annotations

import argparse
import email.utils
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from tests.mailstack.courier import Courier
from tests.mailstack.dma import Dma
from tests.mailstack.exim import Exim
from tests.mailstack.final_mx import FinalMX
from tests.mailstack.opensmtpd import OpenSmtpd
from tests.mailstack.ports import free_ports
from tests.mailstack.sendmail import Sendmail

Mta = Exim | Sendmail | OpenSmtpd | Dma | Courier
#: The MTAs that run in an overlay root: stopped with it, their syslog caught.
IN_OVERLAY = (OpenSmtpd, Dma, Courier)

# What the final MX answers for each local-part prefix (final_mx.VERDICTS), read
# as RFC 3463 class and reason: 5.1.1 "bad destination mailbox address" is an
# unknown user, 5.2.2 "mailbox full"; a 4xx that never clears ends as "expired"
# (RFC 3463 4.4.7 "delivery time expired"), the same reason a delay warning has.
PERMANENT = {"unknown": "userunknown", "full": "mailboxfull"}
TEMPORARY = "temp"

IMMEDIATE, WARNING, GIVE_UP = "immediate", "warning", "give-up"


@dataclass(frozen=True)
class Instance:
    """How one MTA instance is set up and fed."""

    mta: str  # exim | sendmail | opensmtpd | dma | courier
    mime_errors: bool = True  # Sendmail's SendMimeErrors
    #: The MTA sends delay warnings (DMA never does: it only gives up).
    warns: bool = True
    #: Submitted queue-only (-odq) and left alone until the warning time has passed, so
    #: the first attempt fails some recipients and defers others in one run: Sendmail
    #: then sends one "Warning: could not send message" DSN with failed and delayed entries.
    held: bool = False


INSTANCES: dict[str, Instance] = {
    "exim": Instance("exim"),
    "sendmail": Instance("sendmail"),
    "sendmail-plain": Instance("sendmail", mime_errors=False),
    "sendmail-held": Instance("sendmail", held=True),
    "sendmail-plain-held": Instance("sendmail", mime_errors=False, held=True),
    "opensmtpd": Instance("opensmtpd"),
    "dma": Instance("dma", warns=False),
    "courier": Instance("courier"),
}
#: Held instances get their first queue run after this many seconds (> the warning time).
HELD_UNTIL = 36.0
#: Give-ups are due after 120-135 s, warnings after 30-45 s (OpenSMTPD: at the first
#: attempt; see the timings below), so a give-up seen before this is a mislabelled
#: return (verify() says so). DMA's queue is aged from then on (dma.py).
GIVE_UP_BOUNDARY = 80.0
WARN_AFTER, GIVE_UP_AFTER = "30s", "2m"


@dataclass(frozen=True)
class Plan:
    """One message of the scenario and the MTA instance that sends it."""

    name: str
    mta: str  # a key of INSTANCES
    recipients: tuple[str, ...]
    note: str
    #: Sendmail's -N (RFC 3461 NOTIFY for every recipient), e.g. "success,failure":
    #: accepted recipients then get a success entry ("relayed") in the same report.
    notify: str | None = None

    @property
    def return_path(self) -> str:
        return f"bounces+{self.name}@sender.test"

    @property
    def message_id(self) -> str:
        return f"<{self.name}.1@sender.test>"

    def failed(self) -> list[str]:
        return [r for r in self.recipients if _prefix(r) in PERMANENT]

    def succeeded(self) -> list[str]:
        """Accepted recipients whose success was asked for (NOTIFY=SUCCESS): reported with the failures."""
        wants_success = self.notify is not None and "success" in self.notify.lower()
        return [r for r in self.recipients if _prefix(r) == "ok"] if wants_success else []

    def deferred(self) -> list[str]:
        return [r for r in self.recipients if _prefix(r) == TEMPORARY]

    @property
    def instance(self) -> Instance:
        return INSTANCES[self.mta]

    def phases(self) -> list[str]:
        """Which returns this message must produce, in order."""
        if self.instance.held:
            return [WARNING] + ([GIVE_UP] if self.deferred() else [])
        later = ([WARNING] if self.instance.warns else []) + [GIVE_UP]
        return ([IMMEDIATE] if self.failed() or self.succeeded() else []) + (later if self.deferred() else [])

    def expected(self, phase: str) -> dict[str, dict[str, str]]:
        """recipient -> kind, status class, reason that the return of `phase` reports.

        A return made at the first attempt reports the 5xx recipients only (the
        4xx ones are still being retried); a warning reports the 4xx ones as
        delayed, plus, on a held instance, the 5xx ones as failed; the give-up
        reports the 4xx ones as failed. Its status class stays 4: the MX only
        ever answered 451 4.2.0 (Sendmail's DSN says 4.4.7, RFC 3463 "delivery
        time expired"; Exim's says 5.0.0, the placeholder it writes for every
        failed address, 5.1.1 ones included), so it is a soft failure.
        """
        expected: dict[str, dict[str, str]] = {}
        if phase == IMMEDIATE or (phase == WARNING and self.instance.held):
            expected.update({r: {"kind": "bounce", "status_class": "5", "reason": PERMANENT[_prefix(r)]}
                             for r in self.failed()})
        if phase == IMMEDIATE:
            # the MX said 250 and does not offer DSN: Sendmail and OpenSMTPD report "relayed", 2.0.0
            expected.update({r: {"kind": "success", "status_class": "2", "reason": "delivered"}
                             for r in self.succeeded()})
        if phase == WARNING:
            expected.update({r: {"kind": "delay", "status_class": "4", "reason": "expired"}
                             for r in self.deferred()})
        if phase == GIVE_UP:
            expected.update({r: {"kind": "bounce", "status_class": "4", "reason": "expired"}
                             for r in self.deferred()})
        return expected


def _prefix(address: str) -> str:
    local = address.split("@", 1)[0].lower()
    return next((p for p in (*PERMANENT, TEMPORARY, "ok") if local.startswith(p)), "other")


PLANS: list[Plan] = [
    Plan("exim-unknown-1", "exim", ("ok-e1@example.test", "unknown-e1@example.test"),
         "Exim: one RCPT 550 5.1.1 beside an accepted recipient"),
    Plan("exim-unknown-3", "exim", ("unknown-e2a@example.test", "ok-e2@example.test",
                                    "unknown-e2b@example.test", "unknown-e2c@example.test"),
         "Exim: three RCPT 550 5.1.1 in one bounce"),
    Plan("exim-full-unknown", "exim", ("full-e3@example.test", "unknown-e3@example.net"),
         "Exim: two different failures (552 5.2.2, 550 5.1.1) in one bounce"),
    Plan("exim-temp", "exim", ("temp-e4@example.test", "ok-e4@example.test"),
         "Exim: 451 4.2.0 until the retry rule gives up: a delay warning, then "
         "'retry timeout exceeded'"),
    Plan("sendmail-mixed", "sendmail", ("unknown-s1@example.test", "temp-s1@example.test",
                                        "ok-s1@example.test", "full-s1@example.test"),
         "Sendmail MIME DSN: two failures now, one recipient deferred (warning, then give-up)"),
    Plan("sendmail-unknown-3", "sendmail", ("unknown-s2a@example.test", "unknown-s2b@example.net",
                                            "ok-s2@example.test", "unknown-s2c@example.test"),
         "Sendmail MIME DSN: three RCPT 550 5.1.1"),
    Plan("sendmail-plain-unknown-3", "sendmail-plain",
         ("unknown-p1a@example.test", "ok-p1@example.test", "unknown-p1b@example.test",
          "unknown-p1c@example.net"),
         "Sendmail SendMimeErrors=False: plain-text report naming three failed recipients"),
    Plan("sendmail-plain-temp", "sendmail-plain", ("temp-p2@example.test", "unknown-p2@example.test"),
         "Sendmail SendMimeErrors=False: one failure now, one deferred (warning, then give-up)"),
    Plan("sendmail-notify-success", "sendmail", ("unknown-s3@example.test", "ok-s3@example.test"),
         "Sendmail MIME DSN with NOTIFY=SUCCESS,FAILURE: one failed and one relayed recipient "
         "in one report", notify="success,failure"),
    Plan("sendmail-plain-notify-success", "sendmail-plain",
         ("ok-p3@example.test", "unknown-p3@example.test"),
         "Sendmail SendMimeErrors=False with NOTIFY=SUCCESS,FAILURE: 'permanent fatal errors' and "
         "'successful delivery notifications' in one plain-text report", notify="success,failure"),
    # OpenSMTPD: one notice per kind (failed, delayed, relayed), never mixed, so each plan
    # gives at most one notice a phase. Its delay warning comes at the first 4xx.
    Plan("opensmtpd-unknown-3", "opensmtpd", ("unknown-o1a@example.test", "ok-o1@example.test",
                                              "unknown-o1b@example.test", "unknown-o1c@example.net"),
         "OpenSMTPD: three RCPT 550 5.1.1 in one notice (its DSN says Status: 5.0.0)"),
    Plan("opensmtpd-full-unknown", "opensmtpd", ("full-o2@example.test", "unknown-o2@example.net"),
         "OpenSMTPD: two different failures (552 5.2.2, 550 5.1.1) in one notice"),
    Plan("opensmtpd-temp", "opensmtpd", ("temp-o3@example.test", "ok-o3@example.test"),
         "OpenSMTPD: 451 4.2.0; a delay warning at the first attempt, then 'Envelope expired' once "
         "the queue ttl is over (6.8 words that notice as a delay: Action: delayed, 4.4.7, "
         "though the envelope is gone)"),
    Plan("opensmtpd-notify-success", "opensmtpd", ("ok-o4@example.test",),
         "OpenSMTPD with NOTIFY=SUCCESS,FAILURE: a 'relayed' notice (the MX offers no DSN)",
         notify="success,failure"),
    # DMA: one bounce per failed recipient, so one failing recipient a plan.
    Plan("dma-unknown", "dma", ("ok-d1@example.test", "unknown-d1@example.test"),
         "DMA: RCPT 550 5.1.1 beside an accepted recipient"),
    Plan("dma-full", "dma", ("full-d2@example.test", "ok-d2@example.test"),
         "DMA: RCPT 552 5.2.2"),
    Plan("dma-temp", "dma", ("temp-d3@example.test", "ok-d3@example.test"),
         "DMA: 451 4.2.0 until it gives up ('Could not deliver for the last 432000 seconds'; "
         "the queue file aged past MAX_TIMEOUT); DMA sends no delay warning"),
    # Courier reports "the following recipients" of one delivery attempt; one domain a plan.
    Plan("courier-unknown-3", "courier", ("unknown-c1a@example.test", "ok-c1@example.test",
                                          "unknown-c1b@example.test", "unknown-c1c@example.test"),
         "Courier: three RCPT 550 5.1.1 (its DSN says Status: 5.0.0, the reply in Diagnostic-Code)"),
    Plan("courier-full-unknown", "courier", ("full-c2@example.test", "unknown-c2@example.test"),
         "Courier: two different failures (552 5.2.2, 550 5.1.1)"),
    Plan("courier-temp", "courier", ("temp-c3@example.test", "ok-c3@example.test"),
         "Courier: 451 4.2.0; a 'delayed' DSN after warntime, then the give-up after queuetime"),
    Plan("courier-notify-success", "courier", ("ok-c4@example.test",),
         "Courier with -N success,failure: 'MESSAGE DELIVERED TO A MAIL GATEWAY' (relayed; the MX "
         "offers no DSN)", notify="success,failure"),
    Plan("sendmail-held-mixed", "sendmail-held", ("unknown-h1@example.test", "temp-h1@example.test",
                                                  "ok-h1@example.test"),
         "Sendmail MIME DSN, first attempt after the warning time: one failed and one delayed "
         "recipient in one 'Warning:' report, then the give-up"),
    Plan("sendmail-plain-held-mixed", "sendmail-plain-held",
         ("temp-h2@example.test", "unknown-h2a@example.test", "ok-h2@example.test",
          "unknown-h2b@example.test"),
         "Sendmail SendMimeErrors=False, first attempt after the warning time: two permanent "
         "failures inside a plain-text 'Warning:' report, then the give-up"),
]


def quick_plans() -> list[Plan]:
    """The plans with no deferred recipient: all their returns exist seconds after submission."""
    return [plan for plan in PLANS if not plan.deferred()]


def build_message(plan: Plan) -> bytes:
    """An ordinary message; the To: header names every recipient, ok ones included, on purpose."""
    msg = EmailMessage()
    msg["From"] = "Newsletter <news@sender.test>"
    msg["To"] = ", ".join(plan.recipients)
    msg["Subject"] = f"December newsletter ({plan.name})"
    msg["Message-ID"] = plan.message_id
    msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    msg["X-Campaign"] = "dec-newsletter"
    msg.set_content("Hello,\n\nthis is the December newsletter.\n")
    return msg.as_bytes()


@dataclass
class Received:
    """One return as it landed, with the phase of the run it arrived in."""

    plan: Plan
    phase: str
    data: bytes
    arrived_after: float


@dataclass
class Run:
    """The MTAs, their final MXes and what came back."""

    base: Path
    plans: list[Plan]
    instances: dict[str, Mta] = field(default_factory=dict)
    mxes: list[FinalMX] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    versions_seen: dict[str, str] = field(default_factory=dict)
    _seen: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        """One final MX per instance, so each MX's null-sender mail is that instance's returns."""
        wanted = sorted({plan.mta for plan in self.plans})
        ports = free_ports(2 * len(wanted))
        for key, port, listen in zip(wanted, ports[::2], ports[1::2]):
            folder = self.base / key
            folder.mkdir(parents=True)
            mx = FinalMX(port=port, record_path=folder / "final-mx.jsonl", log_path=folder / "final-mx.log")
            mx.start()
            self.mxes.append(mx)
            instance = _make_instance(INSTANCES[key], folder, port, listen, mx.record_path)
            self.instances[key] = instance
            instance.configure()

    def stop(self) -> None:
        for instance in self.instances.values():
            if isinstance(instance, IN_OVERLAY):
                instance.stop()
        for mx in self.mxes:
            mx.stop()

    def logs(self) -> dict[str, str]:
        """The send logs OpenSMTPD, DMA and Courier wrote to syslog, by instance."""
        return {key: instance.log() for key, instance in self.instances.items()
                if isinstance(instance, IN_OVERLAY)}

    def versions(self) -> dict[str, str]:
        return {key: instance.version() for key, instance in self.instances.items()}

    def returns_of(self, key: str) -> list[bytes]:
        instance = self.instances[key]
        if isinstance(instance, Exim):
            return [path.read_bytes() for path in instance.returned()]
        return instance.returned()

    def collect(self, elapsed: float) -> None:
        """File every return that arrived since the last look, by envelope recipient: the n-th
        return of a message is its n-th phase (one past the last is "extra", for verify())."""
        for key in self.instances:
            returns = self.returns_of(key)
            for data in returns[self._seen.get(key, 0):]:
                plan = self._plan_for(data)
                count = sum(1 for item in self.received if item.plan is plan)
                phases = plan.phases()
                phase = phases[count] if count < len(phases) else "extra"
                self.received.append(Received(plan, phase, data, elapsed))
            self._seen[key] = len(returns)

    def _plan_for(self, data: bytes) -> Plan:
        """The plan whose return path the return was delivered to (Envelope-to / Delivered-To)."""
        head = data.split(b"\n\n", 1)[0].decode("utf-8", "replace")
        found = re.search(r"^(?:Envelope-to|Delivered-To): *(\S+)", head, re.M | re.I)
        address = found.group(1) if found else ""
        for plan in self.plans:
            if plan.return_path == address:
                return plan
        raise AssertionError(f"a return to {address!r} matches no message sent:\n{head}")

    def outstanding(self) -> list[tuple[str, str]]:
        """(plan, phase) pairs still waiting for their return."""
        have = {(r.plan.name, r.phase) for r in self.received}
        return [(p.name, ph) for p in self.plans for ph in p.phases() if (p.name, ph) not in have]


def _make_instance(setup: Instance, folder: Path, mx_port: int, listen_port: int, mx_record: Path) -> Mta:
    """The MTA of `setup`, with the scenario's warning and give-up times where it has them."""
    if setup.mta == "exim":
        return Exim(folder / "exim", mx_port, delay_warning=WARN_AFTER, give_up_after=GIVE_UP_AFTER)
    if setup.mta == "opensmtpd":
        return OpenSmtpd(folder / "opensmtpd", listen_port, mx_port, mx_record, warn_after=WARN_AFTER,
                         give_up_after=GIVE_UP_AFTER)
    if setup.mta == "dma":
        return Dma(folder / "dma", mx_port, mx_record)
    if setup.mta == "courier":
        return Courier(folder / "courier", mx_port, mx_record, warn_after=WARN_AFTER,
                       give_up_after=GIVE_UP_AFTER)
    return Sendmail(folder / "sendmail", mx_port, mx_record, mime_errors=setup.mime_errors,
                    queuewarn=WARN_AFTER, queuereturn=GIVE_UP_AFTER)


def run(base: Path, plans: list[Plan], timeout: float = 240.0,
        progress: Callable[[str], None] = lambda _: None) -> Run:
    """Submit every plan, then run queues every 5 s until every expected return is in."""
    state = Run(base, plans)
    state.start()
    try:
        began = time.monotonic()
        for plan in plans:
            instance = state.instances[plan.mta]
            if isinstance(instance, Sendmail):
                instance.submit(plan.return_path, list(plan.recipients), build_message(plan),
                                queue_only=plan.instance.held, notify=plan.notify)
            elif isinstance(instance, (OpenSmtpd, Courier)):
                instance.submit(plan.return_path, list(plan.recipients), build_message(plan),
                                notify=plan.notify)
            else:
                instance.submit(plan.return_path, list(plan.recipients), build_message(plan))
        time.sleep(2.0)  # the bounce is a new message, delivered by a process of its own
        state.collect(time.monotonic() - began)
        progress(f"immediate returns: {len(state.received)}")
        while state.outstanding():
            elapsed = time.monotonic() - began
            if elapsed > timeout:
                raise AssertionError(f"after {elapsed:.0f}s still waiting for {state.outstanding()}; "
                                     f"see {base}")
            time.sleep(5.0)
            for key, instance in state.instances.items():
                if isinstance(instance, Dma) and time.monotonic() - began >= GIVE_UP_BOUNDARY:
                    instance.age_queue()  # DMA gives up on its own clock: see dma.py
                if not INSTANCES[key].held or time.monotonic() - began >= HELD_UNTIL:
                    instance.queue_run()
            time.sleep(1.0)
            elapsed = time.monotonic() - began
            state.collect(elapsed)
            progress(f"{elapsed:.0f}s: {len(state.received)} returns, waiting for {len(state.outstanding())}")
        time.sleep(2.0)
        state.collect(time.monotonic() - began)  # a stray extra return is caught by verify()
        state.versions_seen = state.versions()
    finally:
        state.stop()
    return state


def verify(state: Run) -> None:
    """Exactly one return per (plan, phase) the scenario promises, nothing else."""
    counts: dict[tuple[str, str], int] = {}
    for item in state.received:
        counts[(item.plan.name, item.phase)] = counts.get((item.plan.name, item.phase), 0) + 1
    promised = {(p.name, ph) for p in state.plans for ph in p.phases()}
    extra = {key: n for key, n in counts.items() if key not in promised or n != 1}
    early = [(item.plan.name, round(item.arrived_after)) for item in state.received
             if item.phase == GIVE_UP and item.arrived_after < GIVE_UP_BOUNDARY]
    if extra or early or state.outstanding():
        raise AssertionError(f"returns do not match the plan: unexpected {extra}, give-ups too "
                             f"early {early}, missing {state.outstanding()}")
    exim = state.instances.get("exim")
    if isinstance(exim, Exim):
        _verify_exim_log(exim.mainlog.read_text(errors="replace"),
                         [plan for plan in state.plans if plan.mta == "exim"])
    for key, instance in state.instances.items():
        if key in _FINAL_LINES and isinstance(instance, IN_OVERLAY):
            _verify_final_log(key, instance.log(), [plan for plan in state.plans if plan.mta == key])


def _verify_exim_log(log: str, plans: list[Plan]) -> None:
    """Exim's own log agrees with the labels: "**" (failed) for every 5xx recipient, and for
    every 4xx one "==" (deferred) and, at the end, a failure with "retry timeout exceeded"."""
    for plan in plans:
        for rcpt in plan.failed():
            if not re.search(rf"^.* \*\* {re.escape(rcpt)} .*: 5\d\d ", log, re.M):
                raise AssertionError(f"exim's mainlog has no failure line for {rcpt}")
        for rcpt in plan.deferred():
            if not re.search(rf"^.* == {re.escape(rcpt)} .*: 4\d\d ", log, re.M):
                raise AssertionError(f"exim's mainlog has no deferral line for {rcpt}")
            # Exim logs the give-up as "** temp-e4@example.test: retry timeout exceeded"
            if not re.search(rf"^.* \*\* {re.escape(rcpt)}: .*retry timeout exceeded", log, re.M):
                raise AssertionError(f"exim's mainlog has no 'retry timeout exceeded' for {rcpt}")


#: What OpenSMTPD (queue.c queue_log, mta.c) and DMA (dma.c, net.c) log for a refused
#: recipient and for a given-up one.
_FINAL_LINES: dict[str, tuple[str, str]] = {
    "opensmtpd": (r'to=<{rcpt}> .*result="PermFail" stat="5\d\d ',
                  r"Expire for \S+: .*to=<{rcpt}>, .*stat=Envelope expired"),
    "dma": (r"failed after RCPT TO: 5\d\d [^<]*<{rcpt}>",
            r"dma\[([^\]]+)\]: remote delivery deferred: .*<{rcpt}>.*\n"
            r"(?:.*\n)*?.*dma\[\1\]: delivery failed, bouncing"),
}


def _verify_final_log(key: str, log: str, plans: list[Plan]) -> None:
    """The MTA's own log agrees with the labels: a permanent failure line for every 5xx
    recipient, a give-up line for every 4xx one."""
    refused, expired = _FINAL_LINES[key]
    for plan in plans:
        for rcpt, pattern in [(r, refused) for r in plan.failed()] + [(r, expired) for r in plan.deferred()]:
            if not re.search(pattern.format(rcpt=re.escape(rcpt)), log, re.M):
                raise AssertionError(f"{key}'s log has no line /{pattern}/ for {rcpt}")


def write_outputs(state: Run, outdir: Path, seconds: float, *, merge: bool = False) -> dict[str, dict]:
    """OUTDIR/<plan>.<phase>.msg, expected.json and README.md (earlier *.msg removed).

    `merge`: keep the samples of the MTA instances this run did not use (``--only``),
    their files and their entries in expected.json; returns only this run's samples.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    ran = set(state.instances)
    kept: dict[str, dict] = {}
    if merge and (outdir / "expected.json").exists():
        earlier = json.loads((outdir / "expected.json").read_text())["samples"]
        kept = {name: sample for name, sample in earlier.items() if sample["instance"] not in ran}
    for old in outdir.glob("*.msg"):
        if old.name not in kept:
            old.unlink()
    versions = {sample["instance"]: sample["mta"] for sample in kept.values()} | state.versions_seen
    samples: dict[str, dict] = {}
    for item in sorted(state.received, key=lambda r: (r.plan.name, r.plan.phases().index(r.phase))):
        name = f"{item.plan.name}.{item.phase}.msg"
        (outdir / name).write_bytes(item.data)
        samples[name] = {
            "mta": versions.get(item.plan.mta, item.plan.mta),
            "instance": item.plan.mta,
            "phase": item.phase,
            "note": item.plan.note,
            "message_id": item.plan.message_id.strip("<>"),
            "return_path": item.plan.return_path,
            "sent_to": list(item.plan.recipients),
            "expected": item.plan.expected(item.phase),
        }
    document = {
        "generated_by": "python -m tests.mailstack.make_mta_samples",
        "how_expected_was_made": (
            "from what was sent: the final MX answers unknown* 550 5.1.1 (userunknown), "
            "full* 552 5.2.2 (mailboxfull), ok* 250 (a success record only where NOTIFY=SUCCESS "
            "was asked for: Sendmail and OpenSMTPD report it 'relayed', 2.0.0), temp* 451 4.2.0 "
            f"(delay warning after {WARN_AFTER}, OpenSMTPD's at the first attempt, none from DMA; "
            f"then give-up after {GIVE_UP_AFTER}: reason expired, class 4 as the MX only ever "
            "answered 4xx); the n-th return to a message's envelope sender is its n-th phase "
            "(immediate, warning, give-up), checked against the MTA's own log"),
        "samples": kept | samples,
    }
    (outdir / "expected.json").write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    (outdir / "README.md").write_text(_readme(document["samples"], versions, seconds))
    return samples


def write_logs(state: Run, logdir: Path) -> list[Path]:
    """LOGDIR/<instance>.log: the syslog lines OpenSMTPD, DMA and Courier wrote in this run."""
    logdir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, text in state.logs().items():
        path = logdir / f"{key}.log"
        path.write_text(text)
        written.append(path)
    return written


def _readme(samples: dict[str, dict], versions: dict[str, str], seconds: float) -> str:
    lines = [
        "# Real MTA returns: Exim, Sendmail, OpenSMTPD, DMA (regression material for the parser)",
        "",
        "Generated, not written by hand, by",
        "`python -m tests.mailstack.make_mta_samples tests/bounces/fixtures/real-mta` (all MTAs;",
        "`--only opensmtpd dma` remakes some and keeps the rest; last run took",
        f"{seconds:.0f} s): Debian's packages unpacked (not installed) and run as the sender's",
        "MTA on loopback, relaying to an aiosmtpd final MX that answers by local part. Exim",
        "delivers its returns itself (appendfile, Maildir); the others' come back over SMTP to",
        "the final MX, and the harness prepends `Return-Path: <>` and `Delivered-To:` as a",
        f"delivering MTA would. Retry times are shortened (warning after {WARN_AFTER}, give-up",
        f"after {GIVE_UP_AFTER}), so the notices speak of seconds and minutes. OpenSMTPD, DMA and",
        "Courier run in a private overlay root (tests/mailstack/overlay_root.py): their paths are",
        "compiled in. DMA's give-up is reached by ageing its queue file past its compiled-in",
        "five days (it sends no delay warning and writes one bounce per failed recipient);",
        "OpenSMTPD 6.8 warns at the first temporary failure and words its give-up",
        "('Envelope expired', the envelope deleted) as a delay notice.",
        "",
        "MTAs: " + "; ".join(f"{key}: {value}" for key, value in sorted(versions.items())),
        "",
        "Instances: `sendmail-plain*` run with `SendMimeErrors=False` (plain-text reports, no",
        "delivery-status part); `*-held` ones get the message queue-only and try it first after",
        "the warning time, so one Sendmail report carries failed and delayed recipients. A",
        "plain-text report is expected to name the same records as the MIME report Sendmail",
        "writes in the same situation: a failure notice names only the failed recipients (a",
        "recipient merely `Deferred:` in its transcript is still being retried), a warning also",
        "names the deferred ones as delayed. A give-up keeps status class 4: the MX only ever",
        "answered 451 4.2.0 (Exim's DSN says `Status: 5.0.0`, which it writes for every failure).",
        "",
        "`expected.json` says, for every file, which recipients it must report and as what (kind,",
        "status class, reason); it is derived from what was sent, never from a parser's output.",
        "",
        "| file | reports | note |",
        "| --- | --- | --- |",
    ]
    for name, sample in samples.items():
        reports = ", ".join(f"`{r}` {e['kind']} {e['status_class']}.x {e['reason']}"
                            for r, e in sample["expected"].items())
        lines.append(f"| `{name}` | {reports} | {sample['note']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Real MTA returns on loopback.")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--quick", action="store_true", help="only the immediate scenarios")
    parser.add_argument("--keep", action="store_true", help="keep the MTAs' folders (logs, spools)")
    parser.add_argument("--only", nargs="+", choices=sorted({i.mta for i in INSTANCES.values()}),
                        help="only these MTAs' plans; the other samples in OUTDIR are kept")
    parser.add_argument("--logs", type=Path, help="also write the send logs of OpenSMTPD, DMA and Courier here")
    args = parser.parse_args(argv)
    plans = quick_plans() if args.quick else PLANS
    if args.only:
        plans = [plan for plan in plans if plan.instance.mta in args.only]
    base = Path(tempfile.mkdtemp(prefix="mta-samples-"))
    base.chmod(0o755)
    began = time.monotonic()
    try:
        state = run(base, plans, progress=lambda text: print(text, file=sys.stderr))
        verify(state)
        samples = write_outputs(state, args.outdir.resolve(), time.monotonic() - began,
                                merge=bool(args.only))
        if args.logs:
            write_logs(state, args.logs.resolve())
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"wrote {len(samples)} samples to {args.outdir} in {time.monotonic() - began:.0f}s"
          + (f" (MTA folders kept in {base})" if args.keep else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
