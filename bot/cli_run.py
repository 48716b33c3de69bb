"""``newsbrief run`` (the bot, or the offline demo without a token) and ``newsbrief brief``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from sqlmodel import Session

from bot.cli import app, err, fail, print_json, settings_from
from bot.settings import Settings
from storage import articles as article_queries

out = Console()


@app.command()
def run(ctx: typer.Context) -> None:
    """Run newsbrief: the Telegram bot with NEWSBRIEF_BOT_TOKEN, else the offline demo."""
    settings = settings_from(ctx)
    if settings.bot_token is None:
        run_demo(settings)
        return
    run_bot(settings)


def run_bot(settings: Settings) -> None:
    """Long polling, the fetch scheduler and delivery in one process, until SIGINT/SIGTERM."""
    import signal

    from telegram import Update

    from bot.chat.app import build_application
    from bot.services import add_configured_feeds, open_engine
    from storage.feeds import count_feeds

    engine = open_engine(settings)
    add_configured_feeds(settings, engine)
    with Session(engine) as session:
        feeds = count_feeds(session)
    application = build_application(settings, engine)
    admins = len(settings.admin_ids)
    err.print(
        f"[bold]newsbrief bot[/] · Bot API {settings.bot_api_url} · {feeds} feeds · "
        f"{admins} admin(s){'' if admins else ' (set NEWSBRIEF_ADMIN_IDS for /push)'}"
    )
    # PTB installs the signal handlers and stops polling, jobs and delivery in order.
    application.run_polling(
        allowed_updates=Update.ALL_TYPES, stop_signals=(signal.SIGINT, signal.SIGTERM)
    )
    engine.dispose()


def run_demo(settings: Settings, *, stories: int = 20) -> None:
    """Serve the bundled demo feeds on 127.0.0.1, run the whole pipeline, print the briefs."""
    from bot.briefs.compose import compose_brief
    from bot.briefs.render import render_brief
    from bot.briefs.summarize import ExtractiveSummarizer
    from bot.chat.briefcache import member_of
    from bot.demo.console import telegram_html_to_rich
    from bot.demo.server import DemoFeedServer
    from bot.services import add_feed, ingestor, open_engine
    from storage.feeds import DuplicateFeedError
    from storage.migrate import upgrade

    demo = settings.model_copy(
        update={
            # The demo keeps its own database so it never mixes with real data.
            "database_url": "sqlite:///data/demo.db",
            "allow_private_networks": True,  # its feeds are served on 127.0.0.1
            "extract_teasers": False,
        }
    )
    engine = open_engine(demo, check=False)
    upgrade(engine)
    err.print("[bold]newsbrief offline demo[/] — no NEWSBRIEF_BOT_TOKEN set\n")
    with DemoFeedServer() as server:
        for url in server.urls():
            try:
                add_feed(engine, url)
            except DuplicateFeedError as exc:
                # The port changes between runs; point the stored feed at today's address.
                with Session(engine) as session:
                    exc.existing.url = url
                    session.add(exc.existing)
                    session.commit()

        async def cycle() -> None:
            async with ingestor(demo, engine) as ing:
                report = await ing.run_cycle(all_feeds=True)
            err.print(
                f"fetched {len(report.feeds)} feeds: {report.total('new')} new articles, "
                f"{report.total('duplicate')} duplicates, {report.count('failed')} failed\n"
            )

        asyncio.run(cycle())

    summarizer = ExtractiveSummarizer()
    with Session(engine) as session:
        for story_id in article_queries.latest_story_ids(session, stories):
            rows = article_queries.story_members_with_source(session, story_id)
            if not rows:
                continue
            brief = compose_brief([member_of(a, s) for a, s in rows], summarizer)
            out.print(
                Panel(
                    telegram_html_to_rich(render_brief(brief)),
                    title=f"story #{story_id} · {len(rows)} article(s)",
                    title_align="left",
                    width=min(out.width, 100),
                )
            )
    err.print(
        "\nTo publish these briefs on Telegram: create a bot with @BotFather, put its token in "
        ".env as NEWSBRIEF_BOT_TOKEN=…, and run `make run` again."
    )


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
