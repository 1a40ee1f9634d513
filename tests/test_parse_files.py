"""parse DIR on two cores: the same results in the same order as one
process, and nothing lost when the forked helper dies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bounceledger import parse_files
from bounceledger.ingest.bounces import parse
from bounceledger.ingest.records import ParsedMessage

FIXTURES = Path(__file__).parent / "bounces" / "fixtures"


@pytest.fixture
def folder(tmp_path: Path) -> list[Path]:
    sources = sorted(p for p in FIXTURES.glob("*.msg"))
    paths = []
    for index in range(60):
        path = tmp_path / f"{index:03}.msg"
        path.write_bytes(sources[index % len(sources)].read_bytes())
        paths.append(path)
    return paths


def parse_file(path: Path, raw: bytes) -> ParsedMessage:
    return parse(raw)


def _sequential(paths: list[Path]) -> list[tuple[Path, ParsedMessage]]:
    return [(p, parse(p.read_bytes())) for p in paths]


def test_a_large_folder_is_split_and_comes_back_in_order(folder: list[Path], monkeypatch) -> None:
    forks: list[int] = []
    real_fork = os.fork

    def counting_fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(parse_files.os, "fork", counting_fork)
    assert parse_files._should_split(len(folder))
    got = list(parse_files.parsed_in_order(folder, parse_file))
    assert len(forks) == 1
    assert got == _sequential(folder)


def test_the_helper_takes_its_share(folder: list[Path]) -> None:
    import time

    parent = os.getpid()

    def parse_where(path: Path, raw: bytes) -> int:
        if os.getpid() == parent:
            time.sleep(0.005)  # this process busy: the helper, free, claims files
        return os.getpid()

    pids = [pid for _, pid in parse_files.parsed_in_order(folder, parse_where)]
    assert len(pids) == len(folder)
    assert sum(1 for pid in pids if pid != parent) >= len(folder) // 4


def test_a_small_folder_stays_in_this_process(folder: list[Path], monkeypatch) -> None:
    monkeypatch.setattr(parse_files.os, "fork", lambda: pytest.fail("forked for a small folder"))
    small = folder[: parse_files.MIN_FILES_TO_SPLIT - 1]
    assert list(parse_files.parsed_in_order(small, parse_file)) == _sequential(small)


def test_a_helper_that_dies_costs_nothing(folder: list[Path]) -> None:
    parent = os.getpid()
    dies_at = folder[45]

    def parse_or_die(path: Path, raw: bytes) -> ParsedMessage:
        if os.getpid() != parent and raw == dies_at.read_bytes():
            os._exit(3)  # the helper dies mid-way, as under the OOM killer
        return parse(raw)

    assert list(parse_files.parsed_in_order(folder, parse_or_die)) == _sequential(folder)


def test_files_are_claimed_by_whichever_process_is_free(folder: list[Path]) -> None:
    """Not two fixed halves: a helper that is slow on every file leaves
    most of them to this process, and the order still holds."""
    import time

    parent = os.getpid()

    def parse_where(path: Path, raw: bytes) -> tuple[int, ParsedMessage]:
        if os.getpid() != parent:
            time.sleep(0.05)
        return os.getpid(), parse(raw)

    got = list(parse_files.parsed_in_order(folder, parse_where))
    assert [p for p, _ in got] == folder
    assert [r for _, (_, r) in got] == [r for _, r in _sequential(folder)]
    by_helper = sum(1 for _, (pid, _) in got if pid != parent)
    assert by_helper < len(folder) // 4


def test_more_files_than_tickets_go_in_chunks_in_order(folder: list[Path], monkeypatch) -> None:
    monkeypatch.setattr(parse_files, "MAX_TICKETS", 7)  # 60 files: chunks of 9, the last of 6
    assert list(parse_files.parsed_in_order(folder, parse_file)) == _sequential(folder)


def test_an_unreadable_file_is_reported_in_its_place(folder: list[Path]) -> None:
    folder[50].chmod(0)
    if os.access(folder[50], os.R_OK):  # root reads anything: make it a folder instead
        folder[50].unlink()
        folder[50].mkdir()
    got = list(parse_files.parsed_in_order(folder, parse_file))
    assert [p for p, _ in got] == folder
    assert isinstance(got[50][1], OSError)
    assert all(isinstance(r, ParsedMessage) for i, (_, r) in enumerate(got) if i != 50)


def test_preload_runs_once_before_a_split_and_never_for_a_small_folder(folder: list[Path]) -> None:
    calls: list[int] = []
    list(parse_files.parsed_in_order(folder, parse_file, lambda: calls.append(os.getpid())))
    assert calls == [os.getpid()]
    list(parse_files.parsed_in_order(folder[:3], parse_file, lambda: calls.append(os.getpid())))
    assert calls == [os.getpid()]
