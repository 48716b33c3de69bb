"""What a reader does with the bot: start it, pick feeds, and see what this chat receives.
(How it receives them, instant or digests, is in settings_cmds.)

Every subscription belongs to a chat and, in forum supergroups, to one topic, so each topic
of a forum can follow its own feeds.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass

from sqlmodel import Session
from telegram import ChatMember, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    filters,
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
from bot.chat.i18n import N_, t
from bot.chat.runtime import Runtime, get_runtime
from bot.chat.settings_cmds import describe_delivery
from storage import chats as chat_queries
from storage import feeds as feed_queries
from storage.models import Chat, Feed

COMMANDS: list[tuple[str, str]] = [
    ("start", N_("Start receiving news briefs here")),
    ("help", N_("What the bot can do")),
    ("feeds", N_("Browse the feeds and pick yours")),
    ("subscribe", N_("Follow a feed: /subscribe ID, or /subscribe all")),
    ("unsubscribe", N_("Stop a feed: /unsubscribe ID, or /unsubscribe all")),
    ("list", N_("What this chat receives, and how")),
]
ADMIN_COMMANDS: list[tuple[str, str]] = []

PAGE_SIZE = 8
LABEL_LENGTH = 40  # characters of a feed title on a button; Telegram cuts long labels badly
# Ids are bounded so forged data cannot overflow PostgreSQL's integer column.
BUTTON = re.compile(r"feeds:(?:page|(sub|unsub):([0-9]{1,9})):([0-9]{1,4})")
FEED_REF = re.compile(r"#?([0-9]{1,9})")

# What changing one feed subscription did; the same words for a command and a button.
OUTCOMES = {
    "subscribed": N_("Subscribed to {feed}."),
    "already": N_("Already subscribed to {feed}."),
    "unsubscribed": N_("Unsubscribed from {feed}."),
    "not_subscribed": N_("This chat was not subscribed to {feed}."),
    "unknown": N_("There is no feed #{id}. See /feeds for the list."),
}


# -- what this chat follows ------------------------------------------------------------------


def subscribed_feeds(session: Session, chat_id: int, topic_id: int) -> set[int] | None:
    """The feed ids this chat (topic) follows; None when it follows all feeds."""
    rows = [s for s in chat_queries.subscriptions(session, chat_id, topic_id) if not s.keywords]
    if any(row.feed_id is None for row in rows):
        return None
    return {row.feed_id for row in rows if row.feed_id is not None}


def change_feed(session: Session, here: Where, feed_id: int, on: bool) -> tuple[str, Feed | None]:
    """Follow or stop one feed; an OUTCOMES key and the feed (None if there is no such feed)."""
    feed = session.get(Feed, feed_id)
    if feed is None or (on and not feed.enabled):
        return "unknown", None
    if on:
        if chat_queries.subscribed_to_all(session, here.chat_id, here.topic_id):
            return "already", feed
        done = chat_queries.subscribe(session, here.chat_id, here.topic_id, feed_id=feed_id)
        return ("subscribed" if done else "already"), feed
    done = chat_queries.unsubscribe_feed(session, here.chat_id, here.topic_id, feed_id)
    return ("unsubscribed" if done else "not_subscribed"), feed


def _title(feed: Feed) -> str:
    return feed.title or feed.url


def _outcome(lang: str, outcome: str, feed_id: int, feed: Feed | None, *, markup: bool) -> str:
    name = f"#{feed_id} {_title(feed)}" if feed else f"#{feed_id}"
    return t(lang, OUTCOMES[outcome], feed=html(name) if markup else name, id=feed_id)


# -- the catalogue (/feeds and its buttons) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One page of enabled feeds and which of them this chat follows (None: all of them)."""

    feeds: list[Feed]
    page: int
    pages: int
    subscribed: set[int] | None


def catalogue(session: Session, here: Where, page: int) -> Catalogue:
    enabled = [feed for feed in feed_queries.list_feeds(session) if feed.enabled]
    pages = max(1, math.ceil(len(enabled) / PAGE_SIZE))
    page = min(page, pages - 1)  # a feed removed since the page was shown, or forged data
    return Catalogue(
        enabled[page * PAGE_SIZE : (page + 1) * PAGE_SIZE],
        page,
        pages,
        subscribed_feeds(session, here.chat_id, here.topic_id),
    )


def render_catalogue(lang: str, cat: Catalogue) -> tuple[str, InlineKeyboardMarkup | None]:
    if not cat.feeds:
        return t(lang, "No feeds yet: an administrator has to add some first."), None
    lines = [
        t(lang, "<b>Feeds</b> (page {page} of {pages})", page=cat.page + 1, pages=cat.pages),
        *(f"#{feed.id} {html(_title(feed))}" for feed in cat.feeds),
        "",
        t(lang, "This chat receives all feeds.")
        if cat.subscribed is None
        else t(lang, "Tap a feed to subscribe (➕) or unsubscribe (✅)."),
    ]
    rows = []
    for feed in cat.feeds:
        on = cat.subscribed is None or feed.id in cat.subscribed
        title = _title(feed)
        if len(title) > LABEL_LENGTH:
            title = title[: LABEL_LENGTH - 1] + "…"
        data = f"feeds:{'unsub' if on else 'sub'}:{feed.id}:{cat.page}"
        rows.append([InlineKeyboardButton(f"{'✅' if on else '➕'} {title}", callback_data=data)])
    nav = []
    if cat.page > 0:
        nav.append(InlineKeyboardButton("◀", callback_data=f"feeds:page:{cat.page - 1}"))
    if cat.page + 1 < cat.pages:
        nav.append(InlineKeyboardButton("▶", callback_data=f"feeds:page:{cat.page + 1}"))
    if nav:
        rows.append(nav)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _setup(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[Runtime, Where]:
    """Every command starts here: settings must work before /start, so the chat row is made."""
    runtime, here = get_runtime(context), where(update)
    await ensure_chat(runtime, here)
    return runtime, here


async def feeds_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = await _setup(update, context)
    cat = await runtime.db(lambda s: catalogue(s, here, 0))
    text, markup = render_catalogue(here.lang, cat)
    await reply(update, text, markup)


async def feeds_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = await pressed_button(update)
    if query is None:
        return
    runtime, here = get_runtime(context), where(update)
    match = BUTTON.fullmatch(query.data or "")
    if match is None:
        await query.answer(t(here.lang, "This button is no longer valid."))
        return
    action, feed_ref, page = match[1], match[2], int(match[3])
    await ensure_chat(runtime, here)

    def work(session: Session) -> tuple[str | None, Feed | None, Catalogue]:
        outcome, feed = None, None
        if action is not None:
            outcome, feed = change_feed(session, here, int(feed_ref), action == "sub")
        return outcome, feed, catalogue(session, here, page)

    outcome, feed, cat = await runtime.db(work)
    if outcome is None:
        await query.answer()
    else:
        await query.answer(_outcome(here.lang, outcome, int(feed_ref), feed, markup=False)[:200])
    if outcome in (None, "subscribed", "unsubscribed"):
        text, markup = render_catalogue(here.lang, cat)
        await edit_pressed(query, text, markup)


# -- subscribing by text ---------------------------------------------------------------------


async def subscribe_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = await _setup(update, context)
    arg = args_text(context).lower()
    if arg == "all":

        def everything(session: Session) -> bool:
            if chat_queries.subscribed_to_all(session, here.chat_id, here.topic_id):
                return False
            # Per-feed rows would outlive "all": a later /unsubscribe ID would drop only them.
            chat_queries.unsubscribe_feeds(session, here.chat_id, here.topic_id)
            return chat_queries.subscribe(session, here.chat_id, here.topic_id)

        changed = await runtime.db(everything)
        text = (
            t(here.lang, "This chat now receives all feeds.")
            if changed
            else t(here.lang, "This chat already receives all feeds.")
        )
        await reply(update, text)
        return
    ref = FEED_REF.fullmatch(arg)
    if ref is None:
        await reply(
            update, t(here.lang, "Usage: /subscribe FEED_ID or /subscribe all (ids are in /feeds).")
        )
        return
    feed_id = int(ref[1])
    outcome, feed = await runtime.db(lambda s: change_feed(s, here, feed_id, True))
    await reply(update, _outcome(here.lang, outcome, feed_id, feed, markup=True))


async def unsubscribe_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = await _setup(update, context)
    arg = args_text(context).lower()
    if arg == "all":
        removed = await runtime.db(
            lambda s: chat_queries.unsubscribe_feeds(s, here.chat_id, here.topic_id)
        )
        text = (
            t(here.lang, "This chat no longer receives any feed. Keyword alerts (if any) stay.")
            if removed
            else t(here.lang, "This chat was not subscribed to any feed.")
        )
        await reply(update, text)
        return
    ref = FEED_REF.fullmatch(arg)
    if ref is None:
        usage = t(here.lang, "Usage: /unsubscribe FEED_ID or /unsubscribe all (see /list).")
        await reply(update, usage)
        return
    feed_id = int(ref[1])
    outcome, feed = await runtime.db(lambda s: change_feed(s, here, feed_id, False))
    await reply(update, _outcome(here.lang, outcome, feed_id, feed, markup=True))


# -- start, help, list -----------------------------------------------------------------------


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = await _setup(update, context)

    def work(session: Session) -> bool:
        """Whether the chat is on all feeds now. One that chose its feeds keeps them:
        repeating /start must not undo that."""
        chosen = subscribed_feeds(session, here.chat_id, here.topic_id)
        if chosen is None:
            return True
        if chosen:
            return False
        return chat_queries.subscribe(session, here.chat_id, here.topic_id)

    everything = await runtime.db(work)
    what = (
        t(here.lang, "This chat now receives short news briefs from all feeds.")
        if everything
        else t(here.lang, "This chat keeps the feeds it chose: see /list.")
    )
    text = "\n".join(
        [
            t(here.lang, "<b>Hello! I send condensed, deduplicated news briefs.</b>"),
            what,
            "",
            t(here.lang, "/feeds: choose the feeds you follow"),
            t(here.lang, "/alert: get alerts for keywords"),
            t(here.lang, "/mode: every brief at once, or a digest at set times"),
            t(here.lang, "/help: every command"),
        ]
    )
    await reply(update, text)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    from bot.chat.app import MODULES  # app imports this module; the list is read when used

    runtime, here = await _setup(update, context)

    def lines(pairs: list[tuple[str, str]]) -> list[str]:
        return [f"/{name}: {html(t(here.lang, description))}" for name, description in pairs]

    text = [t(here.lang, "<b>Commands</b>"), *lines([p for m in MODULES for p in m.COMMANDS])]
    admin = [p for m in MODULES for p in m.ADMIN_COMMANDS]
    if admin and runtime.is_admin(here.user_id):
        text += ["", t(here.lang, "<b>Admin commands</b>"), *lines(admin)]
    await reply(update, "\n".join(text))


@dataclass(frozen=True, slots=True)
class Summary:
    chat: Chat
    feeds: list[Feed] | None  # None: all feeds
    alerts: list[str]
    filters: list[str]


def summary(session: Session, here: Where) -> Summary:
    chat = chat_queries.get_chat(session, here.chat_id)
    assert chat is not None, "ensure_chat ran first"
    ids = subscribed_feeds(session, here.chat_id, here.topic_id)
    feeds = None
    if ids is not None:
        feeds = [feed for feed in feed_queries.list_feeds(session) if feed.id in ids]
    return Summary(
        chat,
        feeds,
        [row.keywords for row in chat_queries.alerts(session, here.chat_id, here.topic_id)],
        [
            f"{'+' if row.required else '-'}{row.word}"
            for row in chat_queries.filters(session, here.chat_id)
        ],
    )


async def list_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    runtime, here = await _setup(update, context)
    found = await runtime.db(lambda s: summary(s, here))
    text = [t(here.lang, "<b>Feeds</b>")]
    if found.feeds is None:
        text.append(t(here.lang, "All feeds."))
    elif found.feeds:
        text += [f"#{feed.id} {html(_title(feed))}" for feed in found.feeds]
    else:
        text.append(t(here.lang, "None: pick some with /feeds, or /subscribe all."))
    text += ["", t(here.lang, "<b>Keyword alerts</b>")]
    text += [html(words) for words in found.alerts] or [t(here.lang, "None (see /alert).")]
    text += ["", t(here.lang, "<b>Filters</b>")]
    text.append(html(" ".join(found.filters)) if found.filters else t(here.lang, "None."))
    text += ["", t(here.lang, "<b>Delivery</b>"), describe_delivery(here.lang, found.chat)]
    await reply(update, "\n".join(text))


# -- the bot's own membership ----------------------------------------------------------------

GONE = (ChatMember.BANNED, ChatMember.LEFT)
PRESENT = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)


async def membership_changed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Blocked, kicked or removed: stop sending there. Added to a group: register it and say
    how to start. A private chat comes back with /start (Telegram's "Restart" button)."""
    change = update.my_chat_member
    if change is None:
        return
    runtime, here = get_runtime(context), where(update)
    status = change.new_chat_member.status
    if status in GONE:
        await runtime.db(lambda s: chat_queries.set_active(s, here.chat_id, False))
        return
    if status not in PRESENT or here.chat_type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    await ensure_chat(runtime, here)
    if change.old_chat_member.status in GONE:  # newly added, not a promotion
        hello = t(here.lang, "Hello! Send /start to receive news briefs here, /help for more.")
        with contextlib.suppress(Forbidden, BadRequest):  # added, then muted: nothing to say
            await context.bot.send_message(here.chat_id, hello)


def handlers() -> list[BaseHandler]:
    # New messages only: an edited old command must not run (and answer) a second time.
    fresh = filters.UpdateType.MESSAGE
    return [
        CommandHandler("start", start_command, filters=fresh),
        CommandHandler("help", help_command, filters=fresh),
        CommandHandler("feeds", feeds_command, filters=fresh),
        CallbackQueryHandler(feeds_button, pattern=r"^feeds:"),
        CommandHandler("subscribe", subscribe_command, filters=fresh),
        CommandHandler("unsubscribe", unsubscribe_command, filters=fresh),
        CommandHandler("list", list_command, filters=fresh),
        ChatMemberHandler(membership_changed, ChatMemberHandler.MY_CHAT_MEMBER),
    ]
