"""MailStack: Dovecot + Postfix A + Postfix B + two final MXes, started and torn down together.

Topology (all on 127.0.0.1, free ports)::

    send() --SMTP--> Postfix A (mta.sender.test, syslog_name postfix-a)
        example.test --> final MX "a"  (answers by local part)
        example.net  --> Postfix B (mx.example.net) --> final MX "b"
                          B says 250 to A, then bounces unknown* back to
                          bounces+TAG@sender.test via A's smtpd
        sender.test  --> LMTP --> Dovecot, user "bounces" (%Ln strips +TAG)

Why two Postfixes: the asynchronous bounce ("sent ... queued as X" in A's log,
then a DSN from B carrying X-Postfix-Queue-ID: X) is the case bounceledger
exists for, and only a real second MTA produces it faithfully.
"""
from __future__ import annotations

import email.utils
from abc import ABC, abstractmethod
import os
import re
import shutil
import smtplib
import socket
import stat
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Callable, Iterable, Mapping, Protocol, Self, Sequence

from tests.mailstack.dovecot import Dovecot
from tests.mailstack.final_mx import FinalMX
from tests.mailstack.ports import free_ports
from tests.mailstack.postfix import PostfixInstance, QueueTimes
from tests.mailstack.waits import maildir_files, wait_for_log, wait_for_maildir

StackTimings = QueueTimes  # public name: retry/delay/expiry knobs for both Postfixes

REQUIRED_BINARIES = ("postfix", "postqueue", "dovecot", "openssl")
SENDER_DOMAIN = "sender.test"
RETURN_USER = "bounces"


def missing_binaries() -> list[str]:
    """Binaries the stack needs that are not on PATH (also looks in sbin for non-root PATHs)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [name for name in REQUIRED_BINARIES if shutil.which(name, path=path) is None]


@dataclass
class SentMessage:
    """What send() submitted, plus A's queue id from the DATA reply (for log correlation)."""

    message_id: str
    sender: str
    recipients: list[str]
    queue_id: str | None
    refused: dict[str, tuple[int, bytes]] = field(default_factory=dict)


def _ensure_traversable(path: Path) -> None:
    """Fail early if Dovecot's uid 65534 or Postfix's user cannot reach `path`.

    pytest's tmp_path lives under a 0700 folder, which makes LMTP delivery fail
    with an obscure permission error much later; say so up front instead.
    """
    for parent in [path, *path.parents]:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise PermissionError(
                f"{parent} is not searchable by other users (mode {oct(parent.stat().st_mode)}); "
                "Dovecot/Postfix run as unprivileged users: use a folder under /tmp "
                "(e.g. tempfile.mkdtemp()) for MailStack")


def _fresh_base(base_dir: Path | str | None, prefix: str) -> Path:
    """The harness folder, made other-readable: Dovecot and Postfix run as their own users."""
    base = Path(base_dir or tempfile.mkdtemp(prefix=prefix)).resolve()
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    return base


def _final_mx_in(folder: Path, port: int, hostname: str) -> FinalMX:
    """A final MX keeping its record and log in its own folder, so a kept run shows both."""
    folder.mkdir(exist_ok=True)
    return FinalMX(port, folder / "received.jsonl", folder / "server.log", hostname)


class _Component(Protocol):
    """Anything the harness starts and must stop again (daemons, final MXes, peers)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class _Components(ABC):
    """Starting several components in order and stopping whichever did start.

    Both the full stack and the single outbound instance need the same
    guarantee: a failure half-way stops what already runs, and teardown goes
    newest first without letting one failed stop skip the rest.
    """

    base: Path
    keep: bool
    _stops: list[Callable[[], None]]
    _teardown_name: str = "components"

    @abstractmethod
    def start(self) -> Self:
        """Start every component (through _start_in_order)."""

    def _start_in_order(self, prepare: Callable[[], None],
                        components: Iterable[_Component]) -> None:
        """Run `prepare`, then start each component; on any failure stop what runs and re-raise."""
        try:
            prepare()
            for component in components:
                self._stops.append(component.stop)
                component.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop everything that was started, newest first; one failure never skips the rest."""
        errors: list[BaseException] = []
        while self._stops:
            try:
                self._stops.pop()()
            except Exception as exc:  # noqa: BLE001 - collect, keep tearing down
                errors.append(exc)
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)
        if errors:
            raise RuntimeError(f"{self._teardown_name} teardown had errors: {errors!r}")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class MailStack(_Components):
    """Starts the whole stack in `base_dir` (a fresh temp folder if None); always tears down.

    Use as a context manager. `keep` decides whether stop() leaves the folder
    (logs, queues, maildir) behind; by default only a caller-given folder is
    kept. `timings` sets retry/delay/expiry for both
    Postfixes; the defaults make a 4xx recipient produce a delay notice after
    ~30 s and an expiry DSN after ~90 s.
    """

    _teardown_name = "mail stack"

    def __init__(self, base_dir: Path | str | None = None,
                 timings: StackTimings | None = None, keep: bool | None = None) -> None:
        self.base = _fresh_base(base_dir, "mailstack-")
        # Default: a caller's folder is kept, our own temp folder is removed on stop().
        self.keep = (base_dir is not None) if keep is None else keep
        self.timings = timings or StackTimings()
        self._stops: list[Callable[[], None]] = []
        self.startup_seconds: float | None = None
        self._build()

    # ---- construction -------------------------------------------------
    def _build(self) -> None:
        """Pick ports and describe every component; nothing runs yet."""
        (imap, imaps, lmtp, smtpd_a, smtpd_b, mx_a, mx_b) = free_ports(7)
        self.smtpd_b_port = smtpd_b  # for a subclass whose B routes a domain back to itself
        self.dovecot = Dovecot(self.base / "dovecot", imap, imaps, lmtp, user=RETURN_USER)
        self.final_mx_a = self._final_mx("final-mx-a", mx_a, "mx.example.test")
        self.final_mx_b = self._final_mx("final-mx-b", mx_b, "mail.example.net")
        self.postfix_a = PostfixInstance("postfix-a", self.base / "postfix-a", smtpd_a,
                                         self._settings_a(mx_a, smtpd_b, lmtp))
        self.postfix_b = PostfixInstance("postfix-b", self.base / "postfix-b", smtpd_b,
                                         self._settings_b(mx_b, smtpd_a))

    def _final_mx(self, name: str, port: int, hostname: str) -> FinalMX:
        return _final_mx_in(self.base / name, port, hostname)

    def _settings_a(self, mx_a: int, smtpd_b: int, lmtp: int) -> dict[str, str]:
        """A: the sender's MTA; routes test domains, delivers its own returns to Dovecot."""
        return {
            "myhostname": "mta.sender.test",
            "mydomain": SENDER_DOMAIN,
            "myorigin": "$mydomain",
            "transport_maps": (f"inline:{{ example.test=smtp:[127.0.0.1]:{mx_a}, "
                               f"example.net=smtp:[127.0.0.1]:{smtpd_b} }}"),
            "virtual_mailbox_domains": SENDER_DOMAIN,
            "virtual_mailbox_maps": f"inline:{{ {RETURN_USER}@{SENDER_DOMAIN}=ok }}",
            "virtual_transport": f"lmtp:inet:127.0.0.1:{lmtp}",
            # Log the campaign header, as a sender who wants per-campaign
            # numbers from the send log would configure it.
            "header_checks": "regexp:{ {/^X-Campaign:/ INFO} }",
            **self.timings.as_main_cf(),
        }

    def _settings_b(self, mx_b: int, smtpd_a: int) -> dict[str, str]:
        """B: a remote MX relaying example.net; its bounces go back to A over SMTP."""
        return {
            "myhostname": "mx.example.net",
            "mydomain": "example.net",
            "myorigin": "$mydomain",
            "relay_domains": "example.net",
            "transport_maps": (f"inline:{{ example.net=smtp:[127.0.0.1]:{mx_b}, "
                               f"{SENDER_DOMAIN}=smtp:[127.0.0.1]:{smtpd_a} }}"),
            **self.timings.as_main_cf(),
        }

    # ---- lifecycle ----------------------------------------------------
    def start(self) -> "MailStack":
        """Start final MXes, Dovecot, B, then A; on any failure stop what already runs."""
        _ensure_traversable(self.base)
        began = time.monotonic()
        self._start_in_order(self._prepare_postfixes,
                             (self.final_mx_a, self.final_mx_b, self.dovecot,
                              self.postfix_b, self.postfix_a))
        self.startup_seconds = time.monotonic() - began
        return self

    def _prepare_postfixes(self) -> None:
        """Both instances' postfix check/setup run side by side: they are the slow part of start."""
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(PostfixInstance.prepare, (self.postfix_a, self.postfix_b)))

    # ---- connection facts ---------------------------------------------
    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def smtp_port(self) -> int:
        """A's submission port (plain SMTP, trusted by mynetworks)."""
        return self.postfix_a.smtpd_port

    @property
    def log_a(self) -> Path:
        """Instance A's maillog: the send log bounceledger ingests."""
        return self.postfix_a.log_path

    @property
    def log_b(self) -> Path:
        return self.postfix_b.log_path

    @property
    def maildir(self) -> Path:
        return self.dovecot.maildir

    def all_logs(self) -> list[Path]:
        """Every log worth showing when something times out."""
        return [self.log_a, self.log_b, self.dovecot.log_path,
                self.final_mx_a.log_path, self.final_mx_b.log_path]

    # ---- sending ------------------------------------------------------
    def send(self, recipients: Sequence[str], *, tag: str | None = None,
             sender: str | None = None, message_id: str | None = None,
             subject: str = "Test message", headers: Mapping[str, str] | None = None,
             body: str = "Hello from the mail stack.\n", envid: str | None = None,
             notify: str | Iterable[str] | None = None, ret: str | None = None) -> SentMessage:
        """Submit one message to A over SMTP, like an application would.

        `tag` makes the return path `bounces+TAG@sender.test` (VERP-style), unless
        `sender` is given. `envid`/`ret` become MAIL FROM options (ENVID=, RET=),
        `notify` a RCPT option (e.g. "SUCCESS,FAILURE,DELAY") for every recipient.
        """
        sender = sender or (f"{RETURN_USER}+{tag}@{SENDER_DOMAIN}" if tag
                            else f"{RETURN_USER}@{SENDER_DOMAIN}")
        message_id = message_id or email.utils.make_msgid(domain=SENDER_DOMAIN)
        msg = build_message(recipients, message_id, subject, headers or {}, body)
        mail_options = ([f"ENVID={envid}"] if envid else []) + ([f"RET={ret}"] if ret else [])
        if notify is not None and not isinstance(notify, str):
            notify = ",".join(notify)
        rcpt_options = [f"NOTIFY={notify}"] if notify else []
        queue_id, refused = smtp_submit(self.host, self.smtp_port, sender, list(recipients),
                                        msg.as_bytes(), mail_options=mail_options,
                                        rcpt_options=rcpt_options)
        return SentMessage(message_id, sender, list(recipients), queue_id, refused)

    # ---- waiting ------------------------------------------------------
    def wait_for_log(self, pattern: str, timeout: float = 30.0, count: int = 1,
                     instance: str = "a") -> list[re.Match[str]]:
        """Wait for a regex in A's (or B's, instance="b") log; timeout error shows all log tails."""
        path = self.log_a if instance == "a" else self.log_b
        return wait_for_log(path, pattern, timeout, count, logs=self.all_logs())

    def wait_for_maildir(self, count: int, timeout: float = 30.0) -> list[Path]:
        """Wait until Dovecot holds at least `count` messages for the return-path user."""
        return wait_for_maildir(self.maildir, count, timeout, logs=self.all_logs())

    def maildir_messages(self) -> list[Path]:
        return maildir_files(self.maildir)

    def flush_queues(self) -> None:
        """Retry deferred mail in both instances now (speeds up deferral scenarios)."""
        self.postfix_a.flush()
        self.postfix_b.flush()


def build_message(recipients: Sequence[str], message_id: str, subject: str,
                  headers: Mapping[str, str], body: str) -> EmailMessage:
    """A plain newsletter-like message; extra `headers` (e.g. X-Campaign) are added verbatim."""
    msg = EmailMessage()
    msg["From"] = f"Newsletter <news@{SENDER_DOMAIN}>"
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(body)
    return msg


# ---- one outbound instance under a chosen syslog_name --------------------------
#
# Added for the send-log parsers (issue 14): a single Postfix instance logging
# under a syslog_name of our choosing (postconf(5) syslog_name: "A prefix that
# is prepended to the process name in syslog records"; MULTI_INSTANCE_README
# names secondary instances e.g. "postfix-out"), through postlogd to its
# maillog_file (MAILLOG_README), sending to a final MX that answers by local
# part, and to two misbehaving peers that make Postfix's connection-level
# deferrals happen for real.

class TroublePeer:
    """A TCP listener on loopback that never speaks SMTP.

    ``mode="silent"`` accepts and says nothing (Postfix's smtp_helo_timeout
    then logs "conversation with ... timed out while receiving the initial
    server greeting"); ``mode="hangup"`` accepts and closes at once ("lost
    connection with ... while receiving the initial server greeting").
    """

    def __init__(self, port: int, mode: str, host: str = "127.0.0.1") -> None:
        if mode not in ("silent", "hangup"):
            raise ValueError(f"unknown peer mode {mode!r}")
        self.port = port
        self.mode = mode
        self.host = host
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(16)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name=f"peer-{self.mode}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if self.mode == "hangup":
                conn.close()
            else:
                self._held.append(conn)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._held.clear()
        if self._sock is not None:
            self._sock.close()


def ipv6_loopback() -> bool:
    """Can a socket bind to ::1 here (a kernel with IPv6 on lo)?"""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def free_port6() -> int:
    """A TCP port free on ::1 a moment ago."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", 0))
        return int(sock.getsockname()[1])


class FinalMX6:
    """final_mx.py's verdict-by-local-part MX on [::1], run in this process
    (aiosmtpd's Controller keeps its own loop thread), so Postfix's smtp
    client logs a real IPv6 relay."""

    def __init__(self, port: int, record_path: Path) -> None:
        self.port = port
        self.record_path = record_path
        self._controller: object | None = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        from tests.mailstack.final_mx import VerdictHandler

        self.record_path.touch()
        controller = Controller(VerdictHandler(self.record_path), hostname="::1", port=self.port,
                                server_hostname="mx6.example.org")
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()  # type: ignore[attr-defined]


def smtp_submit(host: str, port: int, sender: str, recipients: Sequence[str], data: bytes, *,
                mail_options: Sequence[str] = (), rcpt_options: Sequence[str] = (),
                refuse_any: bool = False) -> tuple[str | None, dict[str, tuple[int, bytes]]]:
    """Submit one message over plain SMTP, like an application would.

    Our own dialogue rather than smtplib's sendmail(), so the DATA reply (the
    MTA's queue id, for log correlation) is not thrown away. Returns that id
    (None if the reply names none) and the recipients refused at RCPT; the
    submission fails when every recipient is refused, or with `refuse_any`
    at the first one.
    """
    refused: dict[str, tuple[int, bytes]] = {}
    with smtplib.SMTP(host, port, local_hostname="app.sender.test", timeout=30) as smtp:
        smtp.ehlo()
        code, resp = smtp.mail(sender, list(mail_options))
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, resp, sender)
        for rcpt in recipients:
            code, resp = smtp.rcpt(rcpt, list(rcpt_options))
            if code not in (250, 251):
                if refuse_any:
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, resp)})
                refused[rcpt] = (code, resp)
        if not refuse_any and len(refused) == len(recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        code, resp = smtp.data(data)
        if code != 250:
            raise smtplib.SMTPDataError(code, resp)
    found = re.search(rb"queued as ([0-9A-Za-z]+)", resp)
    return (found.group(1).decode() if found else None), refused


class OutboundPostfix(_Components):
    """One Postfix instance logging as ``syslog_name`` (default ``postfix-out``,
    so its delivery agent logs as ``postfix-out/smtp``) to its maillog_file.

    Routes: ``example.test`` -> the final MX (answers by local part, see
    final_mx.py), ``silent.test`` -> a peer that never greets,
    ``hangup.test`` -> a peer that drops the connection; with ``ipv6``
    (when ::1 exists, see ipv6_loopback) also ``example.org`` -> the same
    verdicts from an MX on [::1] and ``hangup6.test`` -> a dropping peer on
    [::1]. Use as a context manager; the folder is removed on exit unless
    ``keep``.
    """

    _teardown_name = "outbound postfix"

    def __init__(self, syslog_name: str = "postfix-out", base_dir: Path | str | None = None,
                 keep: bool = False, helo_timeout: str = "3s", ipv6: bool = False) -> None:
        self.base = _fresh_base(base_dir, "pfout-")
        self.keep = keep
        smtpd, mx, silent, hangup = free_ports(4)
        folder = self.base / "final-mx"
        self.final_mx = _final_mx_in(folder, mx, "mx.example.test")
        self.silent = TroublePeer(silent, "silent")
        self.hangup = TroublePeer(hangup, "hangup")
        self.ipv6 = ipv6
        self.mx6: FinalMX6 | None = None
        self.hangup6: TroublePeer | None = None
        routes6 = ""
        if ipv6:
            self.mx6 = FinalMX6(free_port6(), folder / "received6.jsonl")
            self.hangup6 = TroublePeer(free_port6(), "hangup", host="::1")
            # transport(5): an address nexthop in brackets, IPv6 included.
            routes6 = (f"example.org=smtp:[::1]:{self.mx6.port}, "
                       f"hangup6.test=smtp:[::1]:{self.hangup6.port}, ")
        self.postfix = PostfixInstance(syslog_name, self.base / syslog_name.replace("/", "_"),
                                       smtpd, {
            "myhostname": "out.sender.test",
            "mydomain": SENDER_DOMAIN,
            "myorigin": "$mydomain",
            "transport_maps": (f"inline:{{ example.test=smtp:[127.0.0.1]:{mx}, "
                               f"silent.test=smtp:[127.0.0.1]:{silent}, "
                               f"hangup.test=smtp:[127.0.0.1]:{hangup}, {routes6}"
                               f"{SENDER_DOMAIN}=discard: }}"),
            # postconf(5) inet_protocols: the smtp client may use IPv6 too.
            "inet_protocols": "all" if ipv6 else "ipv4",
            "smtp_helo_timeout": helo_timeout,
            # Its own bounces go to discard(8): a real internal hand-off in the log.
            **QueueTimes().as_main_cf(),
        })
        self._stops: list[Callable[[], None]] = []

    @property
    def log_path(self) -> Path:
        return self.postfix.log_path

    @property
    def mx_port(self) -> int:
        return self.final_mx.port

    def start(self) -> "OutboundPostfix":
        _ensure_traversable(self.base)
        extra = [c for c in (self.mx6, self.hangup6) if c is not None]
        self._start_in_order(self.postfix.prepare,
                             (self.final_mx, self.silent, self.hangup, *extra, self.postfix))
        return self

    def send(self, recipients: Sequence[str], *, tag: str, message_id: str) -> SentMessage:
        """Submit one message with return path bounces+TAG@sender.test."""
        sender = f"{RETURN_USER}+{tag}@{SENDER_DOMAIN}"
        msg = build_message(recipients, message_id, "Test message", {}, "Hello.\n")
        queue_id, _ = smtp_submit("127.0.0.1", self.postfix.smtpd_port, sender, recipients,
                                  msg.as_bytes(), refuse_any=True)
        return SentMessage(message_id, sender, list(recipients), queue_id)

    def wait_for_log(self, pattern: str, timeout: float = 30.0,
                     count: int = 1) -> list[re.Match[str]]:
        return wait_for_log(self.log_path, pattern, timeout, count,
                            logs=[self.log_path, self.final_mx.log_path])

    def verify(self, recipient: str, *, tag: str) -> None:
        """``sendmail -bv``: Postfix checks the address as far as the next
        MTA's RCPT reply and mails a status report to the sender, logging
        ``status=deliverable``/``undeliverable`` (sendmail(1) -bv; the
        delivery agents run in verify mode: the message is not delivered)."""
        proc = subprocess.run(
            ["sendmail", "-C", str(self.postfix.config_dir), "-f",
             f"{RETURN_USER}+{tag}@{SENDER_DOMAIN}", "-bv", recipient],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"sendmail -bv {recipient} failed: {proc.stdout}{proc.stderr}")
