"""Give-ups after no mail host answered are network errors, whatever status the MTA wrote.

Haraka labels "no MX could be delivered to" with a made-up 550 5.1.2 (RFC 3463 "bad
destination system address"): read by the status, a live address whose domain's server was
only down became a hard ``hostunknown`` and would be suppressed for good.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bounceledger.ingest.bounces import parse

FIXTURES = Path(__file__).parent / "fixtures" / "no-answer"


@pytest.mark.parametrize("name", ["haraka-tried-all-mxs.eml", "nullmailer-connect-failed.eml"])
def test_no_answer_until_give_up_is_a_soft_network_error(name: str) -> None:
    parsed = parse((FIXTURES / name).read_bytes())
    (verdict,) = parsed.verdicts
    assert (verdict.kind, verdict.recipient) == ("bounce", "someone@refused.test")
    assert (verdict.reason, verdict.hardbounce) == ("networkerror", False)
