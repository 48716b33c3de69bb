"""Small helpers every handler uses: where a message came from (and in which language to
answer), registering its chat, replying in the right forum topic, and refusing admin commands
to everyone else.

How a chat's /language choice reaches :func:`where`, which every handler calls with the update
alone: :func:`load_chat_language` runs first for every update (a TypeHandler in group -1, see
``app.build_application``) and puts the chat's choice, from ``Runtime.chat_language`` (memory
after the chat's first update since the start, so it costs a dict lookup), in a context
variable. PTB handles each update in its own asyncio task (or, without concurrency, one after
the other, each update setting it afresh), and a task's context variables are its own, so the
value seen by ``where`` is always the one of the update being handled. The database stays the
one truth: a restart reads the choice again.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from html import escape
from typing import Any

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.chat.i18n import DEFAULT_LANGUAGE, pick_language, t
from bot.chat.runtime import Runtime, get_runtime
from storage import chats as chat_queries
from storage.models import Chat

log = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, Any]]

# (chat id, its /language choice or None) for the update this task is handling.
_CHAT_LANGUAGE: ContextVar[tuple[int, str | None] | None] = ContextVar(
    "newsbrief_chat_language", default=None
)


@dataclass(frozen=True, slots=True)
class Where:
    """The chat, forum topic (0 outside forums), user and reply language of an update.

    ``lang`` is the chat's /language choice when it made one, else the user's Telegram
    language; ``telegram_lang`` is always the latter (what "automatic" means for this user).
    """

    chat_id: int
    topic_id: int
    user_id: int | None
    chat_type: str
    title: str | None
    lang: str
    telegram_lang: str = DEFAULT_LANGUAGE


async def load_chat_language(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Before any handler: make the chat's /language choice visible to :func:`where`."""
    _CHAT_LANGUAGE.set(None)  # first, so a failed read leaves no earlier update's value
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is not None:
        _CHAT_LANGUAGE.set((chat.id, await get_runtime(context).chat_language(chat.id)))


def chat_language(chat_id: int) -> str | None:
    """The /language choice of ``chat_id`` loaded for the current update, if any."""
    found = _CHAT_LANGUAGE.get()
    return found[1] if found is not None and found[0] == chat_id else None


def answer_language(update: Update) -> str:
    """The language to answer ``update`` in: the chat's (its /language choice, see
    :func:`where`), or the user's own when there is no chat (an inline message's button)."""
    if update.effective_chat is not None:
        return where(update).lang
    user = update.effective_user
    return pick_language(user.language_code if user else None)


def where(update: Update) -> Where:
    message = update.effective_message
    chat = update.effective_chat
    user = update.effective_user
    assert chat is not None
    # Only forum topics split a chat; reply threads in ordinary groups also carry a thread id.
    topic = (
        message.message_thread_id or 0 if message is not None and message.is_topic_message else 0
    )
    own = pick_language(user.language_code if user else None)
    chosen = chat_language(chat.id)
    return Where(
        chat_id=chat.id,
        topic_id=topic,
        user_id=user.id if user else None,
        chat_type=chat.type,
        title=chat.title or chat.username or chat.first_name,
        lang=pick_language(chosen) if chosen else own,
        telegram_lang=own,
    )


def html(text: object) -> str:
    """Escape user- or feed-supplied text for an HTML reply."""
    return escape(str(text), quote=False)


def args_text(context: ContextTypes.DEFAULT_TYPE) -> str:
    return " ".join(context.args or []).strip()


async def ensure_chat(runtime: Runtime, here: Where) -> Chat:
    """The chat's row, created (and reactivated) on the first command it sends."""
    # The chat's language (for what is delivered to it) starts as its first user's own.
    info = chat_queries.ChatInfo(here.chat_id, here.chat_type, here.title, here.telegram_lang)
    chat, _ = await runtime.db(lambda s: chat_queries.register_chat(s, info))
    return chat


async def reply(
    update: Update, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Answer in the same chat and forum topic (PTB keeps the topic for reply_text)."""
    message = update.effective_message
    if message is None:
        return None
    return await message.reply_text(text, reply_markup=markup, do_quote=False)


async def pressed_button(update: Update) -> CallbackQuery | None:
    """The button press to handle, or None (answered, so the client stops spinning) when it
    came without a message or chat: an inline-mode button or one on a message Telegram no
    longer returns, which no handler here can act on."""
    query = update.callback_query
    assert query is not None
    if query.message is None or update.effective_chat is None:
        await query.answer()
        return None
    return query


# What Telegram answers when a button's message cannot take the new page: a double press (the
# page already shown), a message deleted meanwhile, or one older than 48 hours.
_STALE_EDIT = re.compile(r"not modified|not found|can't be edited", re.IGNORECASE)


async def edit_pressed(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> bool:
    """Show ``text`` in place of the pressed button's message; False when that message can no
    longer be edited, which is nobody's error (the press itself was handled)."""
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as error:
        if not _STALE_EDIT.search(error.message):
            raise
        log.info("message not edited: %s", error.message)
        return False
    return True


def admin_only(handler: Handler) -> Handler:
    """Refuse the command (or button) to anyone not in NEWSBRIEF_ADMIN_IDS, saying so."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Any:
        runtime = get_runtime(context)
        here = where(update)
        if runtime.is_admin(here.user_id):
            return await handler(update, context)
        refusal = t(here.lang, "Sorry, this is for the bot's administrators only.")
        if update.callback_query is not None:
            await update.callback_query.answer(refusal, show_alert=True)
        else:
            await reply(update, refusal)
        return None

    return guarded
