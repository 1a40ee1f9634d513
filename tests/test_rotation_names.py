"""Rotated send logs named by date and time, and compressed rotations still being written
(sweep BM: real Postfix 3.7.11 lines, logrotate 3.21 and `postfix logrotate`)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from bounceledger import pipeline
from bounceledger.db import Database
from bounceledger.ingest.sendlog.reader import LogFileError, read_complete_lines, rotation_order
from bounceledger.models import Delivery, SentMessage

# Postfix 3.7.11 via postlogd (maillog_file), one message whose 250 came 12 s after
# its cleanup line; `postfix logrotate` ran in between.
BEFORE = """\
Dec 07 21:30:16 hostb postfix/pickup[22365]: 3396622C96A: uid=0 from=<sender12@sender.test>
Dec 07 21:30:16 hostb postfix/cleanup[22407]: 3396622C96A: message-id=<m12.B@sender.test>
Dec 07 21:30:16 hostb postfix/qmgr[22366]: 3396622C96A: from=<sender12@sender.test>, size=258, nrcpt=1 (queue active)
"""
AFTER = """\
Dec 07 21:30:28 hostb postfix/smtp[22409]: 3396622C96A: to=<slow12@example.test>, relay=127.0.0.1[127.0.0.1]:47125, delay=12, delays=0.01/0/0/12, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as FH1796679028069)
Dec 07 21:30:28 hostb postfix/qmgr[22366]: 3396622C96A: removed
"""
MTIME = 1796679100  # 2026-12-07: the year-less stamps fall in December 2026


def _names(paths: list[str]) -> list[str]:
    return [p.name for p in rotation_order(paths)]


def test_postfix_logrotate_suffix_is_older_than_the_live_file() -> None:
    # src: postfix(1) "logrotate": appends $maillog_file_rotate_suffix, postconf(5)
    # default %Y%m%d-%H%M%S, then compresses with $maillog_file_compressor (gzip).
    given = ["d/postfix.log", "d/postfix.log.20261207-213500.gz", "d/postfix.log.20261207-212800.gz"]
    assert _names(given) == ["postfix.log.20261207-212800.gz", "postfix.log.20261207-213500.gz", "postfix.log"]


@pytest.mark.parametrize(
    "rotated",
    [
        ["mail.log-2026120721", "mail.log-2026120722.gz"],  # logrotate(8) hourly default -%Y%m%d%H
        ["mail.log-20261207212800", "mail.log-20261207213500"],  # dateformat -%Y%m%d%H%M%S
        ["mail.log.20261206", "mail.log.20261207"],  # dateformat .%Y%m%d
    ],
)
def test_logrotate_dateformats_sort_by_time_before_the_live_file(rotated: list[str]) -> None:
    given = ["d/mail.log", *[f"d/{n}" for n in reversed(rotated)]]
    assert _names(given) == [*rotated, "mail.log"]


def test_a_message_cut_by_postfix_logrotate_keeps_its_message_id(database: Database, tmp_path: Path) -> None:
    live = tmp_path / "postfix.log"
    rotated = tmp_path / "postfix.log.20261207-213020.gz"
    rotated.write_bytes(gzip.compress(BEFORE.encode()))
    live.write_text(AFTER)
    for path in (live, rotated):
        os.utime(path, (MTIME, MTIME))
    # sorted(glob("postfix.log*")) puts the live file first
    pipeline.ingest_logs(database, [str(live), str(rotated)], "auto")
    with database.session() as session:
        rows = session.execute(
            select(SentMessage.message_id, Delivery.recipient).join(Delivery, Delivery.sent_message_id == SentMessage.id)
        ).all()
    assert rows == [("m12.B@sender.test", "slow12@example.test")]


def test_a_gz_still_being_written_is_a_log_file_error(tmp_path: Path) -> None:
    whole = gzip.compress((BEFORE + AFTER).encode() * 50)
    partial = tmp_path / "mail.log.1.gz"
    partial.write_bytes(whole[: len(whole) // 2])  # logrotate's compressor has not finished
    with pytest.raises(LogFileError, match="incomplete"):
        list(read_complete_lines(partial))


def test_a_gz_still_being_written_stops_only_its_own_source(database: Database, tmp_path: Path) -> None:
    whole = gzip.compress((BEFORE + AFTER).encode() * 50)
    partial = tmp_path / "mail.log.1.gz"
    partial.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(pipeline.SOURCE_ERRORS):  # run_once records it and reads the other sources
        pipeline.ingest_logs(database, [str(partial)], "auto")


@pytest.mark.parametrize(("suffix", "compress"), [(".bz2", bz2.compress), (".xz", lzma.compress)])
def test_rotations_compressed_with_bzip2_or_xz_are_read(tmp_path: Path, suffix: str, compress) -> None:  # type: ignore[no-untyped-def]
    # src: logrotate(8) compresscmd/compressext: "compresscmd /usr/bin/xz" gives mail.log.1.xz
    rotated = tmp_path / f"mail.log.1{suffix}"
    rotated.write_bytes(compress(BEFORE.encode()))
    assert [line for line, _ in read_complete_lines(rotated)] == BEFORE.encode().splitlines()
    assert _names([str(tmp_path / "mail.log"), str(tmp_path / f"mail.log.2{suffix}"), str(rotated)]) == [
        f"mail.log.2{suffix}", f"mail.log.1{suffix}", "mail.log"]
    cut = tmp_path / f"mail.log.2{suffix}"
    cut.write_bytes(compress(BEFORE.encode())[:-8])  # still being written
    with pytest.raises(LogFileError, match="incomplete or damaged"):
        list(read_complete_lines(cut))


def test_a_zstd_rotation_is_named_not_read_as_text(tmp_path: Path) -> None:
    rotated = tmp_path / "mail.log.1.zst"
    rotated.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(40))
    with pytest.raises(LogFileError, match="compressed with zstd"):
        list(read_complete_lines(rotated))
