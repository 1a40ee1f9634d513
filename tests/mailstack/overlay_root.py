"""A throwaway root for an MTA unpacked from a Debian package, in namespaces of its own.

OpenSMTPD, Courier and DMA read and write paths compiled into them
(/etc/smtpd.conf, /var/spool/smtpd, /etc/courier, /var/lib/courier,
/etc/dma, /var/spool/dma, /run ...) and switch to users of their own, so
neither LD_LIBRARY_PATH nor nss_wrapper (what Exim and Sendmail get, see
mta_packages.py) makes them run from a cache folder. Installing them would
replace the system MTA. Instead, a private mount and UTS namespace
(``unshare -m -u``) gets an overlay of the host's ``/`` whose upper layer, a
tmpfs, starts as a copy of the unpacked packages: inside, the MTA finds its
files where it was built to, and whatever it writes (queue, /etc/passwd
lines for its users, /run sockets) lands in that tmpfs. The host's tree is
the read-only lower layer and is never written; everything vanishes with the
namespace.

Two things cross the boundary: `base` (a host folder, bound at the same path
inside, for configs, outputs and logs) and /dev/log, which is our
:class:`~tests.mailstack.sendmail.SyslogCatcher`'s socket, so the MTA's
syslog lines are caught into ``base/maillog`` in rsyslog's file format.

The package trees are copied into the upper layer rather than stacked as
lower layers: a lower layer inside the host's ``/`` overlaps it, which the
kernel refuses (ELOOP). Debian 12's merged /usr is kept: a package's /lib or
/sbin goes under /usr, or it would hide the host's symlink.

Commands run inside with ``nsenter`` into the holder process's namespaces
and root; :meth:`OverlayRoot.stop` ends every process left in the namespace,
each by its id.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.mailstack.final_mx import null_sender_returns
from tests.mailstack.sendmail import SyslogCatcher

#: Run by ``unshare -m -u --propagation private sh -c``. $1 scratch mount point, $2 the
#: host folder shared at the same path, $3 the host name, then the unpacked package trees.
_SETUP = r"""set -e
scratch=$1; base=$2; name=$3; shift 3
mount -t tmpfs none "$scratch"
mkdir "$scratch/up" "$scratch/work" "$scratch/root" "$scratch/devup" "$scratch/devwork"
for tree in "$@"; do
  for top in "$tree"/*; do
    entry=${top##*/}
    if [ -L "/$entry" ]; then dest=$(readlink -f "/$entry"); else dest=/$entry; fi
    mkdir -p "$scratch/up$dest"
    cp -a "$top/." "$scratch/up$dest/"
  done
done
r=$scratch/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/up,workdir=$scratch/work" "$r"
mount --rbind /proc "$r/proc"
mount --rbind /sys "$r/sys"
mount -t overlay overlay -o "lowerdir=/dev,upperdir=$scratch/devup,workdir=$scratch/devwork" "$r/dev"
: > "$r/dev/log"
mount --bind "$base/syslog.sock" "$r/dev/log"
mount -t tmpfs none "$r/run"
mount -t tmpfs none "$r/tmp"
mkdir -p "$r$base"
mount --bind "$base" "$r$base"
hostname "$name"
echo READY
exec chroot "$r" sleep infinity
"""


class RootUnavailable(RuntimeError):
    """The namespaces or the overlay cannot be made here; the message says why."""


def unavailable_reason() -> str | None:
    """Why an overlay root cannot be made here (None if it can)."""
    if os.geteuid() != 0:
        return "an overlay root needs root (mount namespaces, overlayfs)"
    for tool in ("unshare", "nsenter", "chroot"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            return f"{tool} (util-linux/coreutils) not found"
    probe = subprocess.run(["unshare", "-m", "-u", "true"], capture_output=True)
    if probe.returncode != 0:
        return f"unshare -m -u fails (no CAP_SYS_ADMIN?): {probe.stderr.decode(errors='replace').strip()}"
    return None


@dataclass
class OverlayRoot:
    """The host's / with `trees` on top, writable, private; `base` shared at its own path."""

    base: Path
    trees: list[Path]
    hostname: str
    holder: subprocess.Popen | None = None
    catcher: SyslogCatcher | None = None
    _scratch: Path = field(init=False)

    @property
    def maillog(self) -> Path:
        """The MTA's syslog, as rsyslog would file it."""
        return self.base / "maillog"

    def start(self, timeout: float = 60.0) -> OverlayRoot:
        """Make the namespaces and the overlay; return once commands can enter it."""
        reason = unavailable_reason()
        if reason:
            raise RootUnavailable(reason)
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)
        self._scratch = self.base / "ns"
        self._scratch.mkdir(exist_ok=True)
        self.catcher = SyslogCatcher(self.base / "syslog.sock", self.maillog, self.hostname)
        (self.base / "syslog.sock").chmod(0o666)  # MTAs log after dropping root
        log = (self.base / "holder.log").open("wb")
        self.holder = subprocess.Popen(
            ["unshare", "-m", "-u", "--propagation", "private", "sh", "-c", _SETUP, "sh",
             str(self._scratch), str(self.base), self.hostname, *map(str, self.trees)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "READY" in (self.base / "holder.log").read_text(errors="replace") and self._inside_pid():
                return self
            if self.holder.poll() is not None:
                break
            time.sleep(0.1)
        output = (self.base / "holder.log").read_text(errors="replace")
        self.stop()
        raise RootUnavailable(f"the overlay root did not come up: {output.strip()[-600:]}")

    def _inside_pid(self) -> int | None:
        """The holder's pid once it has exec'd into the chroot (unshare execs sh, sh execs chroot)."""
        if self.holder is None:
            return None
        try:
            target = os.readlink(f"/proc/{self.holder.pid}/exe")
        except OSError:
            return None
        return self.holder.pid if target.endswith("/sleep") else None

    def command(self, argv: list[str]) -> list[str]:
        """`argv` as run inside: the holder's mount and UTS namespaces, its root and cwd (/)."""
        if self.holder is None:
            raise RuntimeError("the overlay root is not started")
        return ["nsenter", "-t", str(self.holder.pid), "-m", "-u", "-r", "-w", *argv]

    def run(self, argv: list[str], *, what: str, stdin: bytes | None = None, timeout: float = 60.0,
            ok: tuple[int, ...] = (0,)) -> str:
        """Run `argv` inside; its output as text. An exit code not in `ok` raises with that output."""
        result = subprocess.run(self.command(argv), input=stdin, capture_output=True,
                                timeout=timeout, env=_plain_env())
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        if result.returncode not in ok:
            raise RuntimeError(f"{what} exited {result.returncode}: {output}")
        return output

    def popen(self, argv: list[str], log: Path) -> subprocess.Popen:
        """Start a long-running `argv` inside (a daemon kept in the foreground), output to `log`."""
        with log.open("ab") as out:
            return subprocess.Popen(self.command(argv), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=_plain_env(), start_new_session=True)

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write a file inside (e.g. /etc/dma/dma.conf): it lands in the tmpfs, not on the host."""
        self.run(["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"', "sh",
                  path, f"{mode:o}"], what=f"write {path}", stdin=text.encode())

    def append(self, path: str, text: str) -> None:
        """Append to a file inside (users and groups to /etc/passwd, /etc/group)."""
        self.run(["sh", "-c", 'cat >> "$1"', "sh", path], what=f"append to {path}", stdin=text.encode())

    def processes(self) -> list[int]:
        """Every process in the namespace, the holder included."""
        if self.holder is None:
            return []
        try:
            ns = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")
        except OSError:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "ns" / "mnt") == ns:
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def stop(self) -> None:
        """End every process inside (SIGTERM, then SIGKILL), then the syslog catcher."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.processes()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        if self.holder is not None:
            try:
                self.holder.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self.catcher is not None:
            self.catcher.stop()
            self.catcher = None


def _plain_env() -> dict[str, str]:
    """A C locale in UTC and nothing preloaded: the MTAs write dates and texts as on a server."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LD_", "NSS_WRAPPER"))}
    env.update({"LANG": "C", "LC_ALL": "C", "TZ": "UTC"})
    return env


class OverlayMta:
    """What an MTA run in an :class:`OverlayRoot` has in common, whatever the MTA:
    its root once configured, its returns as the final MX got them, its caught
    syslog, and the end of its namespace. The dataclasses that use it declare
    ``overlay`` and ``mx_record`` as fields."""

    overlay: OverlayRoot | None
    mx_record: Path

    @property
    def _overlay(self) -> OverlayRoot:
        if self.overlay is None:
            raise RuntimeError("configure() first")
        return self.overlay

    def returned(self) -> list[bytes]:
        """The MTA's returns as the final MX received them (``Return-Path``/``Delivered-To`` added)."""
        return null_sender_returns(self.mx_record)

    def log(self) -> str:
        """The MTA's syslog lines, as caught."""
        path = self._overlay.maillog
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.overlay is not None:
            self.overlay.stop()
