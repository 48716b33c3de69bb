"""Article and story queries: the duplicate look-ups ingestion needs, inserts, and counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from storage.models import Article, Chat, Feed, Story, utcnow


def existing_guids(session: Session, feed_id: int, guids: Iterable[str]) -> set[str]:
    """Which of ``guids`` this feed already has (one query for a whole feed document)."""
    wanted = list(set(guids))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):  # stay under bound-parameter limits
        chunk = wanted[start : start + 500]
        found.update(
            session.exec(
                select(Article.guid).where(Article.feed_id == feed_id, col(Article.guid).in_(chunk))
            ).all()
        )
    return found


def recent_signatures(session: Session, since: datetime) -> list[tuple[int, int | None, bytes]]:
    """(article id, story id, MinHash bytes) of recent articles, to rebuild the LSH index."""
    rows = session.exec(
        select(Article.id, Article.story_id, Article.minhash).where(
            Article.fetched_at >= since, col(Article.minhash).is_not(None)
        )
    ).all()
    return [(int(a), s, bytes(m)) for a, s, m in rows if a is not None and m is not None]


def recent_for_events(session: Session, since: datetime) -> Sequence[Any]:
    """Recent articles' id, story, title, text, date and language, to rebuild the event index."""
    columns = (
        col(Article.id),
        col(Article.story_id),
        col(Article.title),
        col(Article.text),
        col(Article.published_at),
        col(Article.language),
    )
    query = sa_select(*columns).where(col(Article.fetched_at) >= since).order_by(col(Article.id))
    return session.execute(query).all()


def counts(session: Session) -> dict[str, int]:
    """The figures `newsbrief stats` prints."""

    def count(model: type) -> int:
        return int(session.exec(select(func.count()).select_from(model)).one())

    active_chats = session.exec(
        select(func.count()).select_from(Chat).where(Chat.active == True)  # noqa: E712
    ).one()
    return {
        "feeds": count(Feed),
        "articles": count(Article),
        "stories": count(Story),
        "subscribers": int(active_chats),
    }


def latest_story_ids(session: Session, limit: int = 10) -> list[int]:
    """Stories with the newest articles first."""
    rows = session.exec(
        select(Story.id).order_by(col(Story.updated_at).desc(), col(Story.id).desc()).limit(limit)
    ).all()
    return [int(r) for r in rows if r is not None]


def story_members_with_source(session: Session, story_id: int) -> list[tuple[Article, str]]:
    """A story's articles, each with the name of the feed it came from."""
    rows = session.exec(
        select(Article, Feed.title, Feed.url)
        .join(Feed, col(Feed.id) == col(Article.feed_id))
        .where(Article.story_id == story_id)
        .order_by(col(Article.id))
    ).all()
    return [(article, title or url) for article, title, url in rows]


def existing_keys(
    session: Session, url_keys: Iterable[str], hashes: Iterable[str]
) -> tuple[set[str], set[str]]:
    """Which of these URL keys and content hashes are stored already (two queries a batch)."""
    found_keys: set[str] = set()
    found_hashes: set[str] = set()
    keys, digests = list(set(url_keys)), list(set(hashes))
    for start in range(0, len(keys), 500):
        found_keys.update(
            k
            for k in session.exec(
                select(Article.url_key).where(col(Article.url_key).in_(keys[start : start + 500]))
            ).all()
            if k is not None
        )
    for start in range(0, len(digests), 500):
        found_hashes.update(
            session.exec(
                select(Article.content_hash).where(
                    col(Article.content_hash).in_(digests[start : start + 500])
                )
            ).all()
        )
    return found_keys, found_hashes


@dataclass(slots=True)
class NewArticle:
    """One article to insert. It joins ``story_id`` if set; otherwise articles sharing the
    same batch-local ``group`` open one new story together (None: a story of its own)."""

    values: dict[str, Any]  # articles columns (without id and story_id)
    story_id: int | None = None
    group: int | None = None


def insert_articles(session: Session, items: Sequence[NewArticle]) -> list[tuple[int, int]]:
    """Insert a whole document's new articles in a few statements; (article id, story id) each.

    The ORM's unit of work costs milliseconds per row (a flush per article and its story);
    a feed document is written with one multi-row INSERT for its new stories, one for its
    articles (RETURNING ids, in order) and one executemany for the story counters.
    """
    if not items:
        return []
    now = utcnow()
    groups: dict[object, list[int]] = {}
    for position, item in enumerate(items):
        if item.story_id is None:
            key = ("group", item.group) if item.group is not None else ("own", position)
            groups.setdefault(key, []).append(position)
    story_of_position: dict[int, int] = {}
    if groups:
        rows = [
            {
                "title": items[members[0]].values.get("title", ""),
                "article_count": len(members),
                "first_seen_at": now,
                "updated_at": now,
            }
            for members in groups.values()
        ]
        story_ids = (
            session.execute(
                insert(Story).returning(col(Story.id), sort_by_parameter_order=True),
                rows,
            )
            .scalars()
            .all()
        )
        for members, story_id in zip(groups.values(), story_ids, strict=True):
            for position in members:
                story_of_position[position] = story_id
    article_rows = []
    for position, item in enumerate(items):
        story_id = item.story_id if item.story_id is not None else story_of_position[position]
        article_rows.append({**item.values, "story_id": story_id, "fetched_at": now})
    article_ids = (
        session.execute(
            insert(Article).returning(col(Article.id), sort_by_parameter_order=True),
            article_rows,
        )
        .scalars()
        .all()
    )
    stories = Story.__table__  # type: ignore[attr-defined]
    if groups:
        session.execute(
            update(stories)
            .where(stories.c.id == bindparam("b_story"))
            .values(representative_id=bindparam("b_article")),
            [
                {"b_story": story_of_position[members[0]], "b_article": article_ids[members[0]]}
                for members in groups.values()
            ],
        )
    joined: dict[int, int] = {}
    for item in items:
        if item.story_id is not None:
            joined[item.story_id] = joined.get(item.story_id, 0) + 1
    if joined:
        session.execute(
            update(stories)
            .where(stories.c.id == bindparam("b_story"))
            .values(
                article_count=stories.c.article_count + bindparam("b_count"),
                updated_at=bindparam("b_now"),
            ),
            [{"b_story": s, "b_count": n, "b_now": now} for s, n in joined.items()],
        )
    return [
        (int(article_id), int(row["story_id"]))
        for article_id, row in zip(article_ids, article_rows, strict=True)
    ]


def newest_article_id(session: Session) -> int:
    return int(session.execute(sa_select(func.max(col(Article.id)))).scalar() or 0)


def articles_after(session: Session, article_id: int) -> Sequence[Any]:
    """Articles stored after ``article_id`` (by any process), in id order, with what the
    in-memory indexes and the exact-duplicate check need: id, story, MinHash, title, text,
    date, language, URL key, content hash."""
    query = (
        sa_select(
            col(Article.id),
            col(Article.story_id),
            col(Article.minhash),
            col(Article.title),
            col(Article.text),
            col(Article.published_at),
            col(Article.language),
            col(Article.url_key),
            col(Article.content_hash),
        )
        .where(col(Article.id) > article_id)
        .order_by(col(Article.id))
    )
    return session.execute(query).all()
