"""The SQLite cycle's scheduling: every due feed at once, bounded overall and per host, and
stoppable between feeds.

On PostgreSQL, feeds are claimed a few at a time (bot/ingest/claims.py); on SQLite one process
reads the due list and starts them all. Two bounds apply. Feeds in flight are bounded as a
whole, not only their HTTP part: a fetched body waits for a CPU worker, and thousands waiting at
once would hold every body in memory (the corpus ×50 peaked at 1.2 GB before this bound, see
docs/benchmarks.md). And a feed waits for a slot of its host, held until its fetch is done: a
feed still waiting has not started, so a stop (SIGTERM) does not wait for it, while parsing and
storing overlap with the host's next fetches. Plain asyncio over one callable: no HTTP, no SQL.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

J = TypeVar("J")
R = TypeVar("R")

# work(job, fetched): refresh one feed, calling fetched() once its HTTP part is over.
Work = Callable[[J, Callable[[], None]], Awaitable[R]]


async def run_due(
    jobs: Sequence[J],
    work: Work[J, R],
    *,
    host_of: Callable[[J], str],
    per_host: int,
    concurrency: int,
    stopping: Callable[[], bool] | None = None,
    on_done: Callable[[R], None] | None = None,
) -> list[R]:
    """Run ``work`` on every job within the bounds; the results of the jobs that started, in
    the jobs' order. Once ``stopping()`` is true no job starts: the rest are left out."""
    slots = asyncio.Semaphore(concurrency)
    hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_host))

    async def one(job: J) -> tuple[R] | None:
        host = hosts[host_of(job)]
        await host.acquire()  # the host first: a job waiting for it must not hold a global slot
        held = True

        def fetched() -> None:
            nonlocal held
            if held:
                held = False
                host.release()

        try:
            async with slots:
                if stopping is not None and stopping():
                    return None  # not started: it stays due for the next run
                result = await work(job, fetched)
        finally:
            fetched()
        if on_done:
            on_done(result)
        return (result,)

    outcomes = await asyncio.gather(*(one(job) for job in jobs))
    return [outcome[0] for outcome in outcomes if outcome is not None]
