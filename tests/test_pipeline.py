"""Real fetch cycles over the real corpus, served over HTTP on 127.0.0.1, on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, event, text
from sqlmodel import Session, select

from bot.ingest.language import LanguageDetector
from bot.ingest.records import CycleReport
from bot.services import add_feed, ingestor
from bot.settings import Settings
from storage.models import Article, Feed, Story
from tests.support.database import count
from tests.support.feedserver import FeedServer
from tests.support.settings import ingest_settings


def make_settings(database_url: str, **overrides: object) -> Settings:
    """The shared test settings (parsing in threads; the corpus test below asks for the process
    pool) with a 10 s fetch timeout."""
    return ingest_settings(database_url, **{"fetch_timeout": 10.0, **overrides})


def add_corpus_feeds(engine: Engine, server: FeedServer, *names: str) -> None:
    for name in names:
        add_feed(engine, server.url(f"/feeds/{name}"))


async def cycle(settings: Settings, engine: Engine, detector: LanguageDetector) -> CycleReport:
    async with ingestor(settings, engine, detector) as ing:
        return await ing.run_cycle(all_feeds=True)


async def test_every_corpus_feed_is_ingested_or_reported_and_a_second_cycle_stores_nothing(
    database_url: str,
    engine: Engine,
    server: FeedServer,
    corpus_dir: Path,
    detector: LanguageDetector,
) -> None:
    files = sorted(p.name for p in (corpus_dir / "feeds").iterdir())
    assert len(files) == 73
    for name in files:
        add_feed(engine, server.url(f"/feeds/{name}"))
    settings = make_settings(database_url, parse_workers=2)

    first = await cycle(settings, engine, detector)

    assert len(first.feeds) == 73
    failed = {r.url.rsplit("/", 1)[1]: r.error for r in first.feeds if r.status == "failed"}
    # Only documents that are not feeds at all may fail, each with a reason that says so.
    assert failed == {
        "not-a-feed-document-moved.html.rss": failed.get("not-a-feed-document-moved.html.rss")
    }
    assert "not a feed" in (failed["not-a-feed-document-moved.html.rss"] or "")
    stored = count(engine, Article)
    assert stored == first.total("new") > 1500
    assert count(engine, Feed, Feed.error_count > 0) == 1

    server.reset_counters()
    second = await cycle(settings, engine, detector)

    assert second.total("new") == 0
    assert count(engine, Article) == stored
    not_modified = [r for r in second.feeds if r.status == "not_modified"]
    assert len(not_modified) == 72  # every feed that was fetched fine answers 304 now
    assert sum(1 for _path, status in server.responses if status == 304) == 72


async def test_the_same_posts_published_as_rss_and_atom_are_stored_once(
    database_url: str, engine: Engine, server: FeedServer, detector: LanguageDetector
) -> None:
    add_corpus_feeds(
        engine,
        server,
        "cornucopia-blogger-en.rss",
        "cornucopia-blogger-en.atom",
        "cowboyprogrammer-hugo-en-snapshot-a.atom",
        "cowboyprogrammer-hugo-en-snapshot-a.rss",
    )
    report = await cycle(make_settings(database_url), engine, detector)
    assert report.total("new") == 25 + 15
    assert report.total("duplicate") == 25 + 15

    add_feed(engine, server.url("/feeds/cowboyprogrammer-hugo-en-snapshot-b.atom"))
    later = await cycle(make_settings(database_url), engine, detector)
    # snapshot-b shares 12 of its 15 entries with snapshot-a: only 3 are new.
    assert later.total("new") == 3


async def test_a_broken_feed_is_recorded_with_its_reason_and_the_cycle_goes_on(
    database_url: str, engine: Engine, server: FeedServer, detector: LanguageDetector
) -> None:
    server.route("/broken.xml", status=500, body=b"upstream exploded")
    broken = add_feed(engine, server.url("/broken.xml"))
    add_feed(engine, server.url("/feeds/lemonde-une-fr-2018-02.rss"))

    report = await cycle(make_settings(database_url), engine, detector)

    by_status = {r.status: r for r in report.feeds}
    assert by_status["ok"].new == 21
    assert "500" in (by_status["failed"].error or "")
    with Session(engine) as session:
        feed = session.get(Feed, broken.id)
        assert feed is not None
        assert feed.error_count == 1 and "500" in (feed.last_error or "")
        assert feed.next_check_at > datetime.now(UTC)


async def test_articles_get_their_language_clean_text_and_canonical_url(
    database_url: str, engine: Engine, server: FeedServer, detector: LanguageDetector
) -> None:
    add_corpus_feeds(
        engine,
        server,
        "lemonde-une-fr-2017-01-mojibake.rss",
        "ibash-ru-windows1251.rss",
        "golem-de-2017-12.rss",
    )
    await cycle(make_settings(database_url), engine, detector)
    with Session(engine) as session:
        rows = session.exec(select(Article, Feed.url).join(Feed)).all()
    languages = {url.rsplit("/", 1)[1]: set() for _, url in rows}
    for article, url in rows:
        languages[url.rsplit("/", 1)[1]].add(article.language)
        assert "Ã" not in article.title + article.text  # mojibake repaired
        assert "<" not in article.text or "&lt;" not in article.text
        if article.url:
            assert "utm_" not in article.url
    assert languages["lemonde-une-fr-2017-01-mojibake.rss"] == {"fr"}
    assert languages["ibash-ru-windows1251.rss"] == {"ru"}
    assert languages["golem-de-2017-12.rss"] == {"de"}
    assert count(engine, Story) <= count(engine, Article)


async def test_teaser_entries_get_the_article_page_extracted_once(
    database_url: str,
    engine: Engine,
    server: FeedServer,
    corpus_dir: Path,
    detector: LanguageDetector,
) -> None:
    pages = ["bbc-com-70cb2d5b", "space-com-686bb170"]
    items = "".join(
        f"<item><title>Story {i}</title><guid>teaser-{i}</guid>"
        f"<link>{server.url(f'/articles/{name}.html')}</link>"
        "<description>A short teaser.</description></item>"
        for i, name in enumerate(pages)
    )
    server.route(
        "/teasers.rss",
        body=f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>',
        headers={"Content-Type": "application/rss+xml"},
    )
    add_feed(engine, server.url("/teasers.rss"))
    settings = make_settings(database_url, extract_teasers=True)

    report = await cycle(settings, engine, detector)
    await cycle(settings, engine, detector)

    assert report.total("new") == 2 and report.total("extracted") == 2
    with Session(engine) as session:
        texts = {a.guid: a for a in session.exec(select(Article)).all()}
    assert all(a.extracted and len(a.text) > 1000 for a in texts.values())
    gold = (corpus_dir / "articles" / "space-com-686bb170.gold.txt").read_text()
    assert gold.split("\n")[0][:60] in texts["teaser-1"].text
    for name in pages:
        assert server.hits[f"/articles/{name}.html"] == 1


async def test_same_day_stories_from_different_publishers_share_one_story(
    database_url: str, engine: Engine, server: FeedServer, detector: LanguageDetector
) -> None:
    add_corpus_feeds(
        engine,
        server,
        "nytimes-homepage-en-2017-01.rss",
        "reuters-topnews-en-2017-01.rss",
        "ctvnews-topstories-en-2017-01.rss",
        "mirror-en-2016-08.rss",
        "indianexpress-en-2017.rss",
    )

    report = await cycle(make_settings(database_url), engine, detector)

    assert report.total("same_story") >= 10
    with Session(engine) as session:
        story_of = {a.title: a.story_id for a in session.exec(select(Article)).all()}

    def same(*titles: str) -> bool:
        return len({story_of[t] for t in titles}) == 1

    airport = (
        "Florida attack updates: Fort Lauderdale airport reopens after shooting",  # CTV
        "Scenes From Fort Lauderdale Airport Shooting",  # NYT
        "At least five dead in Fort Lauderdale airport shooting",  # Indian Express
    )
    wall = (
        "Trump says Mexico would repay U.S. funds spent on border wall",  # Reuters
        "Trump Insists Mexico Will Pay for Wall After U.S. Begins the Work",  # NYT
    )
    assert same(*airport)
    assert same(*wall)
    assert same(
        "Report on election hacking says Russia plans to do more",  # CTV
        "Report on US election hacking says Russia plans to do more",  # Indian Express
    )
    # Different events stay apart, even on the same day and with the same people in them.
    assert story_of[airport[0]] != story_of[wall[0]]
    assert (
        story_of["Tilikum, the Killer Whale Featured in ‘Blackfish,’ Dies"] != story_of[airport[0]]
    )


async def test_a_database_outage_mid_store_is_not_charged_to_the_feed_and_spares_the_others(
    postgres_database_url: str, pg: Engine, server: FeedServer, detector: LanguageDetector
) -> None:
    """The session storing one feed is terminated, as a PostgreSQL restart would, after its
    articles were written and before its fetch was recorded. That feed is not the culprit: no
    error counted, no back-off, its lease given back; the other feed of the cycle still stores
    (the near-duplicate index is reloaded, not left empty); the next cycle stores the first."""
    add_corpus_feeds(pg, server, "lemonde-une-fr-2018-02.rss", "golem-de-2018-12.rss")
    terminated: list[int] = []

    @event.listens_for(pg, "before_cursor_execute")
    def terminate_mid_store(conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO articles"):
            conn.info["wrote"] = True
        elif statement.startswith("UPDATE feeds") and conn.info.pop("wrote", False):
            if terminated:
                return
            pid = conn.connection.dbapi_connection.info.backend_pid
            terminated.append(pid)
            with pg.connect() as admin:  # waits (up to 10 s) until the session is gone
                admin.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})

    settings = make_settings(postgres_database_url, fetch_tick=1.0)
    async with ingestor(settings, pg, detector) as ing:
        first = await ing.run_cycle(all_feeds=True)
        outcome = {r.status: r for r in first.feeds}
        assert terminated and sorted(outcome) == ["failed", "ok"]
        failed, stored = outcome["failed"], outcome["ok"]
        assert (failed.error or "").startswith("database unavailable")
        assert stored.new > 0  # stored after the failure, with the index reloaded
        with Session(pg) as session:
            feed = session.get(Feed, failed.feed_id)
            assert feed is not None
            assert (feed.error_count, feed.last_error, feed.last_status) == (0, None, None)
            assert feed.lease_owner is None  # given back
            # Tried again at the next tick, not after an error back-off (5 minutes or more).
            assert feed.next_check_at <= datetime.now(UTC) + timedelta(seconds=1)
        assert count(pg, Article, Article.feed_id == failed.feed_id) == 0  # rolled back whole

        await asyncio.sleep(1.1)
        second = await ing.run_cycle()  # due feeds only: the one the outage interrupted

    assert [(r.feed_id, r.status) for r in second.feeds] == [(failed.feed_id, "ok")]
    assert second.feeds[0].new > 0
    assert count(pg, Article) == stored.new + second.feeds[0].new
