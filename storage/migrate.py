"""Schema migrations (Alembic) and the start-up check that refuses an out-of-date schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from storage.db import SchemaOutOfDateError, make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Full-text objects are created by raw SQL in the migrations; autogenerate must not drop them.
FTS_TABLES = frozenset(
    {
        "articles_fts",
        "articles_fts_data",
        "articles_fts_idx",
        "articles_fts_docsize",
        "articles_fts_config",
        "articles_fts_content",
    }
)


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic filter: leave the full-text shadow tables alone."""
    return not (type_ == "table" and name in FTS_TABLES)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations up to ``revision``; returns (before, after) revisions."""
    before = current_revision(engine)
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return before, current_revision(engine) or ""


def downgrade(engine: Engine, revision: str) -> None:
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def check_schema(engine: Engine) -> None:
    """Raise SchemaOutOfDateError unless the database is exactly at the code's head revision."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaOutOfDateError(
            "the database has no newsbrief schema yet: run `newsbrief db upgrade` first"
        )
    raise SchemaOutOfDateError(
        f"the database schema is at revision {current} but this newsbrief needs {head}: "
        "run `newsbrief db upgrade`"
    )


def open_database(url: str, *, check: bool = True) -> Engine:
    """The engine for ``url``; by default refuses a database whose schema is not current."""
    engine = make_engine(url)
    if check:
        check_schema(engine)
    return engine
