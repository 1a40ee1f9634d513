"""Cyrus IMAP 3.6 (Debian cyrus-imapd) in its own folder: a second kind of return-path mailbox.

Installing cyrus-imapd would remove dovecot-imapd (both provide imap-server), so,
like the MTAs, it is fetched with ``apt-get download`` and opened with ``dpkg -x``
(tests/mailstack/mta_packages.py). Its binaries look up the compiled-in user
``cyrus``: nss_wrapper supplies it (mapped to nobody). Everything else lives under
one folder: imapd.conf and cyrus.conf, configdirectory, partition, sasldb, the
master's pid file and sockets. It logs to syslog only.

``altnamespace`` and ``unixhierarchysep`` are set as Debian's /etc/imapd.conf sets
them (both off: a login's folders are ``INBOX.name``), unless asked otherwise.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.mailstack.mta_packages import MULTIARCH_LIB, MtaUnavailable, unpacked_root
from tests.mailstack.ports import free_ports, port_listening
from tests.mailstack.procs import pid_alive, read_pid, wait_exit

BIN = Path("usr/lib/cyrus/bin")
SASL_PLUGIN_DIR = Path("/usr/lib/x86_64-linux-gnu/sasl2")  # the host's libsasl2 loads its plugins here
NOBODY = 65534

IMAPD_CONF = """\
configdirectory: {root}/conf
defaultpartition: default
partition-default: {root}/spool
sievedir: {root}/sieve
admins: cyrus
servername: {servername}
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {root}/sasldb2
sasl_mech_list: PLAIN LOGIN
altnamespace: {altnamespace}
unixhierarchysep: {unixhierarchysep}
idlesocket: {root}/run/idle
notifysocket: {root}/run/notify
lmtpsocket: {root}/run/lmtp
statuscache: no
syslog_prefix: cyrus-test-{port}
"""

CYRUS_CONF = """\
START {{
  recover cmd="{bin}/ctl_cyrusdb -C {root}/imapd.conf -r"
}}
SERVICES {{
  imap cmd="{bin}/imapd -C {root}/imapd.conf" listen="127.0.0.1:{port}" prefork=0
}}
EVENTS {{
}}
DAEMON {{
}}
"""


def unavailable_reason() -> str | None:
    """Why Cyrus cannot run here (None if it can)."""
    if os.geteuid() != 0:
        return "cyrus runs as root here (it switches to its user cyrus)"
    if not any(SASL_PLUGIN_DIR.glob("libsasldb.so*")):
        return f"no SASL sasldb plugin in {SASL_PLUGIN_DIR} (Debian package libsasl2-modules-db)"
    try:
        unpacked_root("cyrus")
    except MtaUnavailable as exc:
        return str(exc)
    return None


@dataclass
class Cyrus:
    """One Cyrus instance rooted at `root`; logins `user` and the admin ``cyrus``, both `password`."""

    root: Path
    port: int
    altnamespace: bool = False
    unixhierarchysep: bool = False
    user: str = "bounces"
    password: str = "secret"
    host: str = "127.0.0.1"

    @property
    def servername(self) -> str:
        return "cyrus.sender.test"

    @property
    def tree(self) -> Path:
        return unpacked_root("cyrus")

    def env(self) -> dict[str, str]:
        tree = self.tree
        env = {key: value for key, value in os.environ.items() if not key.startswith(("LD_", "NSS_WRAPPER"))}
        env.update({
            # libpcre3 ships its library in /lib, not /usr/lib
            "LD_LIBRARY_PATH": f"{tree / MULTIARCH_LIB}:{tree / 'lib/x86_64-linux-gnu'}",
            "LD_PRELOAD": str(tree / MULTIARCH_LIB / "libnss_wrapper.so"),
            "NSS_WRAPPER_PASSWD": str(self.root / "passwd"),
            "NSS_WRAPPER_GROUP": str(self.root / "group"),
            "LANG": "C", "LC_ALL": "C", "TZ": "UTC",
        })
        return env

    def configure(self) -> None:
        for sub in ("conf", "spool", "run", "sieve"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        passwd = Path("/etc/passwd").read_text()
        (self.root / "passwd").write_text(passwd + f"cyrus:x:{NOBODY}:{NOBODY}:Cyrus IMAP:{self.root}:/bin/sh\n")
        (self.root / "group").write_text(Path("/etc/group").read_text())
        flag = {True: "yes", False: "no"}
        (self.root / "imapd.conf").write_text(IMAPD_CONF.format(
            root=self.root, servername=self.servername, port=self.port,
            altnamespace=flag[self.altnamespace], unixhierarchysep=flag[self.unixhierarchysep]))
        (self.root / "cyrus.conf").write_text(CYRUS_CONF.format(bin=self.tree / BIN, root=self.root, port=self.port))
        for login in ("cyrus", self.user):
            subprocess.run([str(self.tree / "usr/sbin/saslpasswd2"), "-p", "-c", "-f", str(self.root / "sasldb2"),
                            "-u", self.servername, login], input=self.password.encode(), check=True,
                           capture_output=True, env=self.env())
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)

    @property
    def pid_file(self) -> Path:
        return self.root / "run" / "master.pid"

    def start(self, timeout: float = 20.0) -> None:
        with (self.root / "master.log").open("ab") as out:
            subprocess.run([str(self.tree / BIN / "master"), "-C", str(self.root / "imapd.conf"),
                            "-M", str(self.root / "cyrus.conf"), "-p", str(self.pid_file), "-d"],
                           check=True, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=self.env())
        deadline = time.monotonic() + timeout
        while not port_listening(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"cyrus not listening on {self.port}; see {self.root / 'master.log'}")
            time.sleep(0.1)
        self.create_user_mailbox()

    def create_user_mailbox(self) -> None:
        from imapclient import IMAPClient

        separator = "/" if self.unixhierarchysep else "."
        with IMAPClient(self.host, self.port, ssl=False, timeout=30) as client:
            client.login("cyrus", self.password)
            client.create_folder(f"user{separator}{self.user}")

    def stop(self, timeout: float = 10.0) -> None:
        pid = read_pid(self.pid_file)
        if pid is None or not pid_alive(pid):
            return
        os.kill(pid, signal.SIGTERM)
        wait_exit(pid, timeout)


@contextmanager
def scratch_cyrus(prefix: str, *, altnamespace: bool = False, unixhierarchysep: bool = False) -> Iterator[Cyrus]:
    """A started Cyrus in a fresh folder on a free loopback port; stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    server = Cyrus(root=root, port=free_ports(1)[0], altnamespace=altnamespace, unixhierarchysep=unixhierarchysep)
    server.configure()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
