"""Google Groups: a post to a group the sender may not write to.

Google's mailer answers, in the sender's language, that "the group you
tried to contact may not exist, or you may not have permission to post
messages to the group", naming the group in ``X-Failed-Recipients`` and
linking to ``groups.google.com``. The sender was refused, not the address:
the reason is ``rejected`` whatever the language of the text.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces._prefilter import lazy
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import failed_recipients, notice, sender_of

_GROUPS_LINK = lazy(r"https?://groups\.google\.com/|\bGoogle Groups\b", re.IGNORECASE)


def detect(msg: Message, body: str) -> list[Failure]:
    if "google" not in sender_of(msg) or not _GROUPS_LINK.search(body[:50_000]):
        return []
    recipients = failed_recipients(msg)
    if not recipients:
        return []
    text = notice(body)
    return [Failure(recipient=address, diagnostic=" ".join(text.split())[:2000], reason="rejected")
            for address in recipients]
