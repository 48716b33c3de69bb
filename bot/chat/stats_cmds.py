"""What admins read about the bot: /feedstatus (each feed's fetch state) and /stats (the
figures, then a chart of the last two weeks).

Both are wrapped in ``admin_only``: the menu hides them from other users, but anyone can
type a command.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select
from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, filters

from bot.briefs.render import TELEGRAM_LIMIT, shorten_text, telegram_length
from bot.chat.charts import stats_chart
from bot.chat.common import admin_only, html, reply, where
from bot.chat.i18n import N_, t
from bot.chat.runtime import get_runtime
from storage import articles as article_queries
from storage import feeds as feed_queries
from storage import outbox
from storage.models import Chat, Feed, Subscription
from storage.stats import DailyCounts, daily_counts

COMMANDS: list[tuple[str, str]] = []
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("feedstatus", N_("Fetch state and errors of every feed")),
    ("stats", N_("Feeds, stories, chats and deliveries in numbers")),
]

ERROR_CHARS = 100
TITLE_CHARS = 120
CHART_DAYS = 14


# --- /feedstatus -----------------------------------------------------------------------------


def _when(lang: str, moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else t(lang, "never")


def _status_line(lang: str, feed: Feed) -> str:
    title = shorten_text(" ".join((feed.title or feed.url).split()), TITLE_CHARS)
    line = f"#{feed.id} <b>{html(title)}</b>"
    if not feed.enabled:
        line += " " + t(lang, "(disabled)")
    line += " — " + t(
        lang,
        "last success: {last}, next check: {next}",
        last=_when(lang, feed.last_success_at),
        next=_when(lang, feed.next_check_at),
    )
    if feed.error_count or feed.last_error:
        error = shorten_text(" ".join((feed.last_error or "").split()), ERROR_CHARS)
        line += "; " + t(
            lang, "errors: {count}, last: {error}", count=feed.error_count, error=html(error)
        )
    return line


def _pack(lines: list[str]) -> list[str]:
    """Lines joined into messages within Telegram's limit, split between lines."""
    messages: list[str] = []
    current: list[str] = []
    used = 0
    for line in lines:
        size = telegram_length(line)
        if current and used + 1 + size > TELEGRAM_LIMIT:
            messages.append("\n".join(current))
            current, used = [], 0
        used += size + (1 if current else 0)
        current.append(line)
    if current:
        messages.append("\n".join(current))
    return messages


@admin_only
async def feedstatus_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    feeds = await runtime.db(lambda s: list(feed_queries.list_feeds(s)))
    if not feeds:
        await reply(update, t(here.lang, "No feeds yet: add one with /addfeed URL."))
        return
    heading = "<b>" + html(t(here.lang, "Feeds: {count}", count=len(feeds))) + "</b>"
    for message in _pack([heading, *(_status_line(here.lang, f) for f in feeds)]):
        await reply(update, message)


# --- /stats ----------------------------------------------------------------------------------


def _stats(session: Session, now: datetime) -> dict[str, int]:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    messages = outbox.outbox_counts(session, midnight)

    def count(model: type) -> int:
        return int(session.exec(select(func.count()).select_from(model)).one())

    return {
        **article_queries.counts(session),
        "chats": count(Chat),
        "subscriptions": count(Subscription),
        "sent_today": messages["sent"],
        "pending": messages["pending"],
        "failed": messages["failed"],
    }


def _stats_text(lang: str, n: dict[str, int]) -> str:
    lines = [
        "<b>" + html(t(lang, "Statistics")) + "</b>",
        t(lang, "Feeds: {feeds}", feeds=n["feeds"]),
        t(lang, "Articles: {articles}", articles=n["articles"]),
        t(lang, "Stories: {stories}", stories=n["stories"]),
        t(lang, "Chats: {active} active of {total}", active=n["subscribers"], total=n["chats"]),
        t(lang, "Subscriptions: {count}", count=n["subscriptions"]),
        t(
            lang,
            "Messages sent today: {sent}, waiting: {pending}, failed: {failed}",
            sent=n["sent_today"],
            pending=n["pending"],
            failed=n["failed"],
        ),
    ]
    return "\n".join(lines)


def _figures(session: Session) -> tuple[dict[str, int], DailyCounts]:
    # One transaction and one clock: the text and the chart describe the same moment (around
    # midnight, "sent today" and today's bar would otherwise count different days).
    now = datetime.now(UTC)
    return _stats(session, now), daily_counts(session, days=CHART_DAYS, now=now)


@admin_only
async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    figures, daily = await runtime.db(_figures)
    await reply(update, _stats_text(here.lang, figures))
    if daily.empty:
        nothing = t(
            here.lang,
            "No article was fetched and no message sent in the last {days} days: no chart.",
            days=CHART_DAYS,
        )
        await reply(update, nothing)
        return
    # Rendering takes a few hundred milliseconds of CPU: never on the event loop.
    png = await asyncio.to_thread(stats_chart, daily, lang=here.lang, days=CHART_DAYS)
    caption = t(
        here.lang,
        "Articles fetched per day for the busiest feeds, and messages sent per day, "
        "over the last {days} days (UTC).",
        days=CHART_DAYS,
    )
    message = update.effective_message
    assert message is not None  # a command always comes in a message
    await message.reply_photo(png, caption=caption, filename="stats.png", do_quote=False)


def handlers() -> list[BaseHandler]:
    fresh = filters.UpdateType.MESSAGE  # an edited old command must not run again
    return [
        CommandHandler("feedstatus", feedstatus_command, filters=fresh),
        CommandHandler("stats", stats_command, filters=fresh),
    ]
