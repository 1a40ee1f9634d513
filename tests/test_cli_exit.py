"""``parse`` and ``explain`` leave without the interpreter's teardown (``cli.console``):
everything they print must still arrive, with the exit status the command chose.

Run as a user runs them, in a subprocess, with stdout a file (block-buffered:
what is not flushed before ``os._exit`` would be lost) and a pipe.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bounceledger import parse_files

SAMPLES = Path(__file__).resolve().parent.parent / "bounceledger" / "samples" / "returned" / "new"


def _bounceledger(*args: str, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    # Buffered output, as by default: unbuffered (PYTHONUNBUFFERED, set in some
    # shells and CI runners) would hide output lost to a missing flush.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-m", "bounceledger", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120, env=env)


def _folder(tmp_path: Path, count: int) -> Path:
    """``count`` copies of the bundled returned samples, enough for ``parse`` to fork a helper."""
    folder = tmp_path / "mail"
    folder.mkdir()
    samples = sorted(SAMPLES.iterdir())
    for number in range(count):
        shutil.copy(samples[number % len(samples)], folder / f"{number:04}.eml")
    return folder


def test_parse_into_a_file_writes_every_line(tmp_path: Path) -> None:
    count = parse_files.MIN_FILES_TO_SPLIT * 2
    folder = _folder(tmp_path, count)
    out = tmp_path / "out.jsonl"
    with out.open("w") as sink:
        result = _bounceledger("parse", str(folder), "--json", stdout=sink)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = out.read_text().splitlines()
    assert out.stat().st_size > 16 * 1024  # more than a stdout buffer holds
    assert [json.loads(line)["file"] for line in lines] == [str(path) for path in sorted(folder.iterdir())]


def test_parse_through_a_pipe_writes_every_line(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 5)
    result = _bounceledger("parse", str(folder))
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if not line.startswith(" ")] == [
        f"{path}: bounce" for path in sorted(folder.iterdir())
    ]
    assert result.stderr.strip() == "5 bounce, 0 ignored, 0 unparsed, 0 error"


def test_parse_keeps_its_failure_status(tmp_path: Path) -> None:
    result = _bounceledger("parse", str(tmp_path / "absent"))
    assert result.returncode == 1
    assert "absent" in result.stderr
    assert result.stdout == ""


def test_explain_prints_before_it_leaves(tmp_path: Path) -> None:
    result = _bounceledger("explain", "5.1.1", "--json")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["reason"] == "userunknown"
