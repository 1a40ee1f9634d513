"""Gmail's plain-text notices (used until about 2016, still seen in archives).

``Delivery to the following recipient failed permanently:`` (or ``has been
delayed``), the recipient on its own line (sometimes left blank, then only
``X-Failed-Recipients`` names it), then ``Technical details of permanent
failure:`` with Google's explanation and, when the remote server spoke,
``The error that the other server returned was: 550 550 5.1.1 ...``.

Today's notices come with a delivery-status part (read as a DSN); when that
part is empty, the text is read here: a headline between asterisks
(``** Message not delivered **``), Google's explanation, then "The response
was:" and the remote server's words, recipients in ``X-Failed-Recipients``.
A notice about the sender's own "Send mail as" alias (help link
``?p=CustomFromDenied``) means the sender was refused, not the recipient.
"""

from __future__ import annotations

import re
from email.message import Message

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy, quick
from bounceledger.ingest.bounces.detectors import Failure
from bounceledger.ingest.bounces.detectors._common import failed_recipients, notice

_HEAD = quick(lazy(r"Delivery to the following recipients? (failed permanently|has been delayed|failed)\s*:",
                         re.IGNORECASE))
_DETAILS = quick(lazy(r"Technical details of (permanent|temporary) failure\s*:", re.IGNORECASE))
#: Gmail numbered the SMTP state its client was in when the remote server
#: refused: "... Access denied (state 13)." The state says more than the words.
STATES: dict[str, str] = {
    "6": "systemerror",     # after EHLO: "500 Remote server does not support TLS (state 6)"
    "13": "securityerror",  # after MAIL FROM: "550 5.7.1 ... Access denied (state 13)"
    "18": "filtered",       # after DATA: "554 5.7.0 Header error (state 18)"
}
_STATE = lazy(r"\(state (\d{1,2})\)\.?\s*$")

_BLOCKLIST = lazy(r"blocked using|\b(?:dnsbl|rbl)\b|listed (?:in|on|at)", re.IGNORECASE)
#: An RFC 3463 addressing status (X.1.x) in the reply: the remote server refused the
#: address itself ("550-5.1.1 The email account that you tried to reach does not exist
#: ... (state 13)"), whatever state Gmail's client was in.
_ADDRESS_STATUS = lazy(r"(?<![\d.])[45]\.1\.\d{1,3}(?![\d.])")

_OTHER_SERVER = lazy(r"the (?:error that the other server returned was|other server returned)\s*:?\s*", re.I)


_MODERN_HEAD = quick(lazy(r"^\*\* ?(?:Message not delivered|Address not found|Message blocked|Delivery incomplete)"
                                r" ?\*\*\s*$", re.IGNORECASE | re.M))
_RESPONSE = quick(lazy(r"^The response (?:from the remote server )?was:\s*$", re.IGNORECASE | re.M))
_RESPONSE_END = lazy(r"\n[ \t]*\n|^\*\* ?[A-Z]", re.M)
_SEND_AS = quick(lazy(r"[?&]p=CustomFromDenied|'Send mail as'", re.IGNORECASE))


def _modern(msg: Message, text: str) -> list[Failure]:
    head = _MODERN_HEAD.search(text)
    recipients = failed_recipients(msg)
    if not head or not recipients:
        return []
    response = _RESPONSE.search(text, head.end())
    said = text[response.end():] if response else text[head.end():]
    # the response ends at the paragraph's end: what follows may be the notice again, as the HTML
    # alternative reads ("** Address not found **" over a DNS error would read as an unknown user)
    said = m.unfold(_RESPONSE_END.split(said.lstrip("\n"), maxsplit=1)[0])[:2000]
    reason = "rejected" if _SEND_AS.search(text) else None
    return [Failure(recipient=a, diagnostic=said, reason=reason) for a in recipients]


def detect(msg: Message, body: str) -> list[Failure]:
    text = notice(body)
    head = _HEAD.search(text)
    if not head:
        return _modern(msg, text) if "google" in m.header(msg, "From").lower() else []
    details = _DETAILS.search(text, head.end())
    listed = text[head.end() : details.start() if details else len(text)]
    recipients = [a for a in (m.address_of(line) for line in listed.splitlines()
                              if line.strip() and not line.lower().strip().startswith("message will be"))
                  if a]
    if not recipients:
        recipients = failed_recipients(msg)
    if not recipients:
        return []
    explanation = m.unfold(text[details.end():]) if details else m.unfold(listed)
    temporary = (details and details.group(1).lower() == "temporary") or "delayed" in head.group(1).lower()
    said = _OTHER_SERVER.search(explanation)
    diagnostic = explanation[said.end():] if said else explanation
    # Gmail repeats the reply code ("550 550 5.1.1 ..."); keep one
    diagnostic = re.sub(r"^([245]\d\d)[ -]\1\b", r"\1", diagnostic.strip())
    text = diagnostic[:2000] if said else explanation[:2000]
    state = _STATE.search(text.strip())
    reason = STATES.get(state.group(1)) if state else None
    if reason and (_BLOCKLIST.search(text) or _ADDRESS_STATUS.search(text)):
        # "blocked using cbl.abuseat.org (state 13)": the blocklist is the cause; a 5.1.1
        # "does not exist" is about the address: the words decide, not the state
        reason = None
    return [Failure(recipient=address, diagnostic=text, temporary=bool(temporary), reason=reason)
            for address in dict.fromkeys(recipients)]
