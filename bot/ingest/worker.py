"""The CPU half of a feed refresh, run in a pool of worker processes.

feedparser, cleaning, MinHash and language detection are pure Python or hold the GIL, so
threads cannot use the second core and, worse, stall the event loop that serves the bot and
the other fetches. A small process pool takes the whole "bytes in, storable articles out" step:
each worker parses the document, asks the database which GUIDs the feed already has (a read;
SQLite in WAL mode and PostgreSQL both serve it while the main process writes), and prepares
only the new entries. With ``workers=0`` the same function runs in a thread instead (tests,
tiny deployments).

A document gets at most ``DOCUMENT_TIME_LIMIT`` seconds in a worker process, then fails with
that reason: feedparser has regexes that go quadratic on long fields (its e-mail pattern on a
1 MB ``<dc:creator>`` runs for hours), and a stuck worker would hold its slot for every later
cycle. Threads cannot be interrupted, so ``workers=0`` has no such limit.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from bot.ingest.extract import extract_main_text
from bot.ingest.language import LanguageDetector
from bot.ingest.parse import FeedParseError, parse_feed
from bot.ingest.prepare import PreparedBatch, prepare_entries
from storage import articles as article_queries
from storage.db import make_engine

T = TypeVar("T")

# Seconds a worker process may spend on one document: a 10 MB feed of thousands of entries
# takes ~20 s on a busy core, so this only ever stops a pathological one.
DOCUMENT_TIME_LIMIT = 120.0


@dataclass(slots=True, frozen=True)
class DocumentJob:
    feed_id: int
    body: bytes
    url: str
    content_type: str | None
    feed_language: str | None
    boilerplate: frozenset[str]


@dataclass(slots=True)
class DocumentResult:
    """What came out of one feed document; ``error`` is set when it is not a feed at all."""

    error: str | None = None
    title: str | None = None
    site_url: str | None = None
    language: str | None = None
    ttl_minutes: int | None = None
    warning: str | None = None
    known: int = 0  # entries whose GUID the feed already had
    batch: PreparedBatch | None = None


# Per-process state of a pool worker: one engine and one language model, built on first use.
_state: dict[str, Any] = {}


def _init_worker(
    database_url: str, time_limit: float = DOCUMENT_TIME_LIMIT, owner_pid: int | None = None
) -> None:
    _state.clear()
    _state["database_url"] = database_url
    _state["time_limit"] = time_limit
    if owner_pid is not None:
        threading.Thread(target=_exit_with, args=(owner_pid,), daemon=True).start()


def _exit_with(owner_pid: int, every: float = 1.0) -> None:
    """End this worker once the process that owns the pool is gone. A pool worker only
    notices its owner's clean exit: after ``kill -9`` it would wait for work forever, and
    every crash and restart would leave one more idle process behind."""
    while True:
        time.sleep(every)
        try:
            os.kill(owner_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # the pid now belongs to someone else's process
            os._exit(0)


def _worker_engine() -> Engine:
    if "engine" not in _state:
        _state["engine"] = make_engine(_state["database_url"])
    engine: Engine = _state["engine"]
    return engine


def _worker_detector() -> LanguageDetector:
    if "detector" not in _state:
        _state["detector"] = LanguageDetector()
    detector: LanguageDetector = _state["detector"]
    return detector


def _process_in_worker(job: DocumentJob) -> DocumentResult:
    limit: float = _state.get("time_limit", DOCUMENT_TIME_LIMIT)
    engine, detector = _worker_engine(), _worker_detector()  # built outside the time limit
    try:
        with _time_limit(limit):
            return process_document(job, engine, detector)
    except _DocumentTimeout:
        return DocumentResult(error=f"gave up after {limit:g}s of parsing and cleaning")


class _DocumentTimeout(BaseException):
    """Not an Exception: the parser's own ``except Exception`` must not swallow it."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _DocumentTimeout in this process's main thread (a pool worker's) after ``seconds``.

    The alarm repeats every second until disarmed: one that lands where Python only reports
    exceptions (a weakref callback) must not let the document run on forever.
    """

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise _DocumentTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def process_document(
    job: DocumentJob, engine: Engine, detector: LanguageDetector
) -> DocumentResult:
    """Parse, skip known GUIDs, clean and key the new entries of one feed document."""
    try:
        parsed = parse_feed(job.body, url=job.url, content_type=job.content_type)
    except FeedParseError as exc:
        return DocumentResult(error=str(exc))
    guids = [e.guid for e in parsed.entries if e.guid]
    with Session(engine) as session:
        known = article_queries.existing_guids(session, job.feed_id, guids)
    batch = prepare_entries(
        parsed,
        feed_language=job.feed_language,
        stored_boilerplate=job.boilerplate,
        skip_guids=known,
        detector=detector,
    )
    return DocumentResult(
        title=parsed.title,
        site_url=parsed.site_url,
        language=parsed.language,
        ttl_minutes=parsed.ttl_minutes,
        warning=parsed.warning,
        known=len(known),
        batch=batch,
    )


def extract_page(body: bytes, url: str) -> str | None:
    return extract_main_text(body, url=url)


class CPUPool:
    """Runs the CPU-bound ingestion steps in worker processes, or in threads (``workers=0``)."""

    def __init__(
        self, database_url: str, workers: int, *, engine: Engine, detector: LanguageDetector
    ) -> None:
        self.workers = workers
        self._engine = engine
        self._detector = detector
        self._database_url = database_url
        self._closed = False
        self._executor: ProcessPoolExecutor | None = None
        if workers > 0:
            self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # forkserver: children start from a clean, single-threaded server process, never
        # from a copy of this one mid-flight (locks held by other threads, open sockets).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["bot.ingest.worker"])
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_init_worker,
            # Read when the pool starts, so a test can shorten it for its own pool.
            initargs=(self._database_url, DOCUMENT_TIME_LIMIT, os.getpid()),
        )

    async def _submit(self, fn: Callable[..., T], *args: Any) -> T:
        assert self._executor is not None
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the pool refuses all further work, so
            # start a new one for the feeds after this; this document fails with the reason.
            if self._executor is executor:
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._start()
            raise RuntimeError("a worker process died while handling this document") from None

    async def process(self, job: DocumentJob) -> DocumentResult:
        self._check_open()
        if self._executor is None:
            return await asyncio.to_thread(process_document, job, self._engine, self._detector)
        return await self._submit(_process_in_worker, job)

    async def extract(self, body: bytes, url: str) -> str | None:
        self._check_open()
        if self._executor is None:
            return await asyncio.to_thread(extract_main_text, body, url=url)
        return await self._submit(extract_page, body, url)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the CPU pool is closed")

    def close(self) -> None:
        self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def default_workers() -> int:
    """One worker per core, up to 4: beyond that the single database writer is the limit."""
    return min(4, os.cpu_count() or 1)
