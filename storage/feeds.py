"""Feed queries: the catalogue and each feed's fetch state."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from storage.models import Feed, utcnow


class DuplicateFeedError(ValueError):
    """The feed (or the same feed under another spelling of its URL) is already there."""

    def __init__(self, existing: Feed) -> None:
        super().__init__(f"feed already added as #{existing.id}: {existing.url}")
        self.existing = existing


def add_feed(session: Session, url: str, url_key: str, *, title: str | None = None) -> Feed:
    existing = session.exec(
        select(Feed).where(or_(col(Feed.url) == url, col(Feed.url_key) == url_key))
    ).first()
    if existing is not None:
        raise DuplicateFeedError(existing)
    feed = Feed(url=url, url_key=url_key, title=title)  # host: set on insert (models.py)
    session.add(feed)
    session.commit()
    session.refresh(feed)
    return feed


def list_feeds(session: Session) -> Sequence[Feed]:
    return session.exec(select(Feed).order_by(Feed.id)).all()  # type: ignore[arg-type]


def find_feed(session: Session, ref: str) -> Feed | None:
    """A feed by numeric id or exact URL."""
    if ref.isdigit():
        return session.get(Feed, int(ref))
    return session.exec(select(Feed).where(Feed.url == ref)).first()


def find_feed_by_key(session: Session, url_key: str) -> Feed | None:
    """The feed stored under this scheme-, www- and slash-insensitive URL key, if any."""
    return session.exec(select(Feed).where(Feed.url_key == url_key)).first()


def due_feeds(session: Session, now: datetime, *, all_feeds: bool = False) -> Sequence[Feed]:
    query = select(Feed).where(Feed.enabled == True)  # noqa: E712  (SQL expression)
    if not all_feeds:
        query = query.where(Feed.next_check_at <= now)
    return session.exec(query.order_by(Feed.next_check_at, Feed.id)).all()  # type: ignore[arg-type]


def count_feeds(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Feed)).one()


def learned_boilerplate(feed: Feed) -> frozenset[str]:
    return frozenset(json.loads(feed.boilerplate)) if feed.boilerplate else frozenset()


def record_fetch(
    session: Session,
    feed_id: int,
    *,
    status: str,
    next_check_at: datetime,
    error: str | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    title: str | None = None,
    site_url: str | None = None,
    language: str | None = None,
    boilerplate: frozenset[str] | None = None,
    lease_owner: str | None = None,
) -> None:
    """Store the outcome of one fetch. Errors count up (for backoff); a success resets them.

    ``lease_owner``: the worker that claimed the feed (storage/leases.py); its lease ends in
    the same transaction that moves ``next_check_at`` on, so the feed is never free and still
    due at once (fetched twice in a cycle) nor leased and already done. A lease that has passed
    to another worker meanwhile is left alone.
    """
    feed = session.get(Feed, feed_id)
    if feed is None:  # removed while it was being fetched
        return
    if lease_owner is not None:
        session.execute(
            update(Feed)
            .where(col(Feed.id) == feed_id, col(Feed.lease_owner) == lease_owner)
            .values(lease_owner=None, lease_until=None)
        )
    now = utcnow()
    feed.last_fetch_at = now
    feed.last_status = status
    feed.next_check_at = next_check_at
    if status == "failed":
        feed.error_count += 1
        feed.last_error = error
    else:
        feed.error_count = 0
        feed.last_error = None
        feed.last_success_at = now
        if status == "ok":
            # Validators come with a full response only; a 304 keeps the ones we sent.
            feed.etag = etag
            feed.last_modified = last_modified
        feed.title = title or feed.title
        feed.site_url = site_url or feed.site_url
        feed.language = language or feed.language
        if boilerplate is not None:
            feed.boilerplate = json.dumps(sorted(boilerplate), ensure_ascii=False)
    session.add(feed)


def postpone(
    session: Session, feed_id: int, next_check_at: datetime, lease_owner: str | None = None
) -> None:
    """Try the feed again at ``next_check_at`` without recording a fetch: for work the database
    interrupted, which is no fault of the feed (no error counted, no back-off). The lease of
    ``lease_owner`` ends too, unless another worker holds the feed by now."""
    values: dict[str, object] = {"next_check_at": next_check_at}
    condition = col(Feed.id) == feed_id
    if lease_owner is not None:
        values.update(lease_owner=None, lease_until=None)
        condition = condition & (col(Feed.lease_owner) == lease_owner)
    session.execute(update(Feed).where(condition).values(**values))
    session.commit()
