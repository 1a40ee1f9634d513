"""A real Courier mail server (1.0.16) as the sender's MTA, in an overlay root.

Courier's paths (/etc/courier, /var/lib/courier, /run/courier,
/usr/lib/courier) and its ``courier`` user are compiled in, so it runs
inside :class:`~tests.mailstack.overlay_root.OverlayRoot`, set up as Debian's
postinst would (the user, the owners and modes of its spool and its set-id
helpers). ``courier start`` starts courierd (courier(8)); messages are
submitted with Courier's own ``sendmail`` (``-N`` for RFC 3461 NOTIFY), and
every domain, sender.test included, is routed to the final MX by an empty
domain in ``esmtproutes`` ("a smarthost for all domains", courier(8)).

Times are courier(8)'s control files: ``warntime`` (the "delayed" DSN),
``queuetime`` (give up), and the retry schedule ``retryalpha``/``retrybeta``/
``retrygamma``/``retrymaxdelta``; ``courier flush`` retries now.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.mailstack.mta_packages import package_version, unpacked_root
from tests.mailstack.overlay_root import OverlayMta, OverlayRoot

HOSTNAME = "mta.sender.test"

#: What Debian's courier-base and courier-mta postinst scripts set up (adduser, the
#: dpkg-statoverride lines, the alternatives link for makedat), in one shell script.
_POSTINST = """set -e
echo 'courier:x:995:995::/var/lib/courier:/usr/sbin/nologin' >> /etc/passwd
echo 'courier:x:995:' >> /etc/group
chown -R courier:courier /var/lib/courier
chmod 750 /var/lib/courier
chmod 770 /var/lib/courier/tmp
mkdir -p /run/courier
chown courier:courier /run/courier
chown root:courier /usr/sbin/sendmail && chmod 2755 /usr/sbin/sendmail
chown courier:courier /usr/lib/courier/courier/submitmkdir && chmod 4755 /usr/lib/courier/courier/submitmkdir
ln -sf /usr/bin/makedat.courier /usr/bin/makedat
makealiases
"""


@dataclass
class Courier(OverlayMta):
    """One Courier relaying everything to the final MX on `mx_port`."""

    base: Path
    mx_port: int
    mx_record: Path
    warn_after: str = "30s"
    give_up_after: str = "2m"
    root: Path = field(default_factory=lambda: unpacked_root("courier"))
    overlay: OverlayRoot | None = None

    def configure(self) -> None:
        """Start the overlay root, do the postinst's work, write the control files, start courierd."""
        self.overlay = OverlayRoot(self.base, [self.root], HOSTNAME).start()
        files = {
            "me": HOSTNAME, "defaultdomain": HOSTNAME, "locals": "localhost",
            "esmtproutes": f": [127.0.0.1],{self.mx_port}",
            "warntime": self.warn_after, "queuetime": self.give_up_after,
            # retry every 10 s: three tries 10 s apart, then 10 s, 20 s (courier(8))
            "retryalpha": "10s", "retrybeta": "3", "retrygamma": "10s", "retrymaxdelta": "1",
        }
        for name, value in files.items():
            self.overlay.write(f"/etc/courier/{name}", value + "\n")
        self.overlay.run(["sh", "-c", _POSTINST], what="courier postinst")
        self.overlay.run(["/usr/sbin/courier", "start"], what="courier start")

    def submit(self, sender: str, recipients: list[str], data: bytes, notify: str | None = None) -> None:
        """Courier's ``sendmail -f SENDER [-N NOTIFY] RCPT...``."""
        options = ["-N", notify] if notify else []
        self._overlay.run(["/usr/sbin/sendmail", "-f", sender, *options, "--", *recipients],
                          what="courier sendmail", stdin=data)

    def queue_run(self) -> None:
        """``courier flush``: every queued message is tried now."""
        self._overlay.run(["/usr/sbin/courier", "flush"], what="courier flush")

    def version(self) -> str:
        """"Courier 1.0.16" from the package's changelog (courierd has no version option)."""
        found = package_version(self.root, "courier-base")
        return f"Courier {found} (Debian)" if found else "Courier"

    def stop(self) -> None:
        if self.overlay is not None:
            try:
                self.overlay.run(["/usr/sbin/courier", "stop"], what="courier stop", ok=(0, 1))
            finally:
                super().stop()
