"""Delivery settings end to end (/mode, /digest_at, /timezone, /digest): the real Application
against the Bot API emulator, with what each command stored read back from the database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.chat.settings_cmds import find_zone, parse_digest_times
from storage import feeds as feed_queries
from storage.articles import NewArticle, insert_articles
from storage.models import Chat, Delivery, OutboxItem, Story, utcnow
from tests.support.botapi import BotAPIEmulator
from tests.support.botharness import GROUP, USER, BotHarness, wait_for
from tests.test_user import IN_GROUP, IN_TOPIC, PLACES, PRIVATE, Place, assert_in_place, chat_row


def stored(engine: Engine, chat_id: int) -> Chat:
    chat = chat_row(engine, chat_id)
    assert chat is not None
    return chat


# -- pure parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "times"),
    [
        ("08:00", ["08:00"]),
        ("18:00,8:00", ["08:00", "18:00"]),
        ("18:00, 08:00 18:00", ["08:00", "18:00"]),
        ("00:00,23:59", ["00:00", "23:59"]),
        ("1:00,2:00,3:00,4:00,5:00,6:00", ["01:00", "02:00", "03:00", "04:00", "05:00", "06:00"]),
        ("", None),
        ("24:00", None),
        ("08:60", None),
        ("8", None),
        ("8h", None),
        ("08:00,noon", None),
        ("-1:00", None),
        ("١٢:٠٠", None),  # Arabic-Indic digits are digits to Python, not to a clock
        ("1:00,2:00,3:00,4:00,5:00,6:00,7:00", None),
    ],
)
def test_digest_times_are_read_sorted_and_without_repeats(
    text: str, times: list[str] | None
) -> None:
    assert parse_digest_times(text) == times


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("Europe/Paris", "Europe/Paris"),
        ("europe/paris", "Europe/Paris"),
        ("UTC", "UTC"),
        ("Mars/Base", None),
        ("Europe", None),
        ("../etc/passwd", None),
        ("", None),
    ],
)
def test_time_zones_are_iana_names_in_any_case(text: str, zone: str | None) -> None:
    assert find_zone(text) == zone


# -- /mode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("place", PLACES)
async def test_mode_switches_between_instant_briefs_and_digests(
    bot: BotHarness, engine: Engine, place: Place
) -> None:
    answer = await place.ask(bot, "/mode digest")
    assert_in_place(answer, place)
    assert answer.plain_text is not None
    assert "A digest at 08:00 (UTC time)." in answer.plain_text
    assert "/digest_at" in answer.plain_text and "/timezone" in answer.plain_text
    assert stored(engine, place.chat_id).mode == "digest"

    answer = await place.ask(bot, "/mode INSTANT")
    assert answer.plain_text and answer.plain_text.startswith("Instant")
    assert stored(engine, place.chat_id).mode == "instant"


async def test_mode_without_a_valid_value_shows_usage_and_changes_nothing(
    bot: BotHarness, engine: Engine
) -> None:
    await PRIVATE.ask(bot, "/mode digest")
    for text in ("/mode", "/mode weekly", "/mode digest now"):
        answer = await PRIVATE.ask(bot, text)
        assert answer.plain_text is not None
        assert "Usage: /mode instant or /mode digest" in answer.plain_text, text
        assert "A digest at 08:00" in answer.plain_text  # and what it is now
    assert stored(engine, USER).mode == "digest"


async def test_settings_work_before_start(bot: BotHarness, engine: Engine) -> None:
    assert chat_row(engine, GROUP) is None
    answer = await IN_GROUP.ask(bot, "/mode digest")
    assert answer.plain_text and "A digest at" in answer.plain_text
    chat = stored(engine, GROUP)
    assert chat.type == "group" and chat.mode == "digest"


# -- /digest_at ------------------------------------------------------------------------------


@pytest.mark.parametrize("place", [pytest.param(p, id=p.name) for p in (PRIVATE, IN_TOPIC)])
async def test_digest_at_stores_sorted_unique_times_and_shows_the_time_zone(
    bot: BotHarness, engine: Engine, place: Place
) -> None:
    answer = await place.ask(bot, "/digest_at 18:00, 8:00,18:00")
    assert_in_place(answer, place)
    assert answer.plain_text is not None
    assert answer.plain_text.startswith("Digests at 08:00, 18:00 (UTC time).")
    assert "/mode digest" in answer.plain_text  # the chat still gets instant briefs
    assert stored(engine, place.chat_id).digest_times == "08:00,18:00"

    await place.ask(bot, "/mode digest")
    await place.ask(bot, "/timezone Asia/Tokyo")
    answer = await place.ask(bot, "/digest_at 07:30")
    assert answer.plain_text == "Digests at 07:30 (Asia/Tokyo time)."
    assert stored(engine, place.chat_id).digest_times == "07:30"


async def test_digest_at_refuses_times_that_are_not_times(bot: BotHarness, engine: Engine) -> None:
    for text in (
        "/digest_at",
        "/digest_at 25:00",
        "/digest_at 8",
        "/digest_at 08:00,noon",
        "/digest_at 1:00,2:00,3:00,4:00,5:00,6:00,7:00",
    ):
        answer = await PRIVATE.ask(bot, text)
        assert answer.plain_text is not None
        assert "Give 1 to 6 times of day from 00:00 to 23:59" in answer.plain_text, text
        assert "/digest_at 08:00,18:00" in answer.plain_text
    assert stored(engine, USER).digest_times == "08:00"


# -- /timezone -------------------------------------------------------------------------------


async def test_timezone_shows_sets_and_refuses_unknown_zones(
    bot: BotHarness, engine: Engine
) -> None:
    answer = await IN_TOPIC.ask(bot, "/timezone")
    assert_in_place(answer, IN_TOPIC)
    assert answer.plain_text and "This chat's time zone is UTC." in answer.plain_text

    answer = await IN_TOPIC.ask(bot, "/timezone europe/paris")
    assert answer.plain_text and answer.plain_text.startswith("Time zone set to Europe/Paris")
    assert stored(engine, IN_TOPIC.chat_id).timezone == "Europe/Paris"

    for zone in ("Mars/Base", "../etc/passwd", "<b>Paris</b>", "Europe"):
        answer = await IN_TOPIC.ask(bot, f"/timezone {zone}")
        assert answer.plain_text == (
            f"Unknown time zone {zone}. Use a name such as Europe/Paris, America/New_York or UTC."
        )
    assert stored(engine, IN_TOPIC.chat_id).timezone == "Europe/Paris"
    answer = await IN_TOPIC.ask(bot, "/list")
    assert answer.plain_text and "Instant" in answer.plain_text


async def test_a_french_speaking_user_gets_answers(bot: BotHarness) -> None:
    for text in ("/mode", "/mode digest", "/digest_at 09:00", "/timezone", "/timezone X"):
        answer = await PRIVATE.ask(bot, text, language_code="fr")
        assert answer.plain_text, text


# -- /digest (fanout.digest_now) -------------------------------------------------------------


def owe_a_story(engine: Engine, chat_id: int, topic_id: int) -> int:
    """A stored story this chat (topic) is owed and that waits for its next digest."""
    with Session(engine) as session:
        feed = feed_queries.add_feed(session, "https://w.example/f", "w.example/f", title="Wire")
        assert feed.id is not None
        now = utcnow()
        values = {
            "feed_id": feed.id,
            "guid": "g1",
            "url": "https://w.example/a1",
            "url_key": "w.example/a1",
            "title": "Parliament passes the budget",
            "text": "Parliament passed the budget on Tuesday after a long debate.",
            "content_hash": "0" * 64,
            "published_at": now,
        }
        ((article_id, story_id),) = insert_articles(session, [NewArticle(values)])
        story = session.get(Story, story_id)
        assert story is not None
        story.representative_id, story.announced_at = article_id, now
        session.add(story)
        chat = session.get(Chat, chat_id) or Chat(id=chat_id)
        chat.mode = "digest"
        session.add(chat)
        session.add(Delivery(chat_id=chat_id, topic_id=topic_id, story_id=story_id))
        session.commit()
        return story_id


async def test_digest_with_nothing_waiting_says_so_and_suggests_latest(bot: BotHarness) -> None:
    answer = await PRIVATE.ask(bot, "/digest")
    assert answer.plain_text and "Nothing new since the last digest" in answer.plain_text
    assert "/latest" in answer.plain_text


class RecordingEvent(asyncio.Event):
    """The outbox wake-up, counting who set it."""

    def __init__(self) -> None:
        super().__init__()
        self.sets = 0

    def set(self) -> None:
        self.sets += 1
        super().set()


async def test_digest_bundles_the_waiting_stories_now_and_wakes_the_sender(
    bot: BotHarness, engine: Engine, emu: BotAPIEmulator
) -> None:
    owe_a_story(engine, USER, 0)
    wake = bot.runtime.outbox_ready = RecordingEvent()
    before = len(emu.sent_to(USER))
    bot.say(USER, "/digest")

    def said(text: str) -> bool:
        return any(text in (m.plain_text or "") for m in emu.sent_to(USER)[before:])

    # The reply and the digest itself may come in either order.
    await wait_for(lambda: said("Your digest is on its way (1 story)."))
    assert wake.sets >= 1
    await wait_for(lambda: said("Parliament passes the budget"))
    with Session(engine) as session:
        outbox = session.exec(select(OutboxItem).where(OutboxItem.chat_id == USER)).all()
        assert [item.kind for item in outbox] == ["digest"]
        delivery = session.exec(select(Delivery)).one()
        assert delivery.outbox_id == outbox[0].id
    answer = await PRIVATE.ask(bot, "/digest")
    assert answer.plain_text and "Nothing new since the last digest" in answer.plain_text
