"""SQLite under concurrent writers: the bot's own fetch cycle (the real Ingestor storing
corpus feeds), the fan-out owing every new story to 260 chats, the delivery worker sending
and marking messages, and a dozen users adding alerts and filters and changing settings, all
on one SQLite file at once. SQLite has one writer: the others wait (WAL + busy_timeout,
storage/db.py), so nothing may be lost or answered with "database is locked".

Every write is checked afterwards: each feed recorded once as fetched, as many articles stored
as the same feeds give when fetched alone, every alert/filter/setting stored, every story owed
to every chat that wants it, every message owed delivered once (no pending or failed row), no
command answer slow; and the writers really overlapped.

This found a bug: the fan-out built one 500-row INSERT statement per chunk of owed pairs, and
compiling them took seconds of Python inside its write transaction (9 s for 500 stories × 120
chats): other writers waited past busy_timeout, a sent message could not be marked sent (so it
would go twice), and commands were answered many seconds late. storage/outbox.owe now executes
one compiled statement with many parameter sets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot import services
from storage import chats as chat_queries
from storage import outbox
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Article, Chat, Delivery, Feed, OutboxItem, Story
from tests.support.botapi import BotAPIEmulator
from tests.support.botharness import BotHarness, bot_settings, running_bot, wait_for
from tests.support.database import count
from tests.support.feedserver import FeedServer
from tests.support.seed import add_chat

FEEDS = (
    "lemonde-une-fr-2018-02.rss",
    "guardian-us-en-2018-01.rss",
    "golem-de-2018-12.rss",
    "golem-de-2018-10.rss",
    "japantimes-en-2017.rss",
    "indianexpress-en-2017.rss",
    "techcrunch-en-2011.rss",
    "cornucopia-blogger-en.rss",
    "cornucopia-blogger-en.atom",
    "theverge-en-2017-01.atom",
    "macworld-en.rss",
    "daringfireball-en-2017-06.atom",
)
READERS = [500_000 + n for n in range(60)]  # each follows one feed, briefs sent at once
# Each follows every feed, in digest mode: every story is owed to each of them as soon as it
# is stored (the fan-out's big write), and waits for a digest time hours away.
DIGEST_READERS = [520_000 + n for n in range(200)]
USERS = [710_000 + n for n in range(12)]
SLOWEST_ANSWER = 5.0  # seconds: before the fix, commands waited 7 s and more behind the fan-out
DELAY = 0.4  # each feed answers this late: the cycle lasts while everything else runs


@pytest.fixture
def feeds(server: FeedServer) -> FeedServer:
    server.slow_feeds(FEEDS, delay=DELAY)
    return server


def sqlite_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


async def reference_articles(feeds: FeedServer, emu: BotAPIEmulator, tmp_path: Path) -> int:
    """How many articles the same feeds give when fetched alone, with nothing else writing."""
    engine = sqlite_engine(tmp_path / "reference.db")
    settings = bot_settings(emu, f"sqlite:///{tmp_path / 'reference.db'}")
    for name in FEEDS:
        services.add_feed(engine, feeds.url(f"/feeds/{name}"))
    async with services.ingestor(settings, engine) as ingestor:
        report = await ingestor.run_cycle()
    assert report.count("failed") == 0
    stored = count(engine, Article)
    engine.dispose()
    return stored


def aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


async def user_session(bot: BotHarness, user: int, latencies: list[float]) -> list[str]:
    """What one user does meanwhile, each command a write, each answered before the next.
    (Alerts on words no article has: the only messages this chat gets are the answers.)"""
    commands = [
        f"/alert harbour{user}",
        f"/filter -sport{user} +news",
        f"/alert storm{user} europe",
        "/mode digest" if user % 2 else "/mode instant",
        "/timezone Europe/Paris",
        "/list",
    ]
    answers = []
    for text in commands:
        before = len(bot.emu.sent_to(user))
        sent = time.monotonic()
        bot.say(user, text)
        [answer] = await bot.next_messages(user, before, timeout=60)
        latencies.append(time.monotonic() - sent)
        answers.append(answer.plain_text or "")
    return answers


async def test_fetch_delivery_and_commands_at_once_on_one_sqlite_file_lose_no_write(
    emu: BotAPIEmulator, feeds: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    expected_articles = await reference_articles(feeds, emu, tmp_path)
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    engine = sqlite_engine(tmp_path / "busy.db")
    feed_ids = [services.add_feed(engine, feeds.url(f"/slow/{name}")).id for name in FEEDS]
    with Session(engine) as session:
        for n, chat_id in enumerate(READERS):
            add_chat(session, chat_id, feed_id=feed_ids[n % len(feed_ids)])
        later = (datetime.now(UTC) + timedelta(hours=12)).strftime("%H:00")
        for chat_id in DIGEST_READERS:
            add_chat(session, chat_id, mode="digest", digest_times=later)
        # Three broadcasts already queued: the sender writes from the first second on.
        for n in range(3):
            for chat_id in READERS:
                outbox.enqueue(session, chat_id, 0, "broadcast", {"html": f"Notice {n}"})
        session.commit()
    caplog.set_level(logging.WARNING)
    emu.delay_sends(0.01)
    settings = bot_settings(emu, url, fetch_tick=3600)  # one cycle, started 1 s after start
    async with running_bot(emu, settings, engine, fetch=True) as bot:
        await wait_for(lambda: sum(feeds.hits.values()) > len(FEEDS), timeout=30)
        started = datetime.now(UTC)
        latencies: list[float] = []
        answers = await asyncio.gather(*(user_session(bot, u, latencies) for u in USERS))
        commands_done = datetime.now(UTC)

        def settled() -> bool:
            fetched = count(engine, Feed, col(Feed.last_fetch_at).is_not(None))
            unannounced = count(engine, Story, col(Story.announced_at).is_(None))
            pending = count(engine, OutboxItem, OutboxItem.state == "pending")
            return fetched == len(FEEDS) and unannounced == 0 and pending == 0

        await wait_for(settled, timeout=180)
        deliverer = bot.runtime.deliverer
        await wait_for(lambda: deliverer is None or deliverer.in_flight == 0)

    print(f"slowest answers (s): {[round(x, 2) for x in sorted(latencies)[-3:]]}")
    locked = [r.getMessage() for r in caplog.records if "locked" in r.getMessage().lower()]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert locked == [] and errors == []

    # The writers overlapped: some feeds were still being stored while users were answered.
    with Session(engine) as session:
        feeds_done = session.exec(select(Feed.last_fetch_at)).all()
        stored = session.exec(select(Feed.last_status, Feed.error_count, Feed.last_error)).all()
        sent_at = session.exec(select(OutboxItem.sent_at)).all()
    assert any((aware(done) or started) > started for done in feeds_done)
    assert any((aware(at) or commands_done) < commands_done for at in sent_at)

    # Ingestion: every feed stored once, nothing lost to a busy database.
    assert set(stored) == {("ok", 0, None)}
    assert count(engine, Article) == expected_articles
    assert feeds.hits == {f"/slow/{name}": 1 for name in FEEDS} | {
        f"/feeds/{name}": 1 for name in FEEDS
    }

    # Commands: every answer normal and prompt, every write stored.
    assert max(latencies) < SLOWEST_ANSWER
    for replies in answers:
        assert replies[0].startswith("🔔 Alert added") and replies[2].startswith("🔔"), replies
        assert replies[1].startswith("Filters updated."), replies
        assert replies[4].startswith("Time zone set to Europe/Paris"), replies
        assert "error" not in " ".join(replies).lower()
    with Session(engine) as session:
        for user in USERS:
            alerts = [row.keywords for row in chat_queries.alerts(session, user)]
            assert alerts == [f"harbour{user}", f"storm{user} europe"], user
            words = {(row.word, row.required) for row in chat_queries.filters(session, user)}
            assert words == {(f"sport{user}", False), ("news", True)}
            chat = session.get(Chat, user)
            assert chat is not None and chat.mode == ("digest" if user % 2 else "instant")
            assert chat.timezone == "Europe/Paris"

    # Delivery: every message owed to a reader was sent, none failed, none is still waiting.
    assert count(engine, OutboxItem, col(OutboxItem.state).in_(["failed", "skipped"])) == 0
    stories = count(engine, Story)
    for chat_id in DIGEST_READERS:  # owed every story, waiting for the digest
        assert count(engine, Delivery, Delivery.chat_id == chat_id) == stories > 100
    for chat_id in READERS:
        unsent = count(
            engine, Delivery, Delivery.chat_id == chat_id, col(Delivery.outbox_id).is_(None)
        )
        rows = count(engine, OutboxItem, OutboxItem.chat_id == chat_id)
        assert unsent == 0 and rows >= 3  # the broadcasts, and what its feed brought
        received = [m.plain_text for m in emu.sent_to(chat_id)]
        assert len(received) >= rows
        assert [received.count(f"Notice {n}") for n in range(3)] == [1, 1, 1]
    engine.dispose()
