"""The SQLite cycle's scheduling (bot/ingest/due.py) over fake feeds that "fetch" and then
"parse": the overall and per-host bounds, the host slot given back once the fetch is over, and a
stop that starts nothing more while the feeds in flight finish."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.ingest.due import run_due


@dataclass
class Feeds:
    """Fake work: ``fetch`` seconds holding the host, then ``parse`` seconds without it."""

    fetch: float = 0.02
    parse: float = 0.0
    fetching: Counter[str] = field(default_factory=Counter)
    most_fetching: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    most_in_flight: int = 0
    started: list[str] = field(default_factory=list)

    async def work(self, job: str, fetched: Callable[[], None]) -> str:
        host = job.split("/")[0]
        self.started.append(job)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.fetching[host] += 1
        self.most_fetching[host] = max(self.most_fetching[host], self.fetching[host])
        await asyncio.sleep(self.fetch)
        self.fetching[host] -= 1
        fetched()
        await asyncio.sleep(self.parse)
        self.in_flight -= 1
        return job


def host_of(job: str) -> str:
    return job.split("/")[0]


async def test_every_job_runs_within_the_overall_and_per_host_bounds_in_order() -> None:
    jobs = [f"{host}/{n}" for host in ("a", "b", "c") for n in range(6)]
    feeds = Feeds()
    done: list[str] = []

    results = await run_due(
        jobs, feeds.work, host_of=host_of, per_host=2, concurrency=4, on_done=done.append
    )

    assert results == jobs and sorted(done) == sorted(jobs)
    assert feeds.most_in_flight <= 4
    assert max(feeds.most_fetching.values()) == 2


async def test_a_host_slot_is_free_again_once_the_fetch_is_over() -> None:
    # One slot per host; each feed parses 10× longer than it fetches. Were the slot held
    # through the parse, one feed of the host would be in flight at a time.
    feeds = Feeds(fetch=0.02, parse=0.2)
    jobs = [f"a/{n}" for n in range(4)]
    await run_due(jobs, feeds.work, host_of=host_of, per_host=1, concurrency=4)
    assert feeds.most_fetching["a"] == 1 and feeds.most_in_flight == 4


async def test_a_stop_starts_nothing_more_and_the_jobs_in_flight_finish() -> None:
    feeds = Feeds(fetch=0.1)
    stop = False
    jobs = [f"a/{n}" for n in range(10)]
    running = run_due(
        jobs, feeds.work, host_of=host_of, per_host=2, concurrency=10, stopping=lambda: stop
    )
    task = asyncio.create_task(running)
    await asyncio.sleep(0.05)  # the first two are fetching, eight wait for the host
    stop = True
    results = await asyncio.wait_for(task, 5)

    assert results == ["a/0", "a/1"] and feeds.started == results
