"""Tests for bot.ingest.worker: one feed document to a batch, in a thread or in real processes.

One SQLite database and one two-process pool serve the whole module: starting workers (each
loads its own language model) is the slow part, so it is paid once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.ingest.language import LanguageDetector
from bot.ingest.prepare import PreparedBatch
from bot.ingest.store import RecentIndex, store_batch
from bot.ingest.worker import CPUPool, DocumentJob, DocumentResult, process_document
from storage import feeds as feed_queries
from storage.db import make_engine
from storage.migrate import upgrade

REUTERS = "reuters-topnews-en-2017-01.rss"
PAGE = "reuters-com-57d46c9d.html"


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('worker') / 'newsbrief.db'}"


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def threads(database_url: str, engine: Engine, detector: LanguageDetector) -> Iterator[CPUPool]:
    pool = CPUPool(database_url, 0, engine=engine, detector=detector)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def processes(database_url: str, engine: Engine, detector: LanguageDetector) -> Iterator[CPUPool]:
    pool = CPUPool(database_url, 2, engine=engine, detector=detector)
    yield pool
    pool.close()


_feeds = iter(range(1, 1000))


def new_feed(engine: Engine) -> int:
    n = next(_feeds)
    with Session(engine) as session:
        feed = feed_queries.add_feed(session, f"https://feeds.example/{n}", f"feeds.example/{n}")
        assert feed.id is not None
        return feed.id


def job(corpus_dir: Path, feed_id: int, path: str, content_type: str | None = None) -> DocumentJob:
    return DocumentJob(
        feed_id=feed_id,
        body=(corpus_dir / path).read_bytes(),
        url=f"https://example.org/{path}",
        content_type=content_type,
        feed_language=None,
        boilerplate=frozenset(),
    )


# --- process_document ------------------------------------------------------------------------


def test_a_feed_document_gives_its_new_entries_and_the_feed_metadata(
    corpus_dir: Path, engine: Engine, detector: LanguageDetector
) -> None:
    feed_id = new_feed(engine)
    reuters = job(corpus_dir, feed_id, f"feeds/{REUTERS}", "application/rss+xml")

    first = process_document(reuters, engine, detector)

    assert first.error is None and first.warning is None
    assert (first.title, first.language, first.known) == ("Reuters: World News", "en-us", 0)
    assert first.site_url is not None and "reuters.com" in first.site_url
    assert first.batch is not None and len(first.batch.articles) == 10
    assert {a.language for a in first.batch.articles} == {"en"}

    # Once some are stored, the next fetch of the same document skips them by GUID.
    with Session(engine) as session:
        store_batch(session, feed_id, PreparedBatch(first.batch.articles[:4], None), RecentIndex())
        session.commit()
    second = process_document(reuters, engine, detector)

    assert second.known == 4
    assert second.batch is not None
    assert [a.guid for a in second.batch.articles] == [a.guid for a in first.batch.articles[4:]]


def test_a_malformed_feed_still_gives_its_entries_with_a_warning(
    corpus_dir: Path, engine: Engine, detector: LanguageDetector
) -> None:
    path = "feeds/guardian-world-en-2022-09-malformed.rss"
    result = process_document(job(corpus_dir, new_feed(engine), path), engine, detector)
    assert result.error is None
    assert result.warning  # feedparser's bozo reason, passed on for the log
    assert result.batch is not None and len(result.batch.articles) == 54


@pytest.mark.parametrize("path", [f"articles/{PAGE}", "feeds/not-a-feed-document-moved.html.rss"])
def test_an_html_page_is_reported_as_not_a_feed(
    corpus_dir: Path, engine: Engine, detector: LanguageDetector, path: str
) -> None:
    result = process_document(job(corpus_dir, new_feed(engine), path), engine, detector)
    assert result.error is not None
    assert result.error.startswith("not a feed: looks like an HTML page")
    assert result.batch is None and result.title is None


# --- CPUPool ---------------------------------------------------------------------------------


async def test_worker_processes_give_the_same_batches_as_threads(
    corpus_dir: Path, engine: Engine, threads: CPUPool, processes: CPUPool
) -> None:
    feed_id = new_feed(engine)
    jobs = [
        job(corpus_dir, feed_id, f"feeds/{REUTERS}"),
        job(corpus_dir, feed_id, "feeds/lemonde-une-fr-2018-02.rss"),
        job(corpus_dir, feed_id, f"articles/{PAGE}"),
    ]

    in_processes = await asyncio.gather(*(processes.process(j) for j in jobs))
    in_threads = [await threads.process(j) for j in jobs]

    assert in_processes == in_threads
    reuters, lemonde, page = in_processes
    assert isinstance(reuters, DocumentResult) and reuters.batch is not None
    assert len(reuters.batch.articles) == 10
    assert lemonde.batch is not None and {a.language for a in lemonde.batch.articles} == {"fr"}
    assert page.error is not None and page.batch is None
    assert len(multiprocessing.active_children()) == 2  # two real worker processes did it


async def test_worker_processes_extract_a_page_as_threads_do(
    corpus_dir: Path, threads: CPUPool, processes: CPUPool
) -> None:
    body = (corpus_dir / "articles" / PAGE).read_bytes()
    url = "https://www.reuters.com/article/us-asia-markets/"
    gold = (corpus_dir / "articles" / PAGE.replace(".html", ".gold.txt")).read_text()

    in_process = await processes.extract(body, url)

    assert in_process is not None and in_process == await threads.extract(body, url)
    assert gold.split("\n")[0][:60] in in_process


async def test_a_dead_worker_fails_its_document_and_the_pool_recovers(
    corpus_dir: Path, engine: Engine, database_url: str, detector: LanguageDetector
) -> None:
    pool = CPUPool(database_url, 1, engine=engine, detector=detector)
    try:
        feed_id = new_feed(engine)
        await pool.process(job(corpus_dir, feed_id, f"feeds/{REUTERS}"))
        executor = pool._executor  # the test reaches in to kill this pool's own worker
        assert executor is not None
        for worker in list(executor._processes.values()):
            os.kill(worker.pid or 0, signal.SIGKILL)
        with pytest.raises(RuntimeError, match="worker process died"):
            await pool.process(job(corpus_dir, feed_id, f"feeds/{REUTERS}"))
        result = await pool.process(job(corpus_dir, feed_id, f"feeds/{REUTERS}"))
        assert result.error is None and result.batch is not None
    finally:
        pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        await pool.process(job(corpus_dir, feed_id, f"feeds/{REUTERS}"))


async def test_closing_the_pool_stops_its_workers(
    corpus_dir: Path, engine: Engine, processes: CPUPool
) -> None:
    # Runs last in this module: the shared pool is closed here (closing again is harmless).
    await processes.process(job(corpus_dir, new_feed(engine), f"feeds/{REUTERS}"))
    workers = multiprocessing.active_children()
    assert workers

    processes.close()

    assert all(not p.is_alive() and p.exitcode == 0 for p in workers)
    assert multiprocessing.active_children() == []
    processes.close()
