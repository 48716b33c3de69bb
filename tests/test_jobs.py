"""The bot's scheduled work, in the running Application: the fetch tick stores and fans out,
a burst becomes one digest, the channel gets every story, digest chats get theirs on time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.services import add_feed
from storage import chats as chat_queries
from storage.models import Article, Delivery, utcnow
from tests.support.botapi import BotAPIEmulator
from tests.support.botharness import USER, bot_settings, running_bot, wait_for
from tests.support.feedserver import FeedServer
from tests.support.seed import add_chat, add_story
from tests.support.seed import add_feed as seed_feed

CHANNEL = -1001234567890


@pytest.fixture
def feeds(corpus_dir: Path) -> Iterator[FeedServer]:
    with FeedServer(root=corpus_dir) as server:
        yield server


def articles(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Article)).one())


async def test_fetch_tick_stores_new_stories_and_a_burst_reaches_the_chat_as_one_digest(
    emu: BotAPIEmulator, feeds: FeedServer, engine: Engine, database_url: str
) -> None:
    add_feed(engine, feeds.url("/feeds/cornucopia-blogger-en.rss"))
    with Session(engine) as session:
        add_chat(session, USER)
    settings = bot_settings(emu, database_url, fetch_tick=0.5)
    async with running_bot(emu, settings, engine, fetch=True):
        await wait_for(lambda: articles(engine) > 5, timeout=60)
        [digest] = await wait_for(lambda: emu.sent_to(USER), timeout=30)
    assert feeds.hits["/feeds/cornucopia-blogger-en.rss"] >= 1
    assert "Your digest" in (digest.plain_text or "")
    with Session(engine) as session:
        owed = session.exec(select(func.count()).select_from(Delivery)).one()
    assert owed == articles(engine)  # every stored story (one article each) is owed once


async def test_without_fetch_the_scheduler_never_fetches(
    emu: BotAPIEmulator, feeds: FeedServer, engine: Engine, database_url: str
) -> None:
    add_feed(engine, feeds.url("/feeds/cornucopia-blogger-en.rss"))
    async with running_bot(emu, bot_settings(emu, database_url), engine, fetch=False) as bot:
        assert bot.app.job_queue is not None
        names = {job.name for job in bot.app.job_queue.jobs()}
    assert names == {"fanout", "digests"}
    assert feeds.hits["/feeds/cornucopia-blogger-en.rss"] == 0


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
        add_chat(session, USER, mode="digest")
        chat = chat_queries.get_chat(session, USER)
        assert chat is not None
        chat.digest_times = "00:00,06:00,12:00,18:00"
        chat.last_digest_at = utcnow() - timedelta(hours=7)
        session.add(chat)
        session.commit()
        for n in range(2):
            add_story(session, feed, f"Waiting story {n}", "Text of the story.")
    async with running_bot(emu, bot_settings(emu, database_url), engine):
        [digest] = await wait_for(lambda: emu.sent_to(USER), timeout=20)
    text = digest.plain_text or ""
    assert "Your digest: 2 stories" in text
    assert "Waiting story 0" in text and "Waiting story 1" in text
