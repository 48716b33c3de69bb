"""Signals in the middle of a fetch cycle of a real ``newsbrief run`` (SQLite, the Bot API
emulator on 127.0.0.1, slow local feeds).

- SIGTERM: the process stops cleanly (exit code 0) once the feeds in flight are done, not the
  whole cycle, and no feed is half recorded: each feed either has all its articles and its
  fetch recorded, or nothing at all. A restart fetches the rest.
- SIGKILL: the same after a restart: every feed stored, no article twice. (SIGKILL in the middle
  of a push, resumed from the outbox, is tests/test_crash.py.)

What "clean" waits for: PTB stops the JobQueue with ``wait=True``, so the running fetch job
ends first; the cycle sees the application stopping and starts no more feeds (SQLite) or
claims no more (PostgreSQL), so the stop waits for one wave of slow feeds, not four.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bot import services
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Article, Feed
from tests.support.botapi import BotAPIEmulator
from tests.support.feedserver import FeedServer
from tests.support.process import bot_api, environment, left_behind, start, stop, wait
from tests.support.settings import ingest_settings

# Different publishers, so no article of one is a duplicate of another's (per-feed counts are
# then the same whatever order the feeds are stored in).
FEEDS = (
    "lemonde-une-fr-2018-02.rss",
    "guardian-us-en-2018-01.rss",
    "golem-de-2018-12.rss",
    "japantimes-en-2017.rss",
    "indianexpress-en-2017.rss",
    "techcrunch-en-2011.rss",
    "theverge-en-2017-01.atom",
    "macworld-en.rss",
)
DELAY = 3.0  # seconds before each feed answers
PER_HOST = 2  # feeds in flight at once (one host): four waves of 3 s, a 12 s cycle
# Seconds after SIGTERM: the feeds in flight (one 3 s wave), then the shutdown. The whole
# remaining cycle would take up to 9 s more.
IN_FLIGHT_BOUND = DELAY + 5.0


@pytest.fixture
def feeds(server: FeedServer) -> FeedServer:
    server.slow_feeds(FEEDS, delay=DELAY)
    return server


@pytest.fixture(scope="module")
def reference(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Articles per feed when each is fetched with nothing interrupting."""
    path = tmp_path_factory.mktemp("reference") / "reference.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    settings = ingest_settings(f"sqlite:///{path}")
    with FeedServer(root=corpus_dir) as server:
        for name in FEEDS:
            services.add_feed(engine, server.url(f"/feeds/{name}"))

        async def cycle() -> None:
            async with services.ingestor(settings, engine) as ingestor:
                await ingestor.run_cycle()

        asyncio.run(cycle())
    counts = per_feed(engine)
    engine.dispose()
    assert all(counts[name] > 0 for name in FEEDS), counts
    return counts


def per_feed(engine: Engine) -> dict[str, int]:
    """Articles stored per feed file name."""
    with Session(engine) as session:
        rows = session.exec(
            select(Feed.url, func.count(col(Article.id)))
            .join(Article, col(Article.feed_id) == col(Feed.id), isouter=True)
            .group_by(col(Feed.url))
        ).all()
    return {url.rsplit("/", 1)[1]: int(n) for url, n in rows}


def fetched(engine: Engine) -> set[str]:
    with Session(engine) as session:
        urls = session.exec(select(Feed.url).where(col(Feed.last_fetch_at).is_not(None))).all()
    return {url.rsplit("/", 1)[1] for url in urls}


def start_bot(emu: BotAPIEmulator, database_url: str, cwd: Path) -> subprocess.Popen[str]:
    settings = {
        "NEWSBRIEF_DATABASE_URL": database_url,
        **bot_api(emu),
        "NEWSBRIEF_ADMIN_IDS": "4242",
        "NEWSBRIEF_ALLOW_PRIVATE_NETWORKS": "true",
        "NEWSBRIEF_EXTRACT_TEASERS": "false",
        "NEWSBRIEF_PARSE_WORKERS": "1",  # a real worker process, to be stopped as well
        "NEWSBRIEF_FETCH_PER_HOST": str(PER_HOST),
        # PostgreSQL: the feeds a killed process had leased come back after this long.
        "NEWSBRIEF_LEASE_SECONDS": "5",
    }
    return start("run", cwd=cwd, env=environment(settings))


def polling(emu: BotAPIEmulator) -> Callable[[], bool]:
    """True once the bot (started after this call) long-polls: its signal handlers are set."""
    before = sum(1 for method, _ in emu.calls if method == "getUpdates")
    return lambda: sum(1 for method, _ in emu.calls if method == "getUpdates") > before


def mid_cycle(engine: Engine) -> Callable[[], bool]:
    """Some feeds stored, others not yet: the middle of the cycle (a window of about 9 s:
    the first wave of feeds answers after 3 s, the last after 12)."""

    def check() -> bool:
        done = len(fetched(engine))
        assert done < len(FEEDS), "the whole cycle ended before the test could interrupt it"
        return done >= 1

    return check


def assert_whole_feeds(engine: Engine, reference: dict[str, int]) -> set[str]:
    """Each feed has all its articles and its fetch recorded, or nothing: none half stored."""
    done, counts = fetched(engine), per_feed(engine)
    for name in FEEDS:
        assert counts[name] == (reference[name] if name in done else 0), name
    return done


def with_feeds(engine: Engine, feeds: FeedServer) -> Engine:
    for name in FEEDS:
        services.add_feed(engine, feeds.url(f"/slow/{name}"))
    return engine


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_signal_mid_fetch_cycle_leaves_no_feed_half_stored_and_a_restart_finishes(
    emu: BotAPIEmulator,
    feeds: FeedServer,
    reference: dict[str, int],
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    sig: signal.Signals,
) -> None:
    with_feeds(engine, feeds)
    url = database_url
    first = start_bot(emu, url, tmp_path)
    try:
        wait(mid_cycle(engine), first, timeout=180)
    finally:
        took, err = stop(first, sig)
    # Nothing of it runs on: the parse worker follows its owner out (SIGKILL included).
    deadline = time.monotonic() + 10
    while left_behind(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left_behind(tmp_path) == []
    done = assert_whole_feeds(engine, reference)
    print(f"{sig.name}: exited after {took:.1f} s with {len(done)} of {len(FEEDS)} feeds done")
    if sig == signal.SIGTERM:
        assert first.returncode == 0, err
        assert took < IN_FLIGHT_BOUND, f"stopped after {took:.1f} s"
        assert len(done) < len(FEEDS)  # the feeds not started were left for the next run
        assert "Traceback" not in err, err[err.find("Traceback") - 2000 :]
    else:
        assert first.returncode == -signal.SIGKILL

    up = polling(emu)
    second = start_bot(emu, url, tmp_path)  # the feeds not done are still due: fetched now
    try:
        wait(up, second, timeout=180)
        wait(lambda: fetched(engine) == set(FEEDS), second, timeout=180)
    finally:
        _, err = stop(second, signal.SIGTERM)
    assert second.returncode == 0, err
    assert per_feed(engine) == reference  # every article once: nothing lost, nothing twice
