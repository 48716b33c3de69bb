"""One feed end to end, and one cycle over the due feeds.

Refreshing a feed reads top to bottom as fetch → parse → (extract) → clean → dedup → store, and
every failure says which step failed. A broken feed is recorded with its reason and backed off;
it never stops the cycle. CPU work (parsing, cleaning, hashing) runs in worker threads and the
database work is serialised behind one lock, because SQLite has one writer and the in-memory
near-duplicate index must see articles in the order they are stored.

On PostgreSQL several processes may ingest into one database (`newsbrief worker`, the bot's own
fetch tick, `newsbrief fetch`): each claims due feeds through leases (storage/leases.py) instead
of reading the due list, and the store step is serialised across processes by an advisory lock
under which each catches up with the articles the others stored. See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from bot.ingest.claims import Claimed, ClaimLoop, lease_owner_name
from bot.ingest.due import run_due
from bot.ingest.fetch import Fetcher
from bot.ingest.language import LanguageDetector
from bot.ingest.records import CycleReport, FeedJob, FeedReport, FetchResult
from bot.ingest.schedule import next_check
from bot.ingest.store import KnownKeys, RecentIndex, StoreLockTimes, lock_store, store_batch
from bot.ingest.teasers import TeaserFiller
from bot.ingest.worker import CPUPool, DocumentJob, DocumentResult
from bot.settings import Settings
from storage import feeds as feed_queries
from storage import leases
from storage.db import is_database_outage
from storage.models import host_key

log = logging.getLogger(__name__)

T = TypeVar("T")
INDEX_WINDOW = timedelta(days=7)  # near-duplicates are looked for among this recent window


class Ingestor:
    """Runs fetch cycles against one database with one HTTP client and one language model."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        fetcher: Fetcher,
        detector: LanguageDetector,
        pool: CPUPool,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.fetcher = fetcher
        self.detector = detector
        self.pool = pool
        self._index: RecentIndex | None = None
        self._write_lock = asyncio.Lock()
        # PostgreSQL: feeds are claimed through leases and stores are serialised across
        # processes, so any number of ingesting processes can share the database.
        self.coordinated = leases.supports_leases(engine)
        self.store_lock = StoreLockTimes()
        # Parsing in threads (NEWSBRIEF_PARSE_WORKERS=0) holds the GIL: more such threads add
        # little throughput, and on PostgreSQL they would starve the thread that holds the
        # store lock every other process is waiting for. So there, one parse or one store at
        # a time (bench/workers: the lock held 125 → 48 ms a store).
        one_at_a_time = self.coordinated and pool.workers == 0
        self._gil: asyncio.Semaphore | None = asyncio.Semaphore(1) if one_at_a_time else None
        self.teasers = TeaserFiller(fetcher, pool, detector, settings.teaser_chars)

    async def run_cycle(
        self,
        *,
        all_feeds: bool = False,
        on_feed_done: Callable[[FeedReport], None] | None = None,
        on_start: Callable[[int], None] | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> CycleReport:
        """Refresh every due feed (or all), concurrently within the fetcher's limits.

        On PostgreSQL the due feeds are claimed through leases, so this cycle, workers and
        other processes never fetch one feed twice; feeds other processes hold are theirs.

        Once ``stopping()`` is true (the bot got SIGTERM) no more feeds are started: those in
        flight are finished and the rest stay due, so a stop waits for a few feeds, not for
        every due one (which could outlast Docker's 10 s grace and end in a SIGKILL).
        """
        if self.coordinated:
            return await self._run_claimed_cycle(all_feeds, on_feed_done, on_start, stopping)
        started = time.perf_counter()
        now = datetime.now(UTC)
        jobs = await asyncio.to_thread(self._due_jobs, now, all_feeds)
        if on_start:
            on_start(len(jobs))
        await self._ensure_index()

        done = await run_due(
            jobs,
            self.refresh,
            host_of=lambda job: host_key(job.url),
            per_host=self.settings.fetch_per_host,
            concurrency=self.settings.fetch_concurrency,
            stopping=stopping,
            on_done=on_feed_done,
        )
        return CycleReport(feeds=done, elapsed=time.perf_counter() - started)

    # --- claimed feeds (PostgreSQL: workers, and every cycle there) -------------------------

    async def _run_claimed_cycle(
        self,
        all_feeds: bool,
        on_feed_done: Callable[[FeedReport], None] | None,
        on_start: Callable[[int], None] | None,
        stopping: Callable[[], bool] | None,
    ) -> CycleReport:
        if all_feeds:  # every feed due now, for this cycle or any worker that is faster
            await asyncio.to_thread(self._db, leases.make_all_due)
        if on_start:
            on_start(await asyncio.to_thread(self._db, leases.count_due))
        stop = asyncio.Event()
        watcher = asyncio.create_task(_set_when(stopping, stop)) if stopping else None
        try:
            return await self.run_claimed(
                lease_owner_name("cycle"),
                batch=self.settings.fetch_concurrency,
                once=True,
                stop=stop,
                on_feed_done=on_feed_done,
            )
        finally:
            if watcher is not None:
                watcher.cancel()

    async def run_claimed(
        self,
        owner: str,
        *,
        batch: int,
        once: bool,
        wait_for_others: bool = False,
        stop: asyncio.Event | None = None,
        on_feed_done: Callable[[FeedReport], None] | None = None,
    ) -> CycleReport:
        """Claim due feeds in batches of ``batch`` and refresh them, claiming more as they
        finish (PostgreSQL only; bot/ingest/claims.py has the loop and its stop rules).

        ``once``: return when nothing is left to claim; with ``wait_for_others``, only once
        the feeds due when it began are done by anyone (a dead worker's come back when its
        leases expire). Otherwise run until ``stop`` is set.
        """
        started = time.perf_counter()
        cutoff = await asyncio.to_thread(self._db, leases.database_now) if wait_for_others else None
        await self._ensure_index()
        seconds = self.settings.lease_seconds

        async def claim(want: int) -> Claimed[FeedJob]:
            return await asyncio.to_thread(self._claim, owner, want, cutoff)

        async def renew(ids: list[int]) -> object:
            return await asyncio.to_thread(self._db, leases.renew_leases, owner, ids, seconds)

        async def release(ids: list[int]) -> object:
            return await asyncio.to_thread(self._db, leases.release_leases, owner, ids)

        loop = ClaimLoop(
            claim=claim,
            work=self.refresh,
            renew=renew,
            release=release,
            batch=batch,
            capacity=max(batch, self.settings.fetch_concurrency),
            tick=self.settings.fetch_tick,
            renew_every=seconds / 3,
        )
        reports = await loop.run(once=once, stop=stop, on_done=on_feed_done)
        return CycleReport(feeds=reports, elapsed=time.perf_counter() - started)

    async def refresh(self, job: FeedJob, fetched: Callable[[], None] | None = None) -> FeedReport:
        """Fetch, parse, clean, dedup and store one feed. Never raises for a bad feed.
        ``fetched`` is called once the HTTP part is over."""
        started = time.perf_counter()
        try:
            report = await self._refresh(job, fetched)
        except Exception as exc:  # a bug or a database outage must not stop the cycle
            if is_database_outage(exc):
                report = await self._database_away(job, exc)
            else:
                log.exception("feed %s: unexpected failure", job.url)
                report = FeedReport(job.id, job.url, "failed", error=f"internal error: {exc!r}")
                try:
                    await self._record_failure(job, report.error or "", retry_after=None)
                except Exception:  # the database is failing too: the next cycle retries it
                    log.exception("feed %s: could not record the failure", job.url)
        report.elapsed = time.perf_counter() - started
        return report

    async def _database_away(self, job: FeedJob, exc: Exception) -> FeedReport:
        """The database failed, not the feed: no error is counted against the feed and it is
        not backed off; it is tried again at the next tick (its lease, if any, given back)."""
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        log.warning("feed %s: the database is unavailable (%s); tried again soon", job.url, reason)
        retry_at = datetime.now(UTC) + timedelta(seconds=self.settings.fetch_tick)
        try:
            async with self._write_lock:
                await asyncio.to_thread(
                    self._db, feed_queries.postpone, job.id, retry_at, job.lease_owner
                )
        except Exception:  # still away: the feed is still due, its lease expires by itself
            log.warning("feed %s: could not postpone it either", job.url, exc_info=True)
        return FeedReport(job.id, job.url, "failed", error=f"database unavailable: {reason}")

    async def _refresh(self, job: FeedJob, fetched: Callable[[], None] | None) -> FeedReport:
        await self._ensure_index()
        result = await self.fetcher.fetch(job.url, etag=job.etag, last_modified=job.last_modified)
        if fetched is not None:
            fetched()
        if result.status == "error":
            error = f"fetch: {result.error}"
            log.warning("feed %s failed: %s", job.url, error)
            await self._record_failure(job, error, retry_after=result.retry_after)
            return FeedReport(job.id, job.url, "failed", error=error)
        if result.status == "not_modified":
            async with self._write_lock:
                await asyncio.to_thread(
                    self._record, job, "not_modified", self._next(result.max_age, None, 0)
                )
            return FeedReport(job.id, job.url, "not_modified")
        assert result.body is not None
        async with self._gil_turn():
            document = await self.pool.process(
                DocumentJob(
                    feed_id=job.id,
                    body=result.body,
                    url=result.final_url or job.url,
                    content_type=result.content_type,
                    feed_language=job.language,
                    boilerplate=job.boilerplate,
                )
            )
        if document.error is not None or document.batch is None:
            error = f"parse: {document.error}"
            log.warning("feed %s failed: %s", job.url, error)
            await self._record_failure(job, error, retry_after=None)
            return FeedReport(job.id, job.url, "failed", error=error)
        if document.warning:
            log.info("feed %s parsed with a warning: %s", job.url, document.warning)
        extracted = 0
        if self.settings.extract_teasers:
            extracted = await self.teasers.fill(document.batch.articles)
        async with self._write_lock, self._gil_turn():
            report = await asyncio.to_thread(self._store, job, document, result)
        report.duplicate += document.known
        report.extracted = extracted
        report.warning = document.warning
        return report

    def _gil_turn(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self._gil if self._gil is not None else contextlib.nullcontext()

    # --- database side (worker threads) --------------------------------------------------

    def _db(self, query: Callable[..., T], *args: object) -> T:
        with Session(self.engine) as session:
            return query(session, *args)

    def _claim(self, owner: str, want: int, cutoff: datetime | None) -> Claimed[FeedJob]:
        with Session(self.engine) as session:
            claim = leases.claim_feeds(
                session,
                owner,
                limit=want,
                lease_seconds=self.settings.lease_seconds,
                per_host=self.settings.fetch_per_host,
                pending_before=cutoff,
            )
        jobs = [FeedJob.of(feed, lease_owner=owner) for feed in claim.feeds]
        return Claimed(jobs, claim.more, claim.pending)

    def _due_jobs(self, now: datetime, all_feeds: bool) -> list[FeedJob]:
        with Session(self.engine) as session:
            return [
                FeedJob.of(f) for f in feed_queries.due_feeds(session, now, all_feeds=all_feeds)
            ]

    async def _ensure_index(self) -> None:
        if self._index is None:
            async with self._write_lock:
                if self._index is None:
                    await asyncio.to_thread(self._load_index)

    def _load_index(self) -> RecentIndex:
        index = RecentIndex()
        engine = self.engine
        if self.coordinated:  # one snapshot, so the watermark matches what was loaded
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with Session(engine) as session:
            index.load(session, datetime.now(UTC) - INDEX_WINDOW)
        self._index = index
        log.info("near-duplicate index loaded with %d recent articles", len(index))
        return index

    def _next(
        self, max_age: int | None, retry_after: int | None, errors: int, ttl: int | None = None
    ) -> datetime:
        return next_check(
            datetime.now(UTC),
            interval=timedelta(seconds=self.settings.fetch_interval),
            ttl_minutes=ttl,
            max_age=max_age,
            retry_after=retry_after,
            error_count=errors,
            jitter=random.random() * 0.1,
        )

    def _record(self, job: FeedJob, status: str, next_at: datetime, **state: object) -> None:
        with Session(self.engine) as session:
            feed_queries.record_fetch(
                session,
                job.id,
                status=status,
                next_check_at=next_at,
                lease_owner=job.lease_owner,
                **state,  # type: ignore[arg-type]
            )
            session.commit()

    async def _record_failure(self, job: FeedJob, error: str, *, retry_after: int | None) -> None:
        next_at = self._next(None, retry_after, job.error_count + 1)
        async with self._write_lock:
            await asyncio.to_thread(self._record, job, "failed", next_at, error=error)

    def _store(self, job: FeedJob, document: DocumentResult, result: FetchResult) -> FeedReport:
        assert document.batch is not None
        # A failed store dropped the index (below) after other feeds had loaded it: reload it
        # here, under the write lock, rather than fail every feed of the cycle.
        index = self._index if self._index is not None else self._load_index()
        batch, locked = document.batch, 0.0
        with Session(self.engine) as session:
            known = KnownKeys.of(session, batch)
            # PostgreSQL: a document made only of entries already stored (by URL or text)
            # takes no store lock; otherwise the lock, and what others stored meanwhile.
            if self.coordinated and not all(known.has(a) for a in batch.articles):
                locked = lock_store(session, index, known, self.store_lock)
            counts = store_batch(session, job.id, batch, index, known)
            try:
                feed_queries.record_fetch(
                    session,
                    job.id,
                    status="ok",
                    next_check_at=self._next(result.max_age, None, 0, document.ttl_minutes),
                    etag=result.etag,
                    last_modified=result.last_modified,
                    title=document.title,
                    site_url=document.site_url,
                    language=document.language,
                    boilerplate=document.batch.boilerplate,
                    lease_owner=job.lease_owner,
                )
                session.commit()
            except BaseException:
                # Rolled back: these ids will never exist, so they must not be matched against.
                self._index = None
                raise
            finally:
                if locked:
                    self.store_lock.held += time.perf_counter() - locked
        return FeedReport(
            job.id,
            job.url,
            "ok",
            new=counts.new,
            duplicate=counts.duplicate,
            same_story=counts.same_story,
        )


async def _set_when(condition: Callable[[], bool], event: asyncio.Event) -> None:
    """Set ``event`` once ``condition()`` holds (polled: PTB's "stopping" is a flag, not an
    event), so the claim loop stops claiming within a quarter of a second."""
    while not condition():
        await asyncio.sleep(0.25)
    event.set()
