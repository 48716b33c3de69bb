"""The ``newsbrief`` command line (typer + rich).

Conventions every command keeps: ``--json`` prints exactly one JSON document on stdout and
nothing else there; progress bars, tables and logs go to stderr. Exit codes: 0 when the command
did its job (a fetch cycle in which some feeds failed still did its job), 1 when it could not
run (bad input, database out of date), 2 for usage errors (typer's own).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlmodel import Session

from bot.logs import Redactor, secrets_of, setup_logging
from bot.settings import Settings
from storage.db import SchemaOutOfDateError

# Tracebacks without locals: an HTTP call's frames hold the Bot API URL, token included.
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="newsbrief: news briefs on Telegram.",
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")

err = Console(stderr=True)


def settings_from(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


@app.callback()
def _root(ctx: typer.Context) -> None:
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's message names the bad variable
        fail(f"invalid settings: {Redactor()(str(exc))}")  # a misplaced token stays hidden
    setup_logging(settings.log_level, settings.log_format, secrets=secrets_of(settings))
    ctx.obj = settings


def engine_or_exit(settings: Settings, *, check: bool = True) -> Engine:
    # Straight from storage, not bot.services: that module pulls in the ingest stack, which
    # commands like `stats` or `feeds list` never use.
    from storage.migrate import open_database

    try:
        return open_database(settings.database_url, check=check)
    except SchemaOutOfDateError as exc:
        fail(str(exc))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema to the newest revision."""
    from storage.migrate import upgrade

    engine = engine_or_exit(settings_from(ctx), check=False)
    before, after = upgrade(engine)
    if before == after:
        err.print(f"database already at revision {after}")
    else:
        err.print(f"database upgraded: {before or 'empty'} → {after}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the database's schema revision and the one this code needs."""
    from storage.migrate import current_revision, head_revision

    engine = engine_or_exit(settings_from(ctx), check=False)
    print(f"current: {current_revision(engine) or 'none'}  head: {head_revision()}")


@app.command()
def stats(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False
) -> None:
    """Counts of feeds, articles, stories and subscribers."""
    from storage.articles import counts

    engine = engine_or_exit(settings_from(ctx))
    with Session(engine) as session:
        figures = counts(session)
    if as_json:
        print_json(figures)
    else:
        for key, value in figures.items():
            print(f"{key:12} {value}")


def main() -> None:
    from bot import (
        cli_feeds,  # noqa: F401  (registers the feeds and fetch commands)
        cli_run,  # noqa: F401  (registers run and brief)
        cli_search,  # noqa: F401  (registers search)
        cli_worker,  # noqa: F401  (registers worker)
    )

    app()
