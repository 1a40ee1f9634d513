"""The parse worker: same results as parsing in-process, and a failure costs only speed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sqlalchemy import func, select

from bounceledger import polling
from bounceledger.db import Database
from bounceledger.parse_ahead import MAX_SHARE, SHARE_STEP, WORKER_FROM, WORKER_MAX_BYTES, ParseAhead
from bounceledger.ingest.bounces import parse
from bounceledger.models import Event, ReturnedMessage
from tests.mailstack.procs import children
from tests.test_imap_poll import expected_verdicts, numbered_samples

QUOTED = ("X-Mailer-Ref",)


def test_worker_parses_exactly_what_the_poller_would() -> None:
    raws: list[bytes | None] = [*numbered_samples(WORKER_FROM), None, b"\x00 not mail \xff"]
    ahead = ParseAhead(QUOTED)
    try:
        pending = ahead.submit(raws)
        assert pending is not None
        assert ahead.result(pending) == [None if raw is None else parse(raw, quoted=QUOTED) for raw in raws]
    finally:
        ahead.close()


def test_a_batch_shared_between_the_worker_and_the_poller_comes_back_whole_and_in_order() -> None:
    raws: list[bytes | None] = [*numbered_samples(WORKER_FROM * 2), None, b"\x00 not mail \xff"]
    ahead = ParseAhead(QUOTED)
    try:
        ahead.share = MAX_SHARE
        pending = ahead.submit(raws)
        assert ahead._kept[pending][0] == len(raws) - int(len(raws) * MAX_SHARE)  # the worker got the head only
        assert ahead.result(pending) == [None if raw is None else parse(raw, quoted=QUOTED) for raw in raws]
    finally:
        ahead.close()


def test_the_pollers_share_grows_when_it_waits_for_the_worker_and_shrinks_when_it_does_not() -> None:
    ahead = ParseAhead()
    try:
        assert ahead.result(ahead.submit(numbered_samples(WORKER_FROM))) is not None  # worker started and warm
        before = ahead.share
        # asked at once: the worker is still parsing 400 messages, so the poller waits
        assert ahead.result(ahead.submit(numbered_samples(WORKER_FROM * 8))) is not None
        assert ahead.share == pytest.approx(min(MAX_SHARE, before + SHARE_STEP))
        grown = ahead.share
        pending = ahead.submit(numbered_samples(WORKER_FROM))
        deadline = time.monotonic() + 60
        while ahead._replies.empty() and time.monotonic() < deadline:  # the worker's part is in before it is asked for
            time.sleep(0.05)
        assert ahead.result(pending) is not None
        assert ahead.share == pytest.approx(max(0.0, grown - SHARE_STEP))
    finally:
        ahead.close()


def test_the_pollers_part_of_a_batch_whose_worker_part_failed_is_kept_and_the_rest_left_to_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raws = numbered_samples(WORKER_FROM * 2)
    ahead = ParseAhead()
    try:
        ahead.share = MAX_SHARE
        pending = ahead.submit(raws)
        theirs = ahead._kept[pending][0]
        real_get = ahead._replies.get
        monkeypatch.setattr(ahead._replies, "get", lambda: (real_get()[0], None))  # the worker's "could not parse"
        parsed = ahead.result(pending)
        assert parsed is not None and parsed[:theirs] == [None] * theirs
        assert parsed[theirs:] == [parse(raw) for raw in raws[theirs:]]
    finally:
        ahead.close()


def test_small_batches_and_huge_ones_are_parsed_in_process() -> None:
    ahead = ParseAhead()
    assert ahead.submit(numbered_samples(WORKER_FROM - 1)) is None
    huge = b"x" * (WORKER_MAX_BYTES // WORKER_FROM + 1)
    assert ahead.submit([huge] * WORKER_FROM) is None
    assert _worker_pids() == []
    ahead.close()


def _worker_pids() -> list[int]:
    """This process's parse workers."""
    found = []
    for pid in children(os.getpid()):
        try:
            if b"bounceledger.parse_worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def test_a_killed_worker_costs_only_the_speed_up() -> None:
    ahead = ParseAhead()
    try:
        assert ahead.result(ahead.submit(numbered_samples(WORKER_FROM))) is not None  # worker started
        pending = ahead.submit(numbered_samples(WORKER_FROM * 4))
        workers = _worker_pids()
        assert workers
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        assert ahead.result(pending) is None  # the caller parses in-process instead
        assert ahead.submit(numbered_samples(WORKER_FROM)) is None  # and goes on without a worker
    finally:
        ahead.close()


def test_the_worker_leaves_ctrl_c_and_sigterm_to_the_poller() -> None:
    """A terminal's Ctrl-C reaches the whole process group; the poller finishes its batch, so must the worker."""
    ahead = ParseAhead()
    try:
        assert ahead.result(ahead.submit(numbered_samples(WORKER_FROM))) is not None  # worker started
        pending = ahead.submit(numbered_samples(WORKER_FROM * 2))
        for pid in _worker_pids():
            os.kill(pid, signal.SIGINT)
            os.kill(pid, signal.SIGTERM)
        assert ahead.result(pending) is not None
    finally:
        ahead.close()
    assert _worker_pids() == []  # and it ends with its input


def test_maildir_poll_through_the_worker_stores_every_message_once(database: Database, tmp_path: Path) -> None:
    mail = numbered_samples(260)  # the maildir source commits 100 at a time: 100, 100, 60
    root = _maildir_of(mail, tmp_path / "Maildir")

    summary = polling.poll(database, f"maildir:{root}")
    again = polling.poll(database, f"maildir:{root}")

    assert (summary.seen, summary.processed) == (260, 260)
    assert again.seen == 0
    with database.session() as session:
        stored = session.scalar(select(func.count()).select_from(ReturnedMessage))
        verdicts = session.scalar(select(func.count()).select_from(Event).where(Event.kind == "verdict"))
    assert (stored, verdicts) == (260, expected_verdicts(mail))


def _maildir_of(mail: list[bytes], root: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for index, raw in enumerate(mail):
        (root / "new" / f"{1700000000 + index}.M{index}P1.test").write_bytes(raw)
    return root


def test_a_script_without_a_main_guard_can_poll(tmp_path: Path) -> None:
    """The worker never re-runs the caller's script (as multiprocessing's spawn would)."""
    root = _maildir_of(numbered_samples(120), tmp_path / "Maildir")
    script = tmp_path / "poll_once.py"
    script.write_text(
        "from bounceledger import polling\n"
        "from bounceledger.config import Settings\n"
        "from bounceledger.db import Database, upgrade\n"
        f"database = Database(Settings(database_url='sqlite:///{tmp_path / 'ledger.sqlite'}'))\n"
        "upgrade(database)\n"
        f"print('processed', polling.poll(database, 'maildir:{root}').processed)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["processed", "120"]
