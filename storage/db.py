"""Engine and sessions for SQLite (embedded default) and PostgreSQL (the scale-out path).

Sessions are synchronous: SQLite has one writer anyway, and the async application calls storage
through ``asyncio.to_thread`` so that cleaning and database work never block the event loop.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 10_000

# PostgreSQL SQLSTATEs that say the server is away, overloaded or shutting down (class 08
# connection exception, 53 insufficient resources, 57P operator intervention) or that the
# transaction lost a race (40001 serialization failure, 40P01 deadlock): try again later.
# Other OperationalErrors (54 program limit exceeded: an index row too big) are about the data.
_PG_TRANSIENT = ("08", "53", "57P", "40001", "40P01")
_SQLITE_TRANSIENT = ("locked", "busy", "disk i/o error", "unable to open database")


class SchemaOutOfDateError(RuntimeError):
    """The database is not at the schema this code needs; the message says what to run."""


def normalize_url(url: str) -> str:
    """Map the URLs users write to the drivers we ship (psycopg 3 for PostgreSQL)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def dialect_insert(session: Any, table: Any) -> Any:
    """``INSERT`` with the dialect's ``ON CONFLICT`` clauses (both databases have them): for
    rows two commands may write at once, where "already there" is an answer, not an error."""
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)


def is_database_outage(exc: BaseException) -> bool:
    """True when ``exc`` says the database could not be used just now, not that the data was
    wrong: the work should be done again later, and nobody's error count should go up for it.

    Why this matters: a feed whose store failed because PostgreSQL was restarting must stay
    due, not be backed off as if the feed were broken (docs/reliability.md).
    """
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.InterfaceError):  # the driver's connection is closed
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return any(words in message for words in _SQLITE_TRANSIENT)
    sqlstate: str | None = getattr(orig, "sqlstate", None)
    # No SQLSTATE: the failure is the client's (refused, reset, timed out), no server answered.
    return sqlstate is None or sqlstate.startswith(_PG_TRANSIENT)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Per-connection pragmas: WAL lets readers (bot commands) run while the fetcher writes;
    # busy_timeout makes a second writer wait instead of failing with "database is locked".
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create the engine for ``url``, creating a SQLite file's folder when needed."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)
