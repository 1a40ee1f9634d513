"""Signed return paths (VERP): ``bounces+PAYLOAD.SIGNATURE@domain``.

A sender that gives every message (or every recipient) its own return path
learns from any bounce exactly which send it is about, whatever the
bouncing server did to the rest of the message. The HMAC signature makes
that key trustworthy: a forged bounce can name a good address, but it cannot
produce a valid signature, so it cannot mark that address as bad.

    >>> address = return_path("c42-u1001", b"secret", "news.example.com")
    >>> address
    'bounces+c42-u1001.kfs2crfcnl@news.example.com'
    >>> verify(token_of(address), b"secret")
    'c42-u1001'

Payloads are the sender's own identifiers (campaign, contact, message): any
of ``A-Z a-z 0-9 - _ =`` and dots, kept short (local parts are limited to 64
characters, and some servers lowercase them, so the signature is lowercase
base32 and compared without case).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

SIGNATURE_CHARS = 10  # 50 bits: guessing one takes ~10^15 tries
_PAYLOAD = re.compile(r"^[A-Za-z0-9_=.-]{1,40}$")
_TOKEN_IN_ADDRESS = re.compile(r"^[^@+\s]+\+([^@\s]+)@[^@\s]+$")


class ReturnPathError(ValueError):
    """A payload that cannot be put in a return path."""


def _key(secret: bytes | str) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def signature(payload: str, secret: bytes | str) -> str:
    """Over the lowercased payload: a server that lowercases local parts breaks nothing."""
    digest = hmac.new(_key(secret), payload.lower().encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:SIGNATURE_CHARS]


def sign(payload: str, secret: bytes | str) -> str:
    """The token ``PAYLOAD.SIGNATURE``."""
    if not _PAYLOAD.match(payload):
        raise ReturnPathError(f"payload must be 1-40 of A-Z a-z 0-9 - _ = . : {payload!r}")
    return f"{payload.lower()}.{signature(payload, secret)}"


def verify(token: str | None, secret: bytes | str) -> str | None:
    """The payload of a correctly signed token, else None."""
    if not token or "." not in token:
        return None
    payload, _, given = token.rpartition(".")
    if not payload or not hmac.compare_digest(given.lower(), signature(payload, secret)):
        return None
    return payload.lower()


def return_path(payload: str, secret: bytes | str, domain: str, local: str = "bounces") -> str:
    return f"{local}+{sign(payload, secret)}@{domain}"


def token_of(address: str | None) -> str | None:
    """The ``TOKEN`` of ``local+TOKEN@domain``, or None."""
    if not address:
        return None
    match = _TOKEN_IN_ADDRESS.match(address.strip().strip("<>"))
    return match.group(1) if match else None
