"""A reader's commands end to end: the real Application, over HTTP, against the Bot API emulator,
in a private chat, a group and a forum topic, with the subscriptions checked in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.chat import user
from bot.chat.app import MODULES
from storage import chats as chat_queries
from storage import feeds as feed_queries
from storage.models import Chat, Feed
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.botharness import (
    ADMIN,
    FORUM,
    GROUP,
    TOPIC,
    USER,
    BotHarness,
    wait_for,
)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a user talks to the bot: the chat, its forum topic (0: none) and how to say it."""

    name: str
    chat_id: int
    topic_id: int
    how: dict[str, Any] = field(default_factory=dict)

    async def ask(self, bot: BotHarness, text: str, **kwargs: Any) -> SentMessage:
        return await bot.ask(self.chat_id, text, **self.how, **kwargs)

    async def press(self, bot: BotHarness, data: str, message_id: int) -> dict[str, Any]:
        return await bot.press(self.chat_id, data, message_id, user_id=USER)

    async def press_and_see(
        self, bot: BotHarness, data: str, message: SentMessage
    ) -> dict[str, Any]:
        """Press a button of ``message`` and wait until the bot has edited it (it answers the
        press first, so the spinner stops at once, then edits)."""
        edits = message.edits
        answer = await self.press(bot, data, message.message_id)
        await wait_for(lambda: message.edits > edits)
        return answer


PRIVATE = Place("private", USER, 0)
IN_GROUP = Place("group", GROUP, 0, {"user_id": USER, "chat_type": "group"})
IN_TOPIC = Place(
    "topic", FORUM, TOPIC, {"user_id": USER, "chat_type": "supergroup", "thread_id": TOPIC}
)
PLACES = [pytest.param(p, id=p.name) for p in (PRIVATE, IN_GROUP, IN_TOPIC)]


def add_feeds(engine: Engine, count: int, *, enabled: bool = True) -> list[int]:
    ids = []
    with Session(engine) as session:
        start = feed_queries.count_feeds(session)
        for n in range(start + 1, start + count + 1):
            feed = feed_queries.add_feed(
                session, f"https://news{n}.example/feed", f"news{n}.example/feed", title=f"News {n}"
            )
            if not enabled:
                feed.enabled = False
                session.add(feed)
                session.commit()
            assert feed.id is not None
            ids.append(feed.id)
    return ids


def feed_subs(engine: Engine, place: Place) -> set[int | None]:
    """This place's feed subscriptions (None: all feeds); keyword alerts left out."""
    with Session(engine) as session:
        rows = chat_queries.subscriptions(session, place.chat_id, place.topic_id)
        return {row.feed_id for row in rows if not row.keywords}


def chat_row(engine: Engine, chat_id: int) -> Chat | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Chat, chat_id)


def buttons(message: SentMessage) -> list[tuple[str, str]]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


def assert_in_place(message: SentMessage, place: Place) -> None:
    assert message.message_thread_id == (place.topic_id or None)


# -- /start ----------------------------------------------------------------------------------


@pytest.mark.parametrize("place", PLACES)
async def test_start_subscribes_the_chat_to_all_feeds_and_explains_how_to_change_it(
    bot: BotHarness, engine: Engine, place: Place
) -> None:
    answer = await place.ask(bot, "/start")
    assert_in_place(answer, place)
    assert answer.plain_text is not None
    assert "all feeds" in answer.plain_text
    for command in ("/feeds", "/alert", "/mode", "/help"):
        assert command in answer.plain_text
    assert feed_subs(engine, place) == {None}
    chat = chat_row(engine, place.chat_id)
    assert chat is not None and chat.active
    assert chat.type == {"private": "private", "group": "group", "topic": "supergroup"}[place.name]

    again = await place.ask(bot, "/start")
    assert again.plain_text and "all feeds" in again.plain_text
    with Session(engine) as session:
        rows = chat_queries.subscriptions(session, place.chat_id, place.topic_id)
        assert len(rows) == 1


async def test_start_in_a_forum_topic_leaves_the_rest_of_the_forum_alone(
    bot: BotHarness, engine: Engine
) -> None:
    await IN_TOPIC.ask(bot, "/start")
    assert feed_subs(engine, IN_TOPIC) == {None}
    assert feed_subs(engine, Place("general", FORUM, 0)) == set()


async def test_repeating_start_keeps_the_feeds_a_chat_chose(
    bot: BotHarness, engine: Engine
) -> None:
    first, _ = add_feeds(engine, 2)
    await PRIVATE.ask(bot, f"/subscribe {first}")
    answer = await PRIVATE.ask(bot, "/start")
    assert answer.plain_text and "/list" in answer.plain_text
    assert feed_subs(engine, PRIVATE) == {first}


# -- /help -----------------------------------------------------------------------------------


async def test_help_lists_every_user_command_and_admin_commands_to_admins_only(
    bot: BotHarness,
) -> None:
    users = [name for module in MODULES for name, _ in module.COMMANDS]
    admins = [name for module in MODULES for name, _ in module.ADMIN_COMMANDS]
    assert {"start", "feeds", "subscribe", "list"} <= set(users)
    assert {"push", "broadcast", "addfeed", "removefeed", "feedstatus", "stats"} <= set(admins)

    for place in (PRIVATE, IN_GROUP, IN_TOPIC):
        answer = await place.ask(bot, "/help")
        assert_in_place(answer, place)
        assert answer.plain_text is not None
        lines = answer.plain_text.splitlines()
        for name in users:
            assert any(line.startswith(f"/{name}: ") for line in lines), name
        assert "Admin commands" not in answer.plain_text
        assert not any(line.startswith(f"/{name}:") for name in admins for line in lines)

    admin_help = (await bot.ask(ADMIN, "/help")).plain_text
    assert admin_help is not None
    for name in admins:
        assert f"/{name}: " in admin_help
    assert "Admin commands" in admin_help


# -- /feeds and its buttons ------------------------------------------------------------------


async def test_feeds_without_any_feed_says_so(bot: BotHarness) -> None:
    answer = await PRIVATE.ask(bot, "/feeds")
    assert answer.plain_text and "No feeds yet" in answer.plain_text
    assert not buttons(answer)


@pytest.mark.parametrize("place", PLACES)
async def test_feed_buttons_change_the_subscription_and_the_message_in_place(
    bot: BotHarness, engine: Engine, place: Place
) -> None:
    ids = add_feeds(engine, 10)
    await place.ask(bot, "/start")
    catalogue = await place.ask(bot, "/feeds")
    assert_in_place(catalogue, place)
    assert catalogue.plain_text is not None
    for feed_id in ids[:8]:
        assert f"#{feed_id} News {feed_id}" in catalogue.plain_text
    assert f"#{ids[8]} " not in catalogue.plain_text
    labels = buttons(catalogue)
    # On "all feeds", every feed shows as followed.
    assert labels[:8] == [(f"✅ News {i}", f"feeds:unsub:{i}:0") for i in ids[:8]]
    assert labels[8:] == [("▶", "feeds:page:1")]

    answer = await place.press_and_see(bot, f"feeds:unsub:{ids[1]}:0", catalogue)
    assert "Unsubscribed" in answer["text"]
    assert feed_subs(engine, place) == set(ids) - {ids[1]}
    assert buttons(catalogue)[1] == (f"➕ News {ids[1]}", f"feeds:sub:{ids[1]}:0")
    assert buttons(catalogue)[0] == (f"✅ News {ids[0]}", f"feeds:unsub:{ids[0]}:0")

    answer = await place.press_and_see(bot, f"feeds:sub:{ids[1]}:0", catalogue)
    assert "Subscribed" in answer["text"]
    assert feed_subs(engine, place) == set(ids)
    assert buttons(catalogue)[1] == (f"✅ News {ids[1]}", f"feeds:unsub:{ids[1]}:0")

    await place.press_and_see(bot, "feeds:page:1", catalogue)
    assert catalogue.plain_text is not None and "page 2 of 2" in catalogue.plain_text
    assert [label for label, _ in buttons(catalogue)] == [
        f"✅ News {ids[8]}",
        f"✅ News {ids[9]}",
        "◀",
    ]
    await place.press_and_see(bot, f"feeds:unsub:{ids[9]}:1", catalogue)
    assert buttons(catalogue)[1] == (f"➕ News {ids[9]}", f"feeds:sub:{ids[9]}:1")
    assert feed_subs(engine, place) == set(ids) - {ids[9]}


async def test_feeds_shows_disabled_feeds_to_nobody(bot: BotHarness, engine: Engine) -> None:
    (shown,) = add_feeds(engine, 1)
    (hidden,) = add_feeds(engine, 1, enabled=False)
    catalogue = await PRIVATE.ask(bot, "/feeds")
    assert catalogue.plain_text and f"#{shown} " in catalogue.plain_text
    assert f"#{hidden} " not in catalogue.plain_text
    answer = await PRIVATE.press(bot, f"feeds:sub:{hidden}:0", catalogue.message_id)
    assert f"no feed #{hidden}" in answer["text"]
    assert feed_subs(engine, PRIVATE) == set()


async def test_forged_or_garbage_button_data_is_answered_and_changes_nothing(
    bot: BotHarness, engine: Engine
) -> None:
    (feed_id,) = add_feeds(engine, 1)
    await PRIVATE.ask(bot, f"/subscribe {feed_id}")
    catalogue = await PRIVATE.ask(bot, "/feeds")
    before = buttons(catalogue)
    assert before == [(f"✅ News {feed_id}", f"feeds:unsub:{feed_id}:0")]
    for data in (
        "feeds:sub:999999:0",
        "feeds:unsub:999999:0",
        "feeds:sub:99999999999999999999:0",
        "feeds:sub:abc:0",
        "feeds:delete:1:0",
        "feeds:",
        "feeds:page:-1",
    ):
        answer = await PRIVATE.press(bot, data, catalogue.message_id)
        assert answer.get("text"), data
    assert feed_subs(engine, PRIVATE) == {feed_id}
    # A page past the end (the catalogue shrank since) shows the last page: no change here.
    await PRIVATE.press(bot, "feeds:page:9", catalogue.message_id)
    # A real press after all of them is the first and only edit.
    await PRIVATE.press_and_see(bot, f"feeds:unsub:{feed_id}:0", catalogue)
    assert catalogue.edits == 1
    assert buttons(catalogue) == [(f"➕ News {feed_id}", f"feeds:sub:{feed_id}:0")]
    assert feed_subs(engine, PRIVATE) == set()


async def test_a_button_pressed_in_another_chat_changes_that_chat_only(
    bot: BotHarness, engine: Engine
) -> None:
    (feed_id,) = add_feeds(engine, 1)
    catalogue = await PRIVATE.ask(bot, "/feeds")
    await IN_GROUP.press(bot, f"feeds:sub:{feed_id}:0", catalogue.message_id)
    assert feed_subs(engine, IN_GROUP) == {feed_id}
    assert feed_subs(engine, PRIVATE) == set()


# -- /subscribe, /unsubscribe ----------------------------------------------------------------


@pytest.mark.parametrize("place", PLACES)
async def test_subscribe_and_unsubscribe_by_id_and_all(
    bot: BotHarness, engine: Engine, place: Place
) -> None:
    first, second, third = add_feeds(engine, 3)
    answer = await place.ask(bot, f"/subscribe {first}")
    assert_in_place(answer, place)
    assert answer.plain_text == f"Subscribed to #{first} News {first}."
    answer = await place.ask(bot, f"/subscribe #{second}")
    assert answer.plain_text and "Subscribed" in answer.plain_text
    answer = await place.ask(bot, f"/subscribe {first}")
    assert answer.plain_text and "Already subscribed" in answer.plain_text
    assert feed_subs(engine, place) == {first, second}

    answer = await place.ask(bot, f"/unsubscribe {first}")
    assert answer.plain_text == f"Unsubscribed from #{first} News {first}."
    answer = await place.ask(bot, f"/unsubscribe {third}")
    assert answer.plain_text and "not subscribed" in answer.plain_text
    assert feed_subs(engine, place) == {second}

    answer = await place.ask(bot, "/subscribe all")
    assert answer.plain_text and "all feeds" in answer.plain_text
    assert feed_subs(engine, place) == {None}  # the per-feed rows went with it
    # Leaving one feed of "all" keeps the others.
    await place.ask(bot, f"/unsubscribe {second}")
    assert feed_subs(engine, place) == {first, third}


async def test_unsubscribe_all_keeps_keyword_alerts(bot: BotHarness, engine: Engine) -> None:
    add_feeds(engine, 2)
    await IN_TOPIC.ask(bot, "/start")
    with Session(engine) as session:
        chat_queries.subscribe(session, FORUM, TOPIC, keywords="climate")
        session.commit()
    answer = await IN_TOPIC.ask(bot, "/unsubscribe all")
    assert_in_place(answer, IN_TOPIC)
    assert answer.plain_text and "no longer receives" in answer.plain_text
    assert feed_subs(engine, IN_TOPIC) == set()
    with Session(engine) as session:
        alerts = chat_queries.alerts(session, FORUM, TOPIC)
        assert [a.keywords for a in alerts] == ["climate"]
    answer = await IN_TOPIC.ask(bot, "/unsubscribe all")
    assert answer.plain_text and "was not subscribed" in answer.plain_text


async def test_subscribe_with_a_bad_or_unknown_id_explains_the_usage(
    bot: BotHarness, engine: Engine
) -> None:
    (feed_id,) = add_feeds(engine, 1)
    for text in ("/subscribe", "/subscribe news", "/subscribe 99999999999999", "/subscribe 1 2"):
        answer = await PRIVATE.ask(bot, text)
        assert answer.plain_text and "Usage: /subscribe" in answer.plain_text, text
    answer = await PRIVATE.ask(bot, "/unsubscribe")
    assert answer.plain_text and "Usage: /unsubscribe" in answer.plain_text
    answer = await PRIVATE.ask(bot, "/subscribe 999999")
    assert answer.plain_text == "There is no feed #999999. See /feeds for the list."
    answer = await PRIVATE.ask(bot, "/unsubscribe 999999")
    assert answer.plain_text and "no feed #999999" in answer.plain_text
    assert feed_subs(engine, PRIVATE) == set()
    assert feed_id != 999999


async def test_feed_titles_are_escaped_in_replies(bot: BotHarness, engine: Engine) -> None:
    with Session(engine) as session:
        feed = feed_queries.add_feed(session, "https://x.example/f", "x.example/f", title="A<b>&c")
    answer = await PRIVATE.ask(bot, f"/subscribe {feed.id}")
    assert answer.plain_text == f"Subscribed to #{feed.id} A<b>&c."
    listing = await PRIVATE.ask(bot, "/list")
    assert listing.plain_text and f"#{feed.id} A<b>&c" in listing.plain_text


# -- /list -----------------------------------------------------------------------------------


async def test_list_shows_feeds_alerts_filters_and_delivery(
    bot: BotHarness, engine: Engine
) -> None:
    first, second = add_feeds(engine, 2)
    answer = await PRIVATE.ask(bot, "/list")
    assert answer.plain_text is not None
    assert "None: pick some with /feeds" in answer.plain_text
    assert "Instant" in answer.plain_text

    await PRIVATE.ask(bot, "/start")
    with Session(engine) as session:
        chat_queries.subscribe(session, USER, 0, keywords="solar power")
        chat_queries.set_filter(session, USER, "sport", required=False)
        chat_queries.set_filter(session, USER, "europe", required=True)
        chat = session.get(Chat, USER)
        assert chat is not None
        chat.mode, chat.digest_times, chat.timezone = "digest", "08:00,18:00", "Europe/Paris"
        session.add(chat)
        session.commit()
    answer = await PRIVATE.ask(bot, "/list")
    text = answer.plain_text
    assert text is not None
    assert "All feeds." in text
    assert "solar power" in text
    assert "-sport +europe" in text
    assert "A digest at 08:00, 18:00 (Europe/Paris time)." in text

    await PRIVATE.ask(bot, f"/unsubscribe {first}")
    text = (await PRIVATE.ask(bot, "/list")).plain_text
    assert text is not None and "All feeds." not in text
    assert f"#{second} News {second}" in text and f"#{first} " not in text


async def test_list_in_a_forum_topic_shows_that_topic_s_subscriptions(
    bot: BotHarness, engine: Engine
) -> None:
    (feed_id,) = add_feeds(engine, 1)
    await IN_TOPIC.ask(bot, f"/subscribe {feed_id}")
    in_topic = await IN_TOPIC.ask(bot, "/list")
    assert_in_place(in_topic, IN_TOPIC)
    assert in_topic.plain_text and f"#{feed_id} News {feed_id}" in in_topic.plain_text
    general = await bot.ask(FORUM, "/list", user_id=USER, chat_type="supergroup")
    assert general.message_thread_id is None
    assert general.plain_text and "None: pick some" in general.plain_text


# -- languages, membership -------------------------------------------------------------------


async def test_a_french_speaking_user_gets_answers(bot: BotHarness, engine: Engine) -> None:
    add_feeds(engine, 1)
    for text in ("/start", "/help", "/feeds", "/list", "/subscribe"):
        answer = await PRIVATE.ask(bot, text, language_code="fr")
        assert answer.plain_text, text
    assert feed_subs(engine, PRIVATE) == {None}


async def test_blocking_the_bot_marks_the_chat_inactive_and_start_reactivates_it(
    bot: BotHarness, engine: Engine, emu: BotAPIEmulator
) -> None:
    await PRIVATE.ask(bot, "/start")
    emu.push_my_chat_member(USER, "kicked")
    await wait_for(lambda: not getattr(chat_row(engine, USER), "active", True))
    emu.push_my_chat_member(USER, "member")  # unblocked: Telegram's "Restart" sends /start
    answer = await PRIVATE.ask(bot, "/start")
    assert answer.plain_text
    chat = chat_row(engine, USER)
    assert chat is not None and chat.active
    assert feed_subs(engine, PRIVATE) == {None}


async def test_being_added_to_a_group_registers_it_and_removal_deactivates_it(
    bot: BotHarness, engine: Engine, emu: BotAPIEmulator
) -> None:
    emu.push_my_chat_member(GROUP, "member", user_id=USER, chat_type="group")
    (hello,) = await bot.next_messages(GROUP, 0)
    assert hello.plain_text and "/start" in hello.plain_text
    chat = chat_row(engine, GROUP)
    assert chat is not None and chat.active and chat.type == "group"
    assert feed_subs(engine, IN_GROUP) == set()  # nothing is sent until someone asks

    emu.push_my_chat_member(GROUP, "left", user_id=USER, chat_type="group")
    await wait_for(lambda: not getattr(chat_row(engine, GROUP), "active", True))
    assert len(emu.sent_to(GROUP)) == 1


def test_every_button_fits_telegram_s_callback_data_limit() -> None:
    feed = Feed(id=999_999_999, url="https://x.example", url_key="x.example", title="T" * 300)
    cat = user.Catalogue([feed], 9999, 10_000, set())
    _text, markup = user.render_catalogue("en", cat)
    assert markup is not None
    for row in markup.inline_keyboard:
        for button in row:
            assert len(str(button.callback_data).encode()) <= 64
            assert len(button.text) <= user.LABEL_LENGTH + 2


def test_subscriptions_of_another_chat_are_not_counted(engine: Engine) -> None:
    (feed_id,) = add_feeds(engine, 1)
    with Session(engine) as session:
        chat_queries.subscribe(session, GROUP, 0, feed_id=feed_id)
        session.commit()
        assert user.subscribed_feeds(session, USER, 0) == set()
        assert user.subscribed_feeds(session, GROUP, 0) == {feed_id}
