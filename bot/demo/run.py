"""``make run`` without a token: the whole pipeline on SQLite, with the briefs printed.

Which feeds: the default list (default-feeds.opml) when the machine can reach them, otherwise
the bundled demo feeds served on 127.0.0.1 (feeds/). NEWSBRIEF_DEMO_SOURCE pins the choice:
``bundled`` never touches the network (tests and CI use it), ``online`` never falls back
silently. Each source keeps its own database in ./data, so a demo never mixes with real data
or with the other source.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console
from rich.panel import Panel
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.settings import Settings
from storage.feeds import DuplicateFeedError

DEFAULT_FEEDS = Path(__file__).resolve().parent / "default-feeds.opml"
PROBE_TIMEOUT = 3.0  # seconds; an offline machine must not make the demo feel stuck


def network_reachable(urls: list[str], timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to any of these URLs' hosts opens within ``timeout``.

    Runs in daemon threads: on a machine without DNS, getaddrinfo can block far longer than
    the timeout, and the demo must neither wait for it nor hang at exit.
    """
    answers: queue.Queue[bool] = queue.Queue()

    def probe(url: str) -> None:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=timeout):
                answers.put(True)
        except OSError:
            answers.put(False)

    for url in urls:
        threading.Thread(target=probe, args=(url,), daemon=True).start()
    for _ in urls:
        try:
            if answers.get(timeout=timeout):
                return True
        except queue.Empty:
            return False
    return False


def choose_source(settings: Settings, default_urls: list[str]) -> str:
    """``online`` or ``bundled``, from NEWSBRIEF_DEMO_SOURCE and, for ``auto``, a probe."""
    if settings.demo_source != "auto":
        return settings.demo_source
    return "online" if network_reachable(default_urls[:3]) else "bundled"


@contextlib.contextmanager
def _feed_urls(source: str, default_urls: list[str]) -> Iterator[list[str]]:
    if source == "online":
        yield default_urls
        return
    from bot.demo.server import DemoFeedServer

    with DemoFeedServer() as server:
        yield server.urls()


def _add_feeds(engine: Engine, urls: list[str]) -> None:
    """Add the demo's feeds; a bundled feed seen in an earlier run keeps its row and articles.

    The bundled server listens on a new port each run, so the same file arrives under a new
    URL (and URL key): it is matched by its path and moved to today's address.
    """
    from bot.ingest.urls import url_key
    from bot.services import add_feed
    from storage.models import Feed

    with Session(engine) as session:
        by_path = {urlsplit(f.url).path: f for f in session.exec(select(Feed)).all()}
        for url in urls:
            old = by_path.get(urlsplit(url).path)
            if old is not None and urlsplit(old.url).hostname == "127.0.0.1":
                old.url, old.url_key = url, url_key(url) or old.url_key
                session.add(old)
        session.commit()
    for url in urls:
        with contextlib.suppress(DuplicateFeedError):
            add_feed(engine, url)


def _ingest(settings: Settings, engine: Engine, urls: list[str], err: Console) -> int:
    """Fetch every feed once; returns how many feeds answered."""
    from bot.services import ingestor

    _add_feeds(engine, urls)

    async def cycle() -> int:
        async with ingestor(settings, engine) as ing:
            report = await ing.run_cycle(all_feeds=True)
        err.print(
            f"fetched {len(report.feeds)} feeds: {report.total('new')} new articles, "
            f"{report.total('duplicate')} duplicates, {report.count('failed')} failed\n"
        )
        for failed in (f for f in report.feeds if f.status == "failed"):
            err.print(f"  [yellow]{failed.url}[/]: {failed.error}", highlight=False)
        return len(report.feeds) - report.count("failed")

    return asyncio.run(cycle())


def _open(settings: Settings, source: str) -> tuple[Settings, Engine]:
    from storage.migrate import open_database, upgrade

    demo = settings.model_copy(
        update={
            "database_url": f"sqlite:///data/demo{'-online' if source == 'online' else ''}.db",
            # The bundled feeds are served on 127.0.0.1; real feeds keep the guard on.
            "allow_private_networks": source == "bundled" or settings.allow_private_networks,
            "extract_teasers": source == "online",
        }
    )
    engine = open_database(demo.database_url, check=False)
    upgrade(engine)
    return demo, engine


def print_briefs(engine: Engine, out: Console, *, stories: int) -> int:
    """The newest stories as the bot would post them, one rich panel each."""
    from bot.briefs.compose import compose_brief
    from bot.briefs.render import render_brief
    from bot.briefs.summarize import ExtractiveSummarizer
    from bot.chat.briefcache import member_of
    from bot.demo.console import telegram_html_to_rich
    from storage import articles as article_queries

    summarizer = ExtractiveSummarizer()
    shown = 0
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
            shown += 1
    return shown


def run_demo(
    settings: Settings,
    out: Console,
    err: Console,
    *,
    stories: int = 20,
    default_feeds: Path = DEFAULT_FEEDS,
) -> None:
    from bot.ingest.opml import read_opml

    default_urls = [url for url, _title in read_opml(default_feeds)]
    source = choose_source(settings, default_urls)
    err.print("[bold]newsbrief offline demo[/] — no NEWSBRIEF_BOT_TOKEN set")
    if source == "online":
        err.print(f"fetching the {len(default_urls)} default feeds of {default_feeds.name}")
        demo, engine = _open(settings, "online")
        if _ingest(demo, engine, default_urls, err) == 0 and settings.demo_source == "auto":
            err.print("none of the default feeds answered: showing the bundled demo feeds")
            engine.dispose()
            source = "bundled"
    if source == "bundled":
        err.print("no network: serving the bundled demo feeds (bot/demo/feeds) on 127.0.0.1")
        demo, engine = _open(settings, "bundled")
        with _feed_urls("bundled", default_urls) as urls:
            _ingest(demo, engine, urls, err)
    shown = print_briefs(engine, out, stories=stories)
    engine.dispose()
    err.print(
        f"\n{shown} briefs above, stored in {demo.database_url.removeprefix('sqlite:///')}. "
        "To publish them on Telegram: create a bot with @BotFather (/newbot), put its token "
        "in .env as NEWSBRIEF_BOT_TOKEN=… (and your user id as NEWSBRIEF_ADMIN_IDS=…), then "
        'run `make run` again. README.md, "Running the bot on Telegram", has the details.'
    )
