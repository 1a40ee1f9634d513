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


LOG_FORMATS = ("text", "json")

#: Attributes every LogRecord has; anything else was passed as ``extra=`` and goes into the JSON object.
_RECORD_ATTRIBUTES = frozenset(
    (
        "name msg args levelname levelno pathname filename module exc_info exc_text stack_info lineno funcName "
        "created msecs relativeCreated thread threadName processName process taskName message asctime"
    ).split()
)


def json_formatter() -> object:
    """A formatter writing one JSON object a line: time, level, logger, message and any ``extra`` fields."""
    import json
    import logging
    from datetime import datetime, timezone

    class JsonFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            out: dict[str, object] = {
                "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
            for key, value in record.__dict__.items():
                if key not in _RECORD_ATTRIBUTES and key not in out:
                    out[key] = value
            if record.exc_info:
                out["exception"] = self.formatException(record.exc_info)
            return json.dumps(out, default=str, ensure_ascii=False)

    return JsonFormatter()


def _checked(level: str, fmt: str) -> str:
    """``level`` in capitals; ValueError for an unknown level or format."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"{fmt!r} is not a log format (one of {', '.join(LOG_FORMATS)})")
    return log_level(level)


def configure_logging(level: str, fmt: str = "text") -> None:
    """Everything at ``level`` and above to stderr, one line each (text or JSON); the scheduler's chatter only from WARNING."""
    import logging  # imported here: --help and usage errors never need it

    logging.basicConfig(
        level=_checked(level, fmt),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    if fmt == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(json_formatter())  # type: ignore[arg-type]
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


#: The set-up a light command asked for, applied by :func:`ensure_configured`.
_deferred: tuple[str, str] | None = None


def configure_on_first_use(level: str, fmt: str = "text") -> None:
    """:func:`configure_logging`, checked now but applied when something first
    logs (:func:`ensure_configured`): ``parse`` and ``explain`` log only when
    the parser hits a bug of its own, and importing :mod:`logging` was a
    tenth of a one-file parse."""
    global _deferred
    _deferred = (_checked(level, fmt), fmt)


def ensure_configured() -> None:
    """Apply a set-up :func:`configure_on_first_use` deferred, once; called before logging."""
    global _deferred
    if _deferred is not None:
        level, fmt = _deferred
        _deferred = None
        configure_logging(level, fmt)
