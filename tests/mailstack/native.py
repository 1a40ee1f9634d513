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
* ``local.example.net`` is B's own (``mydestination``) and takes any local
  part at RCPT (``local_recipient_maps`` empty): local(8) then bounces an
  unknown user, and aliases that pipe into a command bounce when it exits
  with a sysexits.h code (67: "user unknown") or any other failure
  ("Command died with status 1").
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.mailstack.stack import MailStack

SIZE_LIMIT = 20_000
#: virtual(8) refuses a limit below message_size_limit; the mbox is filled to
#: within a short message of it.
MAILBOX_LIMIT = SIZE_LIMIT
NOBODY = 65534  # the uid and gid virtual(8) delivers as (static maps)


class NativeFailureStack(MailStack):
    """See the module docstring: B's own failures for a few domains beside the usual ones."""

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
        settings.update(
            {
                "parent_domain_matches_subdomains": "",
                "relay_domains": "example.net, loop.example.net",
                "transport_maps": settings["transport_maps"].replace(
                    "example.net=", f"loop.example.net=smtp:[127.0.0.1]:{self.smtpd_b_port}, example.net="
                ),
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
