"""Briefs of stored stories, composed once and reused for every chat that is owed them.

Composing a brief (picking the member, summarising, keywords) costs tens of milliseconds; a
push to thousands of chats needs the same few briefs thousands of times. The cache keys on the
story id and its stored article count, so a story that gained a publisher is composed again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from sqlalchemy import Engine
from sqlmodel import Session

from bot.briefs.compose import compose_brief
from bot.briefs.render import BriefView
from bot.briefs.stories import StoryMember
from bot.briefs.summarize import ExtractiveSummarizer, Summarizer
from storage import articles as article_queries
from storage.models import Article, Story


def member_of(article: Article, source: str) -> StoryMember:
    assert article.id is not None
    return StoryMember(
        article_id=article.id,
        title=article.title,
        text=article.text,
        source=source,
        url=article.url or "",
        published=article.published_at,
        language=article.language,
    )


class BriefCache:
    """Thread-safe LRU of composed briefs (handlers compose in worker threads)."""

    def __init__(
        self, engine: Engine, summarizer: Summarizer | None = None, size: int = 2048
    ) -> None:
        self._engine = engine
        self._summarizer = summarizer
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, int], BriefView] = OrderedDict()

    def _summarizer_now(self) -> Summarizer:
        # Built on first use: loading the NLP stack is not needed to answer /help.
        if self._summarizer is None:
            self._summarizer = ExtractiveSummarizer()
        return self._summarizer

    def get(self, session: Session, story_id: int) -> BriefView | None:
        """The brief of one story, or None when the story has no articles left."""
        story = session.get(Story, story_id)
        if story is None:
            return None
        # Keyed on the stored article count, so a cached brief costs one primary-key read,
        # not a load of every member's text (a push reads the same briefs for each chat).
        key = (story_id, story.article_count)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        rows = article_queries.story_members_with_source(session, story_id)
        if not rows:
            return None
        view = compose_brief([member_of(a, s) for a, s in rows], self._summarizer_now())
        with self._lock:
            self._items[key] = view
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return view

    def many(self, session: Session, story_ids: Iterable[int]) -> list[tuple[int, BriefView]]:
        """Briefs of these stories in the given order, skipping stories that are gone."""
        found = []
        for story_id in story_ids:
            view = self.get(session, story_id)
            if view is not None:
                found.append((story_id, view))
        return found
