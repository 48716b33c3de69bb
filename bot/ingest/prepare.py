"""Turn parsed entries into storable articles: clean text, language, dedup keys (pure CPU work).

Runs in a worker thread. Everything the store step needs to decide "new, duplicate or same
story" is computed here, so the part that holds the database lock stays short.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from bot.ingest.clean import clean_article, fix_mojibake, html_to_text, learn_boilerplate
from bot.ingest.cluster_terms import Analysis, analyse
from bot.ingest.dedup import content_hash, minhash_signature
from bot.ingest.language import LanguageDetector
from bot.ingest.records import ParsedFeed, RawEntry
from bot.ingest.urls import canonical_url, url_key

# Below this many characters the text alone is too generic to be an identity ("Photo", "Video"):
# the title joins it in the content hash.
MIN_HASHABLE_TEXT = 200
# Learned boilerplate needs enough articles to tell a signature from a coincidence.
MIN_ENTRIES_TO_LEARN = 4


@dataclass(slots=True)
class PreparedArticle:
    guid: str
    url: str | None
    url_key: str | None
    title: str
    author: str | None
    published: datetime | None
    language: str | None
    text: str
    content_hash: str
    minhash: bytes | None
    declared_language: str | None = None
    event_terms: Analysis | None = None  # for the StoryMatcher, computed here (worker side)
    extracted: bool = False
    removed: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PreparedBatch:
    articles: list[PreparedArticle]
    boilerplate: frozenset[str] | None  # newly learned for the feed, or None to keep the stored


def clean_title(title: str) -> str:
    """One line, mojibake repaired. The title is already plain text (parse strips HTML titles'
    tags), so it is not read as HTML again: "the &lt;script&gt; tag" must keep its word."""
    return " ".join(fix_mojibake(title).split())


def identity_hash(title: str, text: str) -> str:
    basis = text if len(text) >= MIN_HASHABLE_TEXT else f"{title}\n{text}"
    return content_hash(basis)


def entry_guid(entry: RawEntry) -> str:
    """The entry's id, else its link, else a digest of what it says (Rutube items have none)."""
    if entry.guid:
        return entry.guid.strip()
    if entry.url:
        return entry.url.strip()
    digest = hashlib.sha256(f"{entry.title}\n{entry.content_html}".encode()).hexdigest()
    return f"sha256:{digest[:32]}"


def prepare_entries(
    parsed: ParsedFeed,
    *,
    feed_language: str | None,
    stored_boilerplate: frozenset[str],
    skip_guids: Collection[str],
    detector: LanguageDetector,
) -> PreparedBatch:
    """Clean and key every entry whose GUID the feed does not already have."""
    # Each entry's HTML is converted once: the texts feed both learning and cleaning.
    texts = {id(e): html_to_text(e.content_html) for e in parsed.entries}
    learned: frozenset[str] | None = None
    boilerplate = stored_boilerplate
    if len(parsed.entries) >= MIN_ENTRIES_TO_LEARN:
        learned = learn_boilerplate(list(texts.values()))
        boilerplate = learned
    declared_feed = parsed.language or feed_language
    articles = []
    for entry in parsed.entries:
        guid = entry_guid(entry)
        if guid in skip_guids:
            continue
        title = clean_title(entry.title)
        cleaned = clean_article(
            texts[id(entry)], boilerplate=boilerplate, title=title, is_text=True
        )
        url = canonical_url(entry.url, parsed.site_url)
        declared = entry.language or declared_feed
        item = PreparedArticle(
            guid=guid,
            url=url,
            url_key=url_key(url, canonical=True) if url else None,
            title=title,
            author=" ".join(entry.author.split()) if entry.author else None,
            published=entry.published,
            language=None,
            text=cleaned.text,
            content_hash="",
            minhash=None,
            declared_language=declared,
            removed=cleaned.removed,
        )
        _derive(item, detector)
        articles.append(item)
    return PreparedBatch(articles=articles, boilerplate=learned)


def refresh_text(item: PreparedArticle, extracted_text: str, detector: LanguageDetector) -> None:
    """Replace a teaser with the page's extracted main text and recompute what depends on it."""
    cleaned = clean_article(extracted_text, title=item.title)
    item.text = cleaned.text
    item.removed = cleaned.removed
    item.extracted = True
    _derive(item, detector)


def _derive(item: PreparedArticle, detector: LanguageDetector) -> None:
    item.content_hash = identity_hash(item.title, item.text)
    item.minhash = minhash_signature(f"{item.title}\n{item.text}")
    item.language = detector.detect(f"{item.title}\n{item.text}", declared=item.declared_language)
    item.event_terms = analyse(item.title, item.text, item.language)
