"""fml, the Japanese mailing-list manager, refusing a post.

fml answers the poster (``X-MLServer: fml ...``) in plain words instead of
a bounce: "You are not a member of this mailing list <list@example.org>"
when members-only posting is on, "Duplicated Message-ID" when its loop
check saw the message before. The list is the recipient that refused.
Nothing else from a list server is a delivery failure, so only these
refusals are read.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import notice

#: (wording, reason): what the list refused and why.
REFUSALS: tuple[tuple[re.Pattern[str], str], ...] = (
    (lazy(r"are not (?:a )?member|is not (?:a )?member|not a member of this (?:mailing )?list", re.I), "rejected"),
    (lazy(r"duplicated message-id|loop alert", re.I), "systemerror"),
    (lazy(r"you are not allowed to|permission denied|is not permitted to (?:post|use)", re.I), "securityerror"),
)


def detect(msg: Message, body: str) -> list[Failure]:
    if not m.header(msg, "X-MLServer").lower().startswith("fml"):
        return []
    text = notice(body)
    said = m.unfold(" ".join((m.header(msg, "Subject"), text[:2000])))
    reason = next((r for pattern, r in REFUSALS if pattern.search(said)), None)
    if reason is None:
        return []
    listed = re.search(r"<([^<>\s]+@[^<>\s]+)>", text)
    recipient = m.address_of(listed.group(1)) if listed else m.address_of(m.header(msg, "From"))
    return [Failure(recipient=recipient, diagnostic=m.unfold(text)[:1000], reason=reason)]
