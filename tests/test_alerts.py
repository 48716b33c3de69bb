"""/alert, /alerts and /filter through the real Application and the Bot API emulator."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.chat.alerts import MAX_ALERTS, MAX_FILTERS
from storage import chats as chat_queries
from storage.models import Subscription
from tests.support.botapi import BotAPIEmulator, SentMessage
from tests.support.botharness import (
    FORUM,
    GROUP,
    TOPIC,
    USER,
    BotHarness,
    bot_settings,
    running_bot,
    wait_for,
)

OTHER_CHAT = 555_001


def alerts_in(engine: Engine, chat_id: int, topic_id: int = 0) -> list[Subscription]:
    with Session(engine) as session:
        return list(chat_queries.alerts(session, chat_id, topic_id))


def keywords_in(engine: Engine, chat_id: int, topic_id: int = 0) -> list[str]:
    return [row.keywords for row in alerts_in(engine, chat_id, topic_id)]


def filters_in(engine: Engine, chat_id: int) -> dict[str, bool]:
    with Session(engine) as session:
        return {row.word: row.required for row in chat_queries.filters(session, chat_id)}


def buttons(message: SentMessage) -> list[tuple[str, str]]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


async def group_ask(bot: BotHarness, text: str) -> SentMessage:
    return await bot.ask(GROUP, text, user_id=USER, chat_type="group")


async def topic_ask(bot: BotHarness, text: str) -> SentMessage:
    return await bot.ask(FORUM, text, user_id=USER, chat_type="supergroup", thread_id=TOPIC)


# -- /alert ---------------------------------------------------------------------------------


async def test_alert_in_a_private_chat_stores_the_folded_words_and_confirms_them(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, "/alert Élection, EUROPE!")
    assert "Alert added" in (answer.plain_text or "")
    assert "election europe" in (answer.plain_text or "")
    assert answer.message_thread_id is None
    [row] = alerts_in(engine, USER)
    assert (row.keywords, row.topic_id, row.feed_id) == ("election europe", 0, None)
    with Session(engine) as session:
        assert chat_queries.get_chat(session, USER) is not None  # the fan-out joins on chats


async def test_the_same_alert_twice_in_any_order_says_it_exists(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        await bot.ask(USER, "/alert election europe")
        again = await bot.ask(USER, "/alert Europe ÉLECTION")
    assert "already have an alert" in (again.plain_text or "")
    assert keywords_in(engine, USER) == ["election europe"]


@pytest.mark.parametrize("command", ["/alert", "/alert   ", "/alert !!! -- ...", "/alert 🙂"])
async def test_alert_without_words_replies_with_usage_and_stores_nothing(
    emu: BotAPIEmulator, engine: Engine, database_url: str, command: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, command)
    assert "Usage: /alert WORDS" in (answer.plain_text or "")
    assert keywords_in(engine, USER) == []


async def test_a_chat_topic_can_have_at_most_twenty_alerts(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    with Session(engine) as session:
        chat_queries.register_chat(session, chat_queries.ChatInfo(USER))
        for n in range(MAX_ALERTS):
            chat_queries.subscribe(session, USER, keywords=f"word{n}")
        session.commit()
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        refused = await bot.ask(USER, "/alert one more")
        duplicate = await bot.ask(USER, "/alert word3")
        in_topic = await topic_ask(bot, "/alert one more")
    assert f"already have {MAX_ALERTS} alerts" in (refused.plain_text or "")
    assert "already have an alert for word3" in (duplicate.plain_text or "")
    assert len(alerts_in(engine, USER)) == MAX_ALERTS
    assert "Alert added" in (in_topic.plain_text or "")  # the limit is per chat topic


async def test_alert_in_a_group_belongs_to_the_group(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await group_ask(bot, "/alert@newsbrief_test_bot climate summit")
        listed = await group_ask(bot, "/alerts")
    assert "climate summit" in (answer.plain_text or "")
    assert keywords_in(engine, GROUP) == ["climate summit"]
    assert keywords_in(engine, USER) == []
    assert "climate summit" in (listed.plain_text or "")


async def test_alert_in_a_forum_topic_is_stored_and_answered_in_that_topic(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await topic_ask(bot, "/alert Wahl München")
        listed = await topic_ask(bot, "/alerts")
        general = await bot.ask(FORUM, "/alerts", user_id=USER, chat_type="supergroup")
    assert answer.message_thread_id == TOPIC
    assert "wahl munchen" in (answer.plain_text or "")
    assert keywords_in(engine, FORUM, TOPIC) == ["wahl munchen"]
    assert keywords_in(engine, FORUM, 0) == []
    assert listed.message_thread_id == TOPIC and "wahl munchen" in (listed.plain_text or "")
    assert "no keyword alerts" in (general.plain_text or "")


async def test_html_characters_in_alert_input_are_escaped_or_dropped(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, "/alert <b>& AT&T <i>")
        listed = await bot.ask(USER, "/alerts")
    # Markup is punctuation to parse_words; what is left is shown as plain words.
    assert "Alert added: b at t i." in (answer.plain_text or "")
    assert keywords_in(engine, USER) == ["b at t i"]
    assert "1. b at t i" in (listed.plain_text or "")


async def test_a_4000_character_alert_keeps_ten_words_and_says_so(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    words = " ".join(f"w{n:03d}x" for n in range(700))[:3990]
    huge = "z" * 3990
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, f"/alert {words}")
        single = await bot.ask(USER, f"/alert {huge}")
        listed = await bot.ask(USER, "/alerts")
    assert "Only the first 10 words were kept" in (answer.plain_text or "")
    first, second = keywords_in(engine, USER)
    assert first == " ".join(f"w{n:03d}x" for n in range(10))
    assert second == "z" * 64
    assert "Only the first" not in (single.plain_text or "")
    assert all(len(data.encode()) <= 64 for _, data in buttons(listed))
    assert all(len(text) <= 48 for text, _ in buttons(listed))


# -- /alerts and its buttons ----------------------------------------------------------------


async def test_alerts_without_any_says_how_to_add_one(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, "/alerts")
    assert "You have no keyword alerts here. Add one with /alert WORDS" in (answer.plain_text or "")
    assert buttons(answer) == []


async def test_remove_button_deletes_the_alert_and_updates_the_list_in_place(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        await bot.ask(USER, "/alert election europe")
        await bot.ask(USER, "/alert climate")
        listed = await bot.ask(USER, "/alerts")
        first, second = alerts_in(engine, USER)
        assert [data for _, data in buttons(listed)] == [
            f"alerts:rm:{first.id}",
            f"alerts:rm:{second.id}",
        ]
        answer = await bot.press(USER, f"alerts:rm:{first.id}", listed.message_id)
        await wait_for(lambda: emu.sent_to(USER)[-1].edits == 1)
        edited = emu.sent_to(USER)[-1]
        assert edited.message_id == listed.message_id
        assert "election europe" not in (edited.plain_text or "")
        assert [data for _, data in buttons(edited)] == [f"alerts:rm:{second.id}"]
        last = await bot.press(USER, f"alerts:rm:{second.id}", listed.message_id)
        await wait_for(lambda: emu.sent_to(USER)[-1].edits == 2)
        emptied = emu.sent_to(USER)[-1]
    assert answer.get("text") == "Alert removed." and last.get("text") == "Alert removed."
    assert keywords_in(engine, USER) == []
    assert "no keyword alerts" in (emptied.plain_text or "") and buttons(emptied) == []


async def test_remove_button_in_a_forum_topic_removes_that_topics_alert(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        await topic_ask(bot, "/alert wahl")
        listed = await topic_ask(bot, "/alerts")
        [(_, data)] = buttons(listed)
        answer = await bot.press(FORUM, data, listed.message_id, user_id=USER)
        await wait_for(lambda: emu.sent_to(FORUM)[-1].edits == 1)
    assert answer.get("text") == "Alert removed."
    assert keywords_in(engine, FORUM, TOPIC) == []


async def test_a_forged_remove_of_another_chats_alert_is_refused_without_effect(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    with Session(engine) as session:
        chat_queries.register_chat(session, chat_queries.ChatInfo(OTHER_CHAT))
        chat_queries.subscribe(session, OTHER_CHAT, keywords="secret plan")
        chat_queries.subscribe(session, USER, topic_id=0, keywords="")  # a feed subscription
        session.commit()
    [foreign] = alerts_in(engine, OTHER_CHAT)
    with Session(engine) as session:
        [everything] = chat_queries.subscriptions(session, USER)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        await bot.ask(USER, "/alert mine")
        listed = await bot.ask(USER, "/alerts")
        refused = await bot.press(USER, f"alerts:rm:{foreign.id}", listed.message_id)
        # The chat's own "all feeds" subscription is not an alert: the alert button leaves it.
        not_alert = await bot.press(USER, f"alerts:rm:{everything.id}", listed.message_id)
    assert refused.get("text") == "Alert not found."
    assert not_alert.get("text") == "Alert not found."
    assert keywords_in(engine, OTHER_CHAT) == ["secret plan"]
    assert keywords_in(engine, USER) == ["mine"]
    with Session(engine) as session:
        assert chat_queries.subscribed_to_all(session, USER)
    assert emu.sent_to(USER)[-1].edits == 0


@pytest.mark.parametrize(
    "data",
    [
        "alerts:rm:",
        "alerts:rm:abc",
        "alerts:rm:-1",
        "alerts:rm:0",
        "alerts:rm:" + "9" * 30,
        "alerts:rm:99999999999",
        "alerts:rm:1 ",
        "alerts:",
        "alerts:nope:1",
    ],
)
async def test_garbage_button_data_is_answered_and_changes_nothing(
    emu: BotAPIEmulator, engine: Engine, database_url: str, data: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        await bot.ask(USER, "/alert mine")
        listed = await bot.ask(USER, "/alerts")
        answer = await bot.press(USER, data, listed.message_id)
    assert answer.get("text") == "Alert not found."
    assert keywords_in(engine, USER) == ["mine"]


# -- /filter --------------------------------------------------------------------------------


async def test_filter_without_arguments_lists_filters_and_explains_usage(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        empty = await bot.ask(USER, "/filter")
        await bot.ask(USER, "/filter -sport +europe")
        listed = await bot.ask(USER, "/filter")
    assert "This chat has no filters" in (empty.plain_text or "")
    assert "/filter -WORD" in (empty.plain_text or "")
    text = listed.plain_text or ""
    assert "➕ must contain: europe" in text and "➖ must not contain: sport" in text
    assert "/filter clear" in text


async def test_filter_plus_and_minus_words_are_folded_and_stored_for_the_chat(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, "/filter -Sport +Élection —football +Köln-Bonn")
        flipped = await bot.ask(USER, "/filter +sport")
    assert "Filters updated" in (answer.plain_text or "")
    assert "must contain: election, koln, bonn" in (answer.plain_text or "")
    assert filters_in(engine, USER) == {
        "sport": True,
        "election": True,
        "football": False,
        "koln": True,
        "bonn": True,
    }
    assert "must not contain: football" in (flipped.plain_text or "")


@pytest.mark.parametrize(
    "command", ["/filter sport", "/filter -sport europe", "/filter +", "/filter -!!"]
)
async def test_filter_word_without_a_sign_replies_usage_and_changes_nothing(
    emu: BotAPIEmulator, engine: Engine, database_url: str, command: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, command)
    assert "is not a filter" in (answer.plain_text or "")
    assert "/filter -WORD" in (answer.plain_text or "")
    assert filters_in(engine, USER) == {}


async def test_filter_clear_removes_every_filter_of_the_chat(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        await bot.ask(USER, "/filter -sport -celebrity +europe")
        await bot.ask(OTHER_CHAT, "/filter -sport")
        cleared = await bot.ask(USER, "/filter CLEAR")
        again = await bot.ask(USER, "/filter clear")
    assert "Removed all 3 filters" in (cleared.plain_text or "")
    assert "had no filters" in (again.plain_text or "")
    assert filters_in(engine, USER) == {}
    assert filters_in(engine, OTHER_CHAT) == {"sport": False}


async def test_filters_are_per_chat_not_per_topic(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await topic_ask(bot, "/filter -sport")
        general = await bot.ask(FORUM, "/filter", user_id=USER, chat_type="supergroup")
        in_group = await group_ask(bot, "/filter +climate")
    assert answer.message_thread_id == TOPIC
    assert "must not contain: sport" in (general.plain_text or "")
    assert general.message_thread_id is None
    assert filters_in(engine, FORUM) == {"sport": False}
    assert filters_in(engine, GROUP) == {"climate": True}
    assert "must contain: climate" in (in_group.plain_text or "")


async def test_filter_input_with_html_characters_is_escaped_in_the_reply(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        refused = await bot.ask(USER, "/filter <b>&")
        stored = await bot.ask(USER, "/filter +<b>&amp;")
    assert "“<b>&” is not a filter" in (refused.plain_text or "")
    assert "must contain: b, amp" in (stored.plain_text or "")
    assert filters_in(engine, USER) == {"b": True, "amp": True}


async def test_a_chat_can_have_at_most_thirty_filter_words(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    many = " ".join(f"-w{n}" for n in range(MAX_FILTERS))
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        await bot.ask(USER, f"/filter {many}")
        refused = await bot.ask(USER, "/filter -one -more")
        flip = await bot.ask(USER, "/filter +w0")
    assert f"at most {MAX_FILTERS} filter words" in (refused.plain_text or "")
    assert len(filters_in(engine, USER)) == MAX_FILTERS
    assert "Filters updated" in (flip.plain_text or "")  # changing a word adds none
    assert filters_in(engine, USER)["w0"] is True


async def test_alert_commands_are_in_the_command_menu(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine):
        pass
    menu = {c["command"]: c["description"] for c in emu.commands("default")}
    assert {"alert", "alerts", "filter"} <= set(menu)
    assert all(menu[name] for name in ("alert", "alerts", "filter"))
