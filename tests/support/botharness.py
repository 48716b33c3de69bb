"""Run the real newsbrief Application against the local Bot API emulator, with long polling.

``running_bot`` starts the Application the way ``run_polling`` does (initialize, post_init,
polling, start) and stops it the same way, so post_init (the command menu, the delivery
worker) runs in tests too. ``BotHarness`` sends user messages and button presses through the
emulator and waits, with a deadline rather than sleeps, for the bot's answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Engine
from telegram.ext import Application

from bot.chat.app import build_application
from bot.chat.briefcache import BriefCache
from bot.chat.runtime import RUNTIME_KEY, Runtime
from bot.settings import Settings
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.settings import ingest_settings

ADMIN = 900_001  # the admin's user id (and private chat id) in bot tests
USER = 700_001
GROUP = -100_200_300
FORUM = -100_400_500
TOPIC = 77


def bot_settings(emu: BotAPIEmulator, database_url: str, **extra: Any) -> Settings:
    """The ingestion's test settings (tests/support/settings.py), talking to the emulator, with
    ADMIN as the one admin."""
    values: dict[str, Any] = {
        "bot_token": emu.token,
        "bot_api_url": emu.base_url,
        "admin_ids": [ADMIN],
    }
    return ingest_settings(database_url, **{**values, **extra})


async def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)
    return result


class BotHarness:
    def __init__(self, emu: BotAPIEmulator, application: Application, engine: Engine) -> None:
        self.emu = emu
        self.app = application
        self.engine = engine

    @property
    def runtime(self) -> Runtime:
        runtime = self.app.bot_data[RUNTIME_KEY]
        assert isinstance(runtime, Runtime)
        return runtime

    def say(self, chat_id: int, text: str, **kwargs: Any) -> None:
        """A user message (kwargs as ``BotAPIEmulator.push_message``)."""
        self.emu.push_message(chat_id, text, **kwargs)

    async def ask(self, chat_id: int, text: str, *, count: int = 1, **kwargs: Any) -> SentMessage:
        """Send ``text`` and return the last of the next ``count`` messages sent to the chat."""
        return (await self.ask_all(chat_id, text, count=count, **kwargs))[-1]

    async def ask_all(
        self, chat_id: int, text: str, *, count: int = 1, **kwargs: Any
    ) -> list[SentMessage]:
        before = len(self.emu.sent_to(chat_id))
        self.say(chat_id, text, **kwargs)
        return await self.next_messages(chat_id, before, count)

    def send_document(
        self, chat_id: int, user_id: int, filename: str, data: bytes, **kwargs: Any
    ) -> None:
        """A user sends a file (kwargs as ``BotAPIEmulator.push_document``: caption, ...)."""
        self.emu.push_document(chat_id, filename, data, user_id=user_id, **kwargs)

    async def upload(
        self,
        chat_id: int,
        user_id: int,
        filename: str,
        data: bytes,
        *,
        count: int = 1,
        **kwargs: Any,
    ) -> SentMessage:
        """Send a file and return the last of the next ``count`` messages sent to the chat."""
        before = len(self.emu.sent_to(chat_id))
        self.send_document(chat_id, user_id, filename, data, **kwargs)
        return (await self.next_messages(chat_id, before, count))[-1]

    async def next_messages(
        self, chat_id: int, before: int, count: int = 1, timeout: float = 10.0
    ) -> list[SentMessage]:
        await wait_for(lambda: len(self.emu.sent_to(chat_id)) >= before + count, timeout)
        return self.emu.sent_to(chat_id)[before:]

    async def press(
        self, chat_id: int, data: str, message_id: int, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """Press a button; returns the answerCallbackQuery the bot made for it."""
        update = self.emu.push_callback(chat_id, data, message_id, user_id=user_id)
        query_id = update["callback_query"]["id"]

        def answered() -> dict[str, Any] | None:
            for answer in self.emu.answered_callbacks:
                if answer.get("callback_query_id") == query_id:
                    return answer
            return None

        result: dict[str, Any] = await wait_for(answered)
        return result


@contextlib.asynccontextmanager
async def running_bot(
    emu: BotAPIEmulator,
    settings: Settings,
    engine: Engine,
    *,
    fetch: bool = False,
    briefs: BriefCache | None = None,
) -> AsyncIterator[BotHarness]:
    application = build_application(settings, engine, fetch=fetch, briefs=briefs)
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0.05, timeout=1)
    await application.start()
    try:
        yield BotHarness(emu, application, engine)
    finally:
        await application.updater.stop()
        await application.stop()
        if application.post_stop is not None:
            await application.post_stop(application)
        await application.shutdown()
