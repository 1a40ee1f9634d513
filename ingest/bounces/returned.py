"""Keys that tie a returned message to the send it answers.

Strongest first (see design.md): the token in our own return path
(``bounces+TOKEN@domain``), the DSN envelope id, the original Message-ID
from the returned headers, the next hop's queue id. Here we only *read*
them; checking the token's signature belongs to reconciliation.
"""

from __future__ import annotations

import re
from email.message import Message
from functools import lru_cache

from bounceledger.ingest.bounces import _message as m
from bounceledger.ingest.bounces._prefilter import lazy
from bounceledger.ingest.record import Record

#: Local parts of our return-path mailbox; the token follows the ``+``.
BOUNCE_LOCALPARTS: tuple[str, ...] = ("bounces", "bounce")

_RETURNED_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers")


class Keys(Record):
    original_message_id: str | None = None
    envelope_id: str | None = None
    next_hop_queue_id: str | None = None
    return_path_token: str | None = None
    original_to: tuple[str, ...] = ()  # addresses in the returned To:/Cc:


def returned_headers(msg: Message) -> Message | None:
    """Headers of the original message the bounce returned, if it did.

    Looks for ``message/rfc822`` (or RFC 6532 ``message/global``) and the
    headers-only ``text/rfc822-headers`` parts. A text part is parsed as a
    header block; only a block with at least one header counts. Worked out
    once per message: the keys and the forward check both ask.
    """
    return m.memoized(msg, "returned", _returned_headers)


def _returned_headers(msg: Message) -> Message | None:
    if m.part_types(msg).isdisjoint(_RETURNED_TYPES):
        return None  # no part that can hold them
    for part in m.walk(msg):
        if part is msg:
            continue
        ctype = m.content_type(part)
        if ctype not in _RETURNED_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            for inner in payload:
                if isinstance(inner, Message) and len(inner.keys()) > 0:
                    return inner
            continue
        text = m.text_of(part)
        inner = m.load_headers(text)
        if len(inner.keys()) > 0:
            return inner
    return None


def addressees(original: Message) -> tuple[str, ...]:
    """The addresses in a returned message's ``To:`` and ``Cc:``."""
    values = m.headers_all(original, "To") + m.headers_all(original, "Cc")
    return tuple(a for a in (m.first_address(x) for v in values for x in v.split(",")) if a)


#: A Received field's receiving host and the recipient it names (RFC 5321 4.4: "by" domain, "for" path).
_RECEIVED_BY_RE = lazy(r"\bby\s+([A-Za-z0-9][\w.-]*)", re.IGNORECASE)
_RECEIVED_FOR_RE = lazy(r"\bfor\s+<?([^<>\s;]+@[^<>\s;]+?)>?\s*;", re.IGNORECASE)


def forwarded_from(original: Message, failed: str) -> str | None:
    """The address our message was sent to, when a system of that address forwarded it
    to ``failed``, the address a notice names without an Original-Recipient.

    A forward (a ``.forward``, a virtual alias, an SRS forwarder, a mailbox's
    forwarding rule) sends our message on under the same headers, so the notice
    names only where it went. The returned message then has one addressee, not
    ``failed``, and shows that the addressee's own system took it in: a
    ``Delivered-To:`` or ``X-Original-To:`` naming the addressee, or a
    ``Received:`` "for" the addressee "by" a host of the addressee's domain
    (RFC 5321 4.4), or a return path that a forwarder at the addressee's domain
    rewrote by the Sender Rewriting Scheme ("SRS0=HHH=TT=domain=local@forwarder",
    the SRS specification of libsrs2 and postsrsd). A blind copy to ``failed``
    shows none of these, and keeps the address it failed at; so does a returned
    message sent to our own domain.
    """
    named = set(addressees(original))
    if len(named) != 1 or failed in named:
        return None
    (addressee,) = named
    # (not its Return-Path, which a forwarder rewrites into its own domain)
    if any(m.same_organisation(addressee, sender) for sender in m.addresses_in(original, "From", "Sender")):
        return None
    delivered = {a for name in ("Delivered-To", "X-Original-To")
                 for a in (m.address_of(v) for v in m.headers_all(original, name)) if a}
    if addressee in delivered:
        return addressee
    domain = addressee.rpartition("@")[2]
    for path in m.headers_all(original, "Return-Path"):
        rewritten = m.address_of(path) or ""
        if rewritten[:5].lower() in ("srs0=", "srs1=") and m.same_organisation(rewritten, domain):
            return addressee
    for received in m.headers_all(original, "Received"):
        to = _RECEIVED_FOR_RE.search(received)
        by = _RECEIVED_BY_RE.search(received)
        if to and by and to.group(1).lower() == addressee and m.same_organisation(by.group(1), domain):
            return addressee
    return None


def original_senders(original: Message) -> set[str]:
    """The returned message's sender as its headers name it: ``From:``, ``Sender:`` and ``Return-Path:``."""
    return m.addresses_in(original, "From", "Sender", "Return-Path")


def sender_addresses(msg: Message) -> frozenset[str]:
    """The sender's addresses a notice shows: the one it is sent back to (its ``To:``) and the
    returned message's (:func:`original_senders`)."""
    found = m.addresses_in(msg, "To")
    original = returned_headers(msg)
    if original is not None:
        found |= original_senders(original)
    return frozenset(found)


def names_only_the_sender(text: str, senders: frozenset[str], recipients: tuple[str | None, ...]) -> bool:
    """Whether a server's words name one of the ``senders`` (:func:`sender_addresses`) and none
    of the recipient's addresses.

    A server that refuses the sender (RFC 5321 3.3; RFC 3463 X.1.7, X.1.8)
    may say so in words a recipient's refusal also uses ("550 5.1.0 Address
    rejected <addr>"), and a sender check may answer at RCPT time (Postfix's
    reject_unverified_sender): the address it names tells.
    """
    named = {m.address_found(a) for a in m.ADDRESS_RE.findall(text)}
    return bool(named & senders) and not named & {r for r in recipients if r}


def message_id(value: str) -> str | None:
    """``<abc@host>`` → ``abc@host``."""
    value = value.strip()
    if not value:
        return None
    inside = _MESSAGE_ID_RE.search(value)
    return inside.group(1) if inside else value.strip("<> ") or None


_MESSAGE_ID_RE = lazy(r"<([^<>\s]+)>")


@lru_cache(maxsize=16)
def _token_pattern(localparts: tuple[str, ...]) -> re.Pattern[str]:
    """The ``bounces+TOKEN@domain`` pattern for ``localparts``, built once
    (every message asks; the ``re`` module's own cache is shared with all
    the dynamic patterns and costs a look-up per call)."""
    alternation = "|".join(re.escape(lp) for lp in localparts)
    return re.compile(rf"(?<![\w.+-])(?:{alternation})\+([^@\s<>\"]+)@[\w.-]+", re.IGNORECASE)


def return_path_token(addresses: list[str], localparts: tuple[str, ...] = BOUNCE_LOCALPARTS) -> str | None:
    """The raw ``TOKEN`` of the first ``bounces+TOKEN@domain`` address."""
    pattern = _token_pattern(tuple(localparts))
    for value in addresses:
        if value and "+" in value:  # no "+": no token (the pattern needs one)
            match = pattern.search(value)
            if match:
                return match.group(1)
    return None


def extract_keys(msg: Message, dsn_fields: dict[str, str] | None = None) -> Keys:
    """All keys found in the bounce ``msg`` and its DSN per-message fields."""
    dsn_fields = dsn_fields or {}
    original = returned_headers(msg)
    original_id = None
    original_to: tuple[str, ...] = ()
    if original is not None:
        original_id = message_id(m.header(original, "Message-ID"))
        original_to = addressees(original)
    token_sources = (
        m.headers_all(msg, "Delivered-To")
        + m.headers_all(msg, "X-Original-To")
        + m.headers_all(msg, "To")
        + m.headers_all(msg, "Envelope-To")
        + [dsn_fields.get("x-postfix-sender", "")]
    )
    if original is not None:
        token_sources += m.headers_all(original, "Return-Path")
    queue_id = dsn_fields.get("x-postfix-queue-id") or None
    envid = dsn_fields.get("original-envelope-id") or None
    return Keys(
        original_message_id=original_id,
        envelope_id=envid,
        next_hop_queue_id=queue_id,
        return_path_token=return_path_token(token_sources),
        original_to=original_to,
    )
