"""The comparable shape of a parse result, shared by the detector tests."""

from __future__ import annotations

from bounceledger.ingest.records import ParsedMessage


def rows(parsed: ParsedMessage) -> list[tuple]:
    """Each verdict as (recipient, kind, status, reply code, reason, hard, detector), sorted."""
    return sorted((v.recipient, v.kind, v.status, v.replycode, v.reason, v.hardbounce, v.detector)
                  for v in parsed.verdicts)
