"""The bot's scheduled work, in the running Application: the fetch tick stores and fans out,
a burst becomes one digest, the channel gets every story, digest chats get theirs on time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col
from telegram.ext import CallbackContext

from bot.chat.jobs import digest_tick, fanout_tick, fetch_tick
from bot.services import add_feed
from storage.models import Article, Delivery, Story, utcnow
from tests.support.botapi import BotAPIEmulator
from tests.support.botharness import USER, bot_settings, running_bot, wait_for
from tests.support.database import count
from tests.support.feedserver import FeedServer
from tests.support.seed import add_chat, add_story
from tests.support.seed import add_feed as seed_feed

CHANNEL = -1001234567890


async def test_fetch_tick_stores_new_stories_and_a_burst_reaches_the_chat_as_one_digest(
    emu: BotAPIEmulator, server: FeedServer, engine: Engine, database_url: str
) -> None:
    add_feed(engine, server.url("/feeds/cornucopia-blogger-en.rss"))
    with Session(engine) as session:
        add_chat(session, USER)
    settings = bot_settings(emu, database_url, fetch_tick=0.5)
    async with running_bot(emu, settings, engine, fetch=True):
        await wait_for(lambda: count(engine, Article) > 5, timeout=60)
        [digest] = await wait_for(lambda: emu.sent_to(USER), timeout=30)
    assert server.hits["/feeds/cornucopia-blogger-en.rss"] >= 1
    assert "Your digest" in (digest.plain_text or "")
    # Every stored story (one article each) is owed once.
    assert count(engine, Delivery) == count(engine, Article)


async def test_without_fetch_the_scheduler_never_fetches(
    emu: BotAPIEmulator, server: FeedServer, engine: Engine, database_url: str
) -> None:
    add_feed(engine, server.url("/feeds/cornucopia-blogger-en.rss"))
    async with running_bot(emu, bot_settings(emu, database_url), engine, fetch=False) as bot:
        assert bot.app.job_queue is not None
        names = {job.name for job in bot.app.job_queue.jobs()}
    assert names == {"fanout", "digests"}
    assert server.hits["/feeds/cornucopia-blogger-en.rss"] == 0


async def test_the_channel_gets_every_new_story(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    with Session(engine) as session:
        feed = seed_feed(session, "world")
    settings = bot_settings(emu, database_url, channel_id=CHANNEL)
    async with running_bot(emu, settings, engine):
        with Session(engine) as session:
            add_story(session, feed, "Harbour reopens after the storm", "Ships are back.")
        [post] = await wait_for(lambda: emu.sent_to(CHANNEL), timeout=20)
    assert "Harbour reopens" in (post.plain_text or "")


async def test_a_digest_chat_gets_its_digest_when_its_time_has_passed(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    with Session(engine) as session:
        feed = seed_feed(session, "world")
        add_chat(
            session,
            USER,
            mode="digest",
            digest_times="00:00,06:00,12:00,18:00",
            last_digest_at=utcnow() - timedelta(hours=7),
        )
        for n in range(2):
            add_story(session, feed, f"Waiting story {n}", "Text of the story.")
    async with running_bot(emu, bot_settings(emu, database_url), engine):
        [digest] = await wait_for(lambda: emu.sent_to(USER), timeout=20)
    text = digest.plain_text or ""
    assert "Your digest: 2 stories" in text
    assert "Waiting story 0" in text and "Waiting story 1" in text


async def test_a_tick_that_starts_while_the_bot_stops_does_no_work(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    """PTB waits for the jobs running when it stops, then APScheduler cancels any job started
    meanwhile: a tick that finds the application stopping must return at once, not begin."""
    with Session(engine) as session:
        feed = seed_feed(session, "world")
        add_chat(session, USER)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        app = bot.app
    assert not app.running
    with Session(engine) as session:
        add_story(session, feed, "Stored while the bot stops", "Text of the story.")
    context = CallbackContext(app)
    for tick in (fanout_tick, digest_tick, fetch_tick):
        await tick(context)
    # Left for the next start, not half done: the story not announced, owed to nobody.
    assert count(engine, Story, col(Story.announced_at).is_(None)) == 1
    assert count(engine, Delivery) == 0
