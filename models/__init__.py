"""The ledger's tables (SQLAlchemy 2.0 typed models) and the pure state rules."""

from models.ledger import (
    Base,
    Delivery,
    Event,
    Lease,
    ReturnedMessage,
    SentMessage,
    SourceCursor,
    Suppression,
)

__all__ = [
    "Base",
    "Delivery",
    "Event",
    "Lease",
    "ReturnedMessage",
    "SentMessage",
    "SourceCursor",
    "Suppression",
]
