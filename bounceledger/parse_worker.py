"""The parse worker process: batches of raw messages in, what the parser made of them out.

Started by :class:`bounceledger.parse_ahead.ParseAhead` as
``python -m bounceledger.parse_worker QUOTED_JSON``. It reads
``(ticket, raws)`` pickles from stdin and writes ``(ticket, parsed)``
pickles to stdout, in order; ``parsed`` is None for a batch the parser
failed on, which the poller then parses itself. It exits at the end of
its input, so it never outlives the poller, however the poller ended, and
it ignores SIGINT and SIGTERM, which are the poller's to act on.
"""

from __future__ import annotations

import json
import pickle
import signal
import sys
from typing import BinaryIO

from bounceledger.ingest.bounces import parse
from bounceledger.ingest.records import ParsedMessage


def _parsed(raws: list[bytes | None], quoted: tuple[str, ...]) -> list[ParsedMessage | None] | None:
    try:
        return [None if raw is None else parse(raw, quoted=quoted) for raw in raws]
    except Exception as exc:  # noqa: BLE001 - the poller parses this batch itself and reports
        print(f"bounceledger parse worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def serve(requests: BinaryIO, replies: BinaryIO, quoted: tuple[str, ...]) -> None:
    while True:
        try:
            ticket, raws = pickle.load(requests)
        except EOFError:
            return
        pickle.dump((ticket, _parsed(raws, quoted)), replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


if __name__ == "__main__":
    # Ctrl-C in a terminal or a service manager's SIGTERM reaches the whole
    # process group; the poller decides when to stop (it finishes its batch
    # first), and the worker follows when its input ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer, tuple(json.loads(sys.argv[1])))
