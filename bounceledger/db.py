"""Engines, sessions and migrations: the database edge of the application."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bounceledger.config import Settings, redact_url
from bounceledger.ingest.rules import LedgerRules


log = logging.getLogger("bounceledger.db")

#: The tables a bulk run grows; every batch looks rows up in them.
GROWING_TABLES = ("returned_messages", "events", "deliveries", "sent_messages", "suppressions")
#: Fewer changed rows than this never call for a fresh ANALYZE.
ANALYZE_FROM_ROWS = 1000
#: A table analysed with more rows than this is left to autovacuum (which
#: analyses again after every 10 % of growth): its statistics already tell the
#: planner that a batch of keys is a few index probes, and the estimates grow
#: with the table's pages. Analysing it at every doubling as well cost a fresh
#: ledger's first 200,000 log lines 12 us of server CPU per attempt (a third of
#: the server's work), for the same plans; with this limit, about 4 us, spent
#: once per ledger on its first 20,000 rows or so.
ANALYZE_UP_TO_ROWS = 10_000

# Tables of GROWING_TABLES that have changed by at least as many rows as
# they held when last analysed (all their rows, when never analysed), and
# held few enough rows then.
_GROWN_SQL = text(
    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = ANY(:names)"
    " AND n_mod_since_analyze >= GREATEST(:least, n_live_tup - n_mod_since_analyze)"
    " AND (n_live_tup - n_mod_since_analyze <= :most OR (last_analyze IS NULL AND last_autoanalyze IS NULL))"
)


class DatabaseError(RuntimeError):
    """The database could not be reached or used; the message is safe to print."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the dashboard read while the scheduler writes; foreign keys
    # are off by default in SQLite and the ledger relies on them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # The default 2 MB page cache makes inserts into the random-keyed unique
    # indexes (event keys) slow down as the ledger grows; 64 MB keeps them flat.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def make_engine(url: URL, *, create: bool = True) -> Engine:
    """An engine for ``url``; without ``create`` a SQLite file that is not there
    is an error, not a new empty file (and folder) made by a read-only command."""
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            path = Path(url.database)
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.is_file():
                raise DatabaseError(
                    f"no ledger at {path}: run 'bounceledger db upgrade' to create it, or give the right --database-url"
                )
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    event.listen(engine, "connect", _postgres_utc)
    return engine


def _postgres_utc(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Timestamps then come back in UTC already, and reading millions of them
    # (reconciliation reads each touched delivery's history) skips a
    # conversion per value. A SET rather than a startup option, which
    # connection poolers such as PgBouncer refuse.
    if dbapi_connection.info.parameter_status("TimeZone") != "UTC":
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TimeZone TO 'UTC'")
        dbapi_connection.commit()


def describe_error(exc: BaseException, settings: Settings | None = None) -> str:
    """One line that says what went wrong, without passwords or SQL dumps."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    text = redact_url(first)
    if settings is not None:
        for secret in (settings.database_password, settings.database().password):
            if secret:
                text = text.replace(str(secret), "***")
    return text


@contextmanager
def connect_errors(settings: Settings) -> Iterator[None]:
    """Turn driver errors into a :class:`DatabaseError` that is safe to print."""
    try:
        yield
    except (OperationalError, DBAPIError) as exc:
        raise DatabaseError(
            f"database {settings.safe_database_url()}: {describe_error(exc, settings)}"
        ) from None


class Database:
    """An engine plus a session factory for one settings object.

    ``rules`` are the settings reconciliation needs, handed by the caller to
    every function that writes the ledger (see :mod:`bounceledger.ingest.rules`).
    ``create``: a missing SQLite file may be made (``db upgrade``, ``demo``).
    """

    def __init__(self, settings: Settings, *, create: bool = True) -> None:
        self.settings = settings
        self.rules = LedgerRules(settings.suppression, settings.return_path_secret, settings.match_headers)
        self.engine = make_engine(settings.database(), create=create)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction; driver errors come out as :class:`DatabaseError`."""
        with connect_errors(self.settings), self.sessions() as session, session.begin():
            yield session

    def check(self) -> None:
        """Fail early, with a clear message, if the database is unreachable or unmigrated."""
        with connect_errors(self.settings), self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                raise DatabaseError(
                    f"database {self.settings.safe_database_url()} has no ledger yet: "
                    "run 'bounceledger db upgrade'"
                )

    def analyze_grown_tables(self) -> list[str]:
        """ANALYZE the ledger tables a run has (at least) doubled, while they are
        small (:data:`ANALYZE_UP_TO_ROWS`); the names analysed.

        PostgreSQL picks each lookup's plan from the tables' statistics, and a
        new ledger has none until autovacuum comes by, a minute or more
        later: meanwhile it guesses that a batch of a few hundred keys
        matches most rows and reads whole tables once per batch (seen on the
        first poll of a 10,000-message mailbox: 20 ms per batch for the
        Message-ID and suppression look-ups, growing with the tables).
        Analysing a table each time it has doubled costs a few analyses
        per run, each reading a bounded sample. SQLite plans these
        look-ups by its indexes alone and needs nothing. A failure here
        only costs speed: it is logged and the run goes on.
        """
        if self.engine.dialect.name != "postgresql":
            return []
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                grown = list(conn.scalars(
                    _GROWN_SQL, {"names": list(GROWING_TABLES), "least": ANALYZE_FROM_ROWS, "most": ANALYZE_UP_TO_ROWS}
                ))
                for name in grown:
                    conn.execute(text(f'ANALYZE "{name}"'))  # a name from GROWING_TABLES
            return grown
        except DBAPIError as exc:
            log.warning("could not refresh table statistics: %s", describe_error(exc, self.settings))
            return []

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(settings: Settings | None = None, engine: Engine | None = None) -> AlembicConfig:
    """An Alembic config that works from a checkout and from an installed wheel."""
    repo_ini = Path(__file__).resolve().parent.parent / "alembic.ini"
    cfg = AlembicConfig(str(repo_ini)) if repo_ini.is_file() else AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("bounceledger.migrations")))
    if engine is not None:
        cfg.attributes["connection_engine"] = engine
    elif settings is not None:
        cfg.attributes["settings"] = settings
    return cfg


@contextmanager
def _migrating(db: Database, revision: str) -> Iterator[AlembicConfig]:
    """An Alembic config on one transaction; a revision Alembic does not
    know (``db upgrade nosuchrev``) is a :class:`DatabaseError`, not a crash."""
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    try:
        with connect_errors(db.settings), db.engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            yield cfg
    except (CommandError, RevisionError) as exc:
        raise DatabaseError(f"cannot migrate to {revision!r}: {exc}") from None


def upgrade(db: Database, revision: str = "head") -> None:
    with _migrating(db, revision) as cfg:
        command.upgrade(cfg, revision)


def downgrade(db: Database, revision: str) -> None:
    with _migrating(db, revision) as cfg:
        command.downgrade(cfg, revision)


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with connect_errors(db.settings), db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
