"""Whole real runs read bounces first, then the send log, and nothing else: every
recipient's final state is right at once, for Postfix and for Exim, on both databases.

Each MTA sends about a hundred recipients every kind of answer through real
servers on loopback (tests/mailstack/full_runs.py: synchronous refusals, a
remote MX that accepts and bounces later, greylisting, expiry, delay and
success notices), and the run is left to settle. Then, as a user would:
``bounceledger poll`` over IMAP (Dovecot) first, ``bounceledger ingest-log``
second, no ``run``, no retry. The truth comes from what the final MXes were
told to do, never from a parser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bounceledger.config import Settings
from bounceledger.db import Database
from bounceledger.models import Delivery, Event, SentMessage
from tests.mailstack import MailStack
from tests.mailstack.dovecot import Dovecot
from tests.mailstack.fixtures import require_mail_stack, skip_or_fail
from tests.mailstack.full_runs import QUICK, EximStack, Send, expected, plan, run_exim, run_postfix

pytestmark = [pytest.mark.realstack, pytest.mark.slow]


@dataclass
class SettledRun:
    """A run that has settled: its log, its mailbox (still served) and what was sent."""

    log: Path
    dovecot: Dovecot
    sends: list[Send]


def _keep() -> bool:
    return os.environ.get("MAILSTACK_KEEP") == "1"


@pytest.fixture(scope="module")
def postfix_run() -> Iterator[SettledRun]:
    require_mail_stack()
    with MailStack(timings=QUICK, keep=_keep()) as stack:
        sends = plan("pf", notify=True)
        run_postfix(stack, sends)
        yield SettledRun(stack.log_a, stack.dovecot, sends)


@pytest.fixture(scope="module")
def exim_run() -> Iterator[SettledRun]:
    require_mail_stack()
    from tests.mailstack.mta_packages import unavailable_reason

    if reason := unavailable_reason("exim"):
        skip_or_fail(f"exim: {reason} (run: sudo bash tests/install-system-deps.sh)")
    with EximStack(keep=_keep(), log_selector=None) as stack:  # the log as Exim writes it out of the box
        sends = plan("ex", notify=False)  # Exim takes no NOTIFY on its command line
        run_exim(stack, sends)
        yield SettledRun(stack.log, stack.dovecot, sends)


def _cli(*args: str, database_url: str, password: str) -> str:
    env = {**os.environ, "BOUNCELEDGER_DATABASE_URL": database_url, "BOUNCELEDGER_IMAP_PASSWORD": password}
    result = subprocess.run([sys.executable, "-m", "bounceledger", *args], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _bounces_first_then_the_log(run: SettledRun, database_url: str) -> tuple[int, list[str], int]:
    """(right, wrong ones, unmatched verdicts) after ``poll`` then ``ingest-log``."""
    dovecot = run.dovecot
    # move=off leaves the messages where they are, so the other database reads the same mailbox.
    mailbox = f"imaps://{dovecot.user}@{dovecot.host}:{dovecot.imaps_port}/INBOX?ca={dovecot.ca_cert}&move=off"
    polled = _cli("poll", "--mailbox", mailbox, "--once", database_url=database_url, password=dovecot.password)
    assert " 0 unparsed" in polled, polled
    _cli("ingest-log", str(run.log), database_url=database_url, password=dovecot.password)

    truth = expected(run.sends)
    database = Database(Settings(database_url=database_url))
    try:
        with database.session() as session:
            got = {
                (message_id, recipient): state
                for message_id, recipient, state in session.execute(
                    select(SentMessage.message_id, Delivery.recipient, Delivery.state)
                    .join(SentMessage, SentMessage.id == Delivery.sent_message_id)
                )
            }
            unmatched = session.scalar(
                select(func.count()).select_from(Event).where(Event.kind == "verdict", Event.delivery_id.is_(None))
            )
    finally:
        database.dispose()
    assert set(got) == set(truth)  # one delivery per recipient of each message, none made up
    wrong = [f"{key}: {got[key]}, truly {state}" for key, state in sorted(truth.items()) if got[key] != state]
    return len(truth) - len(wrong), wrong, unmatched or 0


@pytest.mark.parametrize("mta", ["postfix", "exim"])
def test_bounces_read_first_then_the_send_log_give_every_final_state(
    mta: str, database_url: str, request: pytest.FixtureRequest
) -> None:
    run: SettledRun = request.getfixturevalue(f"{mta}_run")
    right, wrong, unmatched = _bounces_first_then_the_log(run, database_url)
    total = right + len(wrong)
    print(f"{mta}: {right}/{total} final states right ({100 * right / total:.1f} %), {unmatched} unmatched verdicts")
    assert total >= 99
    assert wrong == []
    assert unmatched == 0  # every bounce, delay and success notice found its send
