"""Hostile users against the real Application and the local Bot API emulator.

- Every admin command, admin button and admin file handler is refused to a non-admin, one by
  one. The lists are read from the code (each module of ``bot.chat.app.MODULES``: its
  ADMIN_COMMANDS and every handler wrapped in ``admin_only``), so a new admin command or
  button without a refusal makes this file fail.
- Forged button data (another chat's alert, another admin's or a stale confirmation, garbage
  for every button prefix the bot registers) is answered and changes nothing.
- /search with 4,000 characters, FTS and tsquery syntax, SQL fragments, control characters:
  a normal answer, and the next search still works.
- One user sending 100 commands in a burst is answered a few, told once to slow down, and the
  rest dropped (bot/chat/throttle.py); another user is answered promptly meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.ext import MessageHandler as TelegramMessageHandler

from bot.chat import throttle
from bot.chat.app import MODULES
from bot.chat.common import admin_only
from bot.chat.runtime import CONFIRM_TTL
from storage import chats as chat_queries
from storage import outbox
from storage.models import Article, Chat, Feed, OutboxItem, Subscription, utcnow
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.botharness import (
    ADMIN,
    FORUM,
    GROUP,
    TOPIC,
    USER,
    BotHarness,
    bot_settings,
    running_bot,
    wait_for,
)
from tests.support.feedserver import FeedServer
from tests.support.seed import add_chat, add_feed, add_story

REFUSAL = "Sorry, this is for the bot's administrators only."
READER = 600_001  # a chat that would receive pushes and broadcasts
OTHER = 600_002  # another user, whose alert a forged button names
SECOND_ADMIN = 900_002
SLOW_DOWN = throttle.slow_down("en")


# --- what the code registers -----------------------------------------------------------------


async def _probe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    return None


# Every function admin_only returns runs this one code object: that is how a handler is known
# to be guarded without trusting its name or its docstring.
_GUARDED = admin_only(_probe).__code__


def _guarded(handler: BaseHandler[Any, Any, Any]) -> bool:
    return getattr(getattr(handler, "callback", None), "__code__", None) is _GUARDED


def _registered() -> list[BaseHandler[Any, Any, Any]]:
    return [handler for module in MODULES for handler in module.handlers()]


def _admin_commands() -> list[str]:
    return sorted(name for module in MODULES for name, _ in module.ADMIN_COMMANDS)


def _admin_button_patterns() -> list[str]:
    return sorted(
        str(handler.pattern.pattern)
        for handler in _registered()
        if isinstance(handler, CallbackQueryHandler)
        and _guarded(handler)
        and isinstance(handler.pattern, re.Pattern)
    )


def _button_prefixes() -> list[str]:
    """The literal prefix of every button pattern any module registers (``^alerts:`` → …)."""
    prefixes = []
    for handler in _registered():
        if isinstance(handler, CallbackQueryHandler) and isinstance(handler.pattern, re.Pattern):
            found = re.fullmatch(r"\^([a-z]+:)", handler.pattern.pattern)
            assert found, f"button pattern {handler.pattern.pattern!r}: add its forged cases"
            prefixes.append(found[1])
    return sorted(prefixes)


def test_the_admin_menu_and_the_admin_only_handlers_are_the_same_commands() -> None:
    handlers = _registered()
    guarded_commands = {
        name
        for handler in handlers
        if isinstance(handler, CommandHandler) and _guarded(handler)
        for name in handler.commands
    }
    user_commands = {name for module in MODULES for name, _ in module.COMMANDS}
    assert guarded_commands == set(_admin_commands())
    assert not guarded_commands & user_commands
    # Every guarded handler is of a kind the tests below know how to send as a non-admin.
    kinds = {type(h).__name__ for h in handlers if _guarded(h)}
    assert kinds <= {"CommandHandler", "CallbackQueryHandler", "MessageHandler"}, kinds
    files = [h for h in handlers if isinstance(h, TelegramMessageHandler) and _guarded(h)]
    assert len(files) == 1, "a new admin-only message handler needs its own refusal test"
    assert _admin_button_patterns()  # the Confirm buttons at least: the lists are read right


# --- admin commands, one by one ----------------------------------------------------------------


def _argument(name: str, feed_id: int, server: FeedServer) -> str:
    """A well-formed argument, so that a command that is not refused would really act."""
    return {
        "addfeed": server.url("/new-feed.xml"),
        "broadcast": "Everyone: <b>free</b> prizes",
    }.get(name, str(feed_id))


def _state(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        return {
            "feeds": sorted(session.exec(select(Feed.url)).all()),
            "articles": session.exec(select(func.count()).select_from(Article)).one(),
            "outbox": session.exec(select(func.count()).select_from(OutboxItem)).one(),
            "subscriptions": session.exec(select(func.count()).select_from(Subscription)).one(),
        }


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def _seed(engine: Engine) -> int:
    with Session(engine) as session:
        feed_id = add_feed(session, "world")
        stories = [
            add_story(session, feed_id, f"Harbour story {n}", f"Boats came back to harbour {n}.")
            for n in range(3)
        ]
        # Old news, as if stored before anyone subscribed: only an admin's /push can owe it.
        outbox.mark_announced(session, stories, utcnow())
        session.commit()
        add_chat(session, READER)
    return feed_id


@pytest.mark.parametrize("name", _admin_commands())
async def test_each_admin_command_is_refused_to_a_non_admin_everywhere_with_no_effect(
    bot: BotHarness, emu: BotAPIEmulator, engine: Engine, server: FeedServer, name: str
) -> None:
    feed_id = _seed(engine)
    before = _state(engine)
    places: list[tuple[int, dict[str, Any]]] = [
        (USER, {}),
        (GROUP, {"user_id": USER, "chat_type": "group"}),
        (FORUM, {"user_id": USER, "chat_type": "supergroup", "thread_id": TOPIC}),
    ]
    for chat, extra in places:
        for text in (f"/{name}", f"/{name} {_argument(name, feed_id, server)}"):
            answer = await bot.ask(chat, text, **extra)
            assert answer.plain_text == REFUSAL, (chat, text)
            assert answer.method == "sendMessage" and answer.reply_markup is None
            assert answer.message_thread_id == extra.get("thread_id")
    await asyncio.sleep(0.3)  # anything sent after the refusal would show up now
    assert [len(emu.sent_to(chat)) for chat, _ in places] == [2, 2, 2]
    assert emu.sent_to(READER) == []
    assert _state(engine) == before
    assert server.hits == {}
    assert bot.runtime.pending == {}
    assert emu.downloads == []


async def test_an_opml_file_from_a_non_admin_is_refused_and_never_downloaded(
    bot: BotHarness, emu: BotAPIEmulator, engine: Engine, server: FeedServer
) -> None:
    opml = (
        '<?xml version="1.0"?><opml version="2.0"><body>'
        f'<outline type="rss" xmlUrl="{server.url("/x.xml")}"/></body></opml>'
    ).encode()
    before = _state(engine)
    private = await bot.upload(USER, USER, "feeds.opml", opml, mime_type="text/x-opml")
    group = await bot.upload(GROUP, USER, "feeds.opml", opml, chat_type="group", caption="/import")
    assert private.plain_text == group.plain_text == REFUSAL
    assert emu.downloads == []
    assert _state(engine) == before


# --- admin buttons, one by one -----------------------------------------------------------------


def _buttons(messages: list[SentMessage]) -> list[str]:
    return [
        button["callback_data"]
        for message in messages
        for row in (message.reply_markup or {}).get("inline_keyboard", [])
        for button in row
        if "callback_data" in button
    ]


@pytest.mark.parametrize("pattern", _admin_button_patterns())
async def test_each_admin_button_is_refused_to_a_non_admin_and_still_works_for_the_admin(
    bot: BotHarness, engine: Engine, server: FeedServer, pattern: str
) -> None:
    feed_id = _seed(engine)
    group = {"user_id": ADMIN, "chat_type": "group"}
    # The admin runs every admin command in a group, where others can press its buttons.
    for name in _admin_commands():
        if name != "removefeed":
            await bot.ask(GROUP, f"/{name} {_argument(name, feed_id, server)}", **group)
    messages = bot.emu.sent_to(GROUP)
    offered = [data for data in _buttons(messages) if re.match(pattern, data)]
    assert offered, f"no admin command offered a {pattern} button: give it an argument above"
    prefix = pattern.removeprefix("^")
    message_id = messages[-1].message_id
    forged = [f"{prefix}ok:AAAAAAAA", f"{prefix}no:", f"{prefix}ok:{'A' * 56}", prefix]
    for data in [*offered, *forged]:
        answer = await bot.press(GROUP, data, message_id, user_id=USER)
        assert answer["text"] == REFUSAL and answer["show_alert"] is True, data
    assert _state(engine)["outbox"] == 0
    assert [m.edits for m in messages] == [0] * len(messages)
    # The refusals took nothing from the admin: the real Confirm still works for them.
    confirm = next(data for data in offered if ":ok:" in data)
    answer = await bot.press(GROUP, confirm, message_id, user_id=ADMIN)
    assert answer["text"] == "Queued."
    await wait_for(lambda: _state(engine)["outbox"] > 0)


async def test_a_confirm_of_another_admin_or_past_its_time_is_refused(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    _seed(engine)
    settings = bot_settings(emu, database_url, admin_ids=[ADMIN, SECOND_ADMIN])
    group = {"chat_type": "group"}
    async with running_bot(emu, settings, engine) as bot:
        preview = await bot.ask(GROUP, "/push", user_id=ADMIN, **group)
        confirm = _buttons([preview])[0]
        other_admin = await bot.press(GROUP, confirm, preview.message_id, user_id=SECOND_ADMIN)
        # The token is the first admin's and unused: age it past the confirmation window.
        token = confirm.rsplit(":", 1)[1]
        bot.runtime.pending[token].created -= CONFIRM_TTL + 1
        late = await bot.press(GROUP, confirm, preview.message_id, user_id=ADMIN)
    expired = "This preview has expired, send /push again."
    assert other_admin["text"] == late["text"] == expired
    assert preview.edits == 0
    assert _state(engine)["outbox"] == 0


# --- forged and garbage button data --------------------------------------------------------------


def _alerts(engine: Engine, chat_id: int) -> list[str]:
    with Session(engine) as session:
        return [row.keywords for row in chat_queries.alerts(session, chat_id, 0)]


def _garbage(prefix: str) -> list[str]:
    return [
        prefix,
        f"{prefix}-1",
        f"{prefix}rm:0",
        f"{prefix}sub:{'9' * 40}:0",
        f"{prefix}page:99999",
        f"{prefix}1:{'x' * 50}",
        f"{prefix}'; DROP TABLE chats; --",
        f"{prefix}\x00\x1b[31m",
        f"{prefix}ü😀",
        f"{prefix}../../etc/passwd",
    ]


async def test_forged_and_garbage_button_data_is_answered_and_changes_nothing(
    bot: BotHarness, emu: BotAPIEmulator, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    feed_id = _seed(engine)
    with Session(engine) as session:
        add_chat(session, OTHER, keywords="secret plan")
        [foreign] = chat_queries.alerts(session, OTHER, 0)
    await bot.ask(USER, f"/subscribe {feed_id}")
    await bot.ask(USER, "/alert mine")
    listed = await bot.ask(USER, "/alerts")
    before = {**_state(engine), "user": _alerts(engine, USER), "other": _alerts(engine, OTHER)}
    presses = [f"alerts:rm:{foreign.id}", "", "x", "A" * 64, "ok:push:x", "search:0:"]
    presses += [data for prefix in _button_prefixes() for data in _garbage(prefix)]
    caplog.set_level(logging.ERROR)
    for data in presses:
        await bot.press(USER, data, listed.message_id)  # returns once the press is answered
    assert {**_state(engine), "user": _alerts(engine, USER), "other": _alerts(engine, OTHER)} == {
        **before
    }
    with Session(engine) as session:
        chat = session.get(Chat, USER)
        assert chat is not None and chat.chosen_language is None
    assert listed.edits == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- /search with hostile text -----------------------------------------------------------------

HOSTILE_QUERIES = {
    "4000 letters": "x" * 4000,
    "800 words": "harbour " * 499 + "zebra " * 300,
    "fts5 syntax": 'NEAR(harbour boats, 2) title:harbour ^boats "unbalanced * {a b}: -',
    "tsquery syntax": "harbour & !boats | (a <-> b) :* 'x':A \\",
    "sql fragments": "') OR 1=1; DROP TABLE articles; -- %s $1 :name ?",
    "like wildcards": "%harbour_ _% [a-z] \\%",
    "control characters": "\x00harbour\x01\x07\x08\x1b[31m\x7f\u200b\u202e\ufeff\U000e0041",
    "only operators": "AND OR NOT - + * ( ) \" ' :",
    "operators around a word": "-boats OR OR harbour source: lang: since:",
}


@pytest.mark.parametrize("query", HOSTILE_QUERIES.values(), ids=HOSTILE_QUERIES.keys())
async def test_hostile_search_text_gets_a_normal_answer_and_search_still_works(
    bot: BotHarness, engine: Engine, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    _seed(engine)
    caplog.set_level(logging.ERROR)
    start = time.monotonic()
    answer = await bot.ask(USER, f"/search {query}")
    took = time.monotonic() - start
    after = await bot.ask(USER, "/search harbour")
    text = answer.plain_text or ""
    normal = ("Results for “", "Nothing found for “", "Usage: /search", "A search needs")
    assert text.startswith(normal), text[:200]
    assert len(text) < 1000  # the query is echoed shortened, never the whole 4,000 characters
    assert took < 5.0
    assert (after.plain_text or "").startswith("Results for “harbour”: 3 stories")
    assert _state(engine)["articles"] == 3
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- a flood of commands -----------------------------------------------------------------------

FLOOD = 100


async def _answered_within(bot: BotHarness, chat: int, text: str) -> float:
    start = time.monotonic()
    await bot.ask(chat, text)
    return time.monotonic() - start


async def test_a_flood_of_commands_is_throttled_politely_and_others_are_answered_promptly(
    bot: BotHarness, emu: BotAPIEmulator, engine: Engine
) -> None:
    _seed(engine)
    calm = await _answered_within(bot, OTHER, "/search harbour")  # the latency without a flood
    start = time.monotonic()
    for n in range(FLOOD):
        bot.say(USER, f"/search harbour {n % 3}")
    during = await _answered_within(bot, OTHER, "/search boats")
    await wait_for(lambda: emu.pending_updates() == 0)
    await asyncio.sleep(1.0)  # the flood's last answers, if any were to come
    flood_time = time.monotonic() - start
    replies = [m.plain_text or "" for m in emu.sent_to(USER)]
    notices = [text for text in replies if text == SLOW_DOWN]
    answered = [text for text in replies if text.startswith(("Results for", "Nothing found"))]
    print(f"calm {calm:.2f} s, during the flood {during:.2f} s; {len(answered)} answered")
    assert len(notices) == 1
    assert len(answered) + len(notices) == len(replies)
    # The burst, and one more a second while the flood lasted; everything else dropped.
    burst, rate = throttle.COMMAND_BURST, throttle.COMMAND_RATE
    assert burst <= len(answered) <= burst + rate * flood_time + 1
    assert during < max(1.0, 3 * calm)
    # The flooder is served again once their allowance refills; the other user never waited.
    await asyncio.sleep(1.0 / rate)
    again = await bot.ask(USER, "/search harbour")
    assert (again.plain_text or "").startswith("Results for “harbour”")
    assert [m.plain_text for m in emu.sent_to(OTHER)][1].startswith("Results for “boats”")


async def test_a_flood_of_button_presses_is_answered_every_time_with_one_notice(
    bot: BotHarness, emu: BotAPIEmulator, engine: Engine
) -> None:
    _seed(engine)
    listed = await bot.ask(USER, "/alerts")
    for _ in range(FLOOD):
        emu.push_callback(USER, "alerts:rm:999", listed.message_id)
    await wait_for(lambda: len(emu.answered_callbacks) >= FLOOD)
    texts = [a.get("text") for a in emu.answered_callbacks]
    assert texts.count(SLOW_DOWN) == 1
    assert texts.count("Alert not found.") >= throttle.BUTTON_BURST
    assert len(texts) == FLOOD  # every press answered: no client left spinning


async def test_admins_are_not_throttled(bot: BotHarness, emu: BotAPIEmulator) -> None:
    for _ in range(20):
        bot.say(ADMIN, "/feedstatus")
    await wait_for(lambda: len(emu.sent_to(ADMIN)) >= 20)
    assert SLOW_DOWN not in [m.plain_text for m in emu.sent_to(ADMIN)]


async def test_the_slow_down_notice_is_in_the_users_language(
    bot: BotHarness, emu: BotAPIEmulator
) -> None:
    for _ in range(20):
        bot.say(USER, "/help", language_code="fr")
    await wait_for(lambda: emu.pending_updates() == 0)
    await asyncio.sleep(0.5)
    texts = [m.plain_text for m in emu.sent_to(USER)]
    assert texts.count(throttle.slow_down("fr")) == 1
    assert throttle.slow_down("fr") != SLOW_DOWN


def test_the_bucket_refills_at_its_rate_and_idle_users_are_forgotten() -> None:
    now = [0.0]
    state = throttle.Throttle(clock=lambda: now[0])
    burst = int(throttle.COMMAND_BURST)
    assert [state.allow(1, button=False) for _ in range(burst + 1)] == [True] * burst + [False]
    assert state.allow(2, button=False)  # another user has their own allowance
    now[0] += 1.0 / throttle.COMMAND_RATE
    assert state.allow(1, button=False) and not state.allow(1, button=False)
    assert state.should_notify(1) and not state.should_notify(1)
    now[0] += throttle.NOTICE_EVERY
    assert state.should_notify(1)
    now[0] += 3600
    for user in range(throttle.MAX_TRACKED + 5):
        state.allow(user + 10, button=False)
    assert len(state.commands) <= throttle.MAX_TRACKED + 5
    assert 1 not in state.commands  # idle for an hour: forgotten, not kept forever


async def test_a_burst_of_the_same_commands_from_a_new_chat_is_answered_without_errors(
    bot: BotHarness, emu: BotAPIEmulator, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # All at once from chats the bot has never seen (a double tap, a menu tapped through):
    # concurrent handlers each find no row and insert one. Before the fixes, all but one
    # /start failed with an IntegrityError on the chat row, a second "all feeds" row outlived
    # /unsubscribe, and a double /subscribe or ➕ press failed and left its button spinning.
    feed_id = _seed(engine)
    caplog.set_level(logging.ERROR)
    burst = ["/start", "/start", "/help", "/list", "/alerts", "/filter", "/latest"]
    assert len(burst) < throttle.COMMAND_BURST  # and one more, /unsubscribe, below
    for text in burst:
        bot.say(USER, text)
    twice = [f"/subscribe {feed_id}", f"/subscribe {feed_id}"]
    for text in twice:
        bot.say(OTHER, text)
    await wait_for(lambda: len(emu.sent_to(USER)) == len(burst))
    await wait_for(lambda: len(emu.sent_to(OTHER)) == len(twice))
    catalogue = await bot.ask(OTHER, "/feeds")
    presses = [emu.push_callback(OTHER, f"feeds:sub:{feed_id}:0", catalogue.message_id)]
    presses.append(emu.push_callback(OTHER, f"feeds:sub:{feed_id}:0", catalogue.message_id))
    ids = {p["callback_query"]["id"] for p in presses}
    await wait_for(lambda: ids <= {a["callback_query_id"] for a in emu.answered_callbacks})
    stopped = await bot.ask(USER, f"/unsubscribe {feed_id}")
    await asyncio.sleep(0.3)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len(emu.sent_to(USER)) == len(burst) + 1 and len(emu.sent_to(OTHER)) == 3
    assert stopped.plain_text == f"Unsubscribed from #{feed_id} World."
    with Session(engine) as session:
        assert session.get(Chat, USER) is not None
        mine = chat_queries.subscriptions(session, USER)
        others = chat_queries.subscriptions(session, OTHER)
    assert [(s.feed_id, s.keywords) for s in mine] == []  # the only feed, stopped: nothing
    assert [(s.feed_id, s.keywords) for s in others] == [(feed_id, "")]
