"""Polling waits with failures that explain themselves.

Mail delivery is asynchronous by design (queue runs, backoff, B's later
bounce), so tests wait for evidence rather than sleeping. On timeout the error
carries the tail of every relevant log, because "timed out" alone is useless
when a daemon silently failed to start or refused a delivery.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """Raised when a wait gives up; message includes log tails for diagnosis."""


def tail(path: Path, lines: int = 25) -> str:
    """Last `lines` lines of a file, or a note that it does not exist yet."""
    if not path.exists():
        return f"--- {path}: (missing)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return f"--- {path} (last {len(text)} lines)\n" + "\n".join(text)


def poll(check: Callable[[], T | None], timeout: float, what: str,
         logs: Iterable[Path] = (), interval: float = 0.2) -> T:
    """Call `check` until it returns something truthy; raise WaitTimeout with log tails otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            tails = "\n".join(tail(p) for p in logs)
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
        time.sleep(interval)


def log_matches(path: Path, pattern: str | re.Pattern[str]) -> list[re.Match[str]]:
    """All matches of a multiline regex in the log file (empty if missing)."""
    if not path.exists():
        return []
    regex = re.compile(pattern, re.MULTILINE) if isinstance(pattern, str) else pattern
    return list(regex.finditer(path.read_text(encoding="utf-8", errors="replace")))


def wait_for_log(path: Path, pattern: str, timeout: float = 30.0, count: int = 1,
                 logs: Iterable[Path] = ()) -> list[re.Match[str]]:
    """Wait until `pattern` matches at least `count` times in the log; return the matches."""
    return poll(lambda: (m := log_matches(path, pattern)) and len(m) >= count and m,
                timeout, f"{count}x /{pattern}/ in {path}", logs=[path, *logs])


_DOVECOT_NAME = re.compile(r"^(\d+)\.M(\d+)P")


def delivery_order(path: Path) -> tuple[int, int, str]:
    """Sort key: Dovecot names are `<secs>.M<usecs>P<pid>...`; compare numerically, not as text."""
    found = _DOVECOT_NAME.match(path.name)
    if found:
        return int(found.group(1)), int(found.group(2)), path.name
    mtime_ns = path.stat().st_mtime_ns
    return mtime_ns // 10**9, (mtime_ns // 1000) % 10**6, path.name


def maildir_files(maildir: Path) -> list[Path]:
    """Delivered messages in new/ and cur/ (dotfiles skipped), in delivery order."""
    files = [p for sub in ("new", "cur") if (maildir / sub).is_dir()
             for p in (maildir / sub).iterdir() if not p.name.startswith(".")]
    return sorted(files, key=delivery_order)


def wait_for_maildir(maildir: Path, count: int, timeout: float = 30.0,
                     logs: Iterable[Path] = ()) -> list[Path]:
    """Wait until at least `count` messages sit in the maildir; return them."""
    return poll(lambda: (f := maildir_files(maildir)) and len(f) >= count and f,
                timeout, f"{count} message(s) in {maildir}", logs=logs)
