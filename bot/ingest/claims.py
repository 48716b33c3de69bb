"""The claim loop: lease due feeds in small batches, refresh them, claim more as they finish.

This is how every fetching process works on PostgreSQL (`newsbrief worker`, and the bot's or
`newsbrief fetch`'s cycle there): nobody reads "the due list" and fetches it all, each takes a
few feeds at a time under a lease (storage/leases.py), so any number of processes share the
work without fetching one feed twice. The loop itself is plain asyncio over four callables, so
it knows nothing of HTTP or SQL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

BUSY_POLL = 0.5  # seconds between claims while due feeds wait for a host slot or a lease
# A single pass (the bot's fetch tick, `worker --once`) retries a failed claim this many times,
# waiting 0.5, 1, 2, 4, 8, 8 s: about 24 s, longer than a PostgreSQL restart takes.
CLAIM_RETRIES = 6
CLAIM_BACKOFF_CAP = 8.0


class HasId(Protocol):
    @property
    def id(self) -> int: ...


J = TypeVar("J", bound=HasId)
R = TypeVar("R")


@dataclass(slots=True, frozen=True)
class Claimed(Generic[J]):
    jobs: list[J]
    more: bool  # due feeds were left that a later claim may get (see leases.Claim)
    pending: bool  # feeds due before the loop began remain, leased by anyone or free


def lease_owner_name(role: str) -> str:
    """A name that tells which process holds a lease: role, machine and pid."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


def jittered(seconds: float) -> float:
    """``seconds`` ± 10 %: processes started together must not claim in lockstep."""
    return seconds * (0.9 + random.random() * 0.2)


@dataclass(slots=True)
class ClaimLoop(Generic[J, R]):
    """``claim(n)`` leases up to n jobs; ``work(job)`` must not raise for a bad feed;
    ``renew(ids)`` / ``release(ids)`` extend / give back the leases of jobs in flight."""

    claim: Callable[[int], Awaitable[Claimed[J]]]
    work: Callable[[J], Awaitable[R]]
    renew: Callable[[list[int]], Awaitable[object]]
    release: Callable[[list[int]], Awaitable[object]]
    batch: int
    capacity: int  # jobs in flight at most
    tick: float  # idle sleep when nothing is due
    renew_every: float
    claim_retries: int = CLAIM_RETRIES  # with ``once``; a long-running loop retries forever
    retry_delay: float = BUSY_POLL  # before the first retry, doubling up to CLAIM_BACKOFF_CAP

    async def run(
        self,
        *,
        once: bool,
        stop: asyncio.Event | None = None,
        on_done: Callable[[R], None] | None = None,
    ) -> list[R]:
        """Run until nothing is left to claim (``once``) or until ``stop`` is set.

        ``once`` ends when a claim finds nothing free and nothing pending (the claimer decides
        what pending means: for `worker --once`, feeds due when it began, which a dead worker's
        leases hold until they expire). On ``stop`` nothing more is claimed and the jobs in
        flight are finished. If the task is cancelled instead (a second signal), the jobs in
        flight are abandoned and their leases given back. Results are kept only with ``once``
        (a long-running worker reports through ``on_done``).

        A claim that fails (the database is away) is tried again: by a long-running loop every
        ``tick`` until it works, with ``once`` after a growing delay, ``claim_retries`` times,
        before the error is raised.
        """
        stop = stop or asyncio.Event()
        busy_poll = min(self.tick, BUSY_POLL)
        running: dict[asyncio.Future[Any], J] = {}
        results: list[R] = []
        stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        renewer = asyncio.create_task(self._renew_while(running))
        failures = 0
        try:
            while True:
                claimed: Claimed[J] | None = None
                if not stop.is_set() and len(running) < self.capacity:
                    want = min(self.batch, self.capacity - len(running))
                    try:
                        claimed = await self.claim(want)
                        failures = 0
                    except Exception:
                        failures += 1
                        if once and failures > self.claim_retries:
                            raise
                        # The database is away: wait for it to return. A single pass is not
                        # done until a claim says so, hence "pending".
                        log.warning("could not claim feeds; trying again", exc_info=True)
                        claimed = Claimed([], more=False, pending=once)
                    for job in claimed.jobs:
                        running[asyncio.ensure_future(self.work(job))] = job
                    if len(claimed.jobs) == want and len(running) < self.capacity:
                        continue  # a full batch: there may be more, and there is room
                delay: float | None
                if not running:
                    if stop.is_set():
                        break
                    idle = claimed is not None and not claimed.more and not claimed.pending
                    if idle and once:
                        break
                    delay = jittered(self.tick if idle else busy_poll)
                    if failures and once:
                        backoff = self.retry_delay * 2 ** (failures - 1)
                        delay = jittered(min(backoff, CLAIM_BACKOFF_CAP))
                elif len(running) >= self.capacity:
                    delay = None  # full: the next claim waits for a job to finish
                else:
                    busy = claimed is not None and (claimed.more or claimed.pending)
                    delay = jittered(busy_poll if busy else self.tick)
                waiters = set(running)
                if not stop.is_set():
                    waiters.add(stopping)
                done, _ = await asyncio.wait(
                    waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED
                )
                for future in done:
                    if running.pop(future, None) is None:
                        continue  # the stop event
                    result: R = future.result()
                    if once:
                        results.append(result)
                    if on_done:
                        on_done(result)
        finally:
            renewer.cancel()
            stopping.cancel()
            if running:  # cancelled: abandon the jobs in flight, hand their leases back
                for future in running:
                    future.cancel()
                await asyncio.gather(*running, return_exceptions=True)
                ids = [job.id for job in running.values()]
                try:
                    await self.release(ids)
                except Exception:  # they expire by themselves
                    log.warning("could not give back %d leases; they will expire", len(ids))
        return results

    async def _renew_while(self, running: dict[asyncio.Future[Any], J]) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            ids = [job.id for job in running.values()]
            if not ids:
                continue
            try:
                await self.renew(ids)
            except Exception:  # a database hiccup: the next renewal (or the lease) covers it
                log.warning("could not renew %d leases", len(ids), exc_info=True)
