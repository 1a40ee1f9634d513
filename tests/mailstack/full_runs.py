"""Whole sending runs through a real MTA, left to settle, with the truth of every recipient.

A run sends a handful of newsletters (about a hundred recipients) through the
sender's MTA (Postfix A of :class:`MailStack`, or Exim 4 in :class:`EximStack`)
and waits until nothing is queued anywhere and every returned message is in
the return-path mailbox (Dovecot). Recipients get every kind of answer:

* ``example.test`` goes straight to a final MX that answers by local part
  (``final_mx.py``): the sender's MTA itself is refused (``unknown*`` 550,
  ``full*`` 552, ``block*`` 554: synchronous bounces), deferred until it
  gives up (``temp*`` 451: delay notice, then expiry) or greylisted until a
  retry gets through (``grey*``: delay notice, then 250).
* ``example.net`` goes to Postfix B, a remote MX that says 250 to everyone
  and bounces later (asynchronous DSNs) what its own final MX refuses.

Some messages carry a VERP return path (``bounces+NAME@sender.test``), some
the plain one, so returned mail must also be tied by queue id and Message-ID;
some ask for success notices (``NOTIFY=SUCCESS``, Postfix only). The truth
(:func:`truth`) follows from the local part, the domain and the NOTIFY
option alone: what the final MXes and the queue lifetimes made happen, never
what a parser reads.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.mailstack.dovecot import Dovecot
from tests.mailstack.exim import HOSTNAME, SENDER_DOMAIN, Exim
from tests.mailstack.ports import free_ports
from tests.mailstack.postfix import PostfixInstance, QueueTimes
from tests.mailstack.stack import (
    RETURN_USER,
    MailStack,
    _Components,
    _ensure_traversable,
    _final_mx_in,
    _fresh_base,
    build_message,
)
from tests.mailstack.waits import maildir_files, poll

#: The final state each local-part prefix ends in once everything has settled
#: (``grey*``: refused with 451 at first, a delay notice, then accepted on a retry).
FINAL_STATE = {"ok": "accepted", "grey": "accepted", "unknown": "bounced", "full": "bounced", "block": "bounced",
               "temp": "expired"}
#: Short queue times, so that deferred mail gets its delay notice and expires within a minute.
QUICK = QueueTimes(queue_run_delay="5s", minimal_backoff_time="5s", maximal_backoff_time="10s",
                   delay_warning_time="20s", maximal_queue_lifetime="40s", bounce_queue_lifetime="40s")


@dataclass(frozen=True)
class Send:
    """One message of the run."""

    name: str
    recipients: tuple[str, ...]
    verp: bool = True  # bounces+NAME@ (else the plain bounces@)
    notify: str | None = None  # NOTIFY= for every recipient

    @property
    def message_id(self) -> str:
        return f"{self.name}@{SENDER_DOMAIN}"

    @property
    def return_path(self) -> str:
        return f"{RETURN_USER}+{self.name}@{SENDER_DOMAIN}" if self.verp else f"{RETURN_USER}@{SENDER_DOMAIN}"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Campaign": f"campaign-{self.name}"}

    def data(self) -> bytes:
        return build_message(self.recipients, f"<{self.message_id}>", f"News {self.name}", self.headers,
                             "Hello from the newsletter.\n").as_bytes()


def truth(send: Send, recipient: str) -> str:
    """What became of one recipient: its local part says what the MX did with it."""
    local = recipient.split("@", 1)[0]
    prefix = next(p for p in FINAL_STATE if local.startswith(p))
    if FINAL_STATE[prefix] == "accepted" and send.notify and "SUCCESS" in send.notify:
        return "delivered"  # the relaying MTA sends a "relayed" notice
    return FINAL_STATE[prefix]


def plan(run: str, notify: bool) -> list[Send]:
    """Ten messages, ~100 deliveries: every answer on both domains, VERP and plain return
    paths, some addresses mailed by several messages (each bounce must find its own send)."""
    sends = []
    for n in range(10):
        recipients = []
        for domain in ("example.test", "example.net"):
            recipients += [f"ok{n}a@{domain}", f"ok{n}b@{domain}", f"unknown{n}@{domain}"]
            recipients.append(f"{('full', 'block')[n % 2]}{n}@{domain}")
        if n % 3 == 0:
            recipients += [f"temp{n}@example.test", f"temp{n}@example.net"]
        if n % 3 == 1:
            recipients += [f"grey{n}@example.test", f"grey{n}@example.net"]
        if n < 3:  # the same people in three newsletters
            recipients += ["ok-regular@example.net", "unknown-regular@example.net", "full-regular@example.test"]
        asks = "SUCCESS,DELAY,FAILURE" if notify and n in (4, 7) else None
        sends.append(Send(f"{run}{n}", tuple(recipients), verp=n % 2 == 0, notify=asks))
    return sends


def expected(sends: Sequence[Send]) -> dict[tuple[str, str], str]:
    """(Message-ID, recipient) -> final state, for every delivery of the run."""
    return {(send.message_id, rcpt): truth(send, rcpt) for send in sends for rcpt in send.recipients}


def _settle(done: Callable[[], bool], maildir: Path, logs: Sequence[Path], timeout: float,
            nudge: Callable[[], None] = lambda: None) -> None:
    """Wait until `done` holds and the mailbox has stopped growing (nudging queues meanwhile)."""
    last: list[int] = [-1]
    quiet_since = [time.monotonic()]

    def settled() -> bool:
        nudge()
        count = len(maildir_files(maildir))
        if count != last[0]:
            last[0], quiet_since[0] = count, time.monotonic()
            return False
        return done() and time.monotonic() - quiet_since[0] > 3.0

    poll(settled, timeout, "every queue empty and the return-path mailbox quiet", logs, interval=1.0)


def run_postfix(stack: MailStack, sends: Sequence[Send], timeout: float = 240.0) -> None:
    """Send through Postfix A and wait until both Postfixes' queues are empty."""
    for send in sends:
        stack.send(list(send.recipients), sender=send.return_path, message_id=f"<{send.message_id}>",
                   subject=f"News {send.name}", headers=send.headers,
                   notify=send.notify)
    empty = (stack.postfix_a, stack.postfix_b)
    _settle(lambda: all("Mail queue is empty" in p.queue_listing() for p in empty),
            stack.maildir, stack.all_logs(), timeout)


class EximSender(Exim):
    """Exim 4 as the sender's MTA with three routes: ``example.test`` to the final MX,
    ``example.net`` to a remote MX (Postfix B), and its own returns over LMTP to Dovecot."""

    def __init__(self, base: Path, mx_port: int, remote_mx_port: int, lmtp_port: int, *,
                 delay_warning: str, give_up_after: str, retry_every: str) -> None:
        super().__init__(base, mx_port, delay_warning=delay_warning, give_up_after=give_up_after,
                         retry_every=retry_every)
        self.remote_mx_port = remote_mx_port
        self.lmtp_port = lmtp_port

    def configure(self) -> None:
        """Exim's own config (exim.py), with its returns sent to LMTP and a route to the remote MX added."""
        super().configure()
        text = self.config_path.read_text()
        text = text.replace("  transport = returned_maildir\n", "  transport = returned_lmtp\n")
        text = text.replace("to_final_mx:\n", REMOTE_MX_ROUTER + "to_final_mx:\n")
        text = text.replace("begin transports\n\n", "begin transports\n\n" + EXTRA_TRANSPORTS.format(
            hostname=HOSTNAME, remote_mx_port=self.remote_mx_port, lmtp_port=self.lmtp_port))
        self.config_path.write_text(text)


REMOTE_MX_ROUTER = """\
to_remote_mx:
  driver = manualroute
  domains = example.net
  route_list = * 127.0.0.1
  self = send
  transport = remote_mx_smtp
  no_more

"""

# Returned mail goes to the return-path mailbox over LMTP (spec 30: smtp transport, protocol = lmtp).
EXTRA_TRANSPORTS = """\
remote_mx_smtp:
  driver = smtp
  port = {remote_mx_port}
  allow_localhost
  hosts_avoid_tls = *
  helo_data = {hostname}

returned_lmtp:
  driver = smtp
  protocol = lmtp
  hosts = 127.0.0.1
  hosts_override
  port = {lmtp_port}
  allow_localhost
  hosts_avoid_tls = *

"""


class EximStack(_Components):
    """Dovecot + final MX + Postfix B (remote MX) + final MX behind B + Exim as the sender.

    Postfix B hands its bounces straight to Dovecot over LMTP (Exim never
    listens, so nothing could send them back through it).
    """

    _teardown_name = "exim stack"

    def __init__(self, base_dir: Path | str | None = None, keep: bool = False,
                 timings: QueueTimes = QUICK, log_selector: str | None = "+all -arguments") -> None:
        self.base = _fresh_base(base_dir, "eximstack-")
        self.keep = keep
        self._stops: list[Callable[[], None]] = []
        imap, imaps, lmtp, smtpd_b, mx_a, mx_b = free_ports(6)
        self.dovecot = Dovecot(self.base / "dovecot", imap, imaps, lmtp, user=RETURN_USER)
        self.final_mx_a = _final_mx_in(self.base / "final-mx-a", mx_a, "mx.example.test")
        self.final_mx_b = _final_mx_in(self.base / "final-mx-b", mx_b, "mail.example.net")
        self.postfix_b = PostfixInstance("postfix-b", self.base / "postfix-b", smtpd_b, {
            "myhostname": "mx.example.net",
            "mydomain": "example.net",
            "myorigin": "$mydomain",
            "relay_domains": "example.net",
            "transport_maps": (f"inline:{{ example.net=smtp:[127.0.0.1]:{mx_b}, "
                               f"{SENDER_DOMAIN}=lmtp:inet:127.0.0.1:{lmtp} }}"),
            **timings.as_main_cf(),
        })
        self.exim = EximSender(self.base / "exim", mx_a, smtpd_b, lmtp, delay_warning="20s",
                               give_up_after="40s", retry_every="5s")
        self.exim.log_selector = log_selector  # None: Exim's default logging

    def start(self) -> "EximStack":
        _ensure_traversable(self.base)
        self._start_in_order(self._prepare, (self.final_mx_a, self.final_mx_b, self.dovecot, self.postfix_b))
        return self

    def _prepare(self) -> None:
        self.postfix_b.prepare()
        self.exim.configure()

    @property
    def maildir(self) -> Path:
        return self.dovecot.maildir

    @property
    def log(self) -> Path:
        return self.exim.mainlog

    def all_logs(self) -> list[Path]:
        return [self.exim.mainlog, self.exim.base / "log" / "paniclog", self.postfix_b.log_path,
                self.dovecot.log_path, self.final_mx_a.log_path, self.final_mx_b.log_path]


def run_exim(stack: EximStack, sends: Sequence[Send], timeout: float = 240.0) -> None:
    """Submit through Exim, run its queue now and then, and wait until nothing is queued."""
    for send in sends:
        stack.exim.submit(send.return_path, list(send.recipients), send.data())
    last_run = [time.monotonic()]

    def queue_run() -> None:
        if time.monotonic() - last_run[0] >= 5.0:
            stack.exim.queue_run()
            last_run[0] = time.monotonic()

    _settle(lambda: stack.exim.queue_count() == 0 and "Mail queue is empty" in stack.postfix_b.queue_listing(),
            stack.maildir, stack.all_logs(), timeout, nudge=queue_run)

