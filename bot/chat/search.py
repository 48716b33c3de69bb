"""Looking back: /search WORDS over every stored story, a page at a time, and /latest [N].

A result page is one message edited in place by its Previous/Next buttons. Button data is
at most 64 bytes and a query can be longer, so the query stays in the chat's memory under a
short random token and the button carries only the page and the token. A token another chat
made is simply not found here, and after a restart every old button says the search
expired: nothing in the button is trusted beyond "which page of which of my searches".
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.briefs.render import (
    TELEGRAM_LIMIT,
    BriefView,
    render_brief,
    render_digest,
    telegram_length,
)
from bot.chat.common import Where, args_text, ensure_chat, html, reply, where
from bot.chat.digests import zone
from bot.chat.i18n import N_, t, tn
from bot.chat.runtime import Runtime, get_runtime
from storage import articles as article_queries
from storage import chats as chat_queries
from storage.search import parse_query, search

COMMANDS: list[tuple[str, str]] = [
    ("search", N_("Search stored news: /search WORDS")),
    ("latest", N_("The newest briefs: /latest or /latest 10")),
]
ADMIN_COMMANDS: list[tuple[str, str]] = []

PAGE_SIZE = 5
LATEST_DEFAULT = 5
LATEST_MAX = 20
REMEMBERED = 32  # searches kept per chat for their buttons; older ones expire
QUERY_SHOWN = 100  # characters of the query repeated in the header
SEPARATOR = "\n\n"  # between briefs, as in digests
BUTTON = re.compile(r"search:([0-9]{1,4}):([A-Za-z0-9_-]{1,16})")
SEARCHES_KEY = "searches"


@dataclass(frozen=True, slots=True)
class ResultPage:
    """One page of results, composed in a worker thread: what the message shows."""

    page: int  # 0-based, after clamping to the pages there are
    total: int  # matching stories in all
    views: list[BriefView]
    tz: ZoneInfo

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


# -- remembered searches ----------------------------------------------------------------------


def _searches(chat_data: MutableMapping[Any, Any] | None) -> dict[str, str]:
    if chat_data is None:
        return {}
    found = chat_data.setdefault(SEARCHES_KEY, {})
    assert isinstance(found, dict)
    return found


def remember(chat_data: MutableMapping[Any, Any] | None, query: str) -> str:
    """Keep ``query`` for its buttons; the token to put in their data."""
    searches = _searches(chat_data)
    token = secrets.token_urlsafe(6)  # 8 characters of [A-Za-z0-9_-]
    searches[token] = query
    while len(searches) > REMEMBERED:  # dicts keep insertion order: drop the oldest
        del searches[next(iter(searches))]
    return token


# -- composing and rendering ------------------------------------------------------------------


def _compose_page(
    runtime: Runtime, session: Session, here: Where, query: str, page: int
) -> ResultPage:
    chat = chat_queries.get_chat(session, here.chat_id)
    tz = zone(chat.timezone if chat else None)
    hits, total = search(session, query, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    last = max(0, -(-total // PAGE_SIZE) - 1)
    if not hits and total and page > last:
        # Fewer results than when the button was made (stories were removed): the last page.
        page = last
        hits, total = search(session, query, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    views = [view for _, view in runtime.briefs.many(session, [h.story_id for h in hits])]
    return ResultPage(page=page, total=total, views=views, tz=tz)


def _shown(query: str) -> str:
    """The query as repeated to the user: printable, single-line, not too long."""
    printable = "".join(ch if ch.isprintable() else " " for ch in query)
    shown = " ".join(printable.split())
    return shown if len(shown) <= QUERY_SHOWN else shown[:QUERY_SHOWN] + "…"


def _header(lang: str, query: str, result: ResultPage) -> str:
    shown = _shown(query)
    text = tn(
        lang,
        "Results for “{query}”: {count} story",
        "Results for “{query}”: {count} stories",
        result.total,
        query=shown,
    )
    if result.pages > 1:
        text += " " + t(lang, "(page {page} of {pages})", page=result.page + 1, pages=result.pages)
    return text


def render_page(lang: str, query: str, result: ResultPage) -> str:
    """The header and the page's briefs as ONE message: each brief gets an equal share of
    what the header leaves, so Next never skips a brief that did not fit."""
    header = _header(lang, query, result)
    heading = f"<b>{html(header)}</b>"
    room = TELEGRAM_LIMIT - telegram_length(heading) - len(SEPARATOR) * len(result.views)
    # The header is at most a few hundred units (the query is cut), so each share is ~750.
    share = room // max(1, len(result.views))
    blocks = [render_brief(view, tz=result.tz, limit=share) for view in result.views]
    return SEPARATOR.join([heading, *blocks])


def page_buttons(lang: str, token: str, result: ResultPage) -> InlineKeyboardMarkup | None:
    row = []
    if result.page > 0:
        data = f"search:{result.page - 1}:{token}"
        row.append(InlineKeyboardButton(t(lang, "◀ Previous"), callback_data=data))
    if result.page + 1 < result.pages:
        data = f"search:{result.page + 1}:{token}"
        row.append(InlineKeyboardButton(t(lang, "Next ▶"), callback_data=data))
    return InlineKeyboardMarkup([row]) if row else None


def _no_results(lang: str, query: str) -> str:
    return t(
        lang,
        "Nothing found for “{query}”. Try fewer or broader words.",
        query=html(_shown(query)),
    )


# -- handlers ---------------------------------------------------------------------------------


async def search_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    query = " ".join(args_text(context).split())
    if not parse_query(query):
        usage = t(
            here.lang,
            "Usage: /search WORDS, e.g. /search election results. "
            "Stories containing every word are shown, best match first.",
        )
        await reply(update, usage)
        return
    await ensure_chat(runtime, here)
    # Composing briefs is CPU work: in the worker thread, with the query.
    result = await runtime.db(lambda s: _compose_page(runtime, s, here, query, 0))
    if not result.views:
        await reply(update, _no_results(here.lang, query))
        return
    token = remember(context.chat_data, query)
    await reply(
        update, render_page(here.lang, query, result), page_buttons(here.lang, token, result)
    )


async def search_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    if query.message is None or update.effective_chat is None:
        await query.answer()
        return
    runtime, here = get_runtime(context), where(update)
    match = BUTTON.fullmatch(query.data or "")
    words = _searches(context.chat_data).get(match[2]) if match else None
    if match is None or words is None:
        await query.answer(t(here.lang, "This search has expired, send it again."))
        return
    page, token, remembered = int(match[1]), match[2], words
    result = await runtime.db(lambda s: _compose_page(runtime, s, here, remembered, page))
    await query.answer()
    if not result.views:
        text, markup = _no_results(here.lang, words), None
    else:
        text = render_page(here.lang, words, result)
        markup = page_buttons(here.lang, token, result)
    # A double press asks for the page already shown: Telegram says "not modified".
    with contextlib.suppress(BadRequest):
        await query.edit_message_text(text, reply_markup=markup)


def parse_count(text: str) -> int | None:
    """/latest's N: empty means the default; else a whole number from 1 to LATEST_MAX."""
    if not text:
        return LATEST_DEFAULT
    if not re.fullmatch(r"[0-9]{1,3}", text):
        return None
    count = int(text)
    return count if 1 <= count <= LATEST_MAX else None


async def latest_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    count = parse_count(args_text(context))
    if count is None:
        usage = t(
            here.lang,
            "Usage: /latest or /latest N, with N from 1 to {max}.",
            max=LATEST_MAX,
        )
        await reply(update, usage)
        return
    chat = await ensure_chat(runtime, here)
    tz = zone(chat.timezone)

    def work(session: Session) -> list[BriefView]:
        ids = article_queries.latest_story_ids(session, count)
        return [view for _, view in runtime.briefs.many(session, ids)]

    views = await runtime.db(work)
    if not views:
        await reply(
            update, t(here.lang, "No news stored yet. Briefs appear here once feeds are read.")
        )
        return
    header = tn(here.lang, "Latest news: {count} story", "Latest news: {count} stories", len(views))
    for message in render_digest(views, header=header, limit=TELEGRAM_LIMIT, tz=tz):
        await reply(update, message)


def handlers() -> list[BaseHandler]:
    return [
        CommandHandler("search", search_command),
        CommandHandler("latest", latest_command),
        CallbackQueryHandler(search_button, pattern=r"^search:"),
    ]
