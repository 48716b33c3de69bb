"""Daily figures for the /stats chart (storage/stats.py), on SQLite and PostgreSQL: articles per
UTC day per feed by fetch time, messages sent per UTC day, and the window's edges."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import Engine, text
from sqlmodel import Session

from storage.models import Article, Feed, OutboxItem
from storage.stats import DailyCounts, daily_counts, window

NOW = datetime(2024, 5, 14, 15, 0, tzinfo=UTC)  # the window is 1 May .. 14 May
SERIAL = itertools.count(1)


def add_feed(session: Session, url: str, title: str | None) -> int:
    feed = Feed(url=url, url_key=url.split("://", 1)[1], title=title)
    session.add(feed)
    session.flush()
    assert feed.id is not None
    return feed.id


def add_articles(session: Session, feed_id: int, fetched_at: datetime, count: int = 1) -> None:
    for _ in range(count):
        n = next(SERIAL)
        session.add(
            Article(
                feed_id=feed_id,
                guid=f"g{n}",
                title=f"t{n}",
                content_hash=f"{n:064d}",
                fetched_at=fetched_at,
            )
        )
    session.flush()


def add_message(session: Session, state: str, sent_at: datetime | None) -> None:
    session.add(OutboxItem(chat_id=1, kind="brief", state=state, sent_at=sent_at))


def counts(engine: Engine, *, days: int = 14, foreign_clock: bool = True) -> DailyCounts:
    with Session(engine) as session:
        if foreign_clock and session.get_bind().dialect.name == "postgresql":
            # A server whose sessions are not on UTC must still count UTC days.
            session.execute(text("SET TIME ZONE 'Pacific/Kiritimati'"))  # UTC+14
        return daily_counts(session, days=days, now=NOW)


def test_the_window_is_the_last_n_days_ending_today() -> None:
    assert window(date(2024, 3, 2), 3) == (date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 2))
    assert window(date(2024, 3, 2), 1) == (date(2024, 3, 2),)


def test_an_empty_database_gives_an_empty_window_of_zeros(engine: Engine) -> None:
    found = counts(engine)
    assert found.days == window(date(2024, 5, 14), 14)
    assert found.feeds == ()
    assert found.sent == (0,) * 14
    assert found.empty


def test_articles_are_counted_per_utc_day_of_fetching_and_per_feed(engine: Engine) -> None:
    with Session(engine) as session:
        busy = add_feed(session, "https://busy.example/rss", "  Busy\n news ")
        quiet = add_feed(session, "https://quiet.example/rss", None)
        idle = add_feed(session, "https://idle.example/rss", "Idle")
        add_articles(session, busy, datetime(2024, 5, 1, 0, 0, tzinfo=UTC), 2)  # first instant
        add_articles(session, busy, datetime(2024, 5, 3, 23, 59, 59, tzinfo=UTC), 3)
        # 01:30 in Paris (UTC+2) is still 2 May in UTC.
        add_articles(
            session, busy, datetime(2024, 5, 3, 1, 30, tzinfo=timezone(timedelta(hours=2)))
        )
        add_articles(session, quiet, datetime(2024, 5, 14, 14, 0, tzinfo=UTC), 4)  # today
        add_articles(session, idle, datetime(2024, 4, 30, 23, 59, 59, tzinfo=UTC), 5)  # too old
        session.commit()
    found = counts(engine)
    assert [(f.feed_id, f.name, f.total) for f in found.feeds] == [
        (busy, "Busy news", 6),
        (quiet, "https://quiet.example/rss", 4),  # no title: its URL
    ]
    day = {d: n for n, d in enumerate(found.days)}
    assert found.feeds[0].counts[day[date(2024, 5, 1)]] == 2
    assert found.feeds[0].counts[day[date(2024, 5, 2)]] == 1
    assert found.feeds[0].counts[day[date(2024, 5, 3)]] == 3
    assert found.feeds[1].counts == (0,) * 13 + (4,)
    assert found.sent == (0,) * 14
    assert not found.empty


def test_feeds_with_as_many_articles_keep_a_stable_order(engine: Engine) -> None:
    with Session(engine) as session:
        ids = [add_feed(session, f"https://f{n}.example/rss", f"F{n}") for n in range(3)]
        for feed_id in reversed(ids):
            add_articles(session, feed_id, datetime(2024, 5, 10, tzinfo=UTC), 2)
        session.commit()
    assert [f.feed_id for f in counts(engine).feeds] == ids


def test_messages_are_counted_on_the_utc_day_telegram_accepted_them(engine: Engine) -> None:
    with Session(engine) as session:
        for sent_at in (
            datetime(2024, 5, 14, 0, 0, tzinfo=UTC),
            datetime(2024, 5, 14, 14, 59, tzinfo=UTC),
            datetime(2024, 5, 13, 23, 59, tzinfo=UTC),
            datetime(2024, 5, 1, 0, 0, tzinfo=UTC),
            datetime(2024, 4, 30, 23, 59, tzinfo=UTC),  # before the window
        ):
            add_message(session, "sent", sent_at)
        add_message(session, "pending", None)
        add_message(session, "failed", None)
        add_message(session, "skipped", None)
        session.commit()
    found = counts(engine)
    assert found.sent == (1,) + (0,) * 11 + (1, 2)
    assert found.feeds == ()
    assert not found.empty  # messages alone are something to draw


def test_a_shorter_window_leaves_older_days_out(engine: Engine) -> None:
    with Session(engine) as session:
        feed = add_feed(session, "https://a.example/rss", "A")
        add_articles(session, feed, datetime(2024, 5, 7, 12, tzinfo=UTC), 2)
        add_articles(session, feed, datetime(2024, 5, 8, 12, tzinfo=UTC), 3)
        add_message(session, "sent", datetime(2024, 5, 7, 12, tzinfo=UTC))
        session.commit()
    found = counts(engine, days=7)
    assert found.days[0] == date(2024, 5, 8)
    assert [f.counts for f in found.feeds] == [(3, 0, 0, 0, 0, 0, 0)]
    assert found.sent == (0,) * 7
