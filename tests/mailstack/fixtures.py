"""pytest fixtures for the real mail stack.

Import them into tests/conftest.py with::

    from tests.mailstack.fixtures import mail_stack, mail_stack_factory  # noqa: F401

Locally, a machine without Postfix/Dovecot (or not root) skips these tests
with the reason; under CI (env CI set) that is a failure instead, so a broken
install step can never turn into a silently green run.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.mailstack.stack import MailStack, StackTimings, missing_binaries


def unavailable_reason() -> str | None:
    """Why the stack cannot run here, or None if it can."""
    missing = missing_binaries()
    if missing:
        return (f"real mail stack needs {', '.join(missing)} "
                "(run: sudo bash tests/install-system-deps.sh)")
    if os.geteuid() != 0:
        return "real mail stack needs root (postfix start, chown to postfix/65534)"
    return None


def require_mail_stack() -> None:
    """Skip (locally) or fail (CI) when the stack cannot run."""
    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


def _new_base() -> Path:
    """A folder under /tmp: pytest's tmp_path sits under a 0700 dir that Dovecot's uid cannot enter."""
    return Path(tempfile.mkdtemp(prefix="mailstack-"))


@pytest.fixture(scope="session")
def mail_stack() -> Iterator[MailStack]:
    """One running stack shared by the session; tests must use their own tags/recipients."""
    require_mail_stack()
    with MailStack(_new_base(), keep=_keep()) as stack:
        yield stack


@pytest.fixture
def mail_stack_factory() -> Iterator[Callable[..., MailStack]]:
    """Build extra started stacks (e.g. with custom StackTimings); all stopped after the test."""
    require_mail_stack()
    stacks: list[MailStack] = []

    def make(timings: StackTimings | None = None) -> MailStack:
        stack = MailStack(_new_base(), timings=timings, keep=_keep())
        stacks.append(stack)
        return stack.start()

    try:
        yield make
    finally:
        for stack in stacks:
            stack.stop()


def _keep() -> bool:
    """Keep stack folders (logs!) when MAILSTACK_KEEP=1, otherwise clean up."""
    return os.environ.get("MAILSTACK_KEEP") == "1"
