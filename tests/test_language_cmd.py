"""/language end to end (the real Application, the Bot API emulator, both databases): the
buttons, a code given directly, an unknown one, and then every reply in the chat, refusals,
stale buttons and the briefs delivered there in the chosen language, across a restart, in a
group (the whole group's setting), in a forum and after a group became a supergroup."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bot.chat.i18n import available_languages, t, tn
from bot.chat.settings_cmds import AUTO, find_language, language_name
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
from tests.test_settings_cmds import owe_a_story
from tests.test_user import IN_GROUP, IN_TOPIC, PRIVATE, buttons, chat_row

OTHER_USER = 700_002
NAMES = {"en": "English", "fr": "Français", "de": "Deutsch", "es": "Español", "ru": "Русский"}
MODE_USAGE = "Usage: /mode instant or /mode digest. Now:"
AUTOMATIC = "Telegram's language (automatic)"
UNKNOWN = (
    "Unknown language {language}. Choose one of {choices}, or auto for each person's "
    "Telegram language."
)


def chosen(engine: Engine, chat_id: int) -> str | None:
    chat = chat_row(engine, chat_id)
    assert chat is not None
    return chat.chosen_language


def first_line(message: SentMessage) -> str:
    return (message.plain_text or "").split("\n")[0]


# -- pure ------------------------------------------------------------------------------------


def test_every_catalogue_is_offered_by_its_own_name() -> None:
    assert set(available_languages()) == set(NAMES)
    assert {code: language_name(code) for code in available_languages()} == NAMES


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("fr", "fr"),
        (" FR ", "fr"),
        ("fr-CA", "fr"),
        ("de_AT", "de"),
        ("Français", "fr"),
        ("русский", "ru"),
        ("German", "de"),
        ("spanish", "es"),
        ("auto", AUTO),
        ("AUTO", AUTO),
        ("it", None),
        ("pt-BR", None),
        ("klingon", None),
        ("français-suisse", None),
        ("", None),
        ("f", None),
    ],
)
def test_a_language_is_found_by_code_or_by_name(text: str, code: str | None) -> None:
    assert find_language(text) == code


# -- /language in a private chat -------------------------------------------------------------


async def test_language_shows_the_setting_and_a_button_per_language(
    bot: BotHarness, engine: Engine
) -> None:
    answer = await PRIVATE.ask(bot, "/language")
    assert first_line(answer) == (
        "The bot answers in each person's Telegram language here (yours: English)."
    )
    assert "/language fr" in (answer.plain_text or "")
    assert buttons(answer) == [
        *((NAMES[code], f"lang:{code}") for code in available_languages()),
        (f"✅ {AUTOMATIC}", "lang:auto"),
    ]
    assert chosen(engine, USER) is None  # the chat row exists, nothing chosen


async def test_a_button_sets_the_language_and_redraws_the_page_in_it(
    bot: BotHarness, engine: Engine
) -> None:
    page = await PRIVATE.ask(bot, "/language")
    answer = await PRIVATE.press_and_see(bot, "lang:fr", page)
    assert answer["text"] == t(
        "fr", "Done: the bot speaks {language} in this chat now.", language="Français"
    )
    assert chosen(engine, USER) == "fr"
    assert first_line(page) == t(
        "fr", "The bot speaks {language} in this chat.", language="Français"
    )
    labels = [label for label, _ in buttons(page)]
    assert "✅ Français" in labels and "English" in labels
    assert labels[-1] == t("fr", AUTOMATIC)
    # From now on the chat is answered in French, though the user's Telegram is in English.
    usage = await PRIVATE.ask(bot, "/mode", language_code="en")
    assert first_line(usage) == t("fr", MODE_USAGE) != MODE_USAGE
    # Pressing the choice already made changes nothing and breaks nothing.
    again = await PRIVATE.press(bot, "lang:fr", page.message_id)
    assert again["text"] == answer["text"]
    # "Automatic" goes back to the user's own language.
    back = await PRIVATE.press_and_see(bot, "lang:auto", page)
    assert "Telegram language" in back["text"]
    assert chosen(engine, USER) is None
    assert buttons(page)[-1] == (f"✅ {AUTOMATIC}", "lang:auto")
    assert first_line(await PRIVATE.ask(bot, "/mode")) == MODE_USAGE


async def test_a_code_sets_the_language_directly(bot: BotHarness, engine: Engine) -> None:
    done = await PRIVATE.ask(bot, "/language de")
    assert done.plain_text == t(
        "de", "Done: the bot speaks {language} in this chat now.", language="Deutsch"
    )
    assert chosen(engine, USER) == "de"
    page = await PRIVATE.ask(bot, "/language")
    assert first_line(page) == "Sprache des Bots in diesem Chat: Deutsch."
    assert ("✅ Deutsch", "lang:de") in buttons(page)
    done = await PRIVATE.ask(bot, "/language Русский")
    assert chosen(engine, USER) == "ru"
    assert done.plain_text == t(
        "ru", "Done: the bot speaks {language} in this chat now.", language="Русский"
    )
    auto = await PRIVATE.ask(bot, "/language auto", language_code="es")
    assert chosen(engine, USER) is None
    assert auto.plain_text == t(
        "es",
        "Done: the bot answers in each person's Telegram language here now (yours: {language}).",
        language="Español",
    )


@pytest.mark.parametrize("wanted", ["it", "<b>xx</b>", "français-suisse-romand" * 5])
async def test_an_unknown_language_is_explained_and_changes_nothing(
    bot: BotHarness, engine: Engine, wanted: str
) -> None:
    await PRIVATE.ask(bot, "/language es")
    answer = await PRIVATE.ask(bot, f"/language {wanted}")
    choices = ", ".join(f"{code} ({NAMES[code]})" for code in available_languages())
    # In the chat's language; what was typed shown as typed (escaped: "<b>" stays text).
    assert answer.plain_text == t("es", UNKNOWN, language=wanted[:64], choices=choices)
    assert all(f"{code} ({name})" in choices for code, name in NAMES.items())
    assert chosen(engine, USER) == "es"


async def test_forged_language_buttons_are_refused(bot: BotHarness, engine: Engine) -> None:
    page = await PRIVATE.ask(bot, "/language")
    for data in ("lang:it", "lang:", "lang:fr:x", "lang:AUTO"):
        answer = await bot.press(USER, data, page.message_id)
        assert answer["text"] in (
            "This button is no longer valid.",
            "This button is no longer active.",
        )
    assert chosen(engine, USER) is None
    assert page.edits == 0


async def test_stale_buttons_refusals_and_search_answers_follow_the_choice(
    bot: BotHarness,
) -> None:
    await PRIVATE.ask(bot, "/language fr")
    stale = await bot.press(USER, "v0-legacy:button", 1)
    assert stale["text"] == t("fr", "This button is no longer active.")
    refusal = await PRIVATE.ask(bot, "/push")
    assert refusal.plain_text == t("fr", "Sorry, this is for the bot's administrators only.")
    latest = await PRIVATE.ask(bot, "/latest")
    assert latest.plain_text == t(
        "fr", "No news stored yet. Briefs appear here once feeds are read."
    )
    assert latest.plain_text != "No news stored yet. Briefs appear here once feeds are read."


async def test_the_choice_survives_a_restart(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    settings = bot_settings(emu, database_url)
    async with running_bot(emu, settings, engine) as bot:
        await PRIVATE.ask(bot, "/language es")
    async with running_bot(emu, settings, engine) as bot:
        assert bot.runtime.chat_languages == {}  # nothing carried over in memory
        usage = await PRIVATE.ask(bot, "/mode", language_code="ru")
        assert first_line(usage) == t("es", MODE_USAGE) != MODE_USAGE
        assert bot.runtime.chat_languages == {USER: "es"}


# -- groups and forums -----------------------------------------------------------------------


async def test_in_a_group_the_choice_is_the_whole_groups(bot: BotHarness, engine: Engine) -> None:
    page = await IN_GROUP.ask(bot, "/language")
    await IN_GROUP.press_and_see(bot, "lang:ru", page)
    assert chosen(engine, GROUP) == "ru"
    # Another member, whose Telegram is in French, is answered in Russian too.
    usage = await bot.ask(GROUP, "/mode", user_id=OTHER_USER, chat_type="group", language_code="fr")
    assert first_line(usage) == t("ru", MODE_USAGE)
    # The members' private chats keep their own language.
    assert first_line(await PRIVATE.ask(bot, "/mode")) == MODE_USAGE


async def test_in_a_forum_the_choice_made_in_a_topic_covers_every_topic(
    bot: BotHarness, engine: Engine
) -> None:
    done = await IN_TOPIC.ask(bot, "/language de")
    assert done.message_thread_id == TOPIC
    assert chosen(engine, FORUM) == "de"
    general = await bot.ask(FORUM, "/mode", user_id=USER, chat_type="supergroup")
    assert first_line(general) == t("de", MODE_USAGE)


# -- what is delivered -----------------------------------------------------------------------


async def test_a_delivered_digest_has_its_header_in_the_chosen_language(
    bot: BotHarness, engine: Engine, emu: BotAPIEmulator
) -> None:
    await PRIVATE.ask(bot, "/language de", language_code="en")
    owe_a_story(engine, USER, 0)
    header = tn("de", "Your digest: {count} story", "Your digest: {count} stories", 1)
    assert header != "Your digest: 1 story"
    bot.say(USER, "/digest")

    def digest() -> SentMessage | None:
        found = [
            m for m in emu.sent_to(USER) if "Parliament passes the budget" in (m.plain_text or "")
        ]
        return found[0] if found else None

    message = await wait_for(digest)
    assert (message.plain_text or "").startswith(header)


async def test_a_group_that_became_a_supergroup_keeps_its_language(
    bot: BotHarness, engine: Engine, emu: BotAPIEmulator
) -> None:
    supergroup = -1_000_000_000_000 + GROUP
    await IN_GROUP.ask(bot, "/language es")
    owe_a_story(engine, GROUP, 0)
    emu.migrate_chat(GROUP, supergroup)
    bot.say(GROUP, "/digest", user_id=USER, chat_type="group")
    header = tn("es", "Your digest: {count} story", "Your digest: {count} stories", 1)

    def moved() -> SentMessage | None:
        found = [m for m in emu.sent_to(supergroup) if "Parliament" in (m.plain_text or "")]
        return found[0] if found else None

    message = await wait_for(moved)
    assert (message.plain_text or "").startswith(header)
    assert chosen(engine, supergroup) == "es"
    usage = await bot.ask(supergroup, "/mode", user_id=USER, chat_type="supergroup")
    assert first_line(usage) == t("es", MODE_USAGE)
