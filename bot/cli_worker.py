"""``newsbrief worker``: a process that only fetches and ingests, one of many on PostgreSQL.

Any number of workers, on any number of machines, share one PostgreSQL database: each claims
due feeds in small batches under a lease (storage/leases.py), so no feed is fetched twice in a
cycle, a host never has more than NEWSBRIEF_FETCH_PER_HOST feeds in flight across all of them,
and a worker that dies gives its feeds back when its leases expire. The bot then runs with
``newsbrief run --no-fetch`` (docs/architecture.md, "Deployment").

Stopping: the first SIGTERM or SIGINT stops claiming and lets the feeds in flight finish (exit
0); a second one abandons them and gives their leases back at once (exit 0 too: nothing is
lost, the feeds are due again for the others).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import app, engine_or_exit, fail, settings_from
from bot.settings import Settings
from storage.db import is_sqlite

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot.ingest.records import FeedReport
    from bot.ingest.store import StoreLockTimes

log = logging.getLogger(__name__)
NEEDS_POSTGRESQL = (
    "newsbrief worker needs PostgreSQL (NEWSBRIEF_DATABASE_URL=postgresql://…); "
    "on SQLite the bot's own scheduler fetches (newsbrief run)"
)


@app.command()
def worker(
    ctx: typer.Context,
    once: Annotated[
        bool,
        typer.Option("--once", help="claim until no feed is due, then exit (cron, tests)"),
    ] = False,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=100, help="feeds claimed at a time")
    ] = 5,
    worker_id: Annotated[
        str | None,
        typer.Option("--id", help="this worker's name in the leases (default: worker@host:pid)"),
    ] = None,
) -> None:
    """Fetch and ingest due feeds, sharing them with other workers through PostgreSQL."""
    settings = settings_from(ctx)
    if is_sqlite(settings.database_url):
        fail(NEEDS_POSTGRESQL)
    engine = engine_or_exit(settings)
    from bot.ingest.claims import lease_owner_name

    owner = worker_id or lease_owner_name("worker")
    try:
        totals = asyncio.run(work(settings, engine, owner, once=once, batch=batch))
    finally:
        engine.dispose()
    log.info("worker %s done: %s", owner, totals, extra={"totals": totals.as_dict()})


@dataclass(slots=True)
class Totals:
    """What a worker did, kept as counts: it may run for months."""

    feeds: int = 0
    new: int = 0
    duplicate: int = 0
    not_modified: int = 0
    failed: int = 0
    started: float = field(default_factory=time.perf_counter)
    store_lock: StoreLockTimes | None = None

    def add(self, report: FeedReport) -> None:
        self.feeds += 1
        self.new += report.new
        self.duplicate += report.duplicate
        self.not_modified += report.status == "not_modified"
        self.failed += report.status == "failed"

    def as_dict(self) -> dict[str, float]:
        """The figures as numbers, for JSON logs (bench/workers.py reads them)."""
        lock = self.store_lock
        return {
            "feeds": self.feeds,
            "new": self.new,
            "duplicate": self.duplicate,
            "not_modified": self.not_modified,
            "failed": self.failed,
            "seconds": round(time.perf_counter() - self.started, 3),
            "stores": lock.stores if lock else 0,
            "lock_waited": round(lock.waited, 3) if lock else 0.0,
            "lock_held": round(lock.held, 3) if lock else 0.0,
            "caught_up": lock.caught_up if lock else 0,
        }

    def __str__(self) -> str:
        return (
            f"{self.feeds} feeds in {time.perf_counter() - self.started:.1f}s · new {self.new} · "
            f"duplicate {self.duplicate} · not modified {self.not_modified} · "
            f"failed {self.failed}" + (f" · {self.store_lock}" if self.store_lock else "")
        )


async def work(settings: Settings, engine: Engine, owner: str, *, once: bool, batch: int) -> Totals:
    """Run the claim loop until done (``once``) or stopped by signals (see the module doc)."""
    from bot.observe.metrics import Metrics
    from bot.observe.server import start_observer
    from bot.services import ingestor

    metrics = Metrics()
    observer = start_observer(settings, engine, metrics, role="worker", fetching=True)
    stop = asyncio.Event()
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        name = signal.Signals(signum).name
        if signals == 1:
            log.info("worker %s: %s, finishing the feeds in flight", owner, name)
            stop.set()
        else:
            log.info("worker %s: %s again, giving the feeds in flight back", owner, name)
            main.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    totals = Totals()
    logged = 0

    def on_feed_done(report: FeedReport) -> None:
        nonlocal logged
        metrics.observe_feed(report)
        totals.add(report)
        if totals.feeds - logged >= 1000:
            logged = totals.feeds
            log.info("worker %s: %s", owner, totals)

    try:
        async with ingestor(settings, engine) as ing:
            totals.store_lock = ing.store_lock
            log.info(
                "worker %s ready: batches of %d, up to %d feeds in flight, leases of %d s",
                owner,
                batch,
                max(batch, settings.fetch_concurrency),
                settings.lease_seconds,
            )
            await ing.run_claimed(
                owner,
                batch=batch,
                once=once,
                wait_for_others=once,
                stop=stop,
                on_feed_done=on_feed_done,
            )
    except asyncio.CancelledError:
        if signals < 2:
            raise  # not ours to swallow
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if observer is not None:
            await asyncio.to_thread(observer.stop)
    return totals
