"""Wiring shared by the CLI commands: the engine, the ingestor, and adding feeds.

Everything is built from one Settings object passed in; nothing here is global.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from bot.ingest.fetch import Fetcher
from bot.ingest.language import LanguageDetector
from bot.ingest.opml import read_opml
from bot.ingest.pipeline import Ingestor
from bot.ingest.urls import canonical_url, url_key
from bot.ingest.worker import CPUPool
from bot.settings import Settings
from storage import feeds as feed_queries
from storage.models import Feed

log = logging.getLogger(__name__)


class InvalidFeedURLError(ValueError):
    """The text given as a feed URL is not an http(s) URL we can fetch."""


def make_fetcher(settings: Settings) -> Fetcher:
    return Fetcher(
        timeout=settings.fetch_timeout,
        max_bytes=settings.max_feed_bytes,
        user_agent=settings.user_agent,
        allow_private_networks=settings.allow_private_networks,
        concurrency=settings.fetch_concurrency,
        per_host=settings.fetch_per_host,
    )


@contextlib.asynccontextmanager
async def ingestor(
    settings: Settings, engine: Engine, detector: LanguageDetector | None = None
) -> AsyncIterator[Ingestor]:
    """An Ingestor with its HTTP client open for the duration of the block."""
    detector = detector or LanguageDetector()
    pool = CPUPool(settings.database_url, settings.parse_workers, engine=engine, detector=detector)
    try:
        async with make_fetcher(settings) as fetcher:
            yield Ingestor(settings, engine, fetcher, detector, pool)
    finally:
        pool.close()


def add_feed(engine: Engine, url: str, *, title: str | None = None) -> Feed:
    """Add a feed by URL. Raises InvalidFeedURLError or storage's DuplicateFeedError."""
    canonical = canonical_url(url.strip())
    key = url_key(canonical)
    if canonical is None or key is None:
        raise InvalidFeedURLError(f"not an http(s) URL: {url!r}")
    with Session(engine) as session:
        feed = feed_queries.add_feed(session, canonical, key, title=title)
        session.expunge(feed)
        return feed


def add_configured_feeds(settings: Settings, engine: Engine) -> list[Feed]:
    """Add the feeds named by NEWSBRIEF_FEEDS (URLs and/or OPML files) that are not there yet;
    an entry that is not an http(s) URL is logged and skipped, as an OPML import does."""
    entries: list[tuple[str, str | None]] = []
    for source in settings.feeds:
        path = Path(source)
        is_opml = path.suffix.lower() in {".opml", ".xml"} and path.is_file()
        entries += read_opml(path) if is_opml else [(source, None)]
    result = import_feeds(engine, entries)
    for url, reason in result.invalid:
        log.warning("NEWSBRIEF_FEEDS: skipped %r: %s", url, reason)
    return result.added


@dataclass(slots=True)
class ImportResult:
    """What importing a list of feeds did, entry by entry."""

    added: list[Feed] = field(default_factory=list)
    # (URL as given, the feed already there under it or under another spelling of it)
    present: list[tuple[str, Feed]] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (URL as given, why)


def import_feeds(engine: Engine, entries: Iterable[tuple[str, str | None]]) -> ImportResult:
    """Add each (url, title) not there yet, keeping its title; an OPML import from the command
    line and from the bot goes through here, so both count and refuse alike."""
    result = ImportResult()
    for url, title in entries:
        try:
            result.added.append(add_feed(engine, url, title=title))
        except InvalidFeedURLError as exc:
            result.invalid.append((url, str(exc)))
        except feed_queries.DuplicateFeedError as exc:
            result.present.append((url, exc.existing))
    return result
