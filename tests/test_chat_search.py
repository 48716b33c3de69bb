"""/search and /latest through the real Application and the Bot API emulator: results,
pages moved by buttons, expired buttons, escaping, groups and forum topics."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.briefs.render import TELEGRAM_LIMIT, telegram_length
from bot.chat.search import PAGE_SIZE, ResultPage, highlighted, render_page
from storage import articles as article_queries
from storage import feeds as feed_queries
from storage.articles import NewArticle
from storage.search import SearchHit
from tests.support.botapi import BotAPIEmulator, SentMessage, parse_html
from tests.support.botharness import (
    FORUM,
    GROUP,
    TOPIC,
    USER,
    bot_settings,
    running_bot,
    wait_for,
)

BASE = datetime(2024, 3, 10, 9, 0, tzinfo=UTC)
LINK = re.compile(r'<a href="https://news\.example\.org/([^"]+)">')

# (guid, title, text): one story each unless seeded together.
HARBOUR = (
    "harbour",
    "Harbour reopens after the storm",
    "Fishermen returned to the harbour on Monday. The storm had closed it for a week. "
    "Boats were inspected before leaving.",
)
ELECTION = (
    "election",
    "Municipal vote",
    "L'élection municipale aura lieu en mars. Les candidats ont présenté leurs listes. "
    "La participation est attendue en hausse.",
)
GARDENS = [
    (
        f"garden{n}",
        f"Garden show {n}",
        f"Roses and tulips filled hall {n}. Visitors queued for hours. "
        f"The jury praised exhibit number {n}.",
    )
    for n in range(7)
]


def seed(
    engine: Engine,
    *entries: tuple[str, str, str],
    feed: str = "wire",
    story_id: int | None = None,
) -> list[int]:
    """Store ``entries`` (oldest first) from ``feed``, each its own story unless they join
    ``story_id``; their story ids."""
    url = f"https://{feed}.example.org/feed.xml"
    with Session(engine) as session:
        found = feed_queries.find_feed(session, url)
        if found is None:
            found = feed_queries.add_feed(
                session, url, url.removeprefix("https://"), title=f"{feed.title()} & Co"
            )
        assert found.id is not None
        items = [
            NewArticle(
                {
                    "feed_id": found.id,
                    "guid": guid,
                    "title": title,
                    "text": text,
                    "content_hash": f"hash-{guid}",
                    "url": f"https://news.example.org/{guid}",
                    "published_at": BASE + timedelta(hours=n),
                    "language": "fr" if guid == "election" else "en",
                    "extracted": False,
                },
                story_id=story_id,
            )
            for n, (guid, title, text) in enumerate(entries)
        ]
        stored = article_queries.insert_articles(session, items)
        session.commit()
    return [story for _, story in stored]


def linked_html(text: str) -> list[str]:
    """The article ids (URL paths) a message links to, in order."""
    return LINK.findall(text)


def linked(message: SentMessage) -> list[str]:
    return linked_html(message.text or "")


def buttons(message: SentMessage) -> dict[str, str]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def edited(message: SentMessage, edits: int) -> None:
    await wait_for(lambda: message.edits >= edits)


# -- /search -------------------------------------------------------------------------------


async def test_search_finds_a_story_by_a_word_in_its_text(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    seed(engine, HARBOUR, ELECTION, *GARDENS[:2])
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, "/search fishermen")
    assert answer.plain_text is not None
    assert answer.plain_text.startswith("Results for “fishermen”: 1 story")
    assert "Harbour reopens after the storm" in answer.plain_text
    assert "Wire & Co" in answer.plain_text  # the source line, escaped on the way
    assert linked(answer) == ["harbour"]
    assert buttons(answer) == {}  # one page: nothing to move to


async def test_an_accented_word_is_found_when_typed_without_its_accent(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    seed(engine, HARBOUR, ELECTION)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        plain = await bot.ask(USER, "/search ELECTION municipale")
        prefix = await bot.ask(USER, "/search élect")
    assert linked(plain) == ["election"]
    assert linked(prefix) == ["election"]
    assert "Municipal vote" in (plain.plain_text or "")


async def test_result_pages_move_with_the_buttons_in_place(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    seed(engine, HARBOUR, *GARDENS)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        page = await bot.ask(USER, "/search roses tulips")
        first = linked(page)
        assert len(first) == 5
        assert "7 stories (page 1 of 2)" in (page.plain_text or "")
        assert list(buttons(page)) == ["Next ▶"]
        assert all(len(d.encode()) <= 64 for d in buttons(page).values())

        answer = await bot.press(USER, buttons(page)["Next ▶"], page.message_id)
        await edited(page, 1)
        second = linked(page)
        assert "text" not in answer or not answer["text"]
        assert len(second) == 2
        assert set(first) | set(second) == {f"garden{n}" for n in range(7)}
        assert "(page 2 of 2)" in (page.plain_text or "")
        assert list(buttons(page)) == ["◀ Previous"]

        await bot.press(USER, buttons(page)["◀ Previous"], page.message_id)
        await edited(page, 2)
        assert linked(page) == first
        # Still one message: pages are edits, not new messages.
        assert len(emu.sent_to(USER)) == 1


def test_a_page_of_the_longest_results_fits_one_message_with_highlights_escaped() -> None:
    snippet = ("Dunes <planted> & marram grass held against the storms. " * 4)[:200]
    hits = [
        SearchHit(
            article_id=n,
            story_id=n,
            title=f"Coastal erosion report part {n}: " + "a very long headline " * 40,
            url=f"https://news.example.org/long{n}",
            source="Wire & Co " * 20,
            published_at=BASE,
            score=1.0,
            language="en",
            snippet=snippet,
            # Dunes, marram; then one overlapping and one out of range, both dropped.
            highlights=[(0, 5), (18, 24), (3, 9), (190, 400)],
        )
        for n in range(PAGE_SIZE)
    ]
    result = ResultPage(page=0, total=12, hits=hits, tz=ZoneInfo("Europe/Paris"))
    text = render_page("en", "erosion <dunes> & storms", result)
    assert telegram_length(text) <= TELEGRAM_LIMIT
    parse_html(text)  # valid Telegram HTML, or this raises
    assert text.startswith(
        "<b>Results for “erosion &lt;dunes&gt; &amp; storms”: 12 stories (page 1 of 3)</b>"
    )
    assert [f"long{n}" for n in range(PAGE_SIZE)] == linked_html(text)
    assert "<b>Dunes</b> &lt;planted&gt; &amp; <b>marram</b>" in text
    assert "10 mars 2024" not in text and "10 Mar 2024 10:00" in text  # the chat's zone


def test_highlighted_bolds_spans_and_escapes_everything_else() -> None:
    assert highlighted("a <b> & c", [(0, 1), (8, 9)]) == "<b>a</b> &lt;b&gt; &amp; <b>c</b>"
    assert highlighted("text", [(2, 1), (0, 99)]) == "text"


async def test_a_stale_or_foreign_search_button_says_the_search_expired(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    seed(engine, *GARDENS)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        page = await bot.ask(USER, "/search roses")
        data = buttons(page)["Next ▶"]
        unknown = await bot.press(USER, "search:1:NoSuchTok", page.message_id)
        forged = await bot.press(USER, "search:99999:x;DROP", page.message_id)
        # The same token pressed in another chat names no search of that chat.
        group_page = await bot.ask(GROUP, "/search tulips", user_id=USER, chat_type="group")
        foreign = await bot.press(GROUP, data, group_page.message_id, user_id=USER)
    for answer in (unknown, forged, foreign):
        assert answer["text"] == "This search has expired, send it again."
    assert page.edits == 0 and group_page.edits == 0


async def test_no_results_suggests_fewer_or_broader_words(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    seed(engine, HARBOUR)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, "/search harbour volcano")
    assert answer.plain_text == ("Nothing found for “harbour volcano”. Try fewer or broader words.")
    assert answer.reply_markup is None


async def test_without_words_the_usage_is_shown(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        bare = await bot.ask(USER, "/search")
        symbols = await bot.ask(USER, "/search ?! *** --")
    for answer in (bare, symbols):
        assert (answer.plain_text or "").startswith("Usage: /search WORDS")


@pytest.mark.parametrize(
    "query",
    [
        "c++ \"unbalanced'",
        "'; DROP TABLE articles; --",
        'NEAR(a b) * ^title: AND OR NOT "',
        "a & b | !c <-> (d) :* %s $1",
    ],
)
async def test_hostile_query_text_is_answered_normally(
    emu: BotAPIEmulator, engine: Engine, database_url: str, query: str
) -> None:
    seed(engine, HARBOUR)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, f"/search {query}")
        after = await bot.ask(USER, "/search harbour")
    assert (answer.plain_text or "").startswith(f"Nothing found for “{query}”")
    assert linked(after) == ["harbour"]  # and the table is still there


async def test_html_in_the_query_is_shown_as_text(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    seed(engine, HARBOUR)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        found = await bot.ask(USER, "/search <harbour> & <storm>")
        missing = await bot.ask(USER, '/search <a href="x">volcano</a> &amp;')
    assert (found.plain_text or "").startswith("Results for “<harbour> & <storm>”: 1 story")
    assert linked(found) == ["harbour"]
    assert (missing.plain_text or "").startswith(
        'Nothing found for “<a href="x">volcano</a> &amp;”'
    )


async def test_search_works_in_a_group_and_answers_in_the_forum_topic(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    seed(engine, HARBOUR, *GARDENS)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        group = await bot.ask(
            GROUP, "/search@newsbrief_test_bot harbour", user_id=USER, chat_type="group"
        )
        topic = await bot.ask(
            FORUM, "/search garden", user_id=USER, chat_type="supergroup", thread_id=TOPIC
        )
        assert linked(group) == ["harbour"]
        assert len(linked(topic)) == 5
        assert topic.message_thread_id == TOPIC
        await bot.press(FORUM, buttons(topic)["Next ▶"], topic.message_id, user_id=USER)
        await edited(topic, 1)
    assert len(linked(topic)) == 2
    assert len(emu.sent_to(FORUM)) == 1


async def test_two_articles_of_one_story_are_one_result(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    other = (
        "harbour2",
        "Port open again",
        "The harbour is open again after the storm, fishermen said on Monday.",
    )
    [story] = seed(engine, HARBOUR)
    seed(engine, other, feed="paper", story_id=story)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, "/search harbour storm")
    assert (answer.plain_text or "").startswith("Results for “harbour storm”: 1 story")
    # One result for the story: its best-matching article.
    assert len(linked(answer)) == 1 and linked(answer)[0] in {"harbour", "harbour2"}


# -- /latest -------------------------------------------------------------------------------


async def test_latest_shows_the_newest_briefs_five_by_default(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    seed(engine, HARBOUR, *GARDENS)  # stored in this order: the last gardens are newest
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        default = await bot.ask(USER, "/latest")
        two = await bot.ask(USER, "/latest 2")
        topic = await bot.ask(
            FORUM, "/latest 20", user_id=USER, chat_type="supergroup", thread_id=TOPIC
        )
    assert (default.plain_text or "").startswith("Latest news: 5 stories")
    assert linked(default) == [f"garden{n}" for n in (6, 5, 4, 3, 2)]
    assert linked(two) == ["garden6", "garden5"]
    assert linked(topic)[-1] == "harbour" and len(linked(topic)) == 8
    assert topic.message_thread_id == TOPIC


async def test_latest_with_a_bad_count_shows_the_usage(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    seed(engine, HARBOUR)
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answers = [await bot.ask(USER, f"/latest {bad}") for bad in ("0", "21", "ten", "-3")]
    for answer in answers:
        assert answer.plain_text == "Usage: /latest or /latest N, with N from 1 to 20."


async def test_latest_with_nothing_stored_says_so(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    async with running_bot(emu, bot_settings(emu, database_url), engine) as bot:
        answer = await bot.ask(USER, "/latest")
    assert (answer.plain_text or "").startswith("No news stored yet.")
