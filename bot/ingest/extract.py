"""Main-text extraction for entries whose feed only carries a teaser.

Many newsroom feeds (Reuters, Le Monde, the Guardian...) give a title and one sentence; a
brief needs the article. The lead's fetcher downloads the article page; this module turns
that HTML into paragraphs with trafilatura, the best-scoring open extractor on its own
benchmark and on ours (see docs/benchmarks.md, ``python -m bench.extract``).

Pure with respect to the network: it receives HTML, it never fetches.
"""

from __future__ import annotations

import logging
import re

import trafilatura

__all__ = ["MIN_EXTRACTED_CHARS", "extract_main_text", "is_teaser"]

log = logging.getLogger(__name__)

# Below this, what trafilatura found is a caption, a cookie banner or a paywall stub rather
# than an article: better to brief the feed's teaser than to brief that.
MIN_EXTRACTED_CHARS = 200

_LINES = re.compile(r"\s*\n\s*")


def extract_main_text(html: str | bytes, *, url: str | None = None) -> str | None:
    """The article's main text as paragraphs separated by a blank line, or None.

    Settings, and why:

    - ``favor_precision``: a brief built on a sidebar or a "most read" list is worse than a
      slightly shorter article (it also scores higher on our benchmark: F1 0.97 vs 0.95);
    - no comments, no tables: neither belongs in a news brief;
    - ``deduplicate=False``: trafilatura's dedup cache is process-wide and would delete
      paragraphs that an earlier, unrelated article also had; ``clean_article`` dedups
      within one article instead;
    - fallbacks on (``fast=False``): when its own heuristics find little, trafilatura
      compares with its readability and jusText ports, which rescues odd layouts.

    Returns None when nothing usable (under ``MIN_EXTRACTED_CHARS``) was found, and for any
    input trafilatura cannot read: a broken page must not stop a feed.
    """
    try:
        text = trafilatura.extract(
            html,
            url=url,
            fast=False,
            favor_precision=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            deduplicate=False,
            output_format="txt",
        )
    except Exception:  # trafilatura/lxml can raise on pathological pages
        log.warning("main-text extraction failed for %s", url or "<html>", exc_info=True)
        return None
    if not text:
        return None
    paragraphs = [p for p in _LINES.split(text.strip()) if p]
    joined = "\n\n".join(paragraphs)
    if len(joined) < MIN_EXTRACTED_CHARS:
        return None
    return joined


def is_teaser(text: str, min_chars: int = 400) -> bool:
    """Whether an entry's cleaned text is too short to brief on its own (a teaser).

    Counted in characters of text, ignoring whitespace runs, so a teaser spread over many
    short lines is still a teaser. 400 characters is about two sentences: less than a brief.
    """
    return len(" ".join(text.split())) < min_chars
