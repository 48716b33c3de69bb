"""/feedstatus and /stats through the real Application and the Bot API emulator: each feed's
fetch state, the figures read back from the database, and the chart sent as a photo (a real
PNG, in the admin's language), or a sentence instead when the last two weeks hold nothing."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine
from sqlmodel import Session

from bot.chat.i18n import t
from bot.chat.stats_cmds import ADMIN_COMMANDS, CHART_DAYS, COMMANDS
from bot.ingest.html_text import html_to_text
from storage import chats as chat_queries
from storage.models import Article, OutboxItem, utcnow
from tests.support.botapi import SentMessage
from tests.support.botharness import ADMIN, GROUP, USER, BotHarness, wait_for
from tests.support.corpus import feed_entries
from tests.test_admin import (
    COWBOY,
    READERS,
    REFUSAL,
    Post,
    add_chat,
    add_feed,
    add_stories,
    in_chat,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CAPTION = (
    "Articles fetched per day for the busiest feeds, and messages sent per day, "
    "over the last {days} days (UTC)."
)
NOTHING = "No article was fetched and no message sent in the last {days} days: no chart."


@pytest.fixture(scope="session")
def posts(corpus_dir: Path) -> dict[str, list[Post]]:
    entries = feed_entries(corpus_dir, COWBOY)
    return {COWBOY: [(title, html_to_text(body)) for title, body in entries]}


def add_articles(engine: Engine, feed_id: int, fetched_at: datetime, count: int) -> None:
    with Session(engine) as session:
        for n in range(count):
            guid = f"{feed_id}-{fetched_at.isoformat()}-{n}"
            session.add(
                Article(
                    feed_id=feed_id,
                    guid=guid,
                    title=guid,
                    content_hash=hashlib.sha256(guid.encode()).hexdigest(),
                    fetched_at=fetched_at,
                )
            )
        session.commit()


def assert_chart(photo: SentMessage, lang: str = "en") -> None:
    """A sendPhoto whose upload is a PNG of the chart's size, with the translated caption."""
    assert photo.method == "sendPhoto"
    assert photo.file is not None
    assert photo.file.data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(photo.file.data))
    assert image.format == "PNG" and image.size == (1000, 700)
    assert photo.plain_text == t(lang, CAPTION, days=CHART_DAYS)


def test_feedstatus_and_stats_are_admin_commands() -> None:
    assert COMMANDS == []
    assert {name for name, _ in ADMIN_COMMANDS} == {"feedstatus", "stats"}


# --- /feedstatus -----------------------------------------------------------------------------


@pytest.mark.parametrize("chat_type", ["private", "group"])
async def test_feedstatus_shows_each_feed_and_the_error_of_a_failing_one(
    bot: BotHarness, engine: Engine, chat_type: str
) -> None:
    chat, extra = in_chat(chat_type)
    ok_at = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    next_at = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    healthy = add_feed(
        engine, "https://a.example/feed", "A & B news", last_success_at=ok_at, next_check_at=next_at
    )
    error = "HTTP 500 <Internal Server Error> from upstream & " + "very long details " * 20
    failing = add_feed(
        engine,
        "https://b.example/rss",
        None,
        error_count=4,
        last_error=error,
        next_check_at=next_at,
    )
    answer = await bot.ask(chat, "/feedstatus", **extra)
    lines = (answer.plain_text or "").split("\n")
    assert lines[0] == "Feeds: 2"
    assert lines[1] == (
        f"#{healthy} A & B news — last success: 2024-05-01 09:30 UTC, "
        "next check: 2024-05-01 10:00 UTC"
    )
    head, _, shown_error = lines[2].partition("; errors: 4, last: ")
    assert head == (
        f"#{failing} https://b.example/rss — last success: never, next check: 2024-05-01 10:00 UTC"
    )
    assert shown_error.startswith("HTTP 500 <Internal Server Error> from upstream & very long")
    assert shown_error.endswith("…") and len(shown_error) <= 100


async def test_feedstatus_splits_a_long_list_between_lines(bot: BotHarness, engine: Engine) -> None:
    count = 60
    for n in range(count):
        title = f"Feed {n:03d} " + "with a rather long descriptive title " * 3
        add_feed(engine, f"https://f{n}.example/rss", title, error_count=1, last_error="x " * 90)
    first = (await bot.ask_all(ADMIN, "/feedstatus"))[0].plain_text or ""
    assert first.startswith(f"Feeds: {count}\n")
    await wait_for(lambda: "Feed 059" in (bot.emu.sent_to(ADMIN)[-1].plain_text or ""))
    messages = [m.plain_text or "" for m in bot.emu.sent_to(ADMIN)]
    assert len(messages) >= 3
    assert all(len(m) <= 4096 for m in messages)
    lines = [line for m in messages for line in m.split("\n")][1:]
    assert [line.split(" — ")[0].split(" ", 1)[1][:8] for line in lines] == [
        f"Feed {n:03d}" for n in range(count)
    ]
    assert all(line.endswith("…") for line in lines)  # every line whole, error shortened


# --- /stats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chat_type", ["private", "group"])
async def test_stats_figures_match_the_database_and_the_chart_follows(
    bot: BotHarness, engine: Engine, posts: dict[str, list[Post]], chat_type: str
) -> None:
    chat, extra = in_chat(chat_type)
    cowboy = add_feed(engine, "https://cowboyprogrammer.org/index.xml", "Cowboy")
    add_feed(engine, "https://research.swtch.com/feed.atom", "research!rsc")
    add_stories(engine, cowboy, posts[COWBOY][:4])
    for reader in (*READERS, 600_003):
        add_chat(engine, reader)
    now = utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with Session(engine) as session:
        chat_queries.subscribe(session, READERS[0], feed_id=cowboy)
        chat_queries.set_active(session, 600_003, False)
        later = now + timedelta(days=1)  # not due: the delivery worker leaves them alone
        states = [
            ("sent", now),
            ("sent", now),
            ("sent", midnight - timedelta(hours=1)),
            ("failed", None),
            ("skipped", None),
            *(("pending", None),) * 3,
        ]
        for state, sent_at in states:
            session.add(
                OutboxItem(
                    chat_id=READERS[0],
                    kind="brief",
                    state=state,
                    sent_at=sent_at,
                    next_attempt_at=later,
                )
            )
        session.commit()
    answer, photo = await bot.ask_all(chat, "/stats", count=2, **extra)
    assert (answer.plain_text or "").split("\n") == [
        "Statistics",
        "Feeds: 2",
        "Articles: 4",
        "Stories: 4",
        "Chats: 2 active of 3",
        "Subscriptions: 4",
        "Messages sent today: 2, waiting: 3, failed: 1",
    ]
    assert answer.method == "sendMessage"
    assert_chart(photo)
    assert photo.chat_id == chat


async def test_stats_without_anything_in_two_weeks_says_so_instead_of_a_chart(
    bot: BotHarness, engine: Engine
) -> None:
    feed = add_feed(engine, "https://old.example/rss", "Old")
    add_articles(engine, feed, utcnow() - timedelta(days=CHART_DAYS), 3)  # just too old
    answer, nothing = await bot.ask_all(ADMIN, "/stats", count=2)
    assert (answer.plain_text or "").startswith("Statistics\nFeeds: 1\nArticles: 3\n")
    assert nothing.method == "sendMessage"
    assert nothing.plain_text == NOTHING.format(days=CHART_DAYS)
    assert all(m.method == "sendMessage" for m in bot.emu.sent_to(ADMIN))


async def test_messages_sent_alone_are_enough_for_a_chart(bot: BotHarness, engine: Engine) -> None:
    with Session(engine) as session:
        session.add(OutboxItem(chat_id=READERS[0], kind="brief", state="sent", sent_at=utcnow()))
        session.commit()
    _, photo = await bot.ask_all(ADMIN, "/stats", count=2)
    assert_chart(photo)


async def test_the_chart_speaks_the_admins_language_or_the_chats_choice(
    bot: BotHarness, engine: Engine
) -> None:
    feed = add_feed(engine, "https://a.example/rss", "A")
    add_articles(engine, feed, datetime.now(UTC) - timedelta(days=2), 4)
    _, french = await bot.ask_all(ADMIN, "/stats", count=2, language_code="fr")
    assert_chart(french, "fr")
    assert french.plain_text != CAPTION.format(days=CHART_DAYS)
    await bot.ask(ADMIN, "/language de", language_code="fr")
    text, german = await bot.ask_all(ADMIN, "/stats", count=2, language_code="fr")
    assert (text.plain_text or "").startswith(t("de", "Statistics"))
    assert_chart(german, "de")
    assert german.file is not None and french.file is not None
    assert german.file.data != french.file.data  # the picture's own words changed too


@pytest.mark.parametrize("chat_type", ["private", "group"])
async def test_stats_and_feedstatus_are_refused_to_a_non_admin_with_no_chart(
    bot: BotHarness, engine: Engine, chat_type: str
) -> None:
    feed = add_feed(engine, "https://a.example/rss", "A")
    add_articles(engine, feed, utcnow(), 2)
    chat, extra = (USER, {}) if chat_type == "private" else (GROUP, {"chat_type": "group"})
    for command in ("/stats", "/feedstatus"):
        answer = await bot.ask(chat, command, user_id=USER, **extra)
        assert answer.plain_text == REFUSAL
    await bot.ask(chat, "/list", user_id=USER, **extra)  # later than any stray answer
    sent = bot.emu.sent_to(chat)
    assert [m.method for m in sent] == ["sendMessage"] * 3
    assert [m.plain_text for m in sent[:2]] == [REFUSAL, REFUSAL]
