"""Shared fixtures: where the real corpus lives (skipping with a reason when it is absent), a
migrated database on each backend, and the local Bot API with the bot running against it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot.ingest.language import LanguageDetector
from storage.db import make_engine
from storage.migrate import upgrade
from tests.support.botapi import BotAPIEmulator
from tests.support.botharness import BotHarness, bot_settings, running_bot
from tests.support.corpus import parsed_entries
from tests.support.database import fresh_postgres_database
from tests.support.feedserver import FeedServer

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(os.environ.get("NEWSBRIEF_CORPUS_DIR", REPO_ROOT.parent / "shared" / "corpus"))
SEEDS_DIR = CORPUS_DIR.parent / "seeds"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real test corpus (../shared/corpus). Tests that need it skip, saying why, without it."""
    if not (CORPUS_DIR / "MANIFEST.md").is_file():
        pytest.skip(f"real corpus not found at {CORPUS_DIR} (../shared is absent on this machine)")
    return CORPUS_DIR


@pytest.fixture(scope="session")
def cornucopia(corpus_dir: Path) -> tuple[list[Any], list[Any]]:
    """The same 25 Blogger posts as RSS and as Atom (cross-format duplicates)."""
    return (
        parsed_entries(corpus_dir, "cornucopia-blogger-en.rss"),
        parsed_entries(corpus_dir, "cornucopia-blogger-en.atom"),
    )


@pytest.fixture(scope="session")
def cowboy(corpus_dir: Path) -> tuple[list[Any], list[Any]]:
    """The same 15 Hugo posts as RSS and Atom, paired by title."""
    rss = parsed_entries(corpus_dir, "cowboyprogrammer-hugo-en-snapshot-a.rss")
    atom = parsed_entries(corpus_dir, "cowboyprogrammer-hugo-en-snapshot-a.atom")
    # Pair by title so the tests do not depend on both files listing posts in one order.
    by_title = {entry.title: entry for entry in atom}
    return rss, [by_title[entry.title] for entry in rss]


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    if not (SEEDS_DIR / "blog-article-fr.txt").is_file():
        pytest.skip(f"seed articles not found at {SEEDS_DIR} (../shared is absent on this machine)")
    return SEEDS_DIR


@pytest.fixture
def server(corpus_dir: Path) -> Iterator[FeedServer]:
    """The corpus over real HTTP on 127.0.0.1 (tests/support/feedserver.py), feeds under
    /feeds/ and articles under /articles/. Modules whose server serves something else (no
    corpus, another site) define their own ``server``."""
    with FeedServer(root=corpus_dir) as srv:
        yield srv


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    """Built once per test module, as the application builds it once per process."""
    return LanguageDetector()


# --- databases ----------------------------------------------------------------------------
# Storage tests run on SQLite always and on PostgreSQL when NEWSBRIEF_TEST_POSTGRES_URL is set
# (.ci/run sets it). PostgreSQL gets one throw-away database per test session.


POSTGRES_URL = os.environ.get("NEWSBRIEF_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"]
TABLES = [
    "deliveries",
    "outbox",
    "chat_filters",
    "subscriptions",
    "chats",
    "articles",
    "stories",
    "feeds",
]


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set NEWSBRIEF_TEST_POSTGRES_URL (.ci/run does)")
    with fresh_postgres_database(POSTGRES_URL, "newsbrief_test") as url:
        yield url


def _emptied(engine: Engine) -> Engine:
    """The session's PostgreSQL database with every row of the last test gone."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    return engine


def _database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_database_url")
        _emptied(make_engine(url)).dispose()
        return url
    url = f"sqlite:///{tmp_path / 'newsbrief.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend (same tests, both engines)."""
    return _database_url(request, tmp_path)


@pytest.fixture
def pg(postgres_database_url: str) -> Iterator[Engine]:
    """The session's PostgreSQL database, emptied (skips when PostgreSQL is not configured)."""
    engine = _emptied(make_engine(postgres_database_url))
    yield engine
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    with contextlib.suppress(Exception):
        eng.dispose()


@pytest.fixture
def emu() -> Iterator[BotAPIEmulator]:
    """A local Telegram Bot API server on 127.0.0.1 (tests/support/botapi.py)."""
    with BotAPIEmulator() as server:
        yield server


@pytest.fixture
async def bot(emu: BotAPIEmulator, engine: Engine, database_url: str) -> AsyncIterator[BotHarness]:
    """The real newsbrief Application, long polling the emulator, on each database backend."""
    async with running_bot(emu, bot_settings(emu, database_url), engine) as harness:
        yield harness
