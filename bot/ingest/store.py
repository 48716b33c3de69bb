"""The store stage: decide new / duplicate / same story for a document's articles, then write.

Duplicates are decided in layers, cheapest first: a GUID the feed already has (checked in the
worker), a URL or normalised text already stored (one query per document), then MinHash/LSH
against recent articles — Jaccard ≥ 0.8 is the same article again, 0.5–0.8 the same story
told again (stored, attached to that story). Near-duplicates inside one document find each
other too: pending articles sit in the index under temporary negative keys until the insert
gives them ids. An article that shares no wording with anything recent may still tell the
same event as another publisher's: the StoryMatcher (TF-IDF over headline and lead, within
36 hours) attaches it to that story.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from bot.ingest.cluster import DEFAULT_WINDOW, StoryMatcher
from bot.ingest.cluster_terms import Analysis
from bot.ingest.dedup import NearDuplicateIndex, classify
from bot.ingest.prepare import PreparedArticle, PreparedBatch
from storage import articles as article_queries
from storage import leases
from storage.articles import NewArticle

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StoreCounts:
    new: int = 0
    duplicate: int = 0
    same_story: int = 0


@dataclass(slots=True)
class StoreLockTimes:
    """The cost of sharing the database with other processes (PostgreSQL), summed: what a
    worker reports when it stops and what bench/workers.py measures."""

    stores: int = 0
    waited: float = 0.0  # seconds spent waiting for the store lock
    held: float = 0.0  # seconds holding it (catch-up under the lock, store, commit)
    caught_up: int = 0  # articles other processes stored, added to this one's indexes

    def __str__(self) -> str:
        return (
            f"{self.stores} stores, lock waited {self.waited:.1f}s, held {self.held:.1f}s, "
            f"{self.caught_up} articles caught up"
        )


@dataclass(slots=True)
class KnownKeys:
    """URL keys and content hashes already stored: the exact-duplicate layer of a batch."""

    urls: set[str]
    hashes: set[str]

    @classmethod
    def of(cls, session: Session, batch: PreparedBatch) -> KnownKeys:
        """Which of the batch's keys are stored (two queries)."""
        urls, hashes = article_queries.existing_keys(
            session,
            (a.url_key for a in batch.articles if a.url_key),
            (a.content_hash for a in batch.articles),
        )
        return cls(urls, hashes)

    def has(self, article: PreparedArticle) -> bool:
        """Is this article stored already, by URL or by text?"""
        return bool(article.url_key and article.url_key in self.urls) or (
            article.content_hash in self.hashes
        )

    def add(self, url_key: str | None, content_hash: str) -> None:
        if url_key:
            self.urls.add(url_key)
        self.hashes.add(content_hash)


class RecentIndex:
    """What the store stage remembers of recent articles: MinHash signatures, the story of
    each, and the event matcher. Rebuilt from the database at start-up."""

    def __init__(self) -> None:
        self.near = NearDuplicateIndex()
        self.story_of: dict[int, int] = {}
        # The matcher's clock is the newest publication time seen, not the wall clock, so a
        # backlog (or a test corpus from 2017) is clustered among itself, not evicted at once.
        # Until a dated article is seen it is the wall clock: an undated article stamped with
        # "the beginning of time" would be evicted by the first dated one.
        self._newest: datetime | None = None
        self.events = StoryMatcher(clock=self._clock)
        # The newest article id this index has seen: with several processes storing into one
        # PostgreSQL database, each catches up with the others' articles past it before it
        # decides (catch_up, under the store lock).
        self.watermark = 0

    def _clock(self) -> datetime:
        return self._newest or datetime.now(UTC)

    def __len__(self) -> int:
        return len(self.near)

    def load(self, session: Session, since: datetime) -> None:
        """Rebuild from the database. For the watermark to be exact the session must read one
        snapshot (REPEATABLE READ on PostgreSQL; the pipeline opens it so)."""
        self.watermark = article_queries.newest_article_id(session)
        for article_id, story_id, signature in article_queries.recent_signatures(session, since):
            self.add_signature(article_id, story_id, signature)
        for row in article_queries.recent_for_events(session, since - DEFAULT_WINDOW):
            self.add_event(
                row.id, row.story_id, row.title, row.text, row.published_at, row.language
            )

    def catch_up(self, session: Session, known: KnownKeys | None = None) -> int:
        """Add the articles other processes stored since the watermark; returns how many.
        Their URL keys and content hashes go into ``known`` when given.

        Exact only under ``leases.lock_store``: every store then runs in turn, so ids grow in
        commit order and nothing below the watermark can still appear.
        """
        rows = article_queries.articles_after(session, self.watermark)
        for row in rows:
            if known is not None:
                known.add(row.url_key, row.content_hash)
            if row.minhash is not None:
                self.add_signature(row.id, row.story_id, bytes(row.minhash))
            self.add_event(
                row.id, row.story_id, row.title, row.text, row.published_at, row.language
            )
            self.watermark = max(self.watermark, row.id)
        return len(rows)

    def add_signature(self, article_id: int, story_id: int | None, signature: bytes) -> None:
        self.near.add(article_id, signature)
        if story_id is not None:
            self.story_of[article_id] = story_id

    def add_event(
        self,
        article_id: int,
        story_id: int | None,
        title: str,
        text: str,
        published: datetime | None,
        language: str | None,
        analysis: Analysis | None = None,
    ) -> None:
        if published is not None and (self._newest is None or published > self._newest):
            self._newest = min(published, datetime.now(UTC))
        self.events.add(
            article_id,
            title=title,
            text=text,
            published=published,
            language=language,
            story=story_id,
            analysis=analysis,
        )
        if story_id is not None:
            self.story_of[article_id] = story_id

    def discard_signature(self, article_id: int) -> None:
        if article_id in self.near:
            self.near.remove(article_id)


@dataclass(slots=True)
class _Pending:
    item: PreparedArticle
    temp_key: int
    story_id: int | None  # an existing story to join
    group: int  # else: the batch-local new story it opens or shares


def article_values(feed_id: int, item: PreparedArticle) -> dict[str, object]:
    return {
        "feed_id": feed_id,
        "guid": item.guid,
        "url": item.url,
        "url_key": item.url_key,
        "title": item.title,
        "author": item.author,
        "published_at": item.published,
        "language": item.language,
        "text": item.text,
        "content_hash": item.content_hash,
        "minhash": item.minhash,
        "extracted": item.extracted,
    }


def store_batch(
    session: Session,
    feed_id: int,
    batch: PreparedBatch,
    index: RecentIndex,
    known: KnownKeys | None = None,
) -> StoreCounts:
    """Write the new articles of ``batch`` (no commit) and keep ``index`` in step.

    ``known``: the batch's keys already stored, when the caller has looked them up (the
    pipeline does, and on PostgreSQL adds what it catches up with under the store lock);
    otherwise they are looked up here.

    If this function fails, nothing of the batch stays in the index. If the caller's commit
    fails afterwards, the index already knows ids that will never exist: the caller must drop
    the index and reload it (the pipeline does). Same-event articles inside one document are
    linked only when their wording is close (MinHash); the event matcher sees an article once
    it is stored.
    """
    counts = StoreCounts()
    known = known or KnownKeys.of(session, batch)
    known_urls, known_hashes = known.urls, known.hashes
    pending: list[_Pending] = []
    by_temp: dict[int, _Pending] = {}
    seen_guids: set[str] = set()
    try:
        for item in batch.articles:
            if (
                item.guid in seen_guids
                or (item.url_key and item.url_key in known_urls)
                or item.content_hash in known_hashes
            ):
                counts.duplicate += 1
                continue
            story_id, group = None, len(pending)
            if item.minhash is not None:
                matches = index.near.query(item.minhash)
                if matches:
                    best, similarity = matches[0]
                    kind = classify(similarity)
                    if kind == "same_article":
                        counts.duplicate += 1
                        continue
                    if kind == "same_story":
                        counts.same_story += 1
                        if best in by_temp:
                            story_id, group = by_temp[best].story_id, by_temp[best].group
                        else:
                            story_id = index.story_of.get(best)
            if story_id is None and group == len(pending):
                event = index.events.match(
                    title=item.title,
                    text=item.text,
                    published=item.published,
                    language=item.language,
                    analysis=item.event_terms,
                )
                if event is not None and event[0] in index.story_of:
                    story_id = index.story_of[event[0]]
                    counts.same_story += 1
            seen_guids.add(item.guid)
            if item.url_key:
                known_urls.add(item.url_key)
            known_hashes.add(item.content_hash)
            entry = _Pending(item, -(len(pending) + 1), story_id, group)
            pending.append(entry)
            if item.minhash is not None:
                index.near.add(entry.temp_key, item.minhash)
                by_temp[entry.temp_key] = entry
        written = article_queries.insert_articles(
            session,
            [
                NewArticle(article_values(feed_id, p.item), story_id=p.story_id, group=p.group)
                for p in pending
            ],
        )
    finally:
        for temp_key in by_temp:
            index.discard_signature(temp_key)
    for entry, (article_id, story_id) in zip(pending, written, strict=True):
        item = entry.item
        if item.minhash is not None:
            index.add_signature(article_id, story_id, item.minhash)
        index.add_event(
            article_id,
            story_id,
            item.title,
            item.text,
            item.published,
            item.language,
            item.event_terms,
        )
    if written:
        index.watermark = max(index.watermark, max(article_id for article_id, _ in written))
    counts.new = len(written)
    return counts


# While another process stores, catch up with it and try the store lock again this often; past
# STORE_LOCK_POLLING seconds, queue for the lock instead (a busy database: fairness first).
STORE_LOCK_POLL = 0.02
STORE_LOCK_POLLING = 1.0


def lock_store(
    session: Session, index: RecentIndex, known: KnownKeys, times: StoreLockTimes
) -> float:
    """Take the cross-process store lock (PostgreSQL) with ``index`` caught up with what the
    other processes stored; ``known`` (the batch's keys stored when they were looked up) gets
    the keys of every article caught up with, so it is complete under the lock. Returns when
    the lock was taken (``time.perf_counter``); it is held until the transaction ends.

    While the lock is busy this catches up with what its holder stores (adding articles to the
    event index is the costly part), so that under the lock only the articles committed since
    the last try are left: the lock is held for as short a time as the store itself allows.
    """
    caught_up = index.catch_up(session, known)
    waiting = time.perf_counter()
    while not leases.try_lock_store(session):
        caught_up += index.catch_up(session, known)
        if time.perf_counter() - waiting > STORE_LOCK_POLLING:
            leases.lock_store(session)  # busy for long: wait in line
            break
        time.sleep(STORE_LOCK_POLL)
    locked = time.perf_counter()
    times.waited += locked - waiting
    times.caught_up += index.catch_up(session, known) + caught_up
    times.stores += 1
    return locked
