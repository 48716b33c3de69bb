"""Small helpers every handler uses: where a message came from, registering its chat,
replying in the right forum topic, and refusing admin commands to everyone else."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from html import escape
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from bot.chat.i18n import pick_language, t
from bot.chat.runtime import Runtime, get_runtime
from storage import chats as chat_queries
from storage.models import Chat

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, Any]]


@dataclass(frozen=True, slots=True)
class Where:
    """The chat, forum topic (0 outside forums), user and reply language of an update."""

    chat_id: int
    topic_id: int
    user_id: int | None
    chat_type: str
    title: str | None
    lang: str


def where(update: Update) -> Where:
    message = update.effective_message
    chat = update.effective_chat
    user = update.effective_user
    assert chat is not None
    # Only forum topics split a chat; reply threads in ordinary groups also carry a thread id.
    topic = (
        message.message_thread_id or 0 if message is not None and message.is_topic_message else 0
    )
    return Where(
        chat_id=chat.id,
        topic_id=topic,
        user_id=user.id if user else None,
        chat_type=chat.type,
        title=chat.title or chat.username or chat.first_name,
        lang=pick_language(user.language_code if user else None),
    )


def html(text: object) -> str:
    """Escape user- or feed-supplied text for an HTML reply."""
    return escape(str(text), quote=False)


def args_text(context: ContextTypes.DEFAULT_TYPE) -> str:
    return " ".join(context.args or []).strip()


async def ensure_chat(runtime: Runtime, here: Where) -> Chat:
    """The chat's row, created (and reactivated) on the first command it sends."""
    info = chat_queries.ChatInfo(here.chat_id, here.chat_type, here.title, here.lang)
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
