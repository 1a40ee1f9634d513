"""A mail stack whose remote MX fails in Postfix's own words, not the final MX's.

In :class:`~tests.mailstack.stack.MailStack` every failure is a reply the
aiosmtpd final MX was told to give. Here Postfix B also has failures of its
own, each reached through its documented settings (postconf(5), virtual(8)):

* ``message_size_limit`` (:data:`SIZE_LIMIT`): A's SMTP client reads B's
  ``SIZE`` and refuses to send a larger message (A's own bounce).
* ``virtual_mailbox_domains`` ``box.example.net``: an address missing from
  ``virtual_mailbox_maps`` is refused at RCPT ("User unknown in virtual
  mailbox table"), and ``full@`` is an mbox filled close to
  ``virtual_mailbox_limit``: B says 250, then virtual(8) cannot write the
  message and B bounces it later (5.2.2, "File too large").
* ``loop.example.net`` is relayed by B to itself: B says 250 to A, then
  passes the message round until its hop count runs out and bounces it.
* Four domains fail on the network, each once: B gives up at once
  (``maximal_queue_lifetime = 0``: "tried only once", postconf(5)) and bounces
  with its 4.x.x status. ``refused.`` is routed to a port nothing listens on,
  ``silent.`` to a server that never greets (``smtp_helo_timeout``),
  ``hangup.`` to one that closes after the greeting, and ``tls.`` to the final
  MX under an ``encrypt`` TLS policy, which it does not offer.
* ``local.example.net`` is B's own (``mydestination``) and takes any local
  part at RCPT (``local_recipient_maps`` empty): local(8) then bounces an
  unknown user, and aliases that pipe into a command bounce when it exits
  with a sysexits.h code (67: "user unknown") or any other failure
  ("Command died with status 1").
"""

from __future__ import annotations

import os
from pathlib import Path

import socket
import threading

from tests.mailstack.ports import free_ports
from tests.mailstack.stack import MailStack

SIZE_LIMIT = 20_000
#: virtual(8) refuses a limit below message_size_limit; the mbox is filled to
#: within a short message of it.
MAILBOX_LIMIT = SIZE_LIMIT
NOBODY = 65534  # the uid and gid virtual(8) delivers as (static maps)


class _MuteServer:
    """A TCP server on loopback that is no SMTP server: it never greets (``greet=False``),
    or greets and hangs up at the client's first command."""

    def __init__(self, greet: bool) -> None:
        self.greet = greet
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []  # silent connections stay open until stop()
        threading.Thread(target=self._serve, name=f"mute-server {self.port}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # stopped
            if not self.greet:
                self.held.append(conn)
                continue
            with conn:
                conn.sendall(b"220 hangup.example.net ESMTP\r\n")
                conn.recv(1024)

    def stop(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


class NativeFailureStack(MailStack):
    """See the module docstring: B's own failures for a few domains beside the usual ones."""

    def _build(self) -> None:
        [self.closed_port] = free_ports(1)  # nothing listens there
        self.silent, self.hangup = _MuteServer(greet=False), _MuteServer(greet=True)
        super()._build()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.silent.stop()
            self.hangup.stop()

    @property
    def boxes(self) -> Path:
        return self.base / "boxes"

    def _settings_a(self, mx_a: int, smtpd_b: int, lmtp: int) -> dict[str, str]:
        settings = super()._settings_a(mx_a, smtpd_b, lmtp)
        # transport_maps match a subdomain only as ".domain" (transport(5))
        settings["transport_maps"] = settings["transport_maps"].replace(
            "example.net=", f"example.net=smtp:[127.0.0.1]:{smtpd_b}, .example.net="
        )
        return settings

    def _settings_b(self, mx_b: int, smtpd_a: int) -> dict[str, str]:
        settings = super()._settings_b(mx_b, smtpd_a)
        routes = (
            f"loop.example.net=smtp:[127.0.0.1]:{self.smtpd_b_port}, "
            f"refused.example.net=smtp:[127.0.0.1]:{self.closed_port}, "
            f"silent.example.net=smtp:[127.0.0.1]:{self.silent.port}, "
            f"hangup.example.net=smtp:[127.0.0.1]:{self.hangup.port}, "
            f"tls.example.net=smtp:[localhost]:{mx_b}, "  # its own next-hop name, for the TLS policy
        )
        settings.update(
            {
                "parent_domain_matches_subdomains": "",
                "relay_domains": "example.net, loop.example.net, refused.example.net, silent.example.net, "
                                 "hangup.example.net, tls.example.net",
                "transport_maps": settings["transport_maps"].replace("example.net=", routes + "example.net="),
                "maximal_queue_lifetime": "0",
                "smtp_connect_timeout": "3s",
                "smtp_helo_timeout": "3s",
                "smtp_tls_policy_maps": f"inline:{{ [localhost]:{mx_b}=encrypt }}",
                "message_size_limit": str(SIZE_LIMIT),
                "virtual_mailbox_domains": "box.example.net",
                "virtual_mailbox_maps": "inline:{ full@box.example.net=full }",
                "virtual_mailbox_base": str(self.boxes),
                "virtual_uid_maps": f"static:{NOBODY}",
                "virtual_gid_maps": f"static:{NOBODY}",
                "virtual_mailbox_limit": str(MAILBOX_LIMIT),
                "mydestination": "local.example.net",
                "local_recipient_maps": "",
                "alias_database": "",
                "alias_maps": 'inline:{ {nouser="|exit 67"}, {broken="|echo no such list; exit 1"} }',
            }
        )
        return settings

    def start(self) -> NativeFailureStack:
        self.boxes.mkdir(parents=True, exist_ok=True)
        full = self.boxes / "full"
        filler = "From filler@example.net  Thu Jan  1 00:00:00 2026\n" + "x" * 70 + "\n"
        full.write_text(filler * ((MAILBOX_LIMIT - 600) // len(filler)))
        for path in (self.boxes, full):
            os.chown(path, NOBODY, NOBODY)
        super().start()
        return self
