"""Test databases: a throw-away PostgreSQL database of one's own, and counting rows."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from storage.db import make_engine, normalize_url
from storage.migrate import upgrade


@contextlib.contextmanager
def fresh_postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, migrated database on the PostgreSQL server of ``server_url`` (named
    ``prefix`` and a random suffix, so runs and workers never share one); dropped on exit,
    with any connection still open to it."""
    admin = make_engine(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = normalize_url(server_url).rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def count(engine: Engine, model: type, *where: Any) -> int:
    """Rows of ``model``'s table, those matching every ``where`` clause if any are given."""
    with Session(engine) as session:
        query = select(func.count()).select_from(model)
        return int(session.exec(query.where(*where) if where else query).one())
