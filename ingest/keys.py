"""Stable identities for ledger rows, so that re-reading input is a no-op."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime

from bounceledger.ingest.records import Attempt, Verdict


#: A sent message's ``msg_key`` is this prefix and its Message-ID when the log gave one.
MSG_KEY_PREFIX = "mid:"


def message_id_key(message_id: str) -> str:
    """The ``msg_key`` of the sent message with this Message-ID (looked up in its unique index).

    Here, not beside the model: ``sendlog parse`` computes keys and must not
    load the ORM (tests/test_startup.py).
    """
    return MSG_KEY_PREFIX + message_id


def _digest(*parts: str) -> str:
    """128 bits of SHA-256: collisions stay out of reach, and the unique index stays small."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def message_key(attempt: Attempt) -> str:
    """How a sent message is known across lines, files and runs.

    The Message-ID when the log gave one; otherwise the queue id plus the
    day, because short Postfix queue ids come round again.
    """
    if attempt.message_id:
        return message_id_key(attempt.message_id)
    return f"qid:{attempt.queue_id or '?'}:{attempt.at:%Y-%m-%d}"


def attempt_key(attempt: Attempt) -> str:
    """The log line itself: the same line read from a rotated copy is the same event.

    The recipient is part of the key because one Postfix expiry line stands
    for every recipient that was still waiting.
    """
    if attempt.raw:
        return _digest("attempt", attempt.raw, attempt.recipient)
    return _digest(
        "attempt",
        attempt.at.isoformat(),
        attempt.queue_id or "",
        attempt.recipient,
        attempt.verdict,
        attempt.text,
    )


def verdict_key(returned_sha256: str, index: int, verdict: Verdict) -> str:
    return _digest("verdict", returned_sha256, str(index), verdict.recipient or "", verdict.kind)


def correction_key(delivery_id: int, to_state: str, decided_by: str) -> str:
    return _digest("correction", str(delivery_id), to_state, decided_by)


def suppression_key(address: str, action: str, at: datetime) -> str:
    return _digest("suppression", address, action, at.isoformat())


def timeout_key(delivery_id: int, deferred_since: datetime) -> str:
    return _digest("timeout", str(delivery_id), deferred_since.isoformat())


def settlement_key(delivery_id: int, accepted_at: datetime) -> str:
    """One settlement per acceptance: a re-run of the job, or a longer window learned later, adds none."""
    return _digest("settlement", str(delivery_id), accepted_at.isoformat())


def header_ref(name: str, value: str | None) -> str | None:
    """How a configured header ties a send to its returned mail: ``name:value``.

    The name is lowercased (header names are case-insensitive) and folding
    white space is squeezed, because a bounce may re-fold the header it
    quotes; the value itself is compared as sent.
    """
    text = " ".join((value or "").split())
    return f"{name.strip().lower()}:{text}"[:255] if text else None


_QUOTED_PAIR = re.compile(r"\\(.)")
#: The common case, which the rules below leave as it is but for its case: no quotes, and a domain
#: without a trailing dot (one regex instead of the steps below).
_PLAIN = re.compile(r"[^\s\"@]+@[^@\s\"\\\[]*[^@\s\"\\.\[]")


def normalise_address(address: str | None) -> str | None:
    """One spelling per mailbox, so that a send log and a returned message meet.

    Case is folded, as every provider does in practice. Quotes around a local
    part are dropped: RFC 5321 4.1.2 makes ``"john"@x`` and ``john@x`` one local
    part, and Exim logs ``"john doe"@x`` as ``john doe@x`` while the DSN quotes
    it (the key splits at the last "@", so an unquoted local part stays whole).
    A domain loses a trailing root dot (RFC 5321 4.1.2's Domain has none; RFC
    1034 3.1 makes ``example.net.`` the same name): sendmail logs
    ``to=a@example.net.`` and sends, and is bounced for, ``a@example.net``.
    """
    if not address:
        return None
    address = address.strip().strip("<>").strip()
    if _PLAIN.fullmatch(address):
        folded = address.lower()
        if folded.isascii() and "xn--" not in folded:
            return folded
    local, at, domain = address.rpartition("@")
    if at and local:
        if len(local) >= 2 and local[0] == local[-1] == '"':
            local = _QUOTED_PAIR.sub(r"\1", local[1:-1])
        if not domain.startswith("["):
            domain = _domain_u_labels(domain.rstrip("."))
        address = f"{local}@{domain}"
    return address.lower() or None


def _domain_u_labels(domain: str) -> str:
    """An internationalised domain in one form: its U-labels, NFC.

    RFC 5890 2.3.2.1: an A-label (``xn--`` and Punycode) and its U-label are
    two forms of one label, and RFC 6531 3.2 lets an SMTPUTF8 sender write
    either; Postfix and Exim log and report the form they were given, so a
    send to ``a@bücher.example`` and a report on ``a@xn--bcher-kva.example``
    are one mailbox. U-labels are NFC (RFC 5891 5.3), so a decomposed
    spelling meets the composed one. A label that is not valid Punycode, does
    not encode back to itself, or decodes to anything but letters, marks,
    digits and hyphens (RFC 5892's PVALID classes, roughly) is left as written.
    """
    if domain.isascii():
        if "xn--" not in domain.lower():
            return domain
    else:
        domain = unicodedata.normalize("NFC", domain)
    labels = domain.split(".")
    for i, label in enumerate(labels):
        if label[:4].lower() == "xn--" and label.isascii():
            try:
                decoded = label[4:].lower().encode("ascii").decode("punycode")
            except (UnicodeError, ValueError, IndexError):
                continue
            if (
                decoded
                and not decoded.isascii()
                and all(c.isalnum() or c == "-" or unicodedata.category(c)[0] == "M" for c in decoded)
                and decoded.encode("punycode").decode("ascii") == label[4:].lower()
            ):
                labels[i] = unicodedata.normalize("NFC", decoded)
    return ".".join(labels)


_LABEL = r"[^\W_](?:(?:[^\W_]|-){0,61}[^\W_])?"  # a domain label: letters, digits, inner hyphens
_ADDRESS = re.compile(rf"[^\s@<>()\[\],;:\"\\]{{1,64}}@{_LABEL}(?:\.{_LABEL})+")


def valid_address(text: str | None) -> str | None:
    """The normalised address if ``text`` is one (``local@domain``), else None.

    What goes on the suppression list (by hand, by import, by the API) must
    be an address: a typo there would sit on the list the sending system
    reads, suppressing nobody.
    """
    address = normalise_address(text) or ""
    return address if len(address) <= 254 and _ADDRESS.fullmatch(address) else None
