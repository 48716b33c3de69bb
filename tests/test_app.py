"""The Application's wiring: any Bot API base URL, the command menu, the admin menu."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from sqlalchemy import Engine
from telegram.error import Conflict

from bot.chat.app import build_application
from storage.db import make_engine
from storage.migrate import upgrade
from tests.support.botapi import BotAPIEmulator
from tests.support.botharness import ADMIN, bot_settings, running_bot


async def test_bot_talks_to_the_configured_bot_api_server(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine):
        pass
    methods = [method.lower() for method, _ in emu.calls]
    assert "getme" in methods and "getupdates" in methods


async def test_command_menu_is_registered_in_each_language_and_for_admins(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine):
        pass
    default = [c["command"] for c in emu.commands("default")]
    admin = [c["command"] for c in emu.commands("chat")]
    assert "start" in default and "search" in default
    assert "push" not in default
    assert {"push", "start"} <= set(admin)
    french = emu.commands("default", "fr")
    assert french and any("Démarrer" in c["description"] or c["description"] for c in french)
    assert ADMIN in {
        p.get("scope", {}).get("chat_id") for m, p in emu.calls if m == "setMyCommands"
    }


def test_without_a_token_the_application_is_not_built(engine: Engine, database_url: str) -> None:
    from bot.settings import Settings

    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="NEWSBRIEF_BOT_TOKEN"):
        build_application(settings, engine)


async def test_a_button_no_module_knows_is_answered_not_left_spinning(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.press(ADMIN, "v0-legacy:button", 1)
    assert answer.get("text")


async def test_an_unreachable_admin_chat_does_not_stop_the_menus(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    emu.fail_next("setMyCommands", 400, description="Bad Request: chat not found")
    async with running_bot(emu, bot_settings(emu, database_url), engine):
        pass
    assert [c["command"] for c in emu.commands("chat")]


@pytest.mark.parametrize(
    ("language_code", "greeting"),
    [("fr", "Bonjour"), ("fr-CA", "Bonjour"), ("ru", "Здравствуйте"), ("pt-BR", "Hello")],
)
async def test_replies_follow_the_users_telegram_language_else_english(
    emu: BotAPIEmulator, tmp_path: Path, language_code: str, greeting: str
) -> None:
    url = f"sqlite:///{tmp_path / 'lang.db'}"
    engine = make_engine(url)
    upgrade(engine)
    async with running_bot(emu, bot_settings(emu, url), engine) as bot:
        welcome = await bot.ask(700_100, "/start", language_code=language_code)
    assert greeting in (welcome.plain_text or "")
    engine.dispose()


async def test_the_last_getupdates_on_stop_does_not_wait_for_the_cancelled_long_poll(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    """On stop PTB confirms the handled updates with one more getUpdates while the cancelled
    long poll may still hold its connection; with one connection that call timed out and the
    last commands would run again after a restart. Here the long poll really is in flight."""
    application = build_application(bot_settings(emu, database_url), engine, fetch=False)
    await application.initialize()
    long_poll = asyncio.create_task(application.bot.get_updates(timeout=5, read_timeout=10))
    try:
        await asyncio.sleep(0.3)  # the emulator now holds the long poll open
        assert not long_poll.done()
        confirmed = await application.bot.get_updates(timeout=0)
        assert confirmed == ()
    finally:
        # As on Telegram, the newer call ends the older one with 409; what matters is that
        # the confirmation went out at once instead of waiting for the pool.
        long_poll.cancel()
        with contextlib.suppress(Conflict, asyncio.CancelledError):
            await long_poll
        await application.shutdown()
