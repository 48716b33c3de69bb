"""Teaser entries: fetch the article page and brief the article instead of its first line.

Many newsroom feeds give a title and one sentence. For those entries the article page is
fetched (with the fetcher's limits and guards) and its main text extracted in the CPU pool
(bot/ingest/extract.py); the entry keeps its teaser when the page gives nothing longer.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from bot.ingest.extract import is_teaser
from bot.ingest.fetch import Fetcher
from bot.ingest.language import LanguageDetector
from bot.ingest.prepare import PreparedArticle, refresh_text
from bot.ingest.worker import CPUPool

FAILED_PAGES_KEPT = 10_000


class TeaserFiller:
    """Replaces teaser texts by their pages' main text; remembers the pages that gave none."""

    def __init__(
        self, fetcher: Fetcher, pool: CPUPool, detector: LanguageDetector, teaser_chars: int
    ) -> None:
        self.fetcher = fetcher
        self.pool = pool
        self.detector = detector
        self.teaser_chars = teaser_chars
        # A page that yielded no text is not fetched again: a feed is read every few minutes
        # and its teasers stay in it for days. Bounded, oldest forgotten first.
        self._failed_pages: OrderedDict[str, None] = OrderedDict()

    async def fill(self, articles: list[PreparedArticle]) -> int:
        """Extract the pages of the teasers among ``articles``; the number now full-text."""
        teasers = [a for a in articles if a.url and is_teaser(a.text, self.teaser_chars)]
        done = await asyncio.gather(*(self._one(a) for a in teasers))
        return sum(done)

    async def _one(self, item: PreparedArticle) -> bool:
        url = item.url
        if not url or url in self._failed_pages:
            return False
        page = await self.fetcher.fetch_page(url)
        text = None
        if page.status == "ok" and page.body:
            text = await self.pool.extract(page.body, url)
        if not text or len(text) <= len(item.text):
            self._failed_pages[url] = None
            while len(self._failed_pages) > FAILED_PAGES_KEPT:
                self._failed_pages.popitem(last=False)
            return False
        await asyncio.to_thread(refresh_text, item, text, self.detector)
        return True
