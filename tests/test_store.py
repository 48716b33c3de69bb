"""Tests for bot.ingest.store: duplicate / same-story decisions, the write, and the RecentIndex.

Each test runs on SQLite and, when configured, PostgreSQL (the ``engine`` fixture). Articles
are built as the worker would hand them over (PreparedArticle with real dedup keys), so the
store stage is tested on its own, without parsing or cleaning.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.ingest.cluster_terms import analyse
from bot.ingest.dedup import (
    SAME_ARTICLE,
    SAME_STORY,
    content_hash,
    estimate_jaccard,
    minhash_signature,
)
from bot.ingest.prepare import PreparedArticle, PreparedBatch
from bot.ingest.store import RecentIndex, StoreCounts, store_batch
from bot.ingest.urls import canonical_url, url_key
from storage import feeds as feed_queries
from storage.models import Article, Story

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

BRIDGE = (
    "The city council voted on Tuesday to close the old Harbour Street bridge to cars after "
    "engineers found deep cracks in two of its steel supports during a routine inspection. "
    "Buses will be diverted through the market district while repairs are planned, and "
    "cyclists and pedestrians may still use the footpath on the northern side. The mayor "
    "said the closure would last at least six months and promised a public meeting next "
    "week to explain the options, which range from strengthening the supports to building "
    "a new crossing. Local shop owners warned that fewer drivers would mean fewer customers "
    "in the busy run-up to the holidays, and asked the council for help with parking."
)
ORCHESTRA = (
    "The national youth orchestra will tour five northern towns this summer, playing free "
    "open-air concerts in parks and school halls that have not hosted live music for years. "
    "Its director said the programme mixes film scores with short classical pieces chosen "
    "by the young players themselves, and that every concert will end with a session where "
    "children from the audience can try the instruments. Tickets are not needed, but "
    "organisers ask families to register online so that enough chairs can be set out."
)
MARKET = (
    "Shares in European banks fell sharply on Friday after a weaker than expected set of "
    "quarterly results from two of the largest lenders, dragging the main regional index to "
    "its lowest close in three weeks. Analysts said higher funding costs were eating into "
    "profits faster than rising loan income could make up for, and several brokers cut "
    "their price targets. Government bond yields edged lower as investors looked for safer "
    "assets ahead of next week's inflation figures from the United States."
)

# Two publishers' reports of one event: the same names, different words (no 3-word run in
# common to speak of), for the StoryMatcher rather than MinHash.
ERUPTION = (
    "Lava reaches Grindavik as Reykjanes volcano erupts again",
    "A volcano on Iceland's Reykjanes peninsula erupted early on Sunday near the Sundhnukur "
    "craters, and lava flowed into the edge of the fishing town of Grindavik. Civil protection "
    "officials had evacuated the town's 3,700 residents during the night.",
)
ERUPTION_ELSEWHERE = (
    "Volcano erupts on Reykjanes peninsula, lava reaches Grindavik",
    "Lava from the eruption near Sundhnukur reached Grindavik on Sunday, Icelandic authorities "
    "said. The fishing town had been evacuated overnight and no residents were hurt.",
)
# Other events of the same day, so that term weights (IDF) mean something.
OTHER_NEWS = [
    (
        "Central bank holds interest rates at 4.5 percent",
        "The central bank left its main interest rate unchanged on Thursday, saying inflation "
        "was falling more slowly than expected and that wage growth remained strong.",
    ),
    (
        "Storm Henk floods rail lines across southern England",
        "Heavy rain brought by Storm Henk flooded rail lines and closed dozens of roads across "
        "southern England, while thousands of homes were left without power overnight.",
    ),
    (
        "Tennis: Djokovic beaten in Melbourne quarter-final",
        "The world number one lost in four sets to a young Italian opponent in Melbourne, "
        "ending a run of thirty-three straight wins at the Australian Open.",
    ),
    (
        "Carmaker recalls 200,000 vehicles over faulty airbags",
        "A Japanese carmaker is recalling about 200,000 vehicles in North America because the "
        "passenger airbag may not deploy in a crash, regulators said on Wednesday.",
    ),
]


def near_copy(text: str) -> str:
    """The same article with a few words added at the end (a light edit)."""
    return text.removesuffix(".") + " this week."


def retold(text: str) -> str:
    """The first ~78% of the words, then words of another article: roughly 60% of shingles."""
    words, filler = text.split(), (ORCHESTRA if text != ORCHESTRA else BRIDGE).split()
    cut = int(len(words) * 0.78)
    return " ".join(words[:cut] + filler[: len(words) - cut])


def prepared(
    guid: str,
    title: str,
    text: str,
    *,
    link: str | None = None,
    published: datetime | None = NOW,
    language: str = "en",
) -> PreparedArticle:
    url = canonical_url(link)
    return PreparedArticle(
        guid=guid,
        url=url,
        url_key=url_key(url, canonical=True) if url else None,
        title=title,
        author=None,
        published=published,
        language=language,
        text=text,
        content_hash=content_hash(text),
        minhash=minhash_signature(f"{title}\n{text}"),
        event_terms=analyse(title, text, language),
    )


def signature(item: PreparedArticle) -> bytes:
    assert item.minhash is not None
    return item.minhash


def add_feed(engine: Engine, n: int = 1) -> int:
    with Session(engine) as session:
        feed = feed_queries.add_feed(
            session, f"https://publisher{n}.example/feed.xml", f"publisher{n}.example/feed.xml"
        )
        assert feed.id is not None
        return feed.id


def store(engine: Engine, feed_id: int, index: RecentIndex, *items: PreparedArticle) -> StoreCounts:
    with Session(engine) as session:
        counts = store_batch(session, feed_id, PreparedBatch(list(items), None), index)
        session.commit()
    return counts


def stored(engine: Engine) -> dict[str, tuple[int, int]]:
    """guid → (article id, story id) of every stored article."""
    with Session(engine) as session:
        rows = session.exec(select(Article.guid, Article.id, Article.story_id)).all()
    result = {}
    for guid, article_id, story_id in rows:
        assert article_id is not None and story_id is not None
        result[guid] = (article_id, story_id)
    return result


def story_size(engine: Engine, story_id: int) -> int:
    with Session(engine) as session:
        story = session.get(Story, story_id)
        assert story is not None
        return story.article_count


# --- duplicates -----------------------------------------------------------------------------

LINK_A = "https://news.example/2024/bridge-closed"
# The same address with another scheme, www., a trailing slash and tracking parameters.
LINK_A_AGAIN = "http://www.news.example/2024/bridge-closed/?utm_source=rss&utm_medium=feed"


def test_an_article_whose_url_or_text_is_stored_already_is_a_duplicate(engine: Engine) -> None:
    feed = add_feed(engine)
    store(engine, feed, RecentIndex(), prepared("g1", "Bridge closed", BRIDGE, link=LINK_A))
    # A fresh index knows nothing: only the database can recognise these.
    counts = store(
        engine,
        feed,
        RecentIndex(),
        # Same article address, spelt with http, www, a trailing slash and tracking junk.
        prepared("g2", "Youth orchestra tour", ORCHESTRA, link=LINK_A_AGAIN),
        # Same text (case and punctuation aside) under another address.
        prepared("g3", "Bridge shut", BRIDGE.upper(), link="https://other.example/b"),
        prepared("g4", "Bank shares fall", MARKET, link="https://other.example/c"),
    )
    assert counts == StoreCounts(new=1, duplicate=2, same_story=0)
    assert sorted(stored(engine)) == ["g1", "g4"]


def test_near_identical_texts_in_one_batch_are_stored_once(engine: Engine) -> None:
    first = prepared("a", "Bridge closed", BRIDGE, link="https://one.example/a")
    again = prepared("b", "Bridge closed", near_copy(BRIDGE), link="https://two.example/b")
    assert first.content_hash != again.content_hash
    assert estimate_jaccard(signature(first), signature(again)) >= SAME_ARTICLE

    counts = store(engine, add_feed(engine), RecentIndex(), first, again)

    assert counts == StoreCounts(new=1, duplicate=1, same_story=0)
    assert list(stored(engine)) == ["a"]


@pytest.mark.parametrize("batches", ["one batch", "two batches"])
def test_texts_sharing_most_of_their_shingles_join_one_story(engine: Engine, batches: str) -> None:
    first = prepared("a", "Bridge closed", BRIDGE, link="https://one.example/a")
    told_again = prepared("b", "Bridge closed", retold(BRIDGE), link="https://two.example/b")
    assert SAME_STORY <= estimate_jaccard(signature(first), signature(told_again)) < SAME_ARTICLE
    feed, index = add_feed(engine), RecentIndex()

    if batches == "one batch":
        counts = store(engine, feed, index, first, told_again)
    else:
        store(engine, feed, index, first)
        counts = store(engine, feed, index, told_again)

    assert counts == StoreCounts(new=1 if batches == "two batches" else 2, same_story=1)
    rows = stored(engine)
    assert rows["a"][1] == rows["b"][1]
    assert story_size(engine, rows["a"][1]) == 2


def test_a_url_repeated_inside_one_batch_is_stored_once(engine: Engine) -> None:
    counts = store(
        engine,
        add_feed(engine),
        RecentIndex(),
        prepared("a", "Bridge closed", BRIDGE, link=LINK_A),
        prepared("b", "Youth orchestra tour", ORCHESTRA, link=LINK_A_AGAIN),
    )
    assert counts == StoreCounts(new=1, duplicate=1, same_story=0)
    assert list(stored(engine)) == ["a"]


# --- the index ------------------------------------------------------------------------------


def test_after_the_write_the_index_holds_the_new_ids_and_no_temporary_keys(
    engine: Engine,
) -> None:
    feed, index = add_feed(engine), RecentIndex()
    store(
        engine,
        feed,
        index,
        prepared("bridge", "Bridge closed", BRIDGE, link="https://one.example/a"),
        prepared("bridge-copy", "Bridge closed", near_copy(BRIDGE)),  # waits under a temp key
        prepared("orchestra", "Youth orchestra tour", ORCHESTRA, link="https://one.example/b"),
        prepared("market", "Bank shares fall", MARKET, link="https://one.example/c"),
    )
    rows = stored(engine)
    assert sorted(rows) == ["bridge", "market", "orchestra"]
    ids = {article_id for article_id, _ in rows.values()}
    assert len(index) == len(ids) and all(article_id in index.near for article_id in ids)
    assert len(index.events) == len(ids) and all(article_id in index.events for article_id in ids)
    assert index.story_of == dict(rows.values())

    # A later batch finds the stored articles through the index alone (new links, new text).
    later = store(
        engine,
        feed,
        index,
        prepared("orchestra-copy", "Orchestra on tour", near_copy(ORCHESTRA)),
        prepared("market-retold", "Bank shares fall", retold(MARKET)),
    )
    assert later == StoreCounts(new=1, duplicate=1, same_story=1)
    rows = stored(engine)
    assert "orchestra-copy" not in rows
    assert rows["market-retold"][1] == rows["market"][1]
    assert all(key > 0 for key in index.story_of) and len(index) == 4


def test_a_failed_insert_leaves_no_key_of_its_batch_in_the_index(engine: Engine) -> None:
    feed, index = add_feed(engine), RecentIndex()
    store(engine, feed, index, prepared("g1", "Bridge closed", BRIDGE))
    before = (len(index), len(index.events), dict(index.story_of))
    # A GUID the feed already has, which the worker would have skipped: the insert fails on
    # the (feed, guid) constraint after both articles were matched and indexed as pending.
    batch = PreparedBatch(
        [
            prepared("g2", "Bank shares fall", MARKET),
            prepared("g1", "Youth orchestra tour", ORCHESTRA),
        ],
        None,
    )
    with Session(engine) as session, pytest.raises(IntegrityError):
        store_batch(session, feed, batch, index)

    assert (len(index), len(index.events), dict(index.story_of)) == before
    # Nothing of the failed batch is remembered: its articles are new when they come again.
    counts = store(
        engine,
        feed,
        index,
        prepared("g2", "Bank shares fall", MARKET),
        prepared("g3", "Orchestra on tour", near_copy(ORCHESTRA)),
    )
    assert counts == StoreCounts(new=2)


def test_a_reloaded_index_still_finds_copies_and_same_event_reports(engine: Engine) -> None:
    first_feed, second_feed = add_feed(engine, 1), add_feed(engine, 2)
    day = [prepared(f"news-{i}", title, text) for i, (title, text) in enumerate(OTHER_NEWS)]
    eruption = prepared("eruption", *ERUPTION)
    store(engine, first_feed, RecentIndex(), *day, eruption, prepared("bridge", "Bridge", BRIDGE))

    # A fresh process: everything it knows comes from the database.
    index = RecentIndex()
    with Session(engine) as session:
        index.load(session, datetime.now(UTC) - timedelta(days=7))
    assert len(index) == len(index.events) == len(day) + 2

    elsewhere = prepared("eruption-2", *ERUPTION_ELSEWHERE, published=NOW + timedelta(hours=2))
    # Different words: MinHash sees nothing in common, only the event terms can link them.
    assert estimate_jaccard(signature(eruption), signature(elsewhere)) < SAME_STORY
    counts = store(
        engine,
        second_feed,
        index,
        elsewhere,
        prepared("bridge-2", "Harbour Street bridge", near_copy(BRIDGE)),
    )

    assert counts == StoreCounts(new=1, duplicate=1, same_story=1)
    rows = stored(engine)
    assert "bridge-2" not in rows
    assert rows["eruption-2"][1] == rows["eruption"][1]
    assert rows["eruption-2"][1] not in {rows[item.guid][1] for item in day}
    with Session(engine) as session:
        story = session.get(Story, rows["eruption"][1])
    assert story is not None
    assert (story.article_count, story.representative_id) == (2, rows["eruption"][0])


def test_an_undated_article_seen_first_is_not_evicted_by_the_first_dated_one() -> None:
    index = RecentIndex()
    index.add_event(1, 10, "Volcano erupts near Grindavik", "Lava reached the town.", None, "en")
    index.add_event(
        2,
        20,
        "Storm hits coast",
        "Winds of 120 km/h.",
        datetime.now(UTC) - timedelta(hours=1),
        "en",
    )
    assert 1 in index.events
