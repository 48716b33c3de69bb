"""SQLModel tables: feeds and their fetch state, articles, stories, chats and subscriptions.

Chat ids are BIGINT: Telegram supergroup and channel ids do not fit in 32 bits. Times are stored
as timezone-aware UTC. The schema itself is owned by Alembic (storage/migrations); these classes
must stay in step with the newest migration (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Dialect, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both backends.

    SQLite has no time zone type and hands back naive datetimes; comparing those with aware
    ones raises. Everything is converted to UTC on the way in and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = True) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable)


class Feed(SQLModel, table=True):
    """A feed URL and what we know about fetching it."""

    __tablename__ = "feeds"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    # Scheme-, www- and slash-insensitive form of url: the same feed added twice is refused.
    url_key: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    title: str | None = Field(default=None, sa_column=Column(Text))
    site_url: str | None = Field(default=None, sa_column=Column(Text))
    language: str | None = Field(default=None, max_length=16)
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    # Fetch state
    etag: str | None = Field(default=None, sa_column=Column(Text))
    last_modified: str | None = Field(default=None, sa_column=Column(Text))
    next_check_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    error_count: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_status: str | None = Field(default=None, max_length=32)
    last_fetch_at: datetime | None = Field(default=None, sa_column=_ts())
    last_success_at: datetime | None = Field(default=None, sa_column=_ts())
    # Learned boilerplate: normalised paragraphs recurring across this feed's articles (JSON list).
    boilerplate: str | None = Field(default=None, sa_column=Column(Text))


class Story(SQLModel, table=True):
    """One event, told by one or more articles (a near-duplicate cluster)."""

    __tablename__ = "stories"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    representative_id: int | None = Field(default=None, index=True)
    article_count: int = 1
    first_seen_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class Article(SQLModel, table=True):
    """One stored article. Duplicates are never stored; same-event articles share a story."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid", name="uq_articles_feed_guid"),
        Index("ix_articles_url_key", "url_key"),
        Index("ix_articles_content_hash", "content_hash"),
        Index("ix_articles_published_at", "published_at"),
        Index("ix_articles_fetched_at", "fetched_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(foreign_key="feeds.id", index=True, ondelete="CASCADE")
    story_id: int | None = Field(default=None, foreign_key="stories.id", index=True)
    guid: str = Field(sa_column=Column(Text, nullable=False))
    url: str | None = Field(default=None, sa_column=Column(Text))  # canonical, to link to
    url_key: str | None = Field(default=None, sa_column=Column(Text))  # for duplicate lookup
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    author: str | None = Field(default=None, sa_column=Column(Text))
    published_at: datetime | None = Field(default=None, sa_column=_ts())
    fetched_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    language: str | None = Field(default=None, max_length=16)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    content_hash: str = Field(max_length=64)
    minhash: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    extracted: bool = False  # text came from the article page, not the feed


class Chat(SQLModel, table=True):
    """A Telegram chat (private, group, supergroup or channel) that talks to the bot."""

    __tablename__ = "chats"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    type: str = Field(default="private", max_length=16)
    title: str | None = Field(default=None, sa_column=Column(Text))
    language: str | None = Field(default=None, max_length=16)
    timezone: str = Field(default="UTC", max_length=64)
    active: bool = True
    mode: str = Field(default="instant", max_length=16)  # instant | digest
    digest_times: str = Field(default="08:00", max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class Subscription(SQLModel, table=True):
    """What a chat (and, in forums, a topic) receives: one feed, all feeds, or a keyword alert."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("chat_id", "topic_id", "feed_id", "keywords", name="uq_subscription"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(
        sa_column=Column(BigInteger, nullable=False, index=True)
    )  # references chats.id; kept loose so a group migration can move rows
    topic_id: int = 0  # 0: the chat itself; else a forum topic's message_thread_id
    feed_id: int | None = Field(default=None, foreign_key="feeds.id", ondelete="CASCADE")
    keywords: str = Field(default="", sa_column=Column(Text, nullable=False))  # alert words
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
