"""ingest-log never loses a file silently, on SQLite and PostgreSQL.

A file the chosen format cannot read stops the run before its cursor moves;
an over-long line is skipped, not read, and never held whole; ``--reread``
reads a file again without duplicating anything; two ingesters never read
one file at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bounceledger import pipeline, polling, queries
from bounceledger.config import Settings
from bounceledger.db import Database
from bounceledger.locks import SourceLock
from bounceledger.logfiles import CHECK_LINES, FormatMismatchError, check_format, parse_options
from bounceledger.ingest.sendlog.reader import OverlongLine, read_complete_lines
from bounceledger.models import Delivery, Event, SentMessage, SourceCursor
from tests.conftest import PIPELINE_FIXTURES, PIPELINE_LOG_MTIME

SENDLOG_FIXTURES = Path(__file__).parent / "sendlog" / "fixtures"
BIG_LINE = 20 * 1024 * 1024


def bl(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bounceledger", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    if check:
        assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def _counts(database: Database) -> tuple[int, int, int, int]:
    with database.session() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (SentMessage, Delivery, Event, SourceCursor)
        )


def _states(database: Database) -> dict[str, str]:
    with database.session() as session:
        return dict(session.execute(select(Delivery.recipient, Delivery.state)).all())


# -- the wrong format --------------------------------------------------------


def test_wrong_format_stops_before_the_cursor_moves(sendlog: Path, database_url: str) -> None:
    db = ["--database-url", database_url]
    cwd = sendlog.parent
    failed = bl(*db, "ingest-log", str(sendlog), "--format", "exim", cwd=cwd, check=False)
    assert failed.returncode == 1
    assert failed.stdout == ""
    [line] = failed.stderr.splitlines()
    assert line == (
        f"bounceledger: error: {sendlog}: the exim format recognises none of its first 11 non-empty line(s) "
        "(it looks like postfix); nothing was read from it: check --format"
    )
    database = Database(Settings(database_url=database_url))
    try:
        assert _counts(database) == (0, 0, 0, 0)  # no attempt, no cursor
    finally:
        database.dispose()
    # The right format later finds every line still there.
    out = bl(*db, "ingest-log", str(sendlog), "--format", "postfix", cwd=cwd).stdout
    assert "11 lines read, 5 attempts recorded" in out and "1 skipped" in out


def test_one_wrong_file_stops_the_run_before_any_file_is_read(sendlog: Path, database: Database) -> None:
    exim = sendlog.parent / "exim.log"
    shutil.copy(SENDLOG_FIXTURES / "exim_mainlog.log", exim)
    with pytest.raises(FormatMismatchError, match="the postfix format recognises none"):
        pipeline.ingest_logs(database, [str(sendlog), str(exim)], "postfix")
    assert _counts(database) == (0, 0, 0, 0)


def test_sendlog_parse_refuses_the_wrong_format_too(tmp_path: Path) -> None:
    failed = bl("sendlog", "parse", str(SENDLOG_FIXTURES / "sendmail_maillog.log"), "--format", "postfix",
                cwd=tmp_path, check=False)
    assert failed.returncode == 1 and failed.stdout == ""
    [line] = failed.stderr.splitlines()
    assert "the postfix format recognises none of its first" in line and "(it looks like sendmail)" in line


def _options(path: Path) -> object:
    return parse_options(Settings(), path)


def test_the_format_must_find_one_of_its_lines_among_the_first_thousand(tmp_path: Path) -> None:
    """A shared mail.log may be mostly other programs; one Postfix line in the first thousand is enough."""
    postfix_line = (PIPELINE_FIXTURES / "postfix.log").read_text().splitlines()[4]
    other = "Mar  3 09:15:01 mta dovecot: imap-login: Login: user=<u>, method=PLAIN, rip=10.0.0.9"
    shared = tmp_path / "shared.log"
    shared.write_text("\n".join([other] * (CHECK_LINES - 1) + [postfix_line]) + "\n")
    check_format(shared, "postfix", _options(shared))  # type: ignore[arg-type]

    late = tmp_path / "late.log"
    late.write_text("\n".join([other] * CHECK_LINES + [postfix_line]) + "\n")
    with pytest.raises(FormatMismatchError, match=f"none of its first {CHECK_LINES} non-empty line"):
        check_format(late, "postfix", _options(late))  # type: ignore[arg-type]

    # An Exim main log may open with a burst of SMTP-time rejections (no message id).
    rejection = "2025-03-03 09:13:59 H=(spam) [203.0.113.66]:4242 F=<x@spam.example> rejected RCPT <a@shop.example>: relay not permitted"
    exim = tmp_path / "exim.log"
    exim.write_text("\n".join([rejection] * 500) + "\n" + (SENDLOG_FIXTURES / "exim_mainlog.log").read_text())
    check_format(exim, "exim", _options(exim))  # type: ignore[arg-type]

    empty = tmp_path / "empty.log"
    empty.write_text("\n\n")
    check_format(empty, "exim", _options(empty))  # type: ignore[arg-type]  # nothing to lose


# -- over-long lines ---------------------------------------------------------


def _with_huge_line(sendlog: Path) -> Path:
    lines = sendlog.read_bytes().splitlines(keepends=True)
    huge = b"Mar  3 09:15:01 mta postfix/smtpd[2101]: " + b"A" * BIG_LINE + b"\n"
    target = sendlog.parent / "huge.log"
    target.write_bytes(b"".join(lines[:3]) + huge + b"".join(lines[3:]))
    os.utime(target, (PIPELINE_LOG_MTIME, PIPELINE_LOG_MTIME))
    return target


def test_a_huge_line_is_skipped_and_never_held_whole(sendlog: Path) -> None:
    target = _with_huge_line(sendlog)
    tracemalloc.start()
    try:
        items = [(type(raw), len(raw), getattr(raw, "length", None)) for raw, _ in read_complete_lines(target)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # a few 1 MiB chunks (about 5 MiB), never the 20 MiB line
    assert len(items) == 12
    kind, head, length = items[3]
    assert kind is OverlongLine and head == 200 and length == BIG_LINE + len("Mar  3 09:15:01 mta postfix/smtpd[2101]: ")
    assert all(kind is bytes for kind, _, _ in items[:3] + items[4:])


def test_a_huge_line_counts_as_skipped_not_read(sendlog: Path, database: Database) -> None:
    target = _with_huge_line(sendlog)
    summary = pipeline.ingest_logs(database, [str(target)], "postfix")
    assert (summary.lines, summary.attempts, summary.skipped) == (11, 5, 2)
    assert summary.samples[0].startswith("[line of 20,971,561 bytes, over the limit] Mar  3 09:15:01 mta postfix")
    assert len(summary.samples[0]) < 300
    assert _states(database)["carol@slow.example.net"] == "accepted"  # the lines after it were read


def test_sendlog_parse_reports_a_huge_line_as_skipped(sendlog: Path) -> None:
    target = _with_huge_line(sendlog)
    result = bl("sendlog", "parse", str(target), "--format", "postfix", cwd=sendlog.parent)
    assert len(result.stdout.splitlines()) == 5
    assert result.stderr.splitlines()[0] == "11 lines, 5 attempts, 2 skipped"
    assert "[line of 20,971,561 bytes, over the limit]" in result.stderr


# -- reading again -----------------------------------------------------------


def test_reread_duplicates_nothing(sendlog: Path, maildir: str, database: Database) -> None:
    pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    polling.poll(database, maildir)
    before = _counts(database)
    states = _states(database)
    assert states["bob@mail.example.org"] == "bounced"  # corrected by the returned mail
    with database.session() as session:
        report = queries.report(session)

    again = pipeline.ingest_logs(database, [str(sendlog)], "postfix")
    assert again.lines == 0  # without --reread: nothing new
    reread = pipeline.ingest_logs(database, [str(sendlog)], "postfix", reread=True)
    assert reread.lines == 11  # every line read again
    assert _counts(database) == before
    assert _states(database) == states  # the correction stands: bob's 250 line does not undo it
    with database.session() as session:
        assert queries.report(session) == report


def test_reread_from_the_command_line(sendlog: Path, database_url: str) -> None:
    db = ["--database-url", database_url]
    cwd = sendlog.parent
    bl(*db, "ingest-log", str(sendlog), cwd=cwd)
    database = Database(Settings(database_url=database_url))
    try:
        before = _counts(database)
        assert "0 lines read" in bl(*db, "ingest-log", str(sendlog), cwd=cwd).stdout
        out = bl(*db, "ingest-log", str(sendlog), "--reread", cwd=cwd).stdout
        assert "11 lines read" in out
        assert _counts(database) == before
    finally:
        database.dispose()


# -- one ingester per file ---------------------------------------------------


def test_a_second_process_skips_a_file_another_ingester_holds(sendlog: Path, database_url: str) -> None:
    db = ["--database-url", database_url]
    cwd = sendlog.parent
    database = Database(Settings(database_url=database_url))
    holder = SourceLock(database, pipeline.file_lock_name(str(sendlog.resolve())))
    try:
        assert holder.acquire()
        busy = bl(*db, "ingest-log", str(sendlog), cwd=cwd)
        assert "0 lines read" in busy.stdout and "1 file(s) busy (read by another ingester)" in busy.stdout
        assert busy.stderr.splitlines() == [
            f"bounceledger: {sendlog}: another ingester (ingest-log or run) is reading this file; skipped, it reads it"
        ]
        assert _counts(database) == (0, 0, 0, 0)
        holder.release()
        assert "11 lines read, 5 attempts recorded" in bl(*db, "ingest-log", str(sendlog), cwd=cwd).stdout
    finally:
        holder.release()
        database.dispose()


def test_two_ingesters_at_once_read_a_file_once(sendlog: Path, database_url: str) -> None:
    """The first holds the file mid-read (after its first batch) while the second tries it."""
    settings = Settings(database_url=database_url, batch_size=2)
    first_db, second_db = Database(settings), Database(settings)
    midway, go_on = threading.Event(), threading.Event()
    results: dict[str, pipeline.LogIngestSummary] = {}
    errors: list[BaseException] = []

    def progress(done: int, total: int) -> None:
        if done < total and not midway.is_set():
            midway.set()
            assert go_on.wait(60)

    def first() -> None:
        try:
            results["first"] = pipeline.ingest_logs(first_db, [str(sendlog)], "postfix", progress=progress)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            midway.set()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert midway.wait(60)
        assert not errors
        second = pipeline.ingest_logs(second_db, [str(sendlog)], "postfix")
    finally:
        go_on.set()
        thread.join(60)
    try:
        assert not errors, errors
        assert second.busy == [str(sendlog)] and second.lines == 0 and second.attempts == 0
        assert (results["first"].lines, results["first"].attempts) == (11, 5)
        assert _states(first_db)["bob@mail.example.org"] == "accepted"
        # Once the first is done, the file is free and fully read.
        third = pipeline.ingest_logs(second_db, [str(sendlog)], "postfix")
        assert third.busy == [] and third.lines == 0
    finally:
        first_db.dispose()
        second_db.dispose()


def test_reader_splits_lines_the_same_whatever_the_chunk_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over-long lines anywhere (across chunk ends, at the end, one after another) shift no offset."""
    import random

    from bounceledger.ingest.sendlog import reader

    rng = random.Random(14)
    target = tmp_path / "lines.log"
    for _ in range(300):
        lines = [b"x" * rng.choice([0, 1, 5, 99, 100, 101, 150, 300, 1000]) for _ in range(rng.randint(0, 8))]
        partial = b"y" * rng.choice([0, 3, 200])
        target.write_bytes(b"".join(line + b"\n" for line in lines) + partial)
        monkeypatch.setattr(reader, "READ_CHUNK", rng.choice([1, 7, 64, 128, 4096]))
        got = [
            (("long", raw.length) if type(raw) is OverlongLine else bytes(raw), end)
            for raw, end in read_complete_lines(target, 0, max_line=100)
        ]
        expected, end = [], 0
        for line in lines:
            end += len(line) + 1
            expected.append((("long", len(line)) if len(line) > 100 else line, end))
        assert got == expected
