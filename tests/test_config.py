"""Settings come from defaults, a TOML file, the environment and flags, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from bounceledger.config import (
    DEFAULT_DATABASE_URL,
    ConfigError,
    MailboxSource,
    SendLogSource,
    load_settings,
    redact_url,
)


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
        (secrets / name).write_text("s3cret\n")
    config = tmp_path / "bounceledger.toml"
    config.write_text(example.replace("/run/secrets/", f"{secrets}/"))
    settings = load_settings(str(config), env={})
    assert settings.match_headers == ("X-Mailer-Ref",)
    assert settings.campaign_header == "X-Campaign"
    assert settings.return_path_secret == "s3cret"
    assert [s.path for s in settings.sendlogs] == ["/var/log/mail.log"]
    assert len(settings.mailboxes) == 1
