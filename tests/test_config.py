"""Settings come from defaults, a TOML file, the environment and flags, in that order."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from bounceledger.config import (
    DEFAULT_DATABASE_URL,
    ConfigError,
    MailboxSource,
    SendLogSource,
    Settings,
    load_settings,
    redact_url,
)
from bounceledger.webhooks.signing import new_secret


def test_defaults_use_sqlite_in_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database().get_backend_name() == "sqlite"


def test_toml_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "bl.toml"
    config.write_text(
        """
timezone = "Europe/Berlin"
internal_relays = ["127.0.0.1:10024", "dovecot"]
[database]
url = "postgresql://bl@db.internal/ledger"

[[sendlog]]
path = "/var/log/mail.log"
interval_seconds = 30

[[mailbox]]
url = "maildir:/var/mail/bounces"
"""
    )
    settings = load_settings(str(config), env={})
    assert settings.timezone == "Europe/Berlin"
    assert settings.internal_relays == ("127.0.0.1:10024", "dovecot")
    assert settings.database().drivername == "postgresql+psycopg"
    assert settings.sendlogs == (SendLogSource("/var/log/mail.log", "auto", 30),)
    assert settings.mailboxes == (MailboxSource("maildir:/var/mail/bounces"),)

    env = {"BOUNCELEDGER_DATABASE_URL": "sqlite:///env.sqlite", "BOUNCELEDGER_TIMEZONE": "UTC"}
    settings = load_settings(str(config), env=env)
    assert settings.database_url == "sqlite:///env.sqlite"
    assert settings.timezone == "UTC"

    settings = load_settings(str(config), env=env, overrides={"database_url": "sqlite:///flag.sqlite"})
    assert settings.database_url == "sqlite:///flag.sqlite"


def test_password_from_environment_never_shown(tmp_path: Path) -> None:
    env = {
        "BOUNCELEDGER_DATABASE_URL": "postgresql://bl@db.internal/ledger",
        "BOUNCELEDGER_DATABASE_PASSWORD": "s3cret-pw",
    }
    settings = load_settings(env=env, config_path=None)
    assert settings.database().password == "s3cret-pw"
    assert "s3cret-pw" not in settings.safe_database_url()
    assert "s3cret-pw" not in repr(settings.database())


def test_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    env = {"BOUNCELEDGER_DATABASE_URL": "postgresql://bl@h/db", "BOUNCELEDGER_DATABASE_PASSWORD_FILE": str(secret)}
    assert load_settings(env=env).database().password == "from-file"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("timezone = [", "not valid TOML"),
        ('timezone = "Mars/Olympus"', "unknown timezone"),
        ('[[sendlog]]\nformat = "postfix"', "needs a 'path'"),
        ('[[mailbox]]\nurl = "maildir:/x"\ncolour = "red"', "unknown key"),
        ('[database]\nurl = "not a url"', "not valid"),
    ],
)
def test_bad_config_gives_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(str(config), env={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(str(tmp_path / "nope.toml"), env={})


def test_redact_url() -> None:
    assert redact_url("postgresql://u:pw@h/db failed") == "postgresql://u:***@h/db failed"
    assert redact_url("imaps://bounces@mail.example.com/INBOX") == "imaps://bounces@mail.example.com/INBOX"


def test_readme_configuration_example_loads(tmp_path) -> None:
    """The README's example file is valid: every key sits in the table it means."""
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = re.search(r"## Configuration.*?```toml\n(.*?)```", readme, re.S).group(1)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in re.findall(r"/run/secrets/([\w.-]+)", example):
        (secrets / name).write_text(new_secret() if "webhook" in name else "s3cret\n")
    config = tmp_path / "bounceledger.toml"
    config.write_text(example.replace("/run/secrets/", f"{secrets}/"))
    settings = load_settings(str(config), env={})
    assert settings.match_headers == ("X-Mailer-Ref",)
    assert settings.campaign_header == "X-Campaign"
    assert settings.return_path_secret == "s3cret"
    assert [s.path for s in settings.sendlogs] == ["/var/log/mail.log"]
    assert len(settings.mailboxes) == 1
    assert [(w.url, w.types[-2:]) for w in settings.webhooks] == [
        ("https://crm.example.com/hooks/bounceledger", ("suppression.added", "suppression.released"))
    ]


def test_webhook_entries_are_checked_and_their_secret_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "hook.secret"
    secret.write_text(new_secret() + "\n")
    entry = f'[[webhook]]\nurl = "http://127.0.0.1:9000/hook"\nsecret_file = "{secret}"\n'
    settings = _load(tmp_path, entry + 'types = ["delivery.corrected"]\ncampaign = "nov"\n')
    (hook,) = settings.webhooks
    assert (hook.key, hook.types, hook.campaign, hook.timeout_seconds) == ("http://127.0.0.1:9000/hook", ("delivery.corrected",), "nov", 10.0)
    assert hook.secret == secret.read_text().strip() and hook.secret not in repr(settings)
    assert hook.types == _load(tmp_path, entry + 'types = ["delivery.corrected"]\n').webhooks[0].types
    for extra, message in (
        ('types = ["delivery.nosuch"]\n', "unknown change type 'delivery.nosuch'"),
        ("timeout_seconds = 0\n", "timeout_seconds must be more than 0"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            _load(tmp_path, entry + extra)
    with pytest.raises(ConfigError, match="must be an http:// or https:// URL"):
        _load(tmp_path, entry.replace("http://127.0.0.1:9000/hook", "ftp://example.com/x"))
    secret.write_text("s3cret")
    with pytest.raises(ConfigError, match="starts with whsec_") as refused:
        _load(tmp_path, entry)
    assert "s3cret" not in str(refused.value)
    with pytest.raises(ConfigError, match="every \\[\\[webhook\\]\\] needs a 'url'"):
        _load(tmp_path, f'[[webhook]]\nsecret_file = "{secret}"\n')


# ------------------------------------------------ settings that cannot silently go wrong (issue 15)


def _load(tmp_path: Path, content: str, env: dict[str, str] | None = None) -> Settings:
    config = tmp_path / "bl.toml"
    config.write_text(content)
    return load_settings(str(config), env=env or {})


def _error(tmp_path: Path, content: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, content, env)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # the mistakes issue 15 names: each used to be silently ignored
        ('[databse]\nurl = "postgresql://bl@db/ledger"', "unknown table [databse] (did you mean [database]?)"),
        ('retrun_path_secret_file = "/run/secrets/verp-key"', "unknown key retrun_path_secret_file (did you mean return_path_secret_file?)"),
        ('[[sendlog]]\npath = "/var/log/mail.log"\ninterval_seconds = -5', "[[sendlog]] interval_seconds must be more than 0 (got -5)"),
        ('[[mailbox]]\nurl = "maildir:/m"\ninterval_seconds = -5', "[[mailbox]] interval_seconds must be more than 0 (got -5)"),
        ("expire_deferred_after_hours = -1", "expire_deferred_after_hours must be more than 0 (got -1)"),
        ("[suppression]\nsoft_bounces = -3", "[suppression] soft_bounces must be at least 1 (got -3)"),
        # more of the same kinds
        ("[[sendlogs]]\npath = \"x\"", "unknown table [[sendlogs]] (did you mean [[sendlog]]?)"),
        ('[suppresion]\nsoft_bounces = 3', "unknown table [suppresion] (did you mean [suppression]?)"),
        ('timezome = "UTC"', "unknown key timezome (did you mean timezone?)"),
        ('[database]\nulr = "sqlite:///x"', "unknown key ulr in [database] (did you mean url?)"),
        ("[suppression]\nsoft_bounce = 3", "unknown key soft_bounce in [suppression] (did you mean soft_bounces?)"),
        ('[[sendlog]]\npath = "x"\nfromat = "postfix"', "unknown key fromat in [[sendlog]] (did you mean format?)"),
        ('[[mailbox]]\nurl = "maildir:/x"\ncolour = "red"', "unknown key colour in [[mailbox]] (known: url, interval_seconds)"),
        ('url = "sqlite:///x"', "unknown key url (it belongs in [database] or [[mailbox]] or [[webhook]])"),
        ("[suppression]\nbatch_size = 10", "batch_size is a top-level setting: put it above the first [table] header"),
        # types
        ('batch_size = "10"', "batch_size must be a whole number, not a string ('10')"),
        ("orphan_retry_seconds = 1.5", "orphan_retry_seconds must be a whole number, not a number with a fraction (1.5)"),
        ("expire_deferred_after_hours = true", "expire_deferred_after_hours must be a number, not true/false (True)"),
        ("[database]\nurl = 5", "[database] url must be a string, not a whole number (5)"),
        ('internal_relays = "dovecot"', "internal_relays must be a list of strings, not a string ('dovecot')"),
        ('database = "sqlite:///x"', "database must be a table ([database]), not a string"),
        ('sendlog = "/var/log/mail.log"', "sendlog must be a list of tables ([[sendlog]]), not a string"),
        ('[suppression]\nsoft_days = "30"', "[suppression] soft_days must be a number, not a string ('30')"),
        ("[database]\npassword_file = 3", "[database] password_file must be a file name, not a whole number"),
        # ranges
        ("batch_size = 0", "batch_size must be at least 1 (got 0)"),
        ("orphan_retry_seconds = 0", "orphan_retry_seconds must be more than 0 (got 0)"),
        ("orphan_report_after_hours = -2", "orphan_report_after_hours must be more than 0 (got -2)"),
        ("[suppression]\nsoft_window_days = 0", "[suppression] soft_window_days must be more than 0 (got 0)"),
        ("[suppression]\nhard_days = -1", "[suppression] hard_days must be at least 0 (got -1)"),
        # values
        ('log_level = "loud"', "log_level: 'loud' is not a log level"),
        ('campaign_header = "X Campaign"', "campaign_header: not a header name: 'X Campaign'"),
        ('[database]\nurl = "mysql://bl@db/ledger"', "mysql:// is not supported"),
    ],
)
def test_every_mistake_is_an_error_naming_the_file_and_key(tmp_path: Path, content: str, expected: str) -> None:
    message = _error(tmp_path, content)
    assert message.startswith(f"{tmp_path / 'bl.toml'}: ") or "mysql" in message
    assert expected in message


def test_every_sendlog_entry_is_named_by_its_number(tmp_path: Path) -> None:
    content = '[[sendlog]]\npath = "a"\n[[sendlog]]\npath = "b"\ninterval_seconds = 0\n'
    assert "[[sendlog]] #2 interval_seconds must be more than 0" in _error(tmp_path, content)


def test_zero_days_means_for_ever(tmp_path: Path) -> None:
    policy = _load(tmp_path, "[suppression]\nsoft_days = 0\nhard_days = 400\nsoft_bounces = 5").suppression
    assert policy.soft_bounce_duration is None
    assert policy.hard_bounce_duration == timedelta(days=400)
    assert policy.soft_bounce_limit == 5


def test_secret_files_must_hold_a_secret(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    message = _error(tmp_path, f'return_path_secret_file = "{empty}"')
    assert "return_path_secret_file: secret file" in message and "is empty" in message
    missing = _error(tmp_path, f'return_path_secret_file = "{tmp_path / "nope"}"')
    assert "cannot read secret file" in missing


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BOUNCELEDGER_BATCH_SIZE": "lots"}, "BOUNCELEDGER_BATCH_SIZE must be a whole number, not a string ('lots')"),
        ({"BOUNCELEDGER_BATCH_SIZE": "0"}, "BOUNCELEDGER_BATCH_SIZE must be at least 1 (got 0)"),
        ({"BOUNCELEDGER_EXPIRE_DEFERRED_AFTER_HOURS": "-1"}, "BOUNCELEDGER_EXPIRE_DEFERRED_AFTER_HOURS must be more than 0 (got -1)"),
        ({"BOUNCELEDGER_ORPHAN_RETRY_SECONDS": "2.5"}, "BOUNCELEDGER_ORPHAN_RETRY_SECONDS must be a whole number"),
        ({"BOUNCELEDGER_LOG_LEVEL": "bogus"}, "BOUNCELEDGER_LOG_LEVEL: 'bogus' is not a log level"),
        ({"BOUNCELEDGER_TIMEZONE": "Mars/Olympus"}, "BOUNCELEDGER_TIMEZONE: unknown timezone 'Mars/Olympus'"),
        ({"BOUNCELEDGER_MATCH_HEADERS": "X-A, X B"}, "BOUNCELEDGER_MATCH_HEADERS: not a header name: 'X B'"),
        ({"BOUNCELEDGER_DATABASE_URL": "mysql://u@h/db"}, "mysql:// is not supported"),
        ({"BOUNCELEDGER_RETRUN_PATH_SECRET": "k"}, "unknown environment variable BOUNCELEDGER_RETRUN_PATH_SECRET (did you mean BOUNCELEDGER_RETURN_PATH_SECRET?)"),
        ({"BOUNCELEDGER_DATABSE_URL": "sqlite://"}, "(did you mean BOUNCELEDGER_DATABASE_URL?)"),
        ({"BOUNCELEDGER_RETURN_PATH_SECRET_FILE": "/nonexistent/key"}, "BOUNCELEDGER_RETURN_PATH_SECRET_FILE: cannot read secret file"),
    ],
)
def test_environment_gets_the_same_checks(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert expected in str(caught.value)


def test_environment_values_are_typed(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n")
    settings = load_settings(
        env={
            "BOUNCELEDGER_BATCH_SIZE": "250",
            "BOUNCELEDGER_EXPIRE_DEFERRED_AFTER_HOURS": "48",
            "BOUNCELEDGER_LOG_LEVEL": "debug",
            "BOUNCELEDGER_RETURN_PATH_SECRET_FILE": str(secret),
            "BOUNCELEDGER_CAMPAIGN_HEADER": "X-Job",
            "BOUNCELEDGER_WEB_TOKEN": "read elsewhere, not a mistake",
            "BOUNCELEDGER_TIMEZONE": "",  # set to nothing: the default stands
        }
    )
    assert (settings.batch_size, settings.expire_deferred_after_hours, settings.log_level) == (250, 48.0, "DEBUG")
    assert settings.return_path_secret == "from-a-file"
    assert settings.campaign_header == "X-Job"
    assert settings.timezone == "UTC"
    both = {"BOUNCELEDGER_RETURN_PATH_SECRET": "given", "BOUNCELEDGER_RETURN_PATH_SECRET_FILE": str(secret)}
    assert load_settings(env=both).return_path_secret == "given"


def test_every_field_is_read_from_the_file_without_code_of_its_own(tmp_path: Path) -> None:
    """The known keys come from the dataclasses: every field of Settings and
    of its tables has a key, and a file giving each a value of its type
    reads every one back. A field someone adds is covered without touching
    this test or the reader."""
    import dataclasses

    from bounceledger import config

    schema = config._schema()
    settings_defaults = Settings()
    defaults: dict[str, object] = {f.name: settings_defaults for f in dataclasses.fields(Settings)}
    defaults["suppression"] = settings_defaults.suppression

    def sample(key: config._Key, index: int) -> object:
        hint, _ = config._plain(key.hint)
        if key.spec.secret:
            path = tmp_path / f"secret{index}"
            path.write_text(new_secret() if key.spec.check is not None else f"s{index}\n")  # a checked one: a webhook's
            return str(path)
        if key.spec.check is not None:  # a value the check takes: a known one, else the field's default
            known = {"timezone": "Europe/Berlin", "log_level": "ERROR", "campaign_header": "X-Camp",
                     "match_headers": ["X-Ref"], "url": "http://127.0.0.1:9/hook", "types": ["delivery.corrected"]}
            if key.name in known:
                return known[key.name]
            default = getattr(defaults.get(key.field, defaults["suppression"]), key.field)
            return sorted(default) if isinstance(default, (tuple, frozenset)) else default
        if hint is bool:
            return True
        if hint is int:
            return 7 + index
        if hint in (float, timedelta):
            return 7.5 + index
        if hint is str:
            return "postgresql://bl@db/ledger" if key.field == "database_url" else f"value{index}"
        assert config._is_list_of_str(hint), f"no sample for {key.field}: {hint}"
        return [f"item{index}"]

    lines: list[str] = []
    expected: dict[str, object] = {}
    units: dict[str, str | None] = {}  # a timedelta field's unit, by field
    counter = iter(range(1000))

    def table_body(keys: dict[str, config._Key]) -> tuple[list[str], dict[str, object]]:
        body, values = [], {}
        for name, key in keys.items():
            value = sample(key, next(counter))
            body.append(f"{name} = {json.dumps(value)}")
            values[key.field] = value
            units[key.field] = key.spec.unit
        return body, values

    body, values = table_body(schema.keys)
    lines += body
    expected |= values
    for group, keys in schema.groups.items():
        body, values = table_body(keys)
        lines += [f"[{group}]", *body]
        expected |= values
    for name, key in schema.tables.items():
        body, values = table_body(schema.table_keys(name))
        lines += [f"[[{name}]]" if config._is_array(key.hint) else f"[{name}]", *body]
        expected[key.field] = values
    settings = _load(tmp_path, "\n".join(lines) + "\n")

    def same(field: str, got: object, given: object) -> None:
        if isinstance(got, timedelta):
            assert got == timedelta(**{str(units[field]): given}), field  # type: ignore[arg-type]
        elif field in ("return_path_secret", "database_password", "secret"):
            assert got == Path(str(given)).read_text().strip(), field
        elif isinstance(got, (tuple, frozenset)):
            assert sorted(got) == sorted(given), field  # type: ignore[call-overload]
        else:
            assert got == given, field

    for field, given in expected.items():
        got = getattr(settings, field)
        if isinstance(given, dict):  # a table: one entry, or the policy
            entry = got[0] if isinstance(got, tuple) else got
            assert dataclasses.is_dataclass(entry)
            for sub, value in given.items():
                same(sub, getattr(entry, sub), value)
        else:
            same(field, got, given)
    assert set(expected) == {f.name for f in dataclasses.fields(Settings)}


def test_every_environment_variable_in_the_code_is_known() -> None:
    """A ``BOUNCELEDGER_*`` name read anywhere is a setting or listed as read elsewhere,
    so the check for mistyped variables never refuses one the program uses."""
    import re

    from bounceledger import config

    root = Path(__file__).resolve().parent.parent
    settings_names = set(config._environment_keys(config._schema()))
    found: set[str] = set()
    for folder in ("bounceledger", "ingest", "models", "tests", "benchmarks", "migrations", "docs", "deploy", ".ci"):
        for path in (root / folder).rglob("*"):
            skip = {"fixtures", "__pycache__", "samples"} & set(path.parts) or path.suffix in {".pyc", ".msg", ".gz"}
            if path.is_file() and not skip:
                found |= set(re.findall(r"BOUNCELEDGER_[A-Z0-9_]*[A-Z0-9]", path.read_text(errors="replace")))
    found |= set(re.findall(r"BOUNCELEDGER_[A-Z0-9_]*[A-Z0-9]", (root / "README.md").read_text()))
    mistakes = {"BOUNCELEDGER_RETRUN_PATH_SECRET", "BOUNCELEDGER_DATABSE_URL"}  # this file's own examples
    unknown = sorted(name for name in found - mistakes
                     if name not in settings_names and name.removeprefix("BOUNCELEDGER_") not in config.OTHER_ENVIRONMENT)
    assert unknown == []


def test_ledger_code_gets_the_settings_explicitly(tmp_path: Path) -> None:
    """No setting travels in ``session.info``: every function that writes the
    ledger takes the rules as a required argument, so a session made
    anywhere cannot quietly run without the return-path secret."""
    import inspect

    from bounceledger.db import Database
    from bounceledger.ingest import attempts, reconcile, returned, suppress

    database = Database(Settings(database_url=f"sqlite:///{tmp_path / 'l.sqlite'}", return_path_secret="k3y"))
    try:
        assert database.rules.return_path_secret == "k3y"
        assert database.rules.suppression is database.settings.suppression
        with database.session() as session:
            assert dict(session.info) == {}
    finally:
        database.dispose()
    for function, name in [
        (attempts.store_attempts, "rules"),
        (attempts.store_prepared, "rules"),
        (returned.store_returned_messages, "rules"),
        (returned.store_returned_message, "rules"),
        (returned.record_verdicts, "rules"),
        (reconcile.recompute, "rules"),
        (reconcile.retry_orphans, "rules"),
        (reconcile.expire_deferred, "rules"),
        (suppress.refresh, "policy"),
    ]:
        parameter = inspect.signature(function).parameters[name]
        assert parameter.default is inspect.Parameter.empty, function.__qualname__


def test_reading_every_table_type_is_covered() -> None:
    """A field type the reader cannot read is a programming error, found here rather than by a user."""
    from bounceledger import config

    schema = config._schema()
    every = [*schema.keys.values(), *(k for g in schema.groups.values() for k in g.values())]
    every += [k for name in schema.tables for k in schema.table_keys(name).values()]
    for key in every:
        hint, _ = config._plain(key.hint)
        assert hint in (bool, int, float, str, timedelta) or config._is_list_of_str(hint), key
        if hint is timedelta:
            assert key.spec.unit, key
