"""SQLModel tables: feeds and their fetch state, articles, stories, chats and subscriptions.

Chat ids are BIGINT: Telegram supergroup and channel ids do not fit in 32 bits. Times are stored
as timezone-aware UTC. The schema itself is owned by Alembic (storage/migrations); these classes
must stay in step with the newest migration (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    BigInteger,
    Column,
    Dialect,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def host_key(url: str) -> str:
    """The server a URL is fetched from, as politeness limits count it: the lower-cased host
    name, with the port when one is given (the fetcher's per-host slots use the same unit)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: the URL will fail to fetch anyway
        port = None
    return f"{host}:{port}" if port else host


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
    # Due feeds are found by next check time, on every tick and every worker's claim.
    __table_args__ = (Index("ix_feeds_next_check_at", "next_check_at"),)

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
    # Fetch workers on PostgreSQL (storage/leases.py): the host counted by the cross-worker
    # per-host limit (kept equal to host_key(url) by the listener below), and the worker that
    # has claimed the feed until when. An expired lease is free again: a dead worker's feeds
    # return to the pool by themselves.
    host: str = Field(default="", sa_column=Column(Text, nullable=False, index=True))
    lease_owner: str | None = Field(default=None, sa_column=Column(Text))
    lease_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True)
    )


@event.listens_for(Feed, "before_insert")
@event.listens_for(Feed, "before_update")
def _keep_host_in_step(_mapper: Any, _connection: Any, feed: Feed) -> None:
    # Every Feed written through the ORM (added, or its URL changed) gets its host from its URL,
    # so no caller can forget it and the per-host lease counts never see a stale host.
    key = host_key(feed.url)
    if feed.host != key:
        feed.host = key


class Story(SQLModel, table=True):
    """One event, told by one or more articles (a near-duplicate cluster)."""

    __tablename__ = "stories"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(default="", sa_column=Column(Text, nullable=False))
    representative_id: int | None = Field(default=None, index=True)
    article_count: int = 1
    first_seen_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    # Set once the bot has decided which chats are owed this story (fan-out). A column rather
    # than a high-water mark on ids: stories committed out of id order are not skipped.
    announced_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True)
    )


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
    # Set by /language; None follows each user's Telegram language.
    chosen_language: str | None = Field(default=None, max_length=16)
    timezone: str = Field(default="UTC", max_length=64)
    active: bool = True
    mode: str = Field(default="instant", max_length=16)  # instant | digest
    digest_times: str = Field(default="08:00", max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    last_digest_at: datetime | None = Field(default=None, sa_column=_ts())
    # Consecutive "chat not found" answers; a few in a row make the chat inactive.
    failures: int = 0


class Subscription(SQLModel, table=True):
    """What a chat (and, in forums, a topic) receives: one feed, all feeds, or a keyword alert."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("chat_id", "topic_id", "feed_id", "keywords", name="uq_subscription"),
        # NULLs are distinct in the constraint above: "all feeds" rows need their own index.
        Index(
            "uq_subscription_all_feeds",
            "chat_id",
            "topic_id",
            "keywords",
            unique=True,
            sqlite_where=text("feed_id IS NULL"),
            postgresql_where=text("feed_id IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(
        sa_column=Column(BigInteger, nullable=False, index=True)
    )  # references chats.id; kept loose so a group migration can move rows
    topic_id: int = 0  # 0: the chat itself; else a forum topic's message_thread_id
    feed_id: int | None = Field(default=None, foreign_key="feeds.id", ondelete="CASCADE")
    keywords: str = Field(default="", sa_column=Column(Text, nullable=False))  # alert words
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class ChatFilter(SQLModel, table=True):
    """A word a chat requires (+) or excludes (-) in every brief it receives."""

    __tablename__ = "chat_filters"
    __table_args__ = (UniqueConstraint("chat_id", "word", name="uq_chat_filter"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    word: str = Field(sa_column=Column(Text, nullable=False))
    required: bool = False  # True: +WORD (must appear); False: -WORD (must not)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))


class OutboxItem(SQLModel, table=True):
    """One message owed to a chat, written in the transaction that decided it is owed.

    The delivery worker sends pending rows whose time has come and records Telegram's message
    id; a failure reschedules the row instead of losing it.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    topic_id: int = 0
    kind: str = Field(max_length=16)  # brief | digest | push | broadcast
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    state: str = Field(default="pending", max_length=16)  # pending | sent | failed | skipped
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())


class Delivery(SQLModel, table=True):
    """A story owed to (and then delivered to) one chat or forum topic, at most once.

    The primary key is what makes delivery idempotent: repeated pushes, overlapping schedules
    and restarts can only ever insert a (chat, topic, story) once. ``outbox_id`` is empty while
    the story waits for the chat's next digest.
    """

    __tablename__ = "deliveries"

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    topic_id: int = Field(default=0, primary_key=True)
    story_id: int = Field(foreign_key="stories.id", primary_key=True, ondelete="CASCADE")
    outbox_id: int | None = Field(
        default=None, foreign_key="outbox.id", index=True, ondelete="SET NULL"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(False))
