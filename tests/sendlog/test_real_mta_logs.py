"""Send logs written by a real Exim 4.96 and a real Sendmail 8.17 are read
recipient by recipient as what the script did to each recipient.

fixtures/real/ holds the main logs / maillogs of one run of
``python -m tests.sendlog.real_logs`` (Exim with its default log_selector and
with ``+all``, Sendmail at LogLevel 9 and 14, each sending a scripted mix of
250, 4xx and 5xx recipients to an aiosmtpd final MX on loopback);
expected.json was written from the script, never from a parser. Issue 14 saw
Exim lines with ``S=`` before ``H=`` lose their host (and so their first-hop
verdict), and Sendmail's ``reply=`` texts with commas lose the remote's
enhanced status. The live test runs the same script now, against the MTAs
unpacked from Debian's packages.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.mailstack.fixtures import require_mtas
from tests.sendlog import real_logs

FIXTURES = Path(__file__).parent / "fixtures" / "real"
DOCUMENT = json.loads((FIXTURES / "expected.json").read_text())
MADE_AT = datetime.fromisoformat(DOCUMENT["made_at"])


def test_fixture_set_covers_every_variant() -> None:
    """Every logging variant has a committed log, and each its 250, 4xx and 5xx recipients."""
    assert set(DOCUMENT["variants"]) == set(real_logs.VARIANTS)
    for variant, entry in DOCUMENT["variants"].items():
        assert (FIXTURES / f"{variant}.log").is_file()
        verdicts = {v for row in entry["expected"].values() for v in row["verdicts"]}
        assert {"accepted", "rejected", "deferred", "expired"} <= verdicts, variant
        # the table committed is the one the script makes today
        assert entry["expected"] == real_logs.expected(variant), variant


@pytest.mark.parametrize("variant", sorted(real_logs.VARIANTS))
def test_real_log_is_read_recipient_by_recipient(variant: str) -> None:
    mta, _ = real_logs.VARIANTS[variant]
    text = (FIXTURES / f"{variant}.log").read_text()
    problems = real_logs.mismatches(real_logs.read_log(mta, text, MADE_AT), real_logs.expected(variant))
    wrong = {rcpt: lines for rcpt, lines in problems.items() if lines}
    assert not wrong, f"{variant}:\n" + "\n".join(f"  {r}: {line}" for r, ls in wrong.items() for line in ls)


@pytest.mark.realstack
@pytest.mark.slow
def test_live_exim_and_sendmail_logs_are_read_right() -> None:
    """Run the script on the real MTAs now (some 15 s) and read every variant's log."""
    require_mtas(catch_sendmail_syslog=True)
    base = Path(tempfile.mkdtemp(prefix="sendlog-live-"))
    base.chmod(0o755)  # the exim user must reach its spool under it
    try:
        logs = real_logs.run(base, list(real_logs.VARIANTS))
        reference = datetime.now(timezone.utc) + timedelta(minutes=1)
        report = {}
        for variant, text in logs.items():
            mta, _ = real_logs.VARIANTS[variant]
            problems = real_logs.mismatches(real_logs.read_log(mta, text, reference),
                                            real_logs.expected(variant))
            report[variant] = {rcpt: lines for rcpt, lines in problems.items() if lines}
        assert set(report) == set(real_logs.VARIANTS)
        assert not any(report.values()), json.dumps(report, indent=1)
    finally:
        shutil.rmtree(base, ignore_errors=True)
