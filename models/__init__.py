"""The ledger's tables (SQLAlchemy 2.0 typed models) and the pure state rules.

The tables load on first use (PEP 562 ``__getattr__``): the pure rules in
``bounceledger.models.state`` and ``bounceledger.models.suppression`` are imported by commands that
never touch a database (``sendlog parse``, ``parse``, ``explain``), and
importing any submodule runs this file first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bounceledger.models.ledger import Base, Change, Delivery, Event, ForgottenSuppression, Lease, ReturnedMessage, SentMessage, SourceCursor, Suppression, WebhookDeadLetter, WebhookEndpoint

__all__ = [
    "Base",
    "Change",
    "Delivery",
    "Event",
    "ForgottenSuppression",
    "Lease",
    "ReturnedMessage",
    "SentMessage",
    "SourceCursor",
    "Suppression",
    "WebhookDeadLetter",
    "WebhookEndpoint",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("bounceledger.models.ledger"), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
