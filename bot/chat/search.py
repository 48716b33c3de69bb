"""Looking back: /search WORDS over every stored story, a page at a time, and /latest [N].

A result page is one message edited in place by its Previous/Next buttons. Button data is
at most 64 bytes and a query can be longer, so the query stays in the chat's memory under a
short random token and the button carries only the page and the token. A token another chat
made is simply not found here, and after a restart every old button says the search
expired: nothing in the button is trusted beyond "which page of which of my searches".
"""

from __future__ import annotations

import re
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.briefs.render import (
    TELEGRAM_LIMIT,
    BriefView,
    html_link,
    published_label,
    render_digest,
    shorten_text,
)
from bot.chat.common import (
    Where,
    args_text,
    edit_pressed,
    ensure_chat,
    html,
    pressed_button,
    reply,
    where,
)
from bot.chat.digests import zone
from bot.chat.i18n import N_, t, tn
from bot.chat.runtime import get_runtime
from storage import articles as article_queries
from storage import chats as chat_queries
from storage.search import SearchHit, search_page

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
SEPARATOR = "\n\n"  # between results, as between the briefs of a digest
TITLE_CHARS = 200
SOURCE_CHARS = 60
BUTTON = re.compile(r"search:([0-9]{1,4}):([A-Za-z0-9_-]{1,16})")
SEARCHES_KEY = "searches"


@dataclass(frozen=True, slots=True)
class ResultPage:
    """One page of results, read in a worker thread: what the message shows."""

    page: int  # 0-based, after clamping to the pages there are
    total: int  # matching stories in all (a lower bound when estimated)
    hits: list[SearchHit]
    tz: ZoneInfo
    estimated: bool = False
    error: str | None = None  # why the query could not run (see storage.search.SearchPage)
    understood: str = ""  # what the engine made of the query, to show back

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


def _compose_page(session: Session, here: Where, query: str, page: int) -> ResultPage:
    chat = chat_queries.get_chat(session, here.chat_id)
    tz = zone(chat.timezone if chat else None)
    found = search_page(session, query, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    last = max(0, -(-found.total // PAGE_SIZE) - 1)
    if not found.hits and found.total and page > last:
        # Fewer results than when the button was made (stories were removed): the last page.
        page = last
        found = search_page(session, query, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    return ResultPage(
        page=page,
        total=found.total,
        hits=found.hits,
        tz=tz,
        estimated=found.total_is_estimate,
        error=found.error,
        understood=found.query.describe(),
    )


def _shown(query: str) -> str:
    """The query as repeated to the user: printable, single-line, not too long."""
    printable = "".join(ch if ch.isprintable() else " " for ch in query)
    shown = " ".join(printable.split())
    return shown if len(shown) <= QUERY_SHOWN else shown[:QUERY_SHOWN] + "…"


def _header(lang: str, query: str, result: ResultPage) -> str:
    shown = _shown(query)
    if result.estimated:
        return t(
            lang,
            "Results for “{query}”: more than {count} stories",
            query=shown,
            count=result.total,
        )
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


def highlighted(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` escaped for Telegram HTML with each span in bold (spans never overlap)."""
    out, at = [], 0
    for start, end in sorted(spans):
        if start < at or end > len(text) or start >= end:
            continue  # a malformed span is dropped, never allowed to break the markup
        out.append(html(text[at:start]))
        out.append(f"<b>{html(text[start:end])}</b>")
        at = end
    out.append(html(text[at:]))
    return "".join(out)


def render_hit(hit: SearchHit, tz: ZoneInfo) -> str:
    """One result: the linked title, "source · date", and the snippet with the matched words
    in bold. Titles and sources are shortened as plain text before any markup is added."""
    title = shorten_text(" ".join(hit.title.split()), TITLE_CHARS) or "…"
    head = html_link(title, hit.url)
    meta = shorten_text(" ".join(hit.source.split()), SOURCE_CHARS)
    if hit.published_at is not None:
        meta += " · " + published_label(hit.published_at, tz, hit.language)
    lines = [f"<b>{head}</b>", f"<i>{html(meta)}</i>"]
    if hit.snippet:
        lines.append(highlighted(hit.snippet, hit.highlights))
    return "\n".join(lines)


def render_page(lang: str, query: str, result: ResultPage) -> str:
    """The header and the page's results as ONE message (five short results always fit)."""
    heading = f"<b>{html(_header(lang, query, result))}</b>"
    return SEPARATOR.join([heading, *(render_hit(hit, result.tz) for hit in result.hits)])


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


def _cannot_search(lang: str, query: str, error: str) -> str:
    if error == "only_exclusions":
        return t(lang, "A search needs at least one word to look for, not only -words.")
    if error == "unknown_source":
        return t(lang, "No feed matches that source: name. /feeds lists them.")
    return t(
        lang,
        "Usage: /search WORDS, e.g. /search election results. "
        "Stories containing every word are shown, best match first.",
    )


# -- handlers ---------------------------------------------------------------------------------


async def search_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    query = " ".join(args_text(context).split())
    if not query:
        usage = t(
            here.lang,
            "Usage: /search WORDS, e.g. /search election results. "
            "Stories containing every word are shown, best match first.",
        )
        await reply(update, usage)
        return
    await ensure_chat(runtime, here)
    result = await runtime.db(lambda s: _compose_page(s, here, query, 0))
    if result.error is not None:
        await reply(update, _cannot_search(here.lang, query, result.error))
        return
    if not result.hits:
        await reply(update, _no_results(here.lang, query))
        return
    token = remember(context.chat_data, query)
    await reply(
        update, render_page(here.lang, query, result), page_buttons(here.lang, token, result)
    )


async def search_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = await pressed_button(update)
    if query is None:
        return
    runtime, here = get_runtime(context), where(update)
    match = BUTTON.fullmatch(query.data or "")
    words = _searches(context.chat_data).get(match[2]) if match else None
    if match is None or words is None:
        await query.answer(t(here.lang, "This search has expired, send it again."))
        return
    page, token, remembered = int(match[1]), match[2], words
    result = await runtime.db(lambda s: _compose_page(s, here, remembered, page))
    await query.answer()
    if not result.hits:
        text, markup = _no_results(here.lang, words), None
    else:
        text = render_page(here.lang, words, result)
        markup = page_buttons(here.lang, token, result)
    await edit_pressed(query, text, markup)  # a double press: the page already shown


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
