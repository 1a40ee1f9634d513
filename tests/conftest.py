"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests use a database of their own per test run (created here,
dropped at the end), so runs never see each other's rows. When the server is
down they are skipped locally but fail under CI, where a skip would hide a
broken promise.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bounceledger import db as dbmod
from bounceledger.config import Settings
from bounceledger.db import Database
from bounceledger.models import Base

pytest_plugins = ["tests.mailstack.fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT.parent / "shared" / "corpus"
PIPELINE_FIXTURES = Path(__file__).parent / "fixtures" / "pipeline"
# The fixture send log's year-less stamps are read as March 2026.
PIPELINE_LOG_MTIME = datetime(2026, 3, 4, tzinfo=timezone.utc).timestamp()
POSTGRES_ADMIN_URL = os.environ.get(
    "BOUNCELEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("BOUNCELEDGER_REQUIRE_POSTGRES"))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"bounceledger_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure here means "no PostgreSQL"
        admin.dispose()
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {str(exc).splitlines()[0]}"
        if _postgres_required():
            pytest.fail(message)
        pytest.skip(message)
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_migrated(postgres_url: str) -> str:
    database = Database(Settings(database_url=postgres_url))
    dbmod.upgrade(database)
    database.dispose()
    return postgres_url


def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty, migrated ledger on the backend under test."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        database = Database(Settings(database_url=url))
        dbmod.upgrade(database)
        database.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_migrated")
    _truncate_all(url)
    yield url


@pytest.fixture
def postgres_database_url(postgres_migrated: str) -> str:
    """An empty, migrated PostgreSQL ledger, for tests only PostgreSQL can run."""
    _truncate_all(postgres_migrated)
    return postgres_migrated


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(Settings(database_url=database_url))
    yield database
    database.dispose()


@pytest.fixture
def sendlog(tmp_path: Path) -> Path:
    """The fixture log, dated so that its year-less stamps fall in March 2026."""
    path = tmp_path / "mail.log"
    shutil.copy(PIPELINE_FIXTURES / "postfix.log", path)
    os.utime(path, (PIPELINE_LOG_MTIME, PIPELINE_LOG_MTIME))
    return path


@pytest.fixture
def maildir(tmp_path: Path) -> str:
    target = tmp_path / "Maildir"
    shutil.copytree(PIPELINE_FIXTURES / "returned", target)
    return f"maildir:{target}"


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS
