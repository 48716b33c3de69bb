"""End to end: corpus feeds served locally → the bot's own fetch job → three users /start →
an admin /push → every user gets briefs (valid HTML, no story twice) → /search finds them,
accents or not. The real Application, long polling, over real HTTP, on both databases."""

from __future__ import annotations

import re

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.services import add_feed
from storage.models import Article, Delivery, Story
from tests.support.botapi import BotAPIEmulator
from tests.support.botharness import (
    ADMIN,
    GROUP,
    USER,
    BotHarness,
    bot_settings,
    running_bot,
    wait_for,
)
from tests.support.database import count
from tests.support.feedserver import FeedServer

FEEDS = ("lemonde-une-fr-2018-02.rss", "guardian-us-en-2018-01.rss", "golem-de-2018-12.rss")
HREF = re.compile(r'<a href="([^"]+)"')


def announced(engine: Engine) -> int:
    return count(engine, Story, col(Story.announced_at).is_not(None))


async def test_fetch_start_push_search(
    emu: BotAPIEmulator, server: FeedServer, engine: Engine, database_url: str
) -> None:
    for name in FEEDS:
        add_feed(engine, server.url(f"/feeds/{name}"))
    settings = bot_settings(emu, database_url, fetch_tick=0.5)
    async with running_bot(emu, settings, engine, fetch=True) as bot:
        # The bot's own scheduler fetches the three feeds and fans the stories out.
        await wait_for(lambda: announced(engine) >= 100, timeout=60)
        assert all(server.hits[f"/feeds/{n}"] >= 1 for n in FEEDS)

        users = [(USER, "private", "en"), (USER + 1, "private", "fr"), (GROUP, "group", "en")]
        for chat_id, chat_type, lang in users:
            welcome = await bot.ask(
                chat_id, "/start", chat_type=chat_type, user_id=USER + 9, language_code=lang
            )
            assert welcome.plain_text

        before = {chat_id: len(emu.sent_to(chat_id)) for chat_id, _, _ in users}
        # Two pushes: the second brings the next-newest stories, never one already sent.
        for _ in range(2):
            await push(bot, users)
        for chat_id, _, _ in users:
            briefs = emu.sent_to(chat_id)[before[chat_id] :]
            titles = [HREF.findall(m.text or "") for m in briefs]
            links = [link for found in titles for link in found]
            assert len(briefs) >= 2 and links, f"chat {chat_id} got no briefs"
            # No story twice: no article link repeats across everything this chat received.
            assert len(links) == len(set(links))
        with Session(engine) as session:
            owed = session.exec(select(Delivery.chat_id, Delivery.story_id)).all()
            assert len(owed) == len(set(owed)) == 3 * 2 * 10
            assert {c for c, _ in owed} == {chat_id for chat_id, _, _ in users}

        # /search: a word from the text, and an accented word typed without its accent.
        with Session(engine) as session:
            medal = session.exec(
                select(Article.title).where(col(Article.title).contains("Fourcade"))
            ).first()
        assert medal is not None and "médaille" in medal
        found = await bot.ask(USER, "/search medaille fourcade")
        assert "Fourcade" in (found.plain_text or "")
        crash = await bot.ask(USER, "/search ecrase moscou")
        assert "Moscou" in (crash.plain_text or "")
        # Words only the article's text has (not its title): "biréacteur", typed without accent.
        body = await bot.ask(USER, "/search bireacteur saratov")
        assert "s’écrase près de Moscou" in (body.plain_text or "")


async def push(bot: BotHarness, users: list[tuple[int, str, str]]) -> None:
    """/push as the admin, press Confirm, wait until every user got a message from it."""
    preview = await bot.ask(ADMIN, "/push", user_id=ADMIN)
    assert preview.reply_markup is not None, preview.plain_text
    confirm = next(
        button["callback_data"]
        for row in preview.reply_markup["inline_keyboard"]
        for button in row
        if button["callback_data"].startswith("push:ok:")
    )
    before = {chat_id: len(bot.emu.sent_to(chat_id)) for chat_id, _, _ in users}
    await bot.press(ADMIN, confirm, preview.message_id, user_id=ADMIN)
    for chat_id, _, _ in users:
        await wait_for(lambda c=chat_id: len(bot.emu.sent_to(c)) > before[c], timeout=30)
    deliverer = bot.runtime.deliverer
    await wait_for(lambda: deliverer is None or deliverer.in_flight == 0)
