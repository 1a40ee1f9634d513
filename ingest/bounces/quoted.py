"""Headers of the original message that a returned message quotes.

Senders can tie their mail to its bounces with a header of their own
(``X-Mailer-Ref: a81f3``): the MTA logs it when the message is sent, and a
bounce that quotes the original carries it back. Which headers count is the
user's setting (``match_headers``); the parser only reads what it is asked.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces.returned import returned_headers


def _inline_pattern(name: str) -> re.Pattern[str]:
    # A header line pasted into the text (Exim, qmail and many providers
    # quote the original inline, with no MIME part of its own).
    return re.compile(rf"^[ \t>]*{re.escape(name)}[ \t]*:[ \t]*(\S[^\r\n]*)", re.IGNORECASE | re.MULTILINE)


def quoted_headers(msg: Message, names: tuple[str, ...]) -> dict[str, str]:
    """``{name: value}`` for each of ``names`` the returned original carries.

    The returned headers part (``message/rfc822``, ``text/rfc822-headers``)
    is read first; failing that, header lines in the text of the message.
    """
    if not names:
        return {}
    found: dict[str, str] = {}
    original = returned_headers(msg)
    if original is not None:
        for name in names:
            value = m.header(original, name).strip()
            if value:
                found[name] = value
    missing = [name for name in names if name not in found]
    if missing:
        text = "\n".join(m.text_of(part) for part in m.walk(msg) if m.content_type(part).startswith("text/"))
        for name in missing:
            hit = _inline_pattern(name).search(text)
            if hit:
                found[name] = hit.group(1).strip()
    return found
