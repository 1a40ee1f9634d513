"""Read-ahead batches: cut at the batch size, or sooner once they hold enough bytes,
in the mailbox's order, nothing lost and nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from bounceledger.ingest.mailbox.source import open_mailbox
from bounceledger.ingest.mailbox.url import DEFAULT_IMAP_BATCH, parse_mailbox_url
from bounceledger.read_ahead import ReadAhead


def _maildir(root: Path, sizes: list[int]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for number, size in enumerate(sizes):
        head = f"From: MAILER-DAEMON@mx.example\nSubject: returned {number}\n\n".encode()
        (root / "new" / f"{1700000000 + number}.M{number}.test").write_bytes(head + b"x" * (size - len(head)))
    return root


@pytest.mark.parametrize(
    ("sizes", "batch", "max_bytes", "expected"),
    [
        ([1000] * 5, 2, 10_000, [2, 2, 1]),  # the count cuts
        ([4000] * 5, 10, 10_000, [3, 2]),  # the bytes cut: 12,000 reached after three
        ([20_000, 1000, 1000], 10, 10_000, [1, 2]),  # one message over the limit is a batch alone
        ([1000] * 3, 10, 10_000, [3]),
    ],
)
def test_batches_are_cut_by_count_or_bytes(
    tmp_path: Path, sizes: list[int], batch: int, max_bytes: int, expected: list[int]
) -> None:
    reader = open_mailbox(f"maildir:{_maildir(tmp_path / 'box', sizes)}?readonly=on")
    reader.open(None)
    ahead = ReadAhead(reader, batch, max_bytes)
    try:
        batches = list(ahead.batches())
    finally:
        ahead.close()
    assert [len(b) for b in batches] == expected
    read = [len(item.raw or b"") for b in batches for item in b]
    assert read == sizes  # every message once, in the mailbox's order


def test_imap_batch_default_and_option() -> None:
    url = "imaps://bounces@mail.example.org/INBOX"
    assert parse_mailbox_url(url).batch == DEFAULT_IMAP_BATCH == 500
    assert parse_mailbox_url(url + "?batch=20").batch == 20
