"""One typed settings object, from defaults, a TOML file, the environment and flags.

Later sources win: built-in defaults < TOML file < ``BOUNCELEDGER_*``
environment variables < command-line options. Passwords may come from the
environment or a secret file so that they never have to sit in a URL that
ends up in a log or a shell history.

What the file and the environment may say is read off the dataclasses
below, field by field (a field added to them is a known key at once): a key
or table nobody reads is an error with a "did you mean", never silently
ignored, because a mistyped ``[databse]`` or ``retrun_path_secret_file``
would otherwise quietly turn into a ledger in the wrong place or a return
path nobody checks. Types and ranges are checked the same way for the file
and the environment; numbers are never negative unless a field says so.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bounceledger.logsetup import log_level

# SQLAlchemy and the models are imported where they are used: commands that
# need no database (--help, parse, explain, sendlog parse) read settings too,
# and must start without loading the ORM.
if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from bounceledger.models.suppression import SuppressionPolicy

DEFAULT_DATABASE_URL = "sqlite:///bounceledger.sqlite"
DEFAULT_CONFIG_FILE = "bounceledger.toml"
ENV_PREFIX = "BOUNCELEDGER_"
#: URL schemes the ledger runs on: SQLite, and PostgreSQL through psycopg 3.
DATABASE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")

#: ``BOUNCELEDGER_*`` variables read elsewhere than the settings (the CLI,
#: the dashboard, the parser, the tests and benchmarks), so they are not
#: mistaken for mistyped settings. tests/test_config.py checks that every
#: such name in the source tree is either a setting or listed here.
OTHER_ENVIRONMENT = frozenset(
    {
        "CONFIG",  # the settings file itself
        "IMAP_PASSWORD",  # bounceledger.ingest.mailbox.url
        "WEB_TOKEN",  # bounceledger.web.app
        "LOG_FORMAT",  # bounceledger.cli, read before the settings like LOG_LEVEL
        "PARSE_STRICT",  # bounceledger.ingest.bounces.failures
        "FAULT_KILL_AFTER",  # bounceledger.polling, crash tests
        "TEST_POSTGRES_URL",  # tests/conftest.py
        "REQUIRE_POSTGRES",  # tests/conftest.py
        "BENCH_POSTGRES_URL",  # benchmarks
        "MTA_CACHE",  # tests/install-system-deps.sh
        "CHROMIUM",  # browser tests
        "CHROMEDRIVER",  # browser tests
    }
)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is safe to print."""


# ------------------------------------------------------------ how a field is read

_SPEC = "bounceledger"


@dataclass(frozen=True, slots=True)
class Spec:
    """How one dataclass field is written in the file and the environment.

    ``key``: its name there (default: the field's name; inside ``table``,
    without the table's name as prefix). ``above``/``at_least``: bounds for
    numbers (default: at least 0). ``unit``: what a number means for a
    ``timedelta`` field; 0 means "for ever" when the field may be None.
    ``check``: turns the typed value into the stored one or raises
    ValueError with the reason. ``secret``: read from a ``KEY_file`` in the
    file; from ``KEY`` or ``KEY_FILE`` in the environment.
    """

    key: str | None = None
    table: str | None = None
    above: float | None = None
    at_least: float | None = None
    unit: str | None = None
    check: Callable[[Any], Any] | None = None
    secret: bool = False
    env: bool = True
    what: str | None = None  # what a wrong type is told to be, if not plain "a string"


def setting(default: Any = MISSING, *, factory: Callable[[], Any] | Any = MISSING, **spec: Any) -> Any:
    """A dataclass field with its :class:`Spec`; a secret is left out of the repr (tracebacks, logs)."""
    return field(default=default, default_factory=factory, metadata={_SPEC: Spec(**spec)}, repr=not spec.get("secret"))


def _spec_of(item: Field[Any]) -> Spec:
    spec = item.metadata.get(_SPEC)
    return spec if isinstance(spec, Spec) else Spec()


def _header_name(raw: str) -> str:
    name = raw.strip().rstrip(":").strip()
    if not name or any(c.isspace() or c == ":" for c in name):
        raise ValueError(f"not a header name: {raw!r}")
    return name


def _header_names(raw: tuple[str, ...]) -> tuple[str, ...]:
    """``match_headers``: a list of header names, e.g. ``["X-Mailer-Ref"]``."""
    return tuple(_header_name(name) for name in raw if name.strip())


def _timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {raw!r} (an IANA name such as Europe/Berlin)") from None
    return raw


# ------------------------------------------------------------ the settings


@dataclass(frozen=True, slots=True)
class SendLogSource:
    path: str
    format: str = "auto"
    interval_seconds: int = setting(60, above=0)


@dataclass(frozen=True, slots=True)
class MailboxSource:
    url: str
    interval_seconds: int = setting(300, above=0)


def webhook_url(raw: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL, not {raw!r}")
    return raw


def _webhook_secret(raw: str) -> str:
    from bounceledger.webhooks.signing import secret_key

    secret_key(raw)
    return raw


def _change_types(raw: tuple[str, ...]) -> tuple[str, ...]:
    from bounceledger.changes import check_types

    return check_types(raw) or ()


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """A ``[[webhook]]``: where change-feed entries are pushed, signed (Standard Webhooks)."""

    url: str = setting(check=webhook_url)
    secret: str = setting(secret=True, check=_webhook_secret)  # from secret_file: whsec_<base64> (`webhooks secret`)
    types: tuple[str, ...] = setting((), check=_change_types)  # empty: every type
    campaign: str | None = None  # only deliveries of this campaign (drops suppression entries)
    name: str | None = None  # keeps its place in the feed if the URL changes; default: the URL
    timeout_seconds: float = setting(10.0, above=0)

    @property
    def key(self) -> str:
        return self.name or self.url


def _default_suppression_policy() -> SuppressionPolicy:
    from bounceledger.models.suppression import SuppressionPolicy

    return SuppressionPolicy()


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = setting(DEFAULT_DATABASE_URL, table="database")
    database_password: str | None = setting(None, table="database", secret=True)
    timezone: str = setting("UTC", check=_timezone)
    # as logged by the MTA (Postfix header_checks INFO)
    campaign_header: str = setting("X-Campaign", check=_header_name)
    internal_relays: tuple[str, ...] | None = None  # None: the parser's defaults
    log_level: str = setting("INFO", check=log_level)
    sendlogs: tuple[SendLogSource, ...] = setting((), key="sendlog")
    mailboxes: tuple[MailboxSource, ...] = setting((), key="mailbox")
    webhooks: tuple[WebhookTarget, ...] = setting((), key="webhook")
    batch_size: int = setting(5000, at_least=1)
    # Postfix's default maximal_queue_lifetime
    expire_deferred_after_hours: float = setting(120.0, above=0)
    orphan_retry_seconds: int = setting(300, above=0)
    orphan_report_after_hours: float = setting(24.0, above=0)  # unmatched this long: reported as stale
    # Raw returned messages and the personal part of events' evidence are
    # emptied this many days after the ledger recorded them (counts and
    # states stay; bounceledger.retention). Unset or 0: kept for ever.
    retain_raw_days: float | None = None
    suppression: SuppressionPolicy = setting(factory=_default_suppression_policy)
    return_path_secret: str | None = setting(None, secret=True)  # HMAC key for signed return-path tokens
    # Headers the sender puts on each message and the MTA logs (Postfix
    # header_checks INFO, PowerMTA header_* fields, JSON lines "headers"):
    # a returned message quoting one of them is tied to that send.
    match_headers: tuple[str, ...] = setting(
        (), check=_header_names, what='a list of header names, e.g. ["X-Mailer-Ref"]'
    )
    # [settlement]: when a first-hop 250 nothing overturned becomes "settled"
    # (bounceledger.ingest.settlement). An organisation's window is the p99 of
    # its own late bounces times safety_factor once it has min_samples of
    # them; until then default_window_minutes (2 h: most accept-then-bounce
    # gateways answer within minutes, a few queue for an hour).
    settlement_enabled: bool = setting(True, table="settlement")
    settlement_default_window_minutes: float = setting(120.0, table="settlement", above=0)
    settlement_min_samples: int = setting(20, table="settlement", at_least=1)
    settlement_safety_factor: float = setting(1.5, table="settlement", at_least=1)

    def database(self) -> URL:
        """The database URL with the driver we ship and any separate password."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        check_database_scheme(self.database_url)
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


def _soft_reasons(raw: frozenset[str]) -> frozenset[str]:
    """``[suppression] soft_reasons``: reason names the classifier gives (docs/suppression.md)."""
    from bounceledger.models.suppression import checked_reasons

    return checked_reasons(raw)


#: ``[suppression]`` keys, by the :class:`~bounceledger.models.suppression.SuppressionPolicy`
#: field they set (that module is the pure rule and knows nothing of files).
#: Its other fields are read under their own names.
SUPPRESSION_KEYS: Mapping[str, Spec] = {
    "soft_bounce_limit": Spec(key="soft_bounces", at_least=1),
    "soft_bounce_window": Spec(key="soft_window_days", unit="days", above=0),
    "soft_bounce_duration": Spec(key="soft_days", unit="days"),  # 0: for ever
    "hard_bounce_duration": Spec(key="hard_days", unit="days"),
    "complaint_duration": Spec(key="complaint_days", unit="days"),
    "soft_bounce_reasons": Spec(key="soft_reasons", check=_soft_reasons, what='a list of bounce reasons, e.g. ["mailboxfull"]'),
    "clean_after": Spec(key="clean_after_days", unit="days", above=0),
}


def check_database_scheme(url: str) -> None:
    """Refuse a database the ledger does not run on, before any driver is looked for."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme and scheme not in DATABASE_SCHEMES:
        raise ConfigError(
            f"database URL {redact_url(url)}: {scheme}:// is not supported; "
            "use postgresql://USER@HOST/DB (psycopg 3) or sqlite:///PATH"
        )


def redact_url(text: str) -> str:
    """Mask ``user:password@`` in anything that looks like a URL."""
    import re

    return re.sub(r"(//[^/:@\s]*:)[^@/\s]*@", r"\1***@", text)


# ------------------------------------------------------------ the schema


@dataclass(frozen=True, slots=True)
class _Key:
    """One key of a table in the file (or of the file's top level)."""

    field: str  # the dataclass field it sets
    name: str  # its name in the file
    hint: Any  # the field's type
    spec: Spec
    required: bool


def _hints(cls: type) -> dict[str, Any]:
    if cls is Settings:
        from bounceledger.models.suppression import SuppressionPolicy

        return typing.get_type_hints(cls, localns={"SuppressionPolicy": SuppressionPolicy})
    return typing.get_type_hints(cls)


def _keys_of(cls: type, aliases: Mapping[str, Spec] | None = None) -> dict[str, _Key]:
    """The keys of a table read into dataclass ``cls``, by their name in the file."""
    hints = _hints(cls)
    out: dict[str, _Key] = {}
    for item in fields(cls):
        spec = (aliases or {}).get(item.name) or _spec_of(item)
        name = spec.key or (item.name.removeprefix(f"{spec.table}_") if spec.table else item.name)
        if spec.secret:
            name += "_file"
        required = item.default is MISSING and item.default_factory is MISSING
        out[name] = _Key(item.name, name, hints[item.name], spec, required)
    return out


def _table_class(hint: Any) -> type | None:
    """The dataclass read from a ``[table]`` (or each ``[[table]]``) of this type."""
    if is_dataclass(hint) and isinstance(hint, type):
        return hint
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    if typing.get_origin(hint) is tuple and len(args) == 1 and is_dataclass(args[0]):
        return typing.cast(type, args[0])
    return None


def _is_array(hint: Any) -> bool:
    return typing.get_origin(hint) is tuple and _table_class(hint) is not None


@dataclass(frozen=True, slots=True)
class _Schema:
    """What the top level of the file may hold: keys, and tables by name."""

    keys: dict[str, _Key]  # top-level keys
    groups: dict[str, dict[str, _Key]]  # tables of plain Settings fields ([database])
    tables: dict[str, _Key]  # tables read into a dataclass field ([suppression], [[sendlog]])

    def table_keys(self, name: str) -> dict[str, _Key]:
        if name in self.groups:
            return self.groups[name]
        key = self.tables[name]
        cls = _table_class(key.hint)
        assert cls is not None
        return _keys_of(cls, SUPPRESSION_KEYS if key.field == "suppression" else None)

    def rendered(self) -> dict[str, list[str]]:
        """Every name the file may use, by bare name, as it would be written."""
        names: dict[str, list[str]] = {}
        for name in self.keys:
            names.setdefault(name, []).append(name)
        for name in self.groups:
            names.setdefault(name, []).append(f"[{name}]")
        for name, key in self.tables.items():
            names.setdefault(name, []).append(f"[[{name}]]" if _is_array(key.hint) else f"[{name}]")
        return names

    def home_of(self, name: str) -> list[str]:
        """The tables a key of this name belongs in, as written."""
        homes = [f"[{table}]" for table, keys in self.groups.items() if name in keys]
        for table, key in self.tables.items():
            if name in self.table_keys(table):
                homes.append(f"[[{table}]]" if _is_array(key.hint) else f"[{table}]")
        return homes


def _schema() -> _Schema:
    keys: dict[str, _Key] = {}
    groups: dict[str, dict[str, _Key]] = {}
    tables: dict[str, _Key] = {}
    for name, key in _keys_of(Settings).items():
        if key.spec.table:
            groups.setdefault(key.spec.table, {})[name] = key
        elif _table_class(key.hint) is not None:
            tables[name] = key
        else:
            keys[name] = key
    return _Schema(keys, groups, tables)


def _suggest(name: str, candidates: Mapping[str, list[str]]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {' or '.join(candidates[close[0]])}?)" if close else ""


def _table_or_key(value: Any) -> str:
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return "table"
    return "key"


def _written(name: str, value: Any) -> str:
    if isinstance(value, dict):
        return f"[{name}]"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return f"[[{name}]]"
    return name


# ------------------------------------------------------------ values


#: What a value of each type is called in messages: what a setting wants
#: (by its type) and what the file gave (bool before int: True is an int).
_TYPE_WORDS: tuple[tuple[type, str, str], ...] = (
    (bool, "true or false", "true/false"),
    (int, "a whole number", "a whole number"),
    (float, "a number", "a number with a fraction"),
    (timedelta, "a number", "a number of days"),
    (str, "a string", "a string"),
    (list, "a list of strings", "a list"),
    (dict, "a table", "a table"),
)


def _type_words(hint: Any) -> str:
    return next((wanted for kind, wanted, _ in _TYPE_WORDS if hint is kind), "a list of strings")


def _toml_type(value: Any) -> str:
    return next((given for kind, _, given in _TYPE_WORDS if isinstance(value, kind)), type(value).__name__)


def _plain(hint: Any) -> tuple[Any, bool]:
    """The type without ``| None``, and whether None was allowed."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _is_list_of_str(hint: Any) -> bool:
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    return typing.get_origin(hint) in (tuple, list, frozenset, set) and args == [str]


def _typed(value: Any, key: _Key, where: str) -> Any:
    """The file's (or the environment's, already split) value as the field's type, checked."""
    hint, optional = _plain(key.hint)
    wrong = ConfigError(f"{where} must be {key.spec.what or _type_words(hint)}, not {_toml_type(value)} ({value!r})")
    if hint is bool:
        if not isinstance(value, bool):
            raise wrong
        typed: Any = value
    elif hint in (int, float, timedelta):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (hint is int and not isinstance(value, int)):
            raise wrong
        _in_range(value, key.spec, where)
        typed = value
        if hint is float:
            typed = float(value)
        elif hint is timedelta:
            if key.spec.unit is None:
                raise TypeError(f"{where}: a timedelta setting needs a unit")
            typed = None if optional and value == 0 else timedelta(**{key.spec.unit: value})
    elif hint is str:
        if not isinstance(value, str):
            raise wrong
        typed = value
    elif _is_list_of_str(hint):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong
        typed = typing.get_origin(hint)(value)
    else:
        raise TypeError(f"{where}: no reader for settings of type {hint!r}")
    if key.spec.check is not None and typed is not None:
        try:
            typed = key.spec.check(typed)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return typed


def _in_range(value: float, spec: Spec, where: str) -> None:
    if spec.above is not None and not value > spec.above:
        raise ConfigError(f"{where} must be more than {spec.above:g} (got {value:g})")
    least = spec.at_least if spec.at_least is not None else (0 if spec.above is None else None)
    if least is not None and value < least:
        raise ConfigError(f"{where} must be at least {least:g} (got {value:g})")


def _read_secret_file(path: str, where: str) -> str:
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read secret file {path}: {exc.strerror}") from None
    if not secret:
        raise ConfigError(f"{where}: secret file {path} is empty")
    return secret


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


# ------------------------------------------------------------ the file


def _read_keys(
    data: Mapping[str, Any], keys: Mapping[str, _Key], origin: str, label: str, schema: _Schema
) -> dict[str, Any]:
    """The values of one table, by field name; ``label`` names the table in messages."""
    prefix = f"{label} " if label else ""
    for name, value in data.items():
        if name not in keys:
            raise ConfigError(f"{origin}: unknown {_table_or_key(value)} {_written(name, value)}"
                              + (f" in {label}" if label else "") + _misplaced(name, keys, label, schema))
    values: dict[str, Any] = {}
    for name, key in keys.items():
        if name not in data:
            if key.required:
                raise ConfigError(f"{origin}: every {label} needs a '{name}'")
            continue
        where = f"{origin}: {prefix}{name}"
        if key.spec.secret:
            if not isinstance(data[name], str):
                raise ConfigError(f"{where} must be a file name, not {_toml_type(data[name])}")
            values[key.field] = _read_secret_file(data[name], where)
            if key.spec.check is not None:
                try:
                    key.spec.check(values[key.field])
                except ValueError as exc:  # says what is wrong with it, never the secret itself
                    raise ConfigError(f"{where} {data[name]}: {exc}") from None
        else:
            values[key.field] = _typed(data[name], key, where)
    return values


def _misplaced(name: str, keys: Mapping[str, _Key], label: str, schema: _Schema) -> str:
    """A hint for an unknown name: the close one it may mean, or the table it belongs in."""
    if not label:
        suggestion = _suggest(name, schema.rendered())
        homes = schema.home_of(name)
        if not suggestion and homes:
            return f" (it belongs in {' or '.join(homes)})"
        return suggestion
    suggestion = _suggest(name, {k: [k] for k in keys})
    if suggestion:
        return suggestion
    if name in schema.keys or name in schema.rendered():
        return f" ({name} is a top-level setting: put it above the first [table] header)"
    return f" (known: {', '.join(keys)})"


def _from_mapping(data: Mapping[str, Any], origin: str) -> dict[str, Any]:
    schema = _schema()
    top = {name: value for name, value in data.items() if name not in schema.groups and name not in schema.tables}
    values = _read_keys(top, schema.keys, origin, "", schema)
    for name, keys in schema.groups.items():
        if name in data:
            values |= _read_keys(_table(data[name], name, origin), keys, origin, f"[{name}]", schema)
    for name, key in schema.tables.items():
        if name in data:
            values[key.field] = _read_table_field(data[name], name, key, origin, schema)
    return values


def _table(value: Any, name: str, origin: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: {name} must be a table ([{name}]), not {_toml_type(value)}")
    return value


def _read_table_field(value: Any, name: str, key: _Key, origin: str, schema: _Schema) -> Any:
    cls = _table_class(key.hint)
    assert cls is not None
    keys = schema.table_keys(name)
    if _is_array(key.hint):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"{origin}: {name} must be a list of tables ([[{name}]]), not {_toml_type(value)}")
        return tuple(
            cls(**_read_keys(entry, keys, origin, f"[[{name}]] #{index}" if len(value) > 1 else f"[[{name}]]", schema))
            for index, entry in enumerate(value, 1)
        )
    base = _default_suppression_policy() if key.field == "suppression" else cls()
    return replace(base, **_read_keys(_table(value, name, origin), keys, origin, f"[{name}]", schema))


# ------------------------------------------------------------ the environment


def _environment_keys(schema: _Schema) -> dict[str, _Key]:
    """Settings the environment may give, by variable name: the plain ones, in and out of groups."""
    keys = [*schema.keys.values(), *(k for group in schema.groups.values() for k in group.values())]
    out: dict[str, _Key] = {}
    for key in keys:
        if not key.spec.env:
            continue
        out[ENV_PREFIX + key.field.upper()] = key
        if key.spec.secret:
            out[ENV_PREFIX + key.field.upper() + "_FILE"] = key
    return out


def _env_value(text: str, key: _Key, name: str) -> Any:
    """An environment string as the value a TOML file would have held."""
    hint, _ = _plain(key.hint)
    if _is_list_of_str(hint):
        return [part.strip() for part in text.split(",") if part.strip()]
    if hint is bool:
        words = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
        return words.get(text.strip().lower(), text)
    if hint in (int, float):
        for kind in (int, float):
            try:
                return kind(text.strip())
            except ValueError:
                continue
    return text


def _from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    known = _environment_keys(_schema())
    values: dict[str, Any] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name.removeprefix(ENV_PREFIX) in OTHER_ENVIRONMENT:
            continue
        if name not in known:
            candidates = {k: [k] for k in (*known, *(ENV_PREFIX + o for o in OTHER_ENVIRONMENT))}
            suggestion = _suggest(name, candidates)
            raise ConfigError(
                f"unknown environment variable {name}"
                + (suggestion or f" (settings: {', '.join(sorted(known))})")
            )
    for name, key in known.items():
        text = env.get(name, "")
        if not text:  # unset, or set to nothing: the file or the default stands
            continue
        if name.endswith("_FILE") and key.spec.secret:
            if env.get(name.removesuffix("_FILE")):
                continue  # the value itself wins over its file
            values[key.field] = _read_secret_file(text, name)
        elif key.spec.secret:
            values[key.field] = text
        else:
            values[key.field] = _typed(_env_value(text, key, name), key, name)
    return values


# ------------------------------------------------------------ loading


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
    if not path and Path(DEFAULT_CONFIG_FILE).is_file():
        path = DEFAULT_CONFIG_FILE
    if path:
        settings = replace(settings, **_from_mapping(_read_toml(Path(path)), str(path)))
    settings = replace(settings, **_from_environment(env))
    if overrides:
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    """What holds whichever source a value came from (a flag is checked only here)."""
    check_database_scheme(settings.database_url)
    if settings.database_url != DEFAULT_DATABASE_URL:  # the default is well-formed: no SQLAlchemy to check it
        settings.database()  # raises ConfigError on a malformed URL


def settings_keys() -> Iterator[str]:
    """Every key the file may hold, as written (``[database] url``), for docs and tests."""
    schema = _schema()
    yield from schema.keys
    for name in (*schema.groups, *schema.tables):
        written = schema.rendered()[name][0]
        for key in schema.table_keys(name):
            yield f"{written} {key}"
