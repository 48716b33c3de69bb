"""Plain records passed between ingestion stages.

Each stage takes and returns these values (no database rows, no HTTP objects), so the pure
stages can be tested directly and the pipeline reads top to bottom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from storage import feeds as feed_queries
from storage.models import Feed

FetchStatus = Literal["ok", "not_modified", "error"]
FeedStatus = Literal["ok", "not_modified", "failed"]


@dataclass(slots=True)
class FetchResult:
    """What one HTTP fetch of a feed (or an article page) produced.

    ``status`` is "error" for anything that did not yield a body to parse: network errors,
    HTTP >= 400, bodies over the byte cap, refused (private) addresses. ``error`` then says why
    in words a feed owner understands.
    """

    url: str  # the URL asked for
    status: FetchStatus
    final_url: str | None = None  # after redirects
    http_status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    max_age: int | None = None  # seconds, from Cache-Control max-age
    retry_after: int | None = None  # seconds, from Retry-After (429/503)
    error: str | None = None
    elapsed: float = 0.0


@dataclass(slots=True)
class RawEntry:
    """One feed entry as the feed gave it, before cleaning."""

    guid: str | None
    url: str | None  # absolute link to the article (alternate), as in the feed
    title: str
    author: str | None
    published: datetime | None  # timezone-aware UTC; None when the feed gives no usable date
    content_html: str  # the fullest body the entry has (content:encoded > content > summary)
    language: str | None = None  # declared by the entry or its feed (e.g. "fr", "en-us")


@dataclass(slots=True)
class ParsedFeed:
    """A parsed feed document. ``warning`` carries feedparser's bozo reason, if any."""

    title: str | None
    site_url: str | None
    language: str | None
    ttl_minutes: int | None
    entries: list[RawEntry] = field(default_factory=list)
    warning: str | None = None


@dataclass(slots=True)
class CleanResult:
    """Cleaned article text plus what cleaning dropped (for --json output and debugging)."""

    text: str  # paragraphs separated by a blank line
    removed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FeedReport:
    """What one feed's refresh did, for the CLI summary, logs and metrics."""

    feed_id: int
    url: str
    status: FeedStatus
    new: int = 0
    duplicate: int = 0
    same_story: int = 0
    extracted: int = 0
    error: str | None = None
    warning: str | None = None
    elapsed: float = 0.0


@dataclass(slots=True)
class CycleReport:
    feeds: list[FeedReport] = field(default_factory=list)
    elapsed: float = 0.0

    def total(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.feeds)

    def count(self, status: FeedStatus) -> int:
        return sum(1 for f in self.feeds if f.status == status)


@dataclass(slots=True, frozen=True)
class FeedJob:
    """The part of a Feed row a refresh needs, detached from any session."""

    id: int
    url: str
    etag: str | None
    last_modified: str | None
    error_count: int
    language: str | None
    boilerplate: frozenset[str]
    lease_owner: str | None = None  # the claimer, whose lease ends when the outcome is stored

    @classmethod
    def of(cls, feed: Feed, lease_owner: str | None = None) -> FeedJob:
        assert feed.id is not None
        return cls(
            feed.id,
            feed.url,
            feed.etag,
            feed.last_modified,
            feed.error_count,
            feed.language,
            feed_queries.learned_boilerplate(feed),
            lease_owner,
        )
