"""Generate the quick-start samples from a real mail stack.

    python -m tests.mailstack.make_samples OUTDIR [--keep-stack]

Writes OUTDIR/sendlog/postfix.log (instance A's log only), OUTDIR/returned/
(a Maildir of what Dovecot received on the return path) and OUTDIR/README.md.
The samples are produced, not written by hand, so they carry every quirk of
real Postfix/Dovecot output; the script checks each recipient reached the
fate the README promises before it writes anything.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.mailstack.stack import MailStack, SentMessage, StackTimings

CAMPAIGN = "nov-newsletter"

# Expected fate of each recipient, and the log/DSN evidence that proves it.
DELIVERED = "delivered"
ASYNC_BOUNCE = "provisionally delivered, then bounced (5.1.1 from example.net's MX)"
FATES = {
    "ok": DELIVERED,
    "unknown@example.test": "bounced 5.1.1 (synchronous, user unknown)",
    "full": "bounced 5.2.2 (synchronous, mailbox full)",
    "block": "bounced 5.7.1 (synchronous, rejected by policy)",
    "temp": "deferred 4.2.0, delay notice, then expired (failed 4.2.0)",
    "unknown@example.net": ASYNC_BOUNCE,
}


@dataclass
class Planned:
    """One message of the scenario."""

    number: int
    recipients: list[str]
    envid: str | None = None
    notify: str | None = None
    ret: str | None = None
    note: str = ""
    sent: SentMessage | None = field(default=None, repr=False)

    @property
    def tag(self) -> str:
        return f"m{self.number}"

    @property
    def message_id(self) -> str:
        return f"<campaign-nov.{self.number}@sender.test>"


SCENARIO = [
    Planned(1, ["ok1@example.test", "unknown1@example.test", "unknown2@example.net",
                "ok2@example.net"], note="sync and async bounce in one message"),
    Planned(2, ["ok3@example.test", "full1@example.test", "block1@example.test"],
            note="two different synchronous failures in one DSN"),
    Planned(3, ["ok4@example.test", "temp1@example.test", "unknown3@example.test"],
            note="temp1 is retried, warned about, then expires"),
    Planned(4, ["ok5@example.test", "unknown4@example.test", "ok6@example.net"],
            envid="campaign-nov.4", notify="SUCCESS,FAILURE", ret="HDRS",
            note="ENVID + NOTIFY=SUCCESS,FAILURE: success notices from A (ok5) and B (ok6)"),
    Planned(5, ["unknown5@example.net", "unknown6@example.net", "ok7@example.net",
                "ok8@example.test"], note="B bounces two recipients in one DSN"),
]

# 2 (m1) + 1 (m2) + 3 (m3: sync DSN, delay notice, expiry) + 3 (m4) + 1 (m5)
EXPECTED_RETURNS = 10


def fate(address: str) -> str:
    """The README's expected final state for a recipient (driven by the final MX's rules)."""
    local, domain = address.split("@")
    for prefix in ("unknown", "full", "block", "temp", "ok"):
        if local.startswith(prefix):
            return FATES.get(f"{prefix}@{domain}", FATES.get(prefix, "?"))
    return "?"


def ledger_state(address: str, success_notice: bool) -> str:
    """What ``bounceledger demo`` and ``lookup`` show for the recipient: the ledger's state names."""
    local, domain = address.split("@")
    if local.startswith("ok"):
        return "`delivered` (the success notice confirms it)" if success_notice else "`accepted` (the first hop's 250 stands: nothing came back)"
    if local.startswith("temp"):
        return "`expired`"
    if local.startswith("unknown") and domain == "example.net":
        return "`bounced`, corrected (was `accepted`)"
    return "`bounced`"


def run_scenario(stack: MailStack) -> None:
    """Submit all messages, then wait for every return (the expiry DSN comes last)."""
    for planned in SCENARIO:
        planned.sent = stack.send(
            planned.recipients, tag=planned.tag, message_id=planned.message_id,
            subject=f"November newsletter ({planned.tag})", headers={"X-Campaign": CAMPAIGN},
            envid=planned.envid, notify=planned.notify, ret=planned.ret,
            body="Hello,\n\nthis is the November newsletter.\n")
        time.sleep(1.0)  # distinct timestamps make the log easier to read
    stack.wait_for_log(r"status=expired, returned to sender", timeout=180)
    stack.wait_for_maildir(EXPECTED_RETURNS, timeout=60)
    time.sleep(2.0)  # let stray late notices land so an overshoot is detected below


def verify(stack: MailStack) -> None:
    """Fail loudly if any recipient did not end up as the README says."""
    log = stack.log_a.read_text()
    for planned in SCENARIO:
        qid = planned.sent.queue_id if planned.sent else None
        assert qid, f"{planned.tag}: no queue id"
        for rcpt in planned.recipients:
            expected = _log_status(fate(rcpt))
            pattern = rf"{qid}: to=<{re.escape(rcpt)}>,.*status={expected}"
            assert re.search(pattern, log), f"{rcpt}: expected status={expected} in A's log"
    returned = stack.maildir_messages()
    assert len(returned) == EXPECTED_RETURNS, f"{len(returned)} returns, want {EXPECTED_RETURNS}"
    async_bounces = [p for p in returned if "MAILER-DAEMON@example.net" in p.read_text()
                     and "Action: failed" in p.read_text()]
    assert len(async_bounces) == 2, f"want 2 async bounce DSNs from B, got {len(async_bounces)}"


def _log_status(expected_fate: str) -> str:
    """Last status A logs for a recipient with that fate (B's later bounce is not in A's log)."""
    if expected_fate.startswith("bounced"):
        return "bounced"
    if expected_fate.startswith("deferred"):
        return "deferred"
    return "sent"


def write_outputs(stack: MailStack, outdir: Path) -> list[tuple[str, Path]]:
    """Copy A's log and the returned messages into OUTDIR (replacing earlier samples)."""
    sendlog, returned = outdir / "sendlog", outdir / "returned"
    for folder in (sendlog, returned):
        shutil.rmtree(folder, ignore_errors=True)
    sendlog.mkdir(parents=True)
    shutil.copyfile(stack.log_a, sendlog / "postfix.log")
    for sub in ("new", "cur", "tmp"):
        (returned / sub).mkdir(parents=True)
    for sub in ("cur", "tmp"):
        (returned / sub / ".keep").write_text("")
    copied = []
    for index, source in enumerate(stack.maildir_messages(), start=1):
        name = f"{index:04d}.sample.msg"
        shutil.copyfile(source, returned / "new" / name)
        copied.append((name, source))
    return copied


def summarize(path: Path) -> str:
    """One line about a returned message: who sent it, what it reports."""
    text = path.read_text(errors="replace")
    sender = "B (mx.example.net)" if "MAILER-DAEMON@example.net" in text else "A (mta.sender.test)"
    subject = re.search(r"^Subject: (.*)$", text, re.M)
    rcpts = re.findall(r"^Final-Recipient: rfc822; (\S+)", text, re.M)
    actions = re.findall(r"^Action: (\S+)", text, re.M)
    statuses = re.findall(r"^Status: (\S+)", text, re.M)
    to = re.search(r"^Delivered-To: (\S+)", text, re.M)
    details = ", ".join(f"{r} {a} {s}" for r, a, s in zip(rcpts, actions, statuses))
    return (f"from {sender} to {to.group(1) if to else '?'}: "
            f"\"{subject.group(1) if subject else '?'}\" — {details}")


def readme(copied: list[tuple[str, Path]], outdir: Path, seconds: float) -> str:
    """README text: how the samples were made and what every recipient should end up as."""
    lines = [
        "# Samples: a real Postfix send log and the returned mail",
        "",
        "Generated (not hand-written) by `python -m tests.mailstack.make_samples "
        f"{_display(outdir)}` in {seconds:.0f} s: real Postfix 3.7 instances and Dovecot on",
        "loopback (see `tests/mailstack/`). Instance A (`mta.sender.test`) is the sender's MTA;",
        "`example.test` goes to a final MX that answers by local part, `example.net` goes to",
        "instance B (`mx.example.net`), a remote MX that accepts with 250 and bounces later.",
        "Returned mail for `bounces+mN@sender.test` is delivered by A over LMTP to Dovecot.",
        "",
        "- `sendlog/postfix.log` — instance A's log (`maillog_file`), exactly as written.",
        "- `returned/` — a Maildir copied from Dovecot; messages renamed `NNNN.sample.msg` in",
        "  delivery order (`cur/` and `tmp/` hold only `.keep`).",
        "",
        "Only Postfix is bundled here. The other send-log formats (Exim, Sendmail, PowerMTA",
        "accounting CSV, JSON lines and KumoMTA records) are read the same way: logs written by real",
        "Exim and Sendmail are in `tests/sendlog/fixtures/real/`, one file per format in",
        "`tests/sendlog/fixtures/`, and returns made by real Exim and Sendmail in",
        "`tests/bounces/fixtures/real-mta/`.",
        "",
        f"Every message has `X-Campaign: {CAMPAIGN}`, a return path `bounces+mN@sender.test`",
        "and Message-ID `<campaign-nov.N@sender.test>`. Retry times were shortened",
        "(delay warning after 30 s, queue lifetime 90 s), so the delay notice says",
        "\"0 hour(s)\".",
        "",
        "## Recipients and what each ends up as",
        "",
        "The last column is what `bounceledger demo` prints and `lookup` shows: a 250 from the first",
        "hop is `accepted` until something comes back; only a success notice makes it `delivered`.",
        "",
        "| message | recipient | what happens to the mail | state in the ledger |",
        "| --- | --- | --- | --- |",
    ]
    for planned in SCENARIO:
        for rcpt in planned.recipients:
            state = fate(rcpt)
            notice = bool(planned.notify and "SUCCESS" in planned.notify and state == DELIVERED)
            if notice:
                state += " (+ success notice, not a bounce)"
            lines.append(f"| m{planned.number} | `{rcpt}` | {state} | {ledger_state(rcpt, notice)} |")
    lines += ["", "Message notes:", ""]
    for planned in SCENARIO:
        options = ", ".join(f"{k}={v}" for k, v in (("ENVID", planned.envid),
                            ("NOTIFY", planned.notify), ("RET", planned.ret)) if v)
        lines.append(f"- m{planned.number}: {planned.note}" + (f" ({options})" if options else ""))
    lines += ["", "The key case: `unknown*@example.net` shows `status=sent (250 2.0.0 Ok: queued as X)`",
              "in A's log, and only B's later DSN (with `X-Postfix-Queue-ID: X`) reveals the bounce.",
              "", "## Returned messages", ""]
    lines += [f"- `new/{name}`: {summarize(source)}" for name, source in copied]
    return "\n".join(lines) + "\n"


def _display(path: Path) -> str:
    """OUTDIR as the user would type it from the repo root (no machine-specific temp paths)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate quick-start samples from a real mail stack.")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--keep-stack", action="store_true", help="keep the stack's temp folder")
    args = parser.parse_args(argv)
    outdir = args.outdir.resolve()
    began = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="mailstack-samples-"))
    # keep=True: the folder must outlive stop() so we can copy the finished log.
    with MailStack(base, timings=StackTimings(), keep=True) as stack:
        print(f"stack up in {stack.startup_seconds:.1f}s at {base}", file=sys.stderr)
        run_scenario(stack)
        verify(stack)
    # Copy after stop so A's log is complete (including its shutdown line).
    seconds = time.monotonic() - began
    copied = write_outputs(stack, outdir)
    (outdir / "README.md").write_text(readme(copied, outdir, seconds))
    if not args.keep_stack:
        shutil.rmtree(base, ignore_errors=True)
    print(f"wrote {len(copied)} returned messages and the send log to {outdir} "
          f"in {seconds:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
