"""The Application's wiring: any Bot API base URL, the command menu, the admin menu."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

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
