"""Daily figures for the admins' /stats chart: articles fetched per day per feed, and messages
sent per day, over the last N days (UTC), on SQLite and PostgreSQL.

Days are UTC calendar days, counted in SQL (a window holds tens of thousands of articles; only
one row per day and feed comes back). An article counts on the day it was *fetched*
(``fetched_at``): ``published_at`` is what the publisher claims, often missing, sometimes
years off, and says nothing about what the bot took in that day.

"Sent" counts outbox rows Telegram accepted, by ``OutboxItem.sent_at``: that is when a message
reached a chat, the figure /stats gives for today. ``Delivery.created_at`` would be the wrong
clock (it is when a story became owed; a digest chat's story waits hours for its digest), and
broadcasts have no ``deliveries`` rows at all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, cast, func, literal_column
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from storage.models import Article, Feed, OutboxItem
from storage.outbox import SENT


@dataclass(frozen=True, slots=True)
class FeedDays:
    """One feed's articles per day, aligned with :attr:`DailyCounts.days`."""

    feed_id: int
    name: str
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True, slots=True)
class DailyCounts:
    """The window's days (oldest first, the last one today), each feed that had articles in
    it (most articles first), and the messages sent each day."""

    days: tuple[date, ...]
    feeds: tuple[FeedDays, ...]
    sent: tuple[int, ...]

    @property
    def empty(self) -> bool:
        """Nothing fetched and nothing sent in the whole window."""
        return not self.feeds and not any(self.sent)


def window(today: date, days: int) -> tuple[date, ...]:
    """The ``days`` days ending with ``today``, oldest first."""
    return tuple(today - timedelta(days=n) for n in range(days - 1, -1, -1))


def _utc_day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        # timestamptz → the wall clock in UTC, whatever the session's TimeZone says. 'UTC' is
        # inline, not a bind: SELECT and GROUP BY must hold the very same expression.
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    # SQLite keeps UTCDateTime as naive UTC text ("2024-05-01 09:30:00.000000").
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def articles_per_day(session: Session, since: datetime) -> list[tuple[date, int, int]]:
    """(UTC day, feed id, articles fetched) for every day and feed with articles since
    ``since``."""
    day = _utc_day(session, col(Article.fetched_at)).label("day")
    rows = session.execute(
        sa_select(day, col(Article.feed_id), func.count())
        .where(col(Article.fetched_at) >= since)
        .group_by(day, col(Article.feed_id))
    ).all()
    return [(_as_date(d), int(feed_id), int(n)) for d, feed_id, n in rows]


def messages_sent_per_day(session: Session, since: datetime) -> dict[date, int]:
    """UTC day → outbox messages Telegram accepted that day, since ``since``."""
    day = _utc_day(session, col(OutboxItem.sent_at)).label("day")
    rows = session.execute(
        sa_select(day, func.count())
        .where(col(OutboxItem.state) == SENT, col(OutboxItem.sent_at) >= since)
        .group_by(day)
    ).all()
    return {_as_date(d): int(n) for d, n in rows}


def daily_counts(session: Session, *, days: int = 14, now: datetime | None = None) -> DailyCounts:
    """Articles per day per feed and messages sent per day over the last ``days`` UTC days,
    today included (so today's bar is the day so far)."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    span = window(today, days)
    since = datetime.combine(span[0], time.min, tzinfo=UTC)
    index = {day: n for n, day in enumerate(span)}
    per_feed: dict[int, list[int]] = defaultdict(lambda: [0] * len(span))
    for day, feed_id, count in articles_per_day(session, since):
        if day in index:  # a fetched_at in the future (a wrong clock) is left out
            per_feed[feed_id][index[day]] += count
    names: dict[int, str] = {}
    if per_feed:
        rows = session.execute(
            sa_select(col(Feed.id), col(Feed.title), col(Feed.url)).where(
                col(Feed.id).in_(list(per_feed))
            )
        ).all()
        names = {int(i): " ".join((title or url).split()) for i, title, url in rows}
    feeds = sorted(
        (
            FeedDays(feed_id, names.get(feed_id, f"#{feed_id}"), tuple(counts))
            for feed_id, counts in per_feed.items()
        ),
        key=lambda feed: (-feed.total, feed.feed_id),
    )
    sent = messages_sent_per_day(session, since)
    return DailyCounts(span, tuple(feeds), tuple(sent.get(day, 0) for day in span))
