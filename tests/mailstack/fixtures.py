"""pytest fixtures for the real mail stack.

Import them into tests/conftest.py with::

    from tests.mailstack.fixtures import mail_stack, mail_stack_factory  # noqa: F401

Locally, a machine without Postfix/Dovecot (or not root) skips these tests
with the reason; under CI (env CI set) that is a failure instead, so a broken
install step can never turn into a silently green run.
"""
from __future__ import annotations

import os
import shutil
import subprocess
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


def skip_or_fail(reason: str) -> None:
    """Skip locally, fail under CI: a broken install step must never turn into a green run."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


def require_mail_stack() -> None:
    """Skip (locally) or fail (CI) when the stack cannot run."""
    reason = unavailable_reason()
    if reason is None:
        return
    skip_or_fail(reason)


def require_mtas(*, catch_sendmail_syslog: bool = False) -> None:
    """Skip (locally) or fail (CI) when the unpacked Exim/Sendmail cannot run here.

    `catch_sendmail_syslog`: the caller also reads Sendmail's syslog, which
    needs a private mount namespace (``unshare -m``) whose /dev/log is ours.
    """
    from tests.mailstack.mta_packages import unavailable_reason as mta_unavailable_reason

    reasons = [f"{mta}: {reason}" for mta in ("exim", "sendmail")
               if (reason := mta_unavailable_reason(mta))]
    if catch_sendmail_syslog:
        if shutil.which("unshare") is None:
            reasons.append("unshare (util-linux) not found: Sendmail's syslog cannot be caught")
        elif subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
            reasons.append("unshare -m fails (no CAP_SYS_ADMIN): Sendmail's syslog cannot be caught")
    if not reasons:
        return
    skip_or_fail("; ".join(reasons) + " (run: sudo bash tests/install-system-deps.sh)")


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
    """Build extra started stacks (e.g. with custom StackTimings, or a MailStack subclass
    as ``kind``); all stopped after the test."""
    require_mail_stack()
    stacks: list[MailStack] = []

    def make(timings: StackTimings | None = None, kind: type[MailStack] = MailStack) -> MailStack:
        stack = kind(_new_base(), timings=timings, keep=_keep())
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
