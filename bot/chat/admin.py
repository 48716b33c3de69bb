"""The admin console: /push, /broadcast, /addfeed, /removefeed (/feedstatus and /stats are
in stats_cmds).

Every command and button here is wrapped in ``admin_only``: the command menu hides them from
other users, but anyone can type a command or forge a button's callback data.

/push and /broadcast reach many chats at once, so they show a preview first and act only on
the admin's Confirm. The plan is computed again on Confirm, in the transaction that queues
it: what was owed when the preview was drawn may have been delivered since.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import func
from sqlmodel import Session, select
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    filters,
)

from bot import services
from bot.briefs.render import TELEGRAM_LIMIT, render_digest, telegram_length
from bot.chat import fanout
from bot.chat.common import Handler, admin_only, args_text, html, reply, where
from bot.chat.i18n import N_, t, tn
from bot.chat.runtime import Pending, Runtime, get_runtime
from bot.ingest.discover import discover_feeds, looks_like_feed
from bot.ingest.fetch import Fetcher
from bot.ingest.urls import canonical_url, url_key
from storage import chats as chat_queries
from storage import feeds as feed_queries
from storage.models import Article, Feed

COMMANDS: list[tuple[str, str]] = []
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("push", N_("Send the stories chats are owed now (optionally of one feed)")),
    ("broadcast", N_("Send a message to every chat")),
    ("addfeed", N_("Add a feed by its URL or its site's page")),
    ("removefeed", N_("Remove a feed and its articles")),
]

PREVIEW_BRIEFS = 3
MAX_CANDIDATES = 3  # feed links of a page tried before giving up


def _confirm_markup(lang: str, prefix: str, token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(lang, "✅ Confirm"), callback_data=f"{prefix}:ok:{token}"),
                InlineKeyboardButton(t(lang, "✖ Cancel"), callback_data=f"{prefix}:no:{token}"),
            ]
        ]
    )


async def _held(update: Update, runtime: Runtime, kind: str, command: str) -> Pending | None:
    """The action a Confirm/Cancel button names, if this admin holds it for this chat.

    Tokens are single-use and expire; anything else (forged, stale, from another chat or
    another admin) is answered and ignored.
    """
    query = update.callback_query
    assert query is not None
    here = where(update)
    parts = (query.data or "").split(":")
    pending = None
    if len(parts) == 3 and parts[1] in ("ok", "no") and here.user_id is not None:
        pending = runtime.take(parts[2], kind, here.user_id)
    if pending is None or pending.chat_id != here.chat_id:
        expired = t(here.lang, "This preview has expired, send /{command} again.", command=command)
        await query.answer(expired, show_alert=True)
        return None
    if parts[1] == "no":
        await query.answer(t(here.lang, "Cancelled."))
        await query.edit_message_text(t(here.lang, "Cancelled: nothing was sent."))
        return None
    return pending


# --- /push ---------------------------------------------------------------------------------


@admin_only
async def push_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    ref = args_text(context).removeprefix("#")
    if ref and not ref.isdigit():
        await reply(update, t(here.lang, "Usage: /push [FEED_ID] (see /feedstatus for ids)"))
        return
    feed_id = int(ref) if ref else None

    def build(session: Session) -> tuple[fanout.PushPlan, list[str]] | None:
        if feed_id is not None and session.get(Feed, feed_id) is None:
            return None
        plan = fanout.plan_push(session, feed_id=feed_id)
        shown = runtime.briefs.many(session, plan.story_ids[:PREVIEW_BRIEFS])
        header = t(
            here.lang,
            "Push preview. Stories: {stories}. Chats: {chats}. The first ones:",
            stories=len(plan.story_ids),
            chats=plan.chat_count,
        )
        # One message: render_digest keeps to the limit, and its first message holds as
        # many of the briefs as fit.
        pages = render_digest([view for _, view in shown], header=header)
        return plan, pages or [f"<b>{html(header)}</b>"]

    built = await runtime.db(build)
    if built is None:
        await reply(update, t(here.lang, "There is no feed #{id} (see /feedstatus).", id=feed_id))
        return
    plan, pages = built
    if plan.chat_count == 0:
        await reply(update, t(here.lang, "Nothing to push: no chat is owed a story right now."))
        return
    token = runtime.hold("push", here.user_id or 0, here.chat_id, feed_id=feed_id)
    await reply(update, pages[0], _confirm_markup(here.lang, "push", token))


@admin_only
async def push_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    pending = await _held(update, runtime, "push", "push")
    if pending is None:
        return
    feed_id = pending.args.get("feed_id")

    def queue(session: Session) -> int:
        plan = fanout.plan_push(session, feed_id=feed_id)
        fanout.enqueue_push(session, plan)
        return plan.chat_count

    chats = await runtime.db(queue)
    runtime.outbox_ready.set()
    assert update.callback_query is not None
    await update.callback_query.answer(t(here.lang, "Queued."))
    await update.callback_query.edit_message_text(
        tn(here.lang, "Push queued for {count} chat.", "Push queued for {count} chats.", chats)
    )


# --- /broadcast ----------------------------------------------------------------------------


def _command_rest(update: Update) -> str:
    """Everything after the command, line breaks kept (context.args would lose them)."""
    message = update.effective_message
    parts = (message.text or "").split(maxsplit=1) if message else []
    return parts[1].strip() if len(parts) == 2 else ""


@admin_only
async def broadcast_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    text = _command_rest(update)
    if not text:
        await reply(
            update,
            t(here.lang, "Usage: /broadcast TEXT. Every active chat gets TEXT once you confirm."),
        )
        return
    chats = await runtime.db(lambda s: len(chat_queries.active_chat_ids(s)))
    to_chats = tn(here.lang, "Broadcast to {count} chat:", "Broadcast to {count} chats:", chats)
    header = f"<b>{html(to_chats)}</b>\n\n"
    room = TELEGRAM_LIMIT - telegram_length(header)
    if telegram_length(html(text)) > room:
        await reply(
            update,
            t(here.lang, "That message is too long: at most {limit} characters.", limit=room),
        )
        return
    token = runtime.hold("broadcast", here.user_id or 0, here.chat_id, text=text)
    await reply(update, header + html(text), _confirm_markup(here.lang, "bc", token))


@admin_only
async def broadcast_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    pending = await _held(update, runtime, "broadcast", "broadcast")
    if pending is None:
        return
    body = html(pending.args["text"])
    chats = await runtime.db(lambda s: fanout.enqueue_broadcast(s, body))
    runtime.outbox_ready.set()
    assert update.callback_query is not None
    await update.callback_query.answer(t(here.lang, "Queued."))
    await update.callback_query.edit_message_text(
        tn(
            here.lang,
            "Broadcast queued for {count} chat.",
            "Broadcast queued for {count} chats.",
            chats,
        )
    )


# --- /addfeed, /removefeed -----------------------------------------------------------------


async def _find_feed_url(fetcher: Fetcher, url: str, lang: str) -> tuple[str | None, str]:
    """The feed behind ``url`` (the URL itself, or one its page links to), or None and why."""
    page = await fetcher.fetch_page(url)
    if page.status != "ok" or page.body is None:
        reason = page.error or page.status
        return None, t(lang, "Could not fetch {url}: {reason}", url=html(url), reason=html(reason))
    if looks_like_feed(page.body, page.content_type):
        return url, ""
    candidates = discover_feeds(page.body, page.final_url or url)
    if not candidates:
        return None, t(lang, "No feed found on this page: {url}", url=html(url))
    # Links that only look like feeds (a share button's /feed, a sitemap.xml) are common:
    # the first one that really is a feed wins.
    reason = ""
    for candidate in candidates[:MAX_CANDIDATES]:
        found = await fetcher.fetch(candidate)
        if found.status == "ok" and found.body and looks_like_feed(found.body, found.content_type):
            return candidate, ""
        reason = reason or (found.error or t(lang, "not a feed"))
    detail = t(
        lang,
        "No feed found on this page: it links to {link}, which failed ({reason}).",
        link=html(candidates[0]),
        reason=html(reason),
    )
    return None, detail


def _existing_feed(session: Session, url: str) -> Feed | None:
    key = url_key(canonical_url(url))
    return feed_queries.find_feed_by_key(session, key) if key else None


@admin_only
async def addfeed_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    url = args_text(context)
    if not url:
        await reply(update, t(here.lang, "Usage: /addfeed URL (a feed, or a site's page)"))
        return
    if canonical_url(url) is None:
        not_url = t(
            here.lang,
            "That is not a web address: {url}. Send the full URL, starting with https://",
            url=html(url),
        )
        await reply(update, not_url)
        return
    # Checked before fetching: the site may be down, and the answer is the same anyway.
    existing = await runtime.db(lambda s: _existing_feed(s, url))
    if existing is None:
        async with services.make_fetcher(runtime.settings) as fetcher:
            feed_url, problem = await _find_feed_url(fetcher, url, here.lang)
        if feed_url is None:
            await reply(update, problem)
            return
        try:
            feed = await asyncio.to_thread(services.add_feed, runtime.engine, feed_url)
        except services.InvalidFeedURLError:
            bad = t(
                here.lang,
                "The page links to {url}, which is not a web address I can fetch.",
                url=html(feed_url),
            )
            await reply(update, bad)
            return
        except feed_queries.DuplicateFeedError as exc:
            existing = exc.existing
        else:
            added = t(here.lang, "Added feed #{id}: {url}", id=feed.id, url=html(feed.url))
            await reply(update, added)
            return
    already = t(
        here.lang, "Already there as feed #{id}: {url}", id=existing.id, url=html(existing.url)
    )
    await reply(update, already)


@admin_only
async def removefeed_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = get_runtime(context), where(update)
    ref = args_text(context).removeprefix("#")
    if not ref:
        await reply(update, t(here.lang, "Usage: /removefeed FEED_ID (see /feedstatus for ids)"))
        return

    def remove(session: Session) -> tuple[int | None, str, int] | None:
        feed = feed_queries.find_feed(session, ref)
        if feed is None:
            return None
        count = select(func.count()).select_from(Article).where(Article.feed_id == feed.id)
        gone = (feed.id, feed.title or feed.url, int(session.exec(count).one()))
        # Like `newsbrief feeds remove`: the database cascades to articles and subscriptions.
        session.delete(feed)
        return gone

    removed = await runtime.db(remove)
    if removed is None:
        missing = t(here.lang, "There is no feed {ref} (see /feedstatus).", ref=html(ref))
        await reply(update, missing)
        return
    feed_id, name, articles = removed
    text = tn(
        here.lang,
        "Removed feed #{id} ({name}) and its {count} article.",
        "Removed feed #{id} ({name}) and its {count} articles.",
        articles,
        id=feed_id,
        name=html(name),
    )
    await reply(update, text)


def handlers() -> list[BaseHandler]:
    commands: dict[str, Handler] = {
        "push": push_command,
        "broadcast": broadcast_command,
        "addfeed": addfeed_command,
        "removefeed": removefeed_command,
    }
    buttons: dict[str, Handler] = {r"^push:": push_button, r"^bc:": broadcast_button}
    return [
        # An edited "/broadcast …" must not ask again: only new messages are commands.
        *(
            CommandHandler(name, callback, filters=filters.UpdateType.MESSAGE)
            for name, callback in commands.items()
        ),
        *(CallbackQueryHandler(callback, pattern=data) for data, callback in buttons.items()),
    ]
