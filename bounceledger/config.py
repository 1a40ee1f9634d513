"""One typed settings object, from defaults, a TOML file, the environment and flags.

Later sources win: built-in defaults < TOML file < ``BOUNCELEDGER_*``
environment variables < command-line options. Passwords may come from the
environment or a secret file so that they never have to sit in a URL that
ends up in a log or a shell history.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# SQLAlchemy and the models are imported where they are used: commands that
# need no database (--help, parse, explain, sendlog parse) read settings too,
# and must start without loading the ORM.
if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from models.suppression import SuppressionPolicy

DEFAULT_DATABASE_URL = "sqlite:///bounceledger.sqlite"
DEFAULT_CONFIG_FILE = "bounceledger.toml"
ENV_PREFIX = "BOUNCELEDGER_"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is safe to print."""


@dataclass(frozen=True, slots=True)
class SendLogSource:
    path: str
    format: str = "auto"
    interval_seconds: int = 60


@dataclass(frozen=True, slots=True)
class MailboxSource:
    url: str
    interval_seconds: int = 300


def _default_suppression_policy() -> SuppressionPolicy:
    from models.suppression import SuppressionPolicy

    return SuppressionPolicy()


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    database_password: str | None = None
    timezone: str = "UTC"
    campaign_header: str = "X-Campaign"  # as logged by the MTA (Postfix header_checks INFO)
    internal_relays: tuple[str, ...] | None = None  # None: the parser's defaults
    log_level: str = "INFO"
    sendlogs: tuple[SendLogSource, ...] = ()
    mailboxes: tuple[MailboxSource, ...] = ()
    batch_size: int = 5000
    expire_deferred_after_hours: float = 120.0  # Postfix's default maximal_queue_lifetime
    orphan_retry_seconds: int = 300
    orphan_report_after_hours: float = 24.0  # unmatched this long: reported as stale
    suppression: SuppressionPolicy = field(default_factory=_default_suppression_policy)
    return_path_secret: str | None = None  # HMAC key for signed return-path tokens
    # Headers the sender puts on each message and the MTA logs (Postfix
    # header_checks INFO, PowerMTA header_* fields, JSON lines "headers"):
    # a returned message quoting one of them is tied to that send.
    match_headers: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def database(self) -> URL:
        """The database URL with the driver we ship and any separate password."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(self.database_url)
        except ArgumentError:
            raise ConfigError(f"database URL is not valid: {redact_url(self.database_url)}") from None
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        if self.database_password and not url.password:
            url = url.set(password=self.database_password)
        return url

    def safe_database_url(self) -> str:
        """The URL with any password masked, for messages and logs."""
        return self.database().render_as_string(hide_password=True)


def redact_url(text: str) -> str:
    """Mask ``user:password@`` in anything that looks like a URL."""
    import re

    return re.sub(r"(//[^/:@\s]*:)[^@/\s]*@", r"\1***@", text)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None


def _read_secret_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from None


def _sources(raw: Any, name: str, kind: type, key: str) -> tuple[Any, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"[[{name}]] must be a list of tables")
    out = []
    for entry in raw:
        if not isinstance(entry, dict) or key not in entry:
            raise ConfigError(f"every [[{name}]] entry needs a '{key}'")
        known = {f for f in kind.__dataclass_fields__}
        unknown = set(entry) - known
        if unknown:
            raise ConfigError(f"unknown key(s) in [[{name}]]: {', '.join(sorted(unknown))}")
        out.append(kind(**entry))
    return tuple(out)


def _from_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    database = data.get("database", {})
    if not isinstance(database, dict):
        raise ConfigError("[database] must be a table")
    if "url" in database:
        values["database_url"] = str(database["url"])
    if "password_file" in database:
        values["database_password"] = _read_secret_file(str(database["password_file"]))
    for key in ("timezone", "log_level", "campaign_header"):
        if key in data:
            values[key] = str(data[key])
    for key, kind in (
        ("batch_size", int),
        ("expire_deferred_after_hours", float),
        ("orphan_retry_seconds", int),
        ("orphan_report_after_hours", float),
    ):
        if key in data:
            try:
                values[key] = kind(data[key])
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be a number") from None
    if "internal_relays" in data:
        values["internal_relays"] = tuple(str(x) for x in data["internal_relays"])
    if "match_headers" in data:
        values["match_headers"] = _header_names(data["match_headers"])
    if "suppression" in data:
        values["suppression"] = _suppression_policy(data["suppression"])
    if "return_path_secret_file" in data:
        values["return_path_secret"] = _read_secret_file(str(data["return_path_secret_file"]))
    values["sendlogs"] = _sources(data.get("sendlog"), "sendlog", SendLogSource, "path")
    values["mailboxes"] = _sources(data.get("mailbox"), "mailbox", MailboxSource, "url")
    return values


def _header_names(raw: Any) -> tuple[str, ...]:
    """``match_headers``: a list of header names, e.g. ``["X-Mailer-Ref"]``."""
    if isinstance(raw, str) or not isinstance(raw, (list, tuple)):
        raise ConfigError('match_headers must be a list of header names, e.g. ["X-Mailer-Ref"]')
    names = tuple(str(name).strip().rstrip(":").strip() for name in raw)
    bad = [name for name in names if not name or any(c.isspace() or c == ":" for c in name)]
    if bad:
        raise ConfigError(f"match_headers: not a header name: {bad[0]!r}")
    return tuple(name for name in names if name)


def _suppression_policy(raw: Any) -> SuppressionPolicy:
    """``[suppression]``: soft_bounces, soft_window_days, soft_days, hard_days, complaint_days (0: for ever)."""
    if not isinstance(raw, dict):
        raise ConfigError("[suppression] must be a table")
    known = {"soft_bounces", "soft_window_days", "soft_days", "hard_days", "complaint_days"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [suppression]: {', '.join(sorted(unknown))}")
    from models.suppression import SuppressionPolicy

    base = SuppressionPolicy()

    def days(key: str, default: timedelta | None) -> timedelta | None:
        if key not in raw:
            return default
        try:
            value = float(raw[key])
        except (TypeError, ValueError):
            raise ConfigError(f"[suppression] {key} must be a number of days") from None
        return None if value <= 0 else timedelta(days=value)

    try:
        limit = int(raw.get("soft_bounces", base.soft_bounce_limit))
    except (TypeError, ValueError):
        raise ConfigError("[suppression] soft_bounces must be a whole number") from None
    return SuppressionPolicy(
        soft_bounce_limit=limit,
        soft_bounce_window=days("soft_window_days", base.soft_bounce_window) or base.soft_bounce_window,
        soft_bounce_duration=days("soft_days", base.soft_bounce_duration),
        hard_bounce_duration=days("hard_days", base.hard_bounce_duration),
        complaint_duration=days("complaint_days", base.complaint_duration),
    )


def _from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if url := env.get(ENV_PREFIX + "DATABASE_URL"):
        values["database_url"] = url
    if password := env.get(ENV_PREFIX + "DATABASE_PASSWORD"):
        values["database_password"] = password
    elif path := env.get(ENV_PREFIX + "DATABASE_PASSWORD_FILE"):
        values["database_password"] = _read_secret_file(path)
    if tz := env.get(ENV_PREFIX + "TIMEZONE"):
        values["timezone"] = tz
    if level := env.get(ENV_PREFIX + "LOG_LEVEL"):
        values["log_level"] = level
    if secret := env.get(ENV_PREFIX + "RETURN_PATH_SECRET"):
        values["return_path_secret"] = secret
    if headers := env.get(ENV_PREFIX + "MATCH_HEADERS"):
        values["match_headers"] = _header_names(headers.split(","))
    if relays := env.get(ENV_PREFIX + "INTERNAL_RELAYS"):
        values["internal_relays"] = tuple(r.strip() for r in relays.split(",") if r.strip())
    return values


def load_settings(
    config_path: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings; an explicit ``config_path`` must exist."""
    env = os.environ if env is None else env
    settings = Settings()
    path = config_path or env.get(ENV_PREFIX + "CONFIG")
    if path:
        settings = replace(settings, **_from_mapping(_read_toml(Path(path))))
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        settings = replace(settings, **_from_mapping(_read_toml(Path(DEFAULT_CONFIG_FILE))))
    settings = replace(settings, **_from_environment(env))
    if overrides:
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone: {settings.timezone!r}") from None
    if settings.batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    if settings.database_url != DEFAULT_DATABASE_URL:  # the default is well-formed: no SQLAlchemy to check it
        settings.database()  # raises ConfigError on a malformed URL
