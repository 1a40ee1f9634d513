"""The last hop: a tiny aiosmtpd MX that answers by recipient local part.

Real remote MXes are not reachable here, and Postfix only produces its real
log lines and DSNs when a real SMTP peer answers. This server gives every
verdict on demand, with texts shaped like Postfix's own rejections:

    ok*       250 (accepted, message recorded)
    unknown*  550 5.1.1 user unknown
    temp*     451 4.2.0 temporary failure
    full*     552 5.2.2 mailbox full
    block*    554 5.7.1 rejected by policy
    grey*     451 4.7.1 greylisted for GREY_SECONDS after the address's
              first attempt, then 250 (a retry that succeeds)
    other     250 (accepted)

It runs as its own process (``python final_mx.py --port N --record FILE``) so
that stopping it never depends on the test process's event loop: SIGTERM sets
an Event through ``signal.signal`` (``loop.add_signal_handler`` was seen to be
ignored) and the aiosmtpd controller is stopped from the main thread.
"""
from __future__ import annotations

import argparse
import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERDICTS: list[tuple[str, str]] = [
    ("unknown", "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"),
    ("temp", "451 4.2.0 <{rcpt}>: Recipient address rejected: Temporary failure, try again later"),
    ("full", "552 5.2.2 <{rcpt}>: Recipient address rejected: Mailbox full"),
    ("block", "554 5.7.1 <{rcpt}>: Recipient address rejected: Rejected by policy"),
]


#: How long a ``grey*`` address is refused after its first attempt: longer than the
#: harness's quick delay-warning time (20 s), so a delay notice comes before the 250.
GREY_SECONDS = 25.0
GREYLISTED = "451 4.7.1 <{rcpt}>: Recipient address rejected: Greylisted, try again later"


def verdict_for(address: str) -> str | None:
    """Return the SMTP rejection for `address`, or None to accept it."""
    local = address.split("@", 1)[0].lower()
    for prefix, template in VERDICTS:
        if local.startswith(prefix):
            return template.format(rcpt=address)
    return None


class VerdictHandler:
    """aiosmtpd handler: verdict per RCPT, records accepted messages as JSON lines."""

    def __init__(self, record_path: Path) -> None:
        self.record_path = record_path
        self.counter = itertools.count(1)
        self.lock = threading.Lock()
        self.grey_since: dict[str, float] = {}  # greylisted address -> its first attempt

    def greylisted(self, address: str) -> bool:
        if not address.split("@", 1)[0].lower().startswith("grey"):
            return False
        first = self.grey_since.setdefault(address.lower(), time.monotonic())
        return time.monotonic() - first < GREY_SECONDS

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        reply = verdict_for(address)
        if reply is not None:
            return reply
        if self.greylisted(address):
            return GREYLISTED.format(rcpt=address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        queue_id = f"FH{int(time.time())}{next(self.counter):03d}"
        record = {
            "queue_id": queue_id,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": envelope.content.decode("utf-8", "replace"),
            "received_at": time.time(),
        }
        with self.lock, self.record_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        return f"250 2.0.0 Ok: queued as {queue_id}"


def serve(port: int, record_path: Path, server_hostname: str) -> None:
    """Run until SIGTERM/SIGINT; prints READY once listening (the parent waits for it)."""
    from aiosmtpd.controller import Controller

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    record_path.touch()
    controller = Controller(VerdictHandler(record_path), hostname="127.0.0.1", port=port,
                            server_hostname=server_hostname)
    controller.start()
    print("READY", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        controller.stop()


@dataclass
class FinalMX:
    """Handle on a running final-MX subprocess (start/stop/received)."""

    port: int
    record_path: Path
    log_path: Path
    server_hostname: str = "mx.example.test"
    proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Spawn the server and block until it has bound its port."""
        from tests.mailstack.ports import wait_for_port

        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--port", str(self.port), "--record", str(self.record_path),
             "--server-hostname", self.server_hostname],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        if not wait_for_port(self.port, timeout):
            self.stop()
            raise RuntimeError(f"final MX on port {self.port} did not start; see {self.log_path}")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it lingers: a hung test server must never hang teardown."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def received(self) -> list[dict[str, Any]]:
        """Messages accepted so far: dicts with queue_id, mail_from, rcpt_tos, data."""
        if not self.record_path.exists():
            return []
        lines = self.record_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def null_sender_returns(mx_record: Path) -> list[bytes]:
    """Null-sender messages a final MX recorded (`final_mx.py`'s JSON lines), in arrival order,
    each with the ``Return-Path: <>`` and ``Delivered-To:`` a delivering MTA would prepend."""
    if not mx_record.exists():
        return []
    found = []
    for line in mx_record.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["mail_from"] not in ("", "<>"):
            continue
        data = record["data"].replace("\r\n", "\n")
        found.append(f"Return-Path: <>\nDelivered-To: {record['rcpt_tos'][0]}\n{data}".encode("utf-8"))
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--server-hostname", default="mx.example.test")
    args = parser.parse_args(argv)
    serve(args.port, args.record, args.server_hostname)


if __name__ == "__main__":
    main()
