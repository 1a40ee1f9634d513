"""Debian's MTAs (Exim 4, Sendmail 8, OpenSMTPD, DMA, Courier), unpacked (never installed).

Installing either would replace the system MTA (they conflict with Postfix,
which the other real-stack tests run), so the packages are fetched with
``apt-get download`` and opened with ``dpkg -x``. Shared libraries the host
lacks (libidn12 for Exim, liblockfile1 for Sendmail) are unpacked alongside
and found through LD_LIBRARY_PATH; m4 builds sendmail.cf.

Two things stop the unpacked binaries from running as shipped, both handled
here rather than by touching /etc:

* Exim looks up its compiled-in user ``Debian-exim`` at start, and Sendmail
  sleeps 60 s when the host name has no dot (``My unqualified host name ...
  unknown; sleeping for retry``). nss_wrapper (libnss-wrapper, LD_PRELOAD)
  supplies a private passwd/group file and a dotted host name.
* The set-uid/set-gid bits make the loader ignore LD_LIBRARY_PATH and
  LD_PRELOAD, so they are cleared on our copies (we run them as root anyway).

The cache is ``$BOUNCELEDGER_MTA_CACHE``, else /var/cache/bounceledger-mta
when root, else ``.mta-cache/`` in the checkout (git-ignored).
OpenSMTPD, DMA and Courier use paths and users compiled into them, so they
run inside an overlay root instead (overlay_root.py), from the same unpacked
trees.

``python -m tests.mailstack.mta_packages`` fetches and unpacks them all now.
"""
from __future__ import annotations

import gzip
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MULTIARCH_LIB = Path("usr/lib/x86_64-linux-gnu")

#: What each MTA needs unpacked: the daemon, helper libraries, nss_wrapper.
PACKAGES: dict[str, tuple[str, ...]] = {
    "exim": ("exim4-daemon-light", "libidn12", "libnss-wrapper"),
    "sendmail": ("sendmail-bin", "sendmail-cf", "m4", "liblockfile1", "libnss-wrapper"),
    # These three run in an overlay root (overlay_root.py), not from the cache folder.
    "opensmtpd": ("opensmtpd", "libevent-2.1-7", "libdb5.3"),
    "dma": ("dma",),
    "courier": ("courier-mta", "courier-base", "courier-authlib", "libcourier-unicode4",
                "libpcre3", "libgamin0", "libltdl7", "libidn12", "libnet-cidr-perl"),
    # Not an MTA: the Cyrus IMAP server (cyrus.py), unpacked for the same reason (installing it
    # would remove dovecot-imapd); saslpasswd2 (sasl2-bin) writes its password database.
    "cyrus": ("cyrus-imapd", "cyrus-common", "libclamav12", "libical3", "libxapian30", "libzephyr4",
              "libmspack0", "libpcre3", "sasl2-bin", "libnss-wrapper"),
}

#: The file whose presence proves an unpacked tree is usable.
MAIN_BINARY: dict[str, Path] = {
    "exim": Path("usr/sbin/exim4"),
    "sendmail": Path("usr/libexec/sendmail/sendmail"),
    "opensmtpd": Path("usr/sbin/smtpd"),
    "dma": Path("usr/sbin/dma"),
    "courier": Path("usr/lib/courier/courier/courierd"),
    "cyrus": Path("usr/lib/cyrus/bin/imapd"),
}


class MtaUnavailable(RuntimeError):
    """The MTA cannot be fetched or unpacked here; the message says why."""


def cache_dir() -> Path:
    """Where .deb files and unpacked trees live (see module docstring)."""
    configured = os.environ.get("BOUNCELEDGER_MTA_CACHE")
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/cache/bounceledger-mta")
    return REPO_ROOT / ".mta-cache"


def all_packages() -> list[str]:
    """Every package any MTA needs, once each (for tests/install-system-deps.sh)."""
    return sorted({name for names in PACKAGES.values() for name in names})


def _deb_for(debs: Path, package: str) -> Path | None:
    found = sorted(debs.glob(f"{package}_*.deb"))
    return found[-1] if found else None


def download(packages: list[str], debs: Path) -> None:
    """``apt-get download`` what is not in `debs` yet; apt's own error on failure."""
    missing = [name for name in packages if _deb_for(debs, name) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise MtaUnavailable(f"apt-get not found: cannot download {' '.join(missing)}")
    debs.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["apt-get", "download", *missing], cwd=debs, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL)
    still = [name for name in missing if _deb_for(debs, name) is None]
    if still:
        raise MtaUnavailable(f"apt-get download {' '.join(still)} failed "
                             f"(exit {result.returncode}): {result.stderr.strip()[-400:]}")


def _clear_setid_bits(root: Path) -> None:
    """Set-id binaries would make ld.so ignore LD_LIBRARY_PATH/LD_PRELOAD."""
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            mode = path.stat().st_mode
            if mode & (stat.S_ISUID | stat.S_ISGID):
                path.chmod(mode & ~(stat.S_ISUID | stat.S_ISGID))


def unpacked_root(mta: str) -> Path:
    """The unpacked tree for `mta` (a key of PACKAGES), fetching it on first use."""
    if mta not in PACKAGES:
        raise ValueError(f"unknown MTA {mta!r}; known: {', '.join(PACKAGES)}")
    if shutil.which("dpkg") is None:
        raise MtaUnavailable("dpkg not found: the MTAs come from Debian packages")
    cache = cache_dir()
    root = cache / mta
    if (root / MAIN_BINARY[mta]).is_file() and (root / ".complete").is_file():
        return root
    debs = cache / "debs"
    try:
        download(list(PACKAGES[mta]), debs)
        partial = cache / f"{mta}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for package in PACKAGES[mta]:
            deb = _deb_for(debs, package)
            assert deb is not None  # download() raised otherwise
            subprocess.run(["dpkg", "-x", str(deb), str(partial)], check=True,
                           capture_output=True, stdin=subprocess.DEVNULL)
        _clear_setid_bits(partial)
        (partial / ".complete").write_text("\n".join(PACKAGES[mta]) + "\n")
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise MtaUnavailable(f"cannot unpack {mta} into {cache}: {exc}") from exc
    return root


def package_version(root: Path, package: str) -> str | None:
    """The Debian version of `package` unpacked in `root`, from its changelog's first line
    (for MTAs that print none themselves)."""
    changelog = root / "usr/share/doc" / package / "changelog.Debian.gz"
    if not changelog.exists():
        return None
    first = gzip.decompress(changelog.read_bytes()).decode(errors="replace").split("\n", 1)[0]
    found = re.search(r"\(([^)]+)\)", first)
    return found.group(1) if found else None


def unavailable_reason(mta: str) -> str | None:
    """Why `mta` cannot run here (None if it can): not root, no apt/dpkg, download failed."""
    if os.geteuid() != 0:
        return f"{mta} runs as root here (it switches to the mail user for local delivery)"
    try:
        unpacked_root(mta)
    except MtaUnavailable as exc:
        return str(exc)
    return None


def runtime_env(root: Path, home: Path, hostname: str) -> dict[str, str]:
    """Environment for running a binary of `root`: its libraries, nss_wrapper, a dotted host name.

    `home` must hold ``passwd``, ``group`` and ``hosts`` (written by :func:`write_nss_files`):
    with the host name in that hosts file, looking it up never waits on DNS.
    """
    lib = root / MULTIARCH_LIB
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LD_", "NSS_WRAPPER"))}
    env.update({
        "LD_LIBRARY_PATH": str(lib),
        "LD_PRELOAD": str(lib / "libnss_wrapper.so"),
        "NSS_WRAPPER_PASSWD": str(home / "passwd"),
        "NSS_WRAPPER_GROUP": str(home / "group"),
        "NSS_WRAPPER_HOSTNAME": hostname,
        "NSS_WRAPPER_HOSTS": str(home / "hosts"),
        "LANG": "C",
        "LC_ALL": "C",
        "TZ": "UTC",
    })
    return env


def run_unpacked(command: list[str], *, what: str, root: Path, home: Path, hostname: str,
                 stdin: bytes | None = None, timeout: float = 60.0,
                 ok: tuple[int, ...] = (0,)) -> str:
    """Run `command` (a binary of `root`) under :func:`runtime_env`; its stdout and stderr as text.

    An exit code not in `ok` raises with the MTA's own output, named by `what`:
    a failed submission or queue run is only understood from what the MTA said.
    """
    result = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout,
                            env=runtime_env(root, home, hostname))
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    if result.returncode not in ok:
        raise RuntimeError(f"{what} exited {result.returncode}: {output}")
    return output


def write_nss_files(home: Path, hostname: str, extra_users: dict[str, int] | None = None) -> None:
    """A private passwd/group/hosts: root, nobody, `extra_users` (name -> uid, sharing nogroup),
    and `hostname` on 127.0.0.1 (Sendmail resolves its own name at start; DNS is unreachable).

    Exim needs ``Debian-exim`` to exist; giving it nobody's ids keeps every
    file the MTAs write owned by one unprivileged user.
    """
    users = {"root": (0, 0, "/root"), "nobody": (65534, 65534, "/nonexistent")}
    for name, uid in (extra_users or {}).items():
        users[name] = (uid, 65534, "/nonexistent")
    (home / "passwd").write_text("".join(
        f"{name}:x:{uid}:{gid}:{name}:{directory}:/usr/sbin/nologin\n"
        for name, (uid, gid, directory) in users.items()))
    groups = {"root": 0, "nogroup": 65534, "mail": 8}
    groups.update({name: 65534 for name in (extra_users or {}) if name not in groups})
    (home / "group").write_text("".join(f"{name}:x:{gid}:\n" for name, gid in groups.items()))
    (home / "hosts").write_text(f"127.0.0.1 {hostname} localhost\n")


def main() -> int:
    """Fetch and unpack every MTA; print where each lives, or why it cannot."""
    failed = False
    for mta in PACKAGES:
        try:
            print(f"{mta}: {unpacked_root(mta)}")
        except MtaUnavailable as exc:
            print(f"{mta}: unavailable: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
