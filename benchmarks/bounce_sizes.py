"""Parse time of ``bounceledger.ingest.bounces.parse`` against message size, on hostile bounces.

Usage: ``PYTHONPATH=. python benchmarks/bounce_sizes.py [--max-size N] [--give-up S] [--only FAMILY ...]``

One poll reads every message in a mailbox in turn, so a single returned
message that takes a minute to parse stalls all the mail behind it. This
benchmark builds bounces that are well-formed but large in one dimension
each, at sizes growing ten-fold up to the parser's size limit, and prints
the parse time per size and the growth of that time per ten-fold growth of
the size (linear work grows about 10x; quadratic work about 100x).

Families (every message is built here, from the formats of RFC 3464,
RFC 2047 and RFC 2046; none is copied from a corpus):

* ``encoded-words``: a DSN whose Subject holds N RFC 2047 encoded words,
  folded two to a line, and whose returned headers hold N more;
* ``mime-parts``: a DSN followed by N small text attachments;
* ``header-lines``: a DSN with N ``Received:`` lines on top;
* ``recipients``: a DSN with N recipient blocks, each recipient also named
  in the human-readable part (as Postfix writes them);
* ``plain-recipients``: a plain (non-MIME) qmail-style bounce naming N
  recipients;
* ``long-line``: a DSN whose text part is one line of N bytes;
* ``nesting``: N bounces each returning the one inside it
  (``message/rfc822`` within ``message/rfc822``);
* ``returned-body``: a DSN returning an original whose body has N lines.

Each time is the best of three parses (one when a parse takes over a
second); ``ns/byte`` stays about flat where the work is linear. A family
stops growing once one size takes longer than ``--give-up`` seconds (the
next would only take ten times longer); its remaining sizes print as
skipped.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bounceledger.ingest.bounces import parse  # noqa: E402

#: The limit ``parse`` applies by default (its ``max_size``).
SIZE_LIMIT = 10_000_000

_BOUNDARY = "=_bench_boundary_7f3a"
_INNER = "=_inner_boundary_19c2"


def _encoded_word(index: int) -> str:
    """One RFC 2047 B-encoded word (about 34 bytes)."""
    text = f"Échec n°{index:06d} "
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def _folded_words(count: int) -> str:
    """``count`` encoded words folded two to a line (RFC 2047 §2 keeps lines short)."""
    lines = []
    for start in range(0, count, 2):
        lines.append(" ".join(_encoded_word(i) for i in range(start, min(start + 2, count))))
    return "\r\n ".join(lines)


def _recipient_block(index: int) -> str:
    return (f"Final-Recipient: rfc822; user{index}@example.net\r\n"
            f"Original-Recipient: rfc822;user{index}@example.net\r\n"
            "Action: failed\r\n"
            "Status: 5.1.1\r\n"
            "Remote-MTA: dns; mx.example.net\r\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 <user{index}@example.net>: Recipient address rejected:\r\n"
            "    User unknown in virtual mailbox table\r\n")


def _dsn(*, subject: str = "Undelivered Mail Returned to Sender", extra_headers: str = "",
         human: str | None = None, recipients: int = 1, returned: str | None = None,
         attachments: int = 0) -> bytes:
    """A Postfix-shaped RFC 3464 report; each argument swells one part of it."""
    if human is None:
        human = ("This is the mail system at host mx.example.org.\r\n\r\n"
                 "I'm sorry to have to inform you that your message could not\r\n"
                 "be delivered to one or more recipients.\r\n\r\n"
                 + "".join(f"<user{i}@example.net>: host mx.example.net[192.0.2.1] said: 550 5.1.1\r\n"
                           f"    <user{i}@example.net>: Recipient address rejected: User unknown\r\n"
                           for i in range(recipients)))
    if returned is None:
        returned = ("From: sender@example.org\r\nTo: user0@example.net\r\n"
                    "Subject: hello\r\nMessage-ID: <orig.1@example.org>\r\n\r\nhi\r\n")
    status = ("Reporting-MTA: dns; mx.example.org\r\nX-Postfix-Queue-ID: 4B2C1\r\n"
              "Arrival-Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n"
              + "\r\n".join(_recipient_block(i) for i in range(recipients)))
    parts = [
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + human,
        "Content-Type: message/delivery-status\r\n\r\n" + status,
        "Content-Type: message/rfc822\r\n\r\n" + returned,
    ]
    parts += [f"Content-Type: text/plain; name=\"note{i}.txt\"\r\nContent-Disposition: attachment\r\n\r\n"
              f"attachment {i}\r\n" for i in range(attachments)]
    body = "".join(f"--{_BOUNDARY}\r\n{part}\r\n" for part in parts) + f"--{_BOUNDARY}--\r\n"
    head = (extra_headers
            + "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
            f"Subject: {subject}\r\n"
            "To: sender@example.org\r\n"
            "Date: Mon, 2 Nov 2026 10:00:05 +0000\r\n"
            "Message-ID: <bounce.1@mx.example.org>\r\n"
            "Auto-Submitted: auto-replied\r\n"
            "MIME-Version: 1.0\r\n"
            f"Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{_BOUNDARY}\"\r\n\r\n"
            "This is a MIME-encapsulated message.\r\n\r\n")
    return (head + body).encode("utf-8")


def encoded_words(n: int) -> bytes:
    returned = (f"From: sender@example.org\r\nTo: user0@example.net\r\nSubject: {_folded_words(n)}\r\n"
                "Message-ID: <orig.1@example.org>\r\n\r\nhi\r\n")
    return _dsn(subject=_folded_words(n), returned=returned)


def mime_parts(n: int) -> bytes:
    return _dsn(attachments=n)


def header_lines(n: int) -> bytes:
    received = "".join(f"Received: from relay{i}.example.org (relay{i}.example.org [192.0.2.{i % 250}])\r\n"
                       f"\tby mx.example.org (Postfix) with ESMTP id {i:08X}; Mon, 2 Nov 2026 10:00:00 +0000\r\n"
                       for i in range(n))
    return _dsn(extra_headers=received)


def recipients(n: int) -> bytes:
    return _dsn(recipients=n)


def plain_recipients(n: int) -> bytes:
    body = "".join(f"<user{i}@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n" for i in range(n))
    return ("From: MAILER-DAEMON@mx.example.org\nTo: sender@example.org\n"
            "Subject: failure notice\nDate: Mon, 2 Nov 2026 10:00:05 +0000\n\n"
            "Hi. This is the qmail-send program at mx.example.org.\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
            "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
            + body + "--- Below this line is a copy of the message.\n\n"
            "From: sender@example.org\nTo: user0@example.net\nSubject: hello\n\nhi\n").encode()


def long_line(n: int) -> bytes:
    words = ("word" * (n // 4 + 1))[:n]
    human = ("This is the mail system at host mx.example.org.\r\n\r\n"
             "<user0@example.net>: host mx.example.net[192.0.2.1] said: 550 5.1.1 User unknown "
             + words + "\r\n")
    return _dsn(human=human)


def nesting(n: int) -> bytes:
    inner = "From: sender@example.org\r\nTo: user0@example.net\r\nSubject: hello\r\n\r\nhi\r\n"
    for level in range(n):
        inner = ("From: MAILER-DAEMON@mx.example.org\r\nSubject: Returned mail\r\n"
                 f"Message-ID: <nest.{level}@mx.example.org>\r\n"
                 "Content-Type: message/rfc822\r\n\r\n" + inner)
    return _dsn(returned=inner)


def returned_body(n: int) -> bytes:
    lines = "".join(f"Line {i} of the original message, which the bounce returns in full.\r\n" for i in range(n))
    returned = ("From: sender@example.org\r\nTo: user0@example.net\r\nSubject: hello\r\n"
                "Message-ID: <orig.1@example.org>\r\n\r\n" + lines)
    return _dsn(returned=returned)


FAMILIES: dict[str, Callable[[int], bytes]] = {
    "encoded-words": encoded_words,
    "mime-parts": mime_parts,
    "header-lines": header_lines,
    "recipients": recipients,
    "plain-recipients": plain_recipients,
    "long-line": long_line,
    "nesting": nesting,
    "returned-body": returned_body,
}


def _count_for(make: Callable[[int], bytes], size: int) -> int:
    """The N whose message is about ``size`` bytes (never over the limit)."""
    base = len(make(0))
    unit = (len(make(200)) - base) / 200
    n = max(1, int((size - base) / unit))
    while n > 1 and len(make(n)) > min(size, SIZE_LIMIT):
        n = int(n * 0.97)
    return n


def _timed(raw: bytes) -> tuple[float, object]:
    """Best time of three parses (one when the first takes over a second),
    and the result. Each parse gets its own copy, with every domain
    "example.*" renamed ("exampl1.*", ...) so that every part's text
    differs: the parser's small caches remember the text they saw last, and
    a repeat of the same part would not be measured fairly."""
    best = float("inf")
    result = None
    for copy in range(3):
        text = raw.replace(b"example.", b"exampl%d." % copy) if copy else raw
        start = time.perf_counter()
        result = parse(text)
        best = min(best, time.perf_counter() - start)
        if best > 1.0:
            break
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-size", type=int, default=SIZE_LIMIT, help="largest message size (bytes)")
    parser.add_argument("--give-up", type=float, default=10.0,
                        help="stop growing a family once one size takes longer (seconds)")
    parser.add_argument("--only", nargs="*", choices=sorted(FAMILIES), help="families to run")
    args = parser.parse_args()
    sizes = []
    size = 10_000
    while size < args.max_size:
        sizes.append(size)
        size *= 10
    sizes.append(args.max_size)
    parse(_dsn())  # warm-up: imports, regex compilation
    print(f"{'family':<17} {'N':>9} {'bytes':>10} {'seconds':>9} {'ns/byte':>8} {'x size':>7} {'x time':>7}  result")
    slowest = 0.0
    for name, make in FAMILIES.items():
        if args.only and name not in args.only:
            continue
        previous: tuple[int, float] | None = None
        gave_up = False
        for target in sizes:
            n = _count_for(make, target)
            raw = make(n)
            if gave_up:
                print(f"{name:<17} {n:>9} {len(raw):>10} {'skipped':>9}")
                continue
            took, result = _timed(raw)
            slowest = max(slowest, took)
            growth = ""
            if previous is not None:
                growth = f"{len(raw) / previous[0]:>7.1f} {took / max(previous[1], 1e-9):>7.1f}"
            else:
                growth = f"{'':>7} {'':>7}"
            outcome = f"{result.outcome} {len(result.verdicts)} verdicts"  # type: ignore[attr-defined]
            if result.error:  # type: ignore[attr-defined]
                outcome += f" ({result.error})"  # type: ignore[attr-defined]
            print(f"{name:<17} {n:>9} {len(raw):>10} {took:>9.4f} {took / len(raw) * 1e9:>8.1f} {growth}  {outcome}",
                  flush=True)
            previous = (len(raw), took)
            gave_up = took > args.give_up
    print(f"slowest message: {slowest:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
