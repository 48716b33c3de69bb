"""``newsbrief run`` (the bot, or the offline demo without a token) and ``newsbrief brief``."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from sqlmodel import Session

from bot.cli import app, engine_or_exit, err, fail, print_json, settings_from
from bot.settings import Settings

out = Console()


@app.command()
def run(
    ctx: typer.Context,
    no_fetch: Annotated[
        bool,
        typer.Option(
            "--no-fetch",
            help="the bot and delivery only: `newsbrief worker` processes fetch (PostgreSQL)",
        ),
    ] = False,
) -> None:
    """Run newsbrief: the Telegram bot with NEWSBRIEF_BOT_TOKEN, else the offline demo."""
    settings = settings_from(ctx)
    if settings.bot_token is None:
        run_demo(settings)
        return
    run_bot(settings, fetch=settings.fetch_in_bot and not no_fetch)


def run_bot(settings: Settings, *, fetch: bool = True) -> None:
    """Long polling, delivery and (unless ``fetch`` is off) the fetch scheduler in one process,
    until SIGINT/SIGTERM. Only one process may run this per token: Telegram hands updates to
    one getUpdates consumer and rate-limits per bot (docs/architecture.md, "Deployment")."""
    import signal

    from telegram import Update

    from bot.chat.app import build_application
    from bot.services import add_configured_feeds
    from storage.db import is_sqlite
    from storage.feeds import count_feeds

    engine = engine_or_exit(settings)  # an out-of-date schema: its message, not a traceback
    add_configured_feeds(settings, engine)
    with Session(engine) as session:
        feeds = count_feeds(session)
    application = build_application(settings, engine, fetch=fetch)
    if not fetch:
        logging.getLogger("newsbrief").info(
            "fetching is left to `newsbrief worker` processes (--no-fetch)%s",
            " — but on SQLite nothing fetches unless `newsbrief fetch` runs from cron"
            if is_sqlite(settings.database_url)
            else "",
        )
    admins = len(settings.admin_ids)
    # Logged, not printed: with NEWSBRIEF_LOG_FORMAT=json every line on stderr is JSON.
    logging.getLogger("newsbrief").info(
        "newsbrief bot · Bot API %s · %d feeds · %d admin(s)%s",
        settings.bot_api_url,
        feeds,
        admins,
        "" if admins else " (set NEWSBRIEF_ADMIN_IDS for /push)",
    )
    # PTB installs the signal handlers and stops polling, jobs and delivery in order.
    application.run_polling(
        allowed_updates=Update.ALL_TYPES, stop_signals=(signal.SIGINT, signal.SIGTERM)
    )
    engine.dispose()


def run_demo(settings: Settings) -> None:
    """The offline demo (bot/demo/run.py): the pipeline on SQLite, the briefs printed."""
    from bot.demo.run import run_demo as demo

    demo(settings, out, err)


@app.command()
def brief(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="a file (text or HTML), a URL, or - for stdin")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    title: Annotated[str | None, typer.Option(help="title, when the source has none")] = None,
) -> None:
    """Clean, summarise and render one article as the brief subscribers would read."""
    from bot.briefs.single import brief_from_document

    settings = settings_from(ctx)
    raw = read_source(settings, source)
    result = brief_from_document(raw, title=title, url=source if "://" in source else None)
    if as_json:
        print_json(result)
        return
    from bot.demo.console import telegram_html_to_rich

    out.print(Panel(telegram_html_to_rich(str(result["html"])), width=min(out.width, 100)))


def read_source(settings: Settings, source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    if source.startswith(("http://", "https://")):
        from bot.services import make_fetcher

        async def get() -> bytes:
            async with make_fetcher(settings) as fetcher:
                page = await fetcher.fetch_page(source)
            if page.status != "ok" or page.body is None:
                fail(f"could not fetch {source}: {page.error}")
            return page.body

        return decode_document(asyncio.run(get()))
    path = Path(source)
    if not path.is_file():
        fail(f"no such file: {source}")
    return decode_document(path.read_bytes())


def decode_document(data: bytes) -> str:
    """Bytes of a page or text in any charset (meta tag, BOM, or sniffed) as text."""
    from trafilatura.utils import decode_file

    text: str = decode_file(data)
    return text
