"""The claim loop (bot/ingest/claims.py) over an in-memory queue of jobs: batches, the cap on
jobs in flight, `once`, a graceful stop, cancellation giving leases back, lease renewal, and a
database that is away for a moment. The leases themselves are tested in test_leases.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from bot.ingest.claims import Claimed, ClaimLoop


@dataclass(frozen=True, slots=True)
class Job:
    id: int


@dataclass
class Queue:
    """Due jobs handed out like claims; records what the loop asked for and did."""

    due: list[int]
    work_seconds: float = 0.01
    fail_claims: int = 0
    pending_until_empty: bool = False
    asked: list[int] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    renewed: list[list[int]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    started: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)

    async def claim(self, want: int) -> Claimed[Job]:
        self.asked.append(want)
        if self.fail_claims:
            self.fail_claims -= 1
            raise ConnectionError("database is away")
        taken, self.due = self.due[:want], self.due[want:]
        return Claimed([Job(i) for i in taken], more=bool(self.due), pending=False)

    async def work(self, job: Job) -> int:
        self.started.append(job.id)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.work_seconds)
        finally:
            self.in_flight -= 1
        self.finished.append(job.id)
        return job.id

    async def renew(self, ids: list[int]) -> None:
        self.renewed.append(sorted(ids))

    async def release(self, ids: list[int]) -> None:
        self.released += ids

    def loop(
        self, *, batch: int = 3, capacity: int = 5, tick: float = 0.05, retries: int = 6
    ) -> ClaimLoop[Job, int]:
        return ClaimLoop(
            claim=self.claim,
            work=self.work,
            renew=self.renew,
            release=self.release,
            batch=batch,
            capacity=capacity,
            tick=tick,
            renew_every=0.02,
            claim_retries=retries,
            retry_delay=0.01,
        )


async def test_once_claims_in_batches_within_the_cap_and_returns_every_result() -> None:
    queue = Queue(due=list(range(20)))
    done: list[int] = []

    results = await queue.loop(batch=3, capacity=5).run(once=True, on_done=done.append)

    assert sorted(results) == list(range(20)) and sorted(done) == list(range(20))
    assert max(queue.asked) == 3 and queue.most_in_flight <= 5
    assert queue.released == []


async def test_a_stop_finishes_the_jobs_in_flight_and_claims_no_more() -> None:
    queue = Queue(due=list(range(100)), work_seconds=0.2)
    stop = asyncio.Event()
    loop = queue.loop(batch=2, capacity=4)
    task = asyncio.create_task(loop.run(once=False, stop=stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)

    assert queue.started and sorted(queue.finished) == sorted(queue.started)
    assert len(queue.started) == 4  # what was in flight at the stop, nothing more
    assert queue.released == []


async def test_cancelling_abandons_the_jobs_in_flight_and_gives_their_leases_back() -> None:
    queue = Queue(due=list(range(10)), work_seconds=10)
    task = asyncio.create_task(queue.loop(batch=3, capacity=3).run(once=True))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert sorted(queue.released) == [0, 1, 2] and queue.finished == []


async def test_leases_of_the_jobs_in_flight_are_renewed_while_they_run() -> None:
    queue = Queue(due=[7, 8], work_seconds=0.15)
    await queue.loop(batch=2, capacity=2).run(once=True)
    assert [7, 8] in queue.renewed


async def test_a_long_running_loop_outlives_a_database_that_is_away_for_a_moment() -> None:
    queue = Queue(due=[1, 2, 3], fail_claims=2)
    stop = asyncio.Event()
    task = asyncio.create_task(queue.loop(tick=0.02).run(once=False, stop=stop))
    while len(queue.finished) < 3:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert sorted(queue.finished) == [1, 2, 3]


async def test_once_retries_a_failed_claim_and_finishes_the_pass() -> None:
    queue = Queue(due=[1, 2, 3, 4], fail_claims=3)
    results = await queue.loop(batch=2, retries=3).run(once=True)
    assert sorted(results) == [1, 2, 3, 4]
    assert len(queue.asked) >= 3 + 2  # three failed claims, then the two batches


async def test_once_reports_a_claim_that_keeps_failing_after_its_retries() -> None:
    queue = Queue(due=[1], fail_claims=100)
    with pytest.raises(ConnectionError):
        await queue.loop(retries=2).run(once=True)
    assert len(queue.asked) == 3  # the first claim and two retries


async def test_retries_of_a_single_pass_wait_longer_each_time() -> None:
    queue = Queue(due=[1], fail_claims=3)
    loop = queue.loop(retries=3)
    loop.retry_delay = 0.1
    started = asyncio.get_running_loop().time()
    await loop.run(once=True)
    # 0.1 + 0.2 + 0.4 s (± 10 % jitter) before the fourth claim succeeds
    assert asyncio.get_running_loop().time() - started >= 0.63
