"""Standard Webhooks signatures (https://www.standardwebhooks.com, spec v1).

A receiver verifies ``webhook-signature`` with any Standard Webhooks
library (``standardwebhooks`` for Python, Svix's for others): an HMAC-SHA256
over ``{webhook-id}.{webhook-timestamp}.{body}``, keyed by the base64
secret after its ``whsec_`` prefix, sent as ``v1,<base64>``. The id stays
the same on every retry of one entry to one endpoint, so a receiver can
drop duplicates by it; the timestamp is the attempt's (receivers refuse
stale ones, five minutes by the libraries' default).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
#: The spec asks for 24 to 64 random bytes.
SECRET_BYTES = 32


class SecretError(ValueError):
    """A secret that is not ``whsec_`` followed by base64."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_...`` secret stands for."""
    text = secret.strip()
    if not text.startswith(PREFIX):
        raise SecretError("a webhook secret starts with whsec_ (make one with: bounceledger webhooks secret)")
    try:
        key = base64.b64decode(text[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("a webhook secret is whsec_ followed by base64") from None
    if len(key) < 16:
        raise SecretError(f"a webhook secret needs at least 16 bytes of key, this one has {len(key)}")
    return key


def webhook_id(endpoint_id: int, seq: int) -> str:
    """Stable per entry and endpoint: retries and replays repeat it."""
    return f"msg_bl{endpoint_id}_{seq}"


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, msg_id, timestamp, body),
    }
