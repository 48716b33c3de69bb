"""Tests for bot.briefs.stories: which member of a story is summarised, and the "also" list."""

from __future__ import annotations

import html
import re
from calendar import timegm
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from bot.briefs.stories import (
    MAX_ALSO,
    StoryMember,
    also_sources,
    member_quality,
    pick_representative,
)

T0 = datetime(2017, 1, 7, 12, 0, tzinfo=UTC)
FULL_TEXT = " ".join(["The gunman opened fire in the baggage claim area on Friday."] * 60)
TEASER = "The gunman opened fire in the baggage claim area on Friday."


def member(
    article_id: int,
    *,
    title: str = "Five dead in Fort Lauderdale airport shooting",
    text: str = TEASER,
    source: str | None = None,
    published: datetime | None = T0,
) -> StoryMember:
    return StoryMember(
        article_id=article_id,
        title=title,
        text=text,
        source=source or f"Source {article_id}",
        url=f"https://example.com/{article_id}",
        published=published,
        language="en",
    )


# --- synthetic members --------------------------------------------------------------------


def test_full_text_beats_teasers() -> None:
    members = [member(1), member(2, text=FULL_TEXT), member(3, text=TEASER * 2)]
    assert pick_representative(members).article_id == 2


def test_length_has_diminishing_returns() -> None:
    short, full, huge = member(1), member(2, text=FULL_TEXT), member(3, text=FULL_TEXT * 3)
    gain_first = member_quality(full) - member_quality(short)
    gain_more = member_quality(huge) - member_quality(full)
    assert gain_first > 5 * gain_more > 0


def test_mojibake_loses_to_clean_text_of_similar_length() -> None:
    garbled = FULL_TEXT.replace("gunman", "gunmanâ€™s").replace("Friday", "FridayÃ©")
    members = [
        member(1, text=garbled, published=T0 - timedelta(hours=1)),
        member(2, text=FULL_TEXT),
    ]
    assert pick_representative(members).article_id == 2


def test_all_caps_or_missing_title_is_penalised() -> None:
    caps = member(1, title="FIVE DEAD IN FORT LAUDERDALE AIRPORT SHOOTING", text=FULL_TEXT)
    untitled = member(2, title="", text=FULL_TEXT)
    normal = member(3, text=FULL_TEXT, published=T0 + timedelta(hours=5))
    assert pick_representative([caps, untitled, normal]).article_id == 3
    assert member_quality(untitled) < member_quality(caps) < member_quality(normal)


def test_truncated_teaser_is_penalised() -> None:
    truncated = member(1, text=TEASER[:-1] + " ...", published=T0 - timedelta(hours=2))
    assert pick_representative([truncated, member(2)]).article_id == 2


def test_ties_go_to_the_earliest_publication_then_lowest_id() -> None:
    late = member(1, published=T0 + timedelta(hours=1))
    early = member(2, published=T0 - timedelta(hours=1))
    undated = member(3, published=None)
    assert pick_representative([late, early, undated]).article_id == 2
    assert pick_representative([member(5), member(4)]).article_id == 4


def test_naive_publication_times_are_taken_as_utc() -> None:
    naive = member(1, published=datetime(2017, 1, 7, 11, 0))
    aware = member(2, published=T0)
    assert pick_representative([aware, naive]).article_id == 1


def test_a_story_needs_members() -> None:
    with pytest.raises(ValueError):
        pick_representative([])


def test_also_lists_other_sources_once_each_in_publication_order() -> None:
    rep = member(1, source="CTV News")
    members = [
        rep,
        member(2, source="CTV News", published=T0 - timedelta(hours=3)),  # same as the brief
        member(3, source="NYT", published=T0 + timedelta(hours=2)),
        member(4, source="nyt ", published=T0 + timedelta(hours=1)),  # same source, earlier
        member(5, source="Le Monde", published=None),
        member(6, source="Spiegel", published=T0 - timedelta(hours=1)),
    ]
    assert also_sources(members, rep) == [
        ("Spiegel", "https://example.com/6"),
        ("nyt ", "https://example.com/4"),
        ("Le Monde", "https://example.com/5"),
    ]


def test_also_is_capped_and_skips_members_without_url() -> None:
    rep = member(0)
    others = [member(i, published=T0 + timedelta(minutes=i)) for i in range(1, 10)]
    no_url = StoryMember(99, "t", "x", "No URL", "", T0 - timedelta(days=1), "en")
    result = also_sources([rep, no_url, *others], rep)
    assert len(result) == MAX_ALSO
    assert [name for name, _ in result] == [f"Source {i}" for i in range(1, 6)]


# --- a real story: the Fort Lauderdale airport shooting, 6-7 January 2017 ---------------------


def feed_members(
    corpus_dir: Path, feed: str, titles: list[str], first_id: int
) -> list[StoryMember]:
    """Members built from corpus feed entries whose title contains one of ``titles``.

    Text is the entry body with tags stripped and entities read, nothing else: mojibake
    stays as the feed stored it, so the picker meets it as it would without repair.
    """
    parsed = feedparser.parse((corpus_dir / "feeds" / feed).read_bytes())
    found: list[StoryMember] = []
    for entry in parsed.entries:
        if not any(t in entry.get("title", "") for t in titles):
            continue
        body = entry.content[0].value if entry.get("content") else entry.get("summary", "")
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
        stamp = entry.get("published_parsed")
        published = datetime.fromtimestamp(timegm(stamp), UTC) if stamp else None
        found.append(
            StoryMember(
                article_id=first_id + len(found),
                title=entry.title,
                text=text,
                source=parsed.feed.title,
                url=entry.link,
                published=published,
                language=parsed.feed.get("language"),
            )
        )
    assert len(found) == len(titles), f"{feed}: expected {titles}"
    return found


@pytest.fixture(scope="module")
def lauderdale(corpus_dir: Path) -> list[StoryMember]:
    return [
        *feed_members(
            corpus_dir,
            "nytimes-homepage-en-2017-01.rss",
            ["Florida Airport Assailant", "Scenes From Fort Lauderdale"],
            100,
        ),
        *feed_members(
            corpus_dir,
            "ctvnews-topstories-en-2017-01.rss",
            ["struggled with mental health", "picked off passengers", "airport reopens"],
            200,
        ),
        *feed_members(
            corpus_dir,
            "indianexpress-en-2017.rss",
            ["At least five dead in Fort Lauderdale", "Iraq war veteran accused"],
            300,
        ),
        *feed_members(corpus_dir, "japantimes-en-2017.rss", ["Florida airport shooting"], 400),
        *feed_members(corpus_dir, "lemonde-une-fr-2017-01-mojibake.rss", ["Fort Lauderdale"], 500),
        *feed_members(corpus_dir, "spiegel-de-2017-01-mojibake.rss", ["Fort Lauderdale"], 600),
    ]


def test_real_story_picks_the_fullest_clean_teaser(lauderdale: list[StoryMember]) -> None:
    best = pick_representative(lauderdale)
    # CTV's 301-character lead paragraph is the longest clean text; Indian Express items
    # carry only a tracking pixel, Japan Times a truncated teaser, Le Monde mojibake.
    assert best.title == "Florida shooting suspect struggled with mental health: family"
    assert best.source.startswith("CTVNews.ca")


def test_real_story_penalises_the_garbled_and_the_empty(lauderdale: list[StoryMember]) -> None:
    by_id = {m.article_id: m for m in lauderdale}
    lemonde, indianexpress = by_id[500], by_id[301]
    assert "Ã©" in lemonde.text and member_quality(lemonde) < 0
    assert indianexpress.text == "" and member_quality(indianexpress) <= 0


def test_real_story_also_lists_each_other_publisher_earliest_first(
    lauderdale: list[StoryMember],
) -> None:
    best = pick_representative(lauderdale)
    also = also_sources(lauderdale, best)
    names = [name for name, _ in also]
    assert len(names) == MAX_ALSO == len(set(names))
    assert not any(name.startswith("CTVNews.ca") for name in names)
    # Indian Express 18:38 UTC, Le Monde 19:18, NYT (its video) 20:49, Spiegel 10:26 next
    # day, then Japan Times, whose entry has no date.
    assert [url.split("/")[2] for _, url in also] == [
        "indianexpress.com",
        "www.lemonde.fr",
        "www.nytimes.com",
        "www.spiegel.de",
        "www.japantimes.co.jp",
    ]
    assert also[2][1].startswith("http://www.nytimes.com/video/")
    assert "at-least-five-dead" in also[0][1] or "multiple-people-shot" in also[0][1]
