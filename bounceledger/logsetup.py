"""Log levels by name, and the one logging set-up every command shares.

Its own small module: the CLI sets logging up for every command, including
``parse`` and ``explain``, which must start without the settings module.
"""

from __future__ import annotations

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(raw: str) -> str:
    """A logging level by name, in capitals (``warn`` is WARNING); ValueError otherwise."""
    level = {"WARN": "WARNING"}.get(raw.strip().upper(), raw.strip().upper())
    if level not in LOG_LEVELS:
        raise ValueError(f"{raw!r} is not a log level (one of {', '.join(LOG_LEVELS)})")
    return level


def configure_logging(level: str) -> None:
    """Everything at ``level`` and above to stderr, one line each; the scheduler's chatter only from WARNING."""
    import logging  # imported here: --help and usage errors never need it

    logging.basicConfig(
        level=log_level(level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
