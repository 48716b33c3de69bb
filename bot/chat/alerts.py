"""Keyword alerts (/alert, /alerts) and per-chat word filters (/filter).

An alert is a subscription with ``keywords`` set: briefs of new articles, from any feed, that
contain all of its words. It belongs to the chat and, in forums, to the topic it was made in.
Filters belong to the whole chat: "+word" must appear in every brief it gets, "-word" must not.
Words are stored as :func:`bot.chat.matching.parse_words` gives them, which is what the
fan-out matches against, so what a reply shows is exactly what will be matched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from sqlmodel import Session
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from bot.chat.common import args_text, edit_pressed, ensure_chat, html, reply, where
from bot.chat.i18n import N_, t, tn
from bot.chat.matching import MAX_WORDS, count_words, fold, parse_words
from bot.chat.runtime import get_runtime
from storage import chats as chat_queries
from storage.models import ChatFilter, Subscription

log = logging.getLogger(__name__)

COMMANDS: list[tuple[str, str]] = [
    ("alert", N_("Get new articles that contain these words")),
    ("alerts", N_("List or remove your keyword alerts")),
    ("filter", N_("Require or exclude words in this chat's briefs")),
]
ADMIN_COMMANDS: list[tuple[str, str]] = []

MAX_ALERTS = 20  # per chat topic: each one is checked against every new article
MAX_FILTERS = 30  # words per chat, for the same reason and to keep the list readable
LIST_LABEL = 150  # characters of an alert shown in /alerts (20 of them fit in one message)
BUTTON_LABEL = 40
REMOVE = "alerts:rm:"
_REMOVE_DATA = re.compile(r"alerts:rm:([1-9][0-9]{0,9})")
_MAX_ID = 2**31 - 1  # subscriptions.id is a 32-bit INTEGER; larger ids cannot exist
# Phones turn "-" into a dash; a reader typing "—sport" means "-sport".
_MINUS = "-−–—"
_PLUS = "+＋"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- /alert ---------------------------------------------------------------------------------


def _add_alert(session: Session, chat_id: int, topic_id: int, words: list[str]) -> str:
    """ "added", "exists" (same words in any order) or "full"."""
    existing = chat_queries.alerts(session, chat_id, topic_id)
    if any(set(row.keywords.split()) == set(words) for row in existing):
        return "exists"
    if len(existing) >= MAX_ALERTS:
        return "full"
    added = chat_queries.subscribe(session, chat_id, topic_id, keywords=" ".join(words))
    return "added" if added else "exists"


async def alert_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime = get_runtime(context)
    here = where(update)
    text = args_text(context)
    words = parse_words(text)
    if not words:
        await reply(
            update,
            t(
                here.lang,
                "Usage: <code>/alert WORDS</code>, for example <code>/alert election europe"
                "</code>. You then get a brief of every new article, from any feed, that "
                "contains all of the words.",
            ),
        )
        return
    await ensure_chat(runtime, here)
    outcome = await runtime.db(lambda s: _add_alert(s, here.chat_id, here.topic_id, words))
    shown = html(" ".join(words))
    if outcome == "exists":
        message = t(here.lang, "You already have an alert for <b>{words}</b>.", words=shown)
    elif outcome == "full":
        message = t(
            here.lang,
            "You already have {count} alerts here, the most allowed. Remove one with /alerts "
            "first.",
            count=MAX_ALERTS,
        )
    else:
        message = t(
            here.lang,
            "🔔 Alert added: <b>{words}</b>. You will get a brief of every new article, from "
            "any feed, that contains all of these words. /alerts lists your alerts.",
            words=shown,
        )
        if count_words(text) > MAX_WORDS:
            message += "\n" + t(
                here.lang, "Only the first {count} words were kept.", count=MAX_WORDS
            )
    await reply(update, message)


# -- /alerts and its remove buttons ---------------------------------------------------------


def _alert_list(lang: str, rows: Sequence[Subscription]) -> tuple[str, InlineKeyboardMarkup | None]:
    if not rows:
        text = t(
            lang,
            "You have no keyword alerts here. Add one with <code>/alert WORDS</code>, for "
            "example <code>/alert election europe</code>.",
        )
        return text, None
    lines = [t(lang, "🔔 Your keyword alerts ({count}). Press one to remove it.", count=len(rows))]
    buttons = []
    for number, row in enumerate(rows, 1):
        lines.append(f"{number}. <b>{html(_shorten(row.keywords, LIST_LABEL))}</b>")
        label = f"✖ {number}. {_shorten(row.keywords, BUTTON_LABEL)}"
        buttons.append([InlineKeyboardButton(label, callback_data=f"{REMOVE}{row.id}")])
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


async def alerts_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime = get_runtime(context)
    here = where(update)
    rows = await runtime.db(lambda s: list(chat_queries.alerts(s, here.chat_id, here.topic_id)))
    text, markup = _alert_list(here.lang, rows)
    await reply(update, text, markup)


def _remove_alert(
    session: Session, chat_id: int, topic_id: int, alert_id: int
) -> tuple[bool, list[Subscription]]:
    """Remove the alert if it is one of this chat topic's alerts (the id comes from a button,
    which can be forged); whether it was, and the alerts left."""
    mine = {row.id for row in chat_queries.alerts(session, chat_id, topic_id)}
    removed = alert_id in mine and chat_queries.remove_subscription(session, chat_id, alert_id)
    return removed, list(chat_queries.alerts(session, chat_id, topic_id))


async def alerts_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    runtime = get_runtime(context)
    here = where(update)
    found = _REMOVE_DATA.fullmatch(query.data or "")
    alert_id = int(found[1]) if found else 0
    if not 0 < alert_id <= _MAX_ID:
        await query.answer(t(here.lang, "Alert not found."))
        return
    removed, rows = await runtime.db(
        lambda s: _remove_alert(s, here.chat_id, here.topic_id, alert_id)
    )
    if not removed:
        await query.answer(t(here.lang, "Alert not found."))
        return
    await query.answer(t(here.lang, "Alert removed."))
    text, markup = _alert_list(here.lang, rows)
    await edit_pressed(query, text, markup)  # an old or deleted list: the alert is gone


# -- /filter --------------------------------------------------------------------------------


def _filter_text(lang: str, rows: Sequence[ChatFilter]) -> str:
    required = ", ".join(f"<b>{html(r.word)}</b>" for r in rows if r.required)
    excluded = ", ".join(f"<b>{html(r.word)}</b>" for r in rows if not r.required)
    if not rows:
        lines = [t(lang, "This chat has no filters: it gets every brief it subscribed to.")]
    else:
        lines = [t(lang, "Filters of this chat (for every brief it gets):")]
        if required:
            lines.append(t(lang, "➕ must contain: {words}", words=required))
        if excluded:
            lines.append(t(lang, "➖ must not contain: {words}", words=excluded))
    lines.append("")
    lines.append(_filter_usage(lang))
    return "\n".join(lines)


def _filter_usage(lang: str) -> str:
    return t(
        lang,
        "<code>/filter -WORD</code> skips briefs that mention WORD, <code>/filter +WORD</code> "
        "keeps only briefs that mention it; several at once: <code>/filter -sport +europe</code>."
        " <code>/filter clear</code> removes them all.",
    )


def _parse_filter_args(args: Sequence[str]) -> tuple[dict[str, bool], str | None]:
    """Words to set (word → required), in order, the last sign winning; or the first argument
    that is not a +word or -word."""
    wanted: dict[str, bool] = {}
    for arg in args:
        sign, rest = arg[:1], arg[1:]
        words = parse_words(rest) if sign and sign in _PLUS + _MINUS else []
        if not words:
            return {}, arg
        for word in words:
            wanted.pop(word, None)
            wanted[word] = sign in _PLUS
    return wanted, None


def _set_filters(
    session: Session, chat_id: int, wanted: dict[str, bool]
) -> list[ChatFilter] | None:
    """Store the words, or None (storing nothing) when they would pass :data:`MAX_FILTERS`."""
    current = {row.word for row in chat_queries.filters(session, chat_id)}
    if len(current | set(wanted)) > MAX_FILTERS:
        return None
    for word, required in wanted.items():
        chat_queries.set_filter(session, chat_id, word, required=required)
    return list(chat_queries.filters(session, chat_id))


async def filter_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime = get_runtime(context)
    here = where(update)
    args = context.args or []
    if not args:
        rows = await runtime.db(lambda s: list(chat_queries.filters(s, here.chat_id)))
        await reply(update, _filter_text(here.lang, rows))
        return
    if len(args) == 1 and fold(args[0]) == "clear":
        count = await runtime.db(lambda s: chat_queries.clear_filters(s, here.chat_id))
        message = (
            tn(
                here.lang,
                "Removed the only filter of this chat.",
                "Removed all {count} filters of this chat.",
                count,
            )
            if count
            else t(here.lang, "This chat had no filters.")
        )
        await reply(update, message)
        return
    wanted, bad = _parse_filter_args(args)
    if bad is not None:
        message = t(
            here.lang,
            "“{arg}” is not a filter: put + (must contain) or - (must not contain) right "
            "before a word.",
            arg=html(_shorten(bad, 64)),
        )
        await reply(update, message + "\n" + _filter_usage(here.lang))
        return
    await ensure_chat(runtime, here)
    updated = await runtime.db(lambda s: _set_filters(s, here.chat_id, wanted))
    if updated is None:
        message = t(
            here.lang,
            "A chat can have at most {count} filter words. Remove them with "
            "<code>/filter clear</code> first.",
            count=MAX_FILTERS,
        )
        await reply(update, message)
        return
    await reply(update, t(here.lang, "Filters updated.") + "\n" + _filter_text(here.lang, updated))


def handlers() -> list[BaseHandler]:
    # New messages only: editing an old "/alert ..." must not add it a second time.
    fresh = filters.UpdateType.MESSAGE
    return [
        CommandHandler("alert", alert_command, filters=fresh),
        CommandHandler("alerts", alerts_command, filters=fresh),
        CommandHandler("filter", filter_command, filters=fresh),
        CallbackQueryHandler(alerts_button, pattern=r"^alerts:"),
    ]
