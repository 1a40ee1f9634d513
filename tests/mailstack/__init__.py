"""A real mail stack on loopback for bounceledger's tests, samples and benchmarks.

Runs Dovecot (IMAP/IMAPS/LMTP), two Postfix instances (A: the sender's MTA,
B: a remote MX that accepts and bounces later) and aiosmtpd final MXes inside
one temp folder, on free loopback ports. Real daemons, because the shape of
real logs and DSNs (folded headers, queue-ID hand-offs, delay notices) is what
the ingester must survive and hand-written fixtures drift from it.

Typical use::

    from tests.mailstack import MailStack
    with MailStack(base_dir) as stack:
        stack.send(["ok1@example.test"], tag="m1")
        stack.wait_for_log(r"to=<ok1@example.test>.*status=sent")
"""
from tests.mailstack.stack import MailStack, SentMessage, StackTimings, missing_binaries
from tests.mailstack.waits import WaitTimeout

__all__ = ["MailStack", "StackTimings", "SentMessage", "WaitTimeout", "missing_binaries"]
