"""The PTB Application, wired in one place: handlers, jobs, defaults, rate limiter, commands.

Any Bot API server works: the official one, a self-hosted telegram-bot-api, or the local
emulator the tests run. Requests go to ``{NEWSBRIEF_BOT_API_URL}/bot{token}/{method}``.
"""

from __future__ import annotations

import logging
import os

from sqlalchemy import Engine
from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    Defaults,
    TypeHandler,
)

from bot.chat import (
    admin,
    alerts,
    jobs,
    opml_cmds,
    search,
    settings_cmds,
    stats_cmds,
    throttle,
    user,
)
from bot.chat.briefcache import BriefCache
from bot.chat.common import answer_language, load_chat_language
from bot.chat.i18n import DEFAULT_LANGUAGE, available_languages, t
from bot.chat.runtime import RUNTIME_KEY, Runtime
from bot.settings import Settings

log = logging.getLogger(__name__)
# Opt in to PTB 23's behaviour now (durations as timedelta): without it PTB 22 warns each time
# a RetryAfter is built or printed. The delivery worker reads both forms.
os.environ.setdefault("PTB_TIMEDELTA", "1")
MODULES = (user, settings_cmds, alerts, search, admin, stats_cmds, opml_cmds)


def build_application(
    settings: Settings,
    engine: Engine,
    *,
    briefs: BriefCache | None = None,
    fetch: bool = True,
) -> Application:
    """The bot, ready for ``run_polling`` (or initialize/start in tests)."""
    if settings.bot_token is None:
        raise ValueError("NEWSBRIEF_BOT_TOKEN is not set")
    api = settings.bot_api_url.rstrip("/")
    application = (
        ApplicationBuilder()
        .token(settings.bot_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        # The safety net for replies to commands; briefs are paced by the delivery worker,
        # which also owns the handling of 429s (max_retries=0 hands them back to it).
        .rate_limiter(AIORateLimiter(max_retries=0))
        # A slow /search must not hold up everyone else's commands.
        .concurrent_updates(8)
        # On stop, PTB cancels the long poll without awaiting it and at once sends one last
        # getUpdates to confirm the updates it handled. With PTB's single-connection pool that
        # call waits for the cancelled poll to hand its connection back, and on a busy loop it
        # timed out after 1 s (seen in CI): the confirmation was lost, so a restart would run
        # the last commands again. A second connection lets it go out at once.
        .get_updates_connection_pool_size(2)
        .post_init(_started)
        .post_stop(_stopping)
        .build()
    )
    runtime = Runtime(settings=settings, engine=engine, briefs=briefs or BriefCache(engine))
    application.bot_data[RUNTIME_KEY] = runtime
    # First of all: a user flooding the bot is answered a burst, told once to slow down, and
    # the rest dropped before any work is done for it (bot/chat/throttle.py).
    application.add_handler(throttle.handler(), group=-2)
    # Before every handler: the chat's /language choice, for where() (see bot/chat/common.py).
    application.add_handler(TypeHandler(Update, load_chat_language), group=-1)
    for module in MODULES:
        for handler in module.handlers():
            application.add_handler(handler)
    # Last in its group, so it only sees presses no module claimed (buttons of an older
    # version, or forged data): answer them, or the user's client spins until it times out.
    application.add_handler(CallbackQueryHandler(_unknown_button))
    application.add_error_handler(_on_error)
    jobs.install(application, runtime, fetch=fetch)
    return application


def _commands(lang: str, admin_too: bool) -> list[BotCommand]:
    pairs = [pair for module in MODULES for pair in module.COMMANDS]
    if admin_too:
        pairs += [pair for module in MODULES for pair in module.ADMIN_COMMANDS]
    return [BotCommand(name, t(lang, description)) for name, description in pairs]


async def _started(application: Application) -> None:
    """Register the command menu (per language, and the admin commands for admins)."""
    runtime: Runtime = application.bot_data[RUNTIME_KEY]
    bot = application.bot
    menus: list[tuple[list[BotCommand], BotCommandScope, str | None]] = [
        (_commands(DEFAULT_LANGUAGE, False), BotCommandScopeDefault(), None)
    ]
    menus += [
        (_commands(lang, False), BotCommandScopeDefault(), lang)
        for lang in available_languages()
        if lang != DEFAULT_LANGUAGE
    ]
    # Admins see their commands in their private chat with the bot (its id is theirs).
    menus += [
        (_commands(DEFAULT_LANGUAGE, True), BotCommandScopeChat(admin_id), None)
        for admin_id in runtime.settings.admin_ids
    ]
    for commands, scope, lang in menus:
        try:
            await bot.set_my_commands(commands, scope=scope, language_code=lang)
        except TelegramError as exc:  # a menu is a nicety (an admin may not have /start-ed yet)
            log.warning("could not register the command menu for %s: %s", scope.type, exc)
    await jobs.started(application, runtime)


async def _stopping(application: Application) -> None:
    await jobs.stopping(application, application.bot_data[RUNTIME_KEY])


async def _unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer(t(answer_language(update), "This button is no longer active."))


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One place for every exception raised in a handler or job: log it with its update."""
    where = ""
    if isinstance(update, Update) and update.effective_chat is not None:
        where = f" (chat {update.effective_chat.id})"
    log.error("error while handling an update%s", where, exc_info=context.error)
