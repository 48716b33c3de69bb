"""Seed a test database with feeds, stories and chats without running the fetch pipeline."""

from __future__ import annotations

import hashlib
import itertools
from datetime import datetime

from sqlmodel import Session

from storage import chats as chat_queries
from storage import feeds as feed_queries
from storage.articles import NewArticle, insert_articles

_GUIDS = itertools.count(1)


def add_feed(session: Session, name: str) -> int:
    url = f"http://127.0.0.1:9/{name}.xml"
    feed = feed_queries.add_feed(session, url, f"127.0.0.1:9/{name}.xml", title=name.title())
    assert feed.id is not None
    return feed.id


def add_story(
    session: Session,
    feed_id: int,
    title: str,
    text: str,
    *,
    story_id: int | None = None,
    published: datetime | None = None,
    language: str = "en",
) -> int:
    """Store one article (opening a new story unless ``story_id`` is given); its story id."""
    n = next(_GUIDS)
    values = {
        "feed_id": feed_id,
        "guid": f"guid-{n}",
        "url": f"https://news.example/{n}",
        "url_key": f"news.example/{n}",
        "title": title,
        "text": text,
        "language": language,
        "published_at": published,
        "content_hash": hashlib.sha256(f"{n}{title}{text}".encode()).hexdigest(),
    }
    [(_, story)] = insert_articles(session, [NewArticle(values, story_id=story_id)])
    session.commit()
    return story


def add_chat(
    session: Session,
    chat_id: int,
    *,
    chat_type: str = "private",
    mode: str = "instant",
    topic_id: int = 0,
    feed_id: int | None = None,
    keywords: str = "",
    subscribe: bool = True,
    digest_times: str | None = None,
    last_digest_at: datetime | None = None,
) -> None:
    """Register a chat and, if ``subscribe``, its subscription (all feeds, ``feed_id`` or
    ``keywords``); ``digest_times`` and ``last_digest_at`` replace the chat's defaults if given."""
    chat, _ = chat_queries.register_chat(session, chat_queries.ChatInfo(chat_id, chat_type))
    chat.mode = mode
    if digest_times is not None:
        chat.digest_times = digest_times
    if last_digest_at is not None:
        chat.last_digest_at = last_digest_at
    session.add(chat)
    if subscribe:
        chat_queries.subscribe(session, chat_id, topic_id, feed_id=feed_id, keywords=keywords)
    session.commit()
