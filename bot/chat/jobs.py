"""The bot's background work, scheduled on PTB's JobQueue (APScheduler 3) and one task.

- fetch tick: refreshes the feeds that are due (each keeps its own schedule in the database;
  the tick only asks "who is due?"), then fans new stories out;
- fan-out tick: owes stories stored by anyone (this process, `newsbrief fetch`, workers);
- digest tick: bundles waiting stories for chats whose digest time has passed;
- delivery: a long-running task draining the outbox (bot/chat/delivery.py).

APScheduler's defaults would silently skip a run that starts more than 1 s late on a busy
loop (misfire_grace_time=1), so every job sets its own grace; max_instances=1 and coalesce
mean a slow fetch cycle is never run twice at once. Durable state (next checks, digest
times, what is owed) lives in our tables, so the jobs are just ticks.

Each tick is timed by ``runtime.metrics`` (its lag feeds /healthz), and with
NEWSBRIEF_METRICS_PORT set the process serves /metrics and /healthz (bot/observe).
"""

from __future__ import annotations

import asyncio
import logging

from telegram.ext import Application, ContextTypes

from bot.chat.delivery import Deliverer
from bot.chat.fanout import FanoutResult, announce_new_stories, run_digests
from bot.chat.runtime import Runtime, get_runtime
from bot.observe.server import start_observer
from bot.services import ingestor

log = logging.getLogger(__name__)
FANOUT_INTERVAL = 5.0
DIGEST_INTERVAL = 30.0


def _job_kwargs(grace: float, jitter: float = 0) -> dict[str, object]:
    return {
        "misfire_grace_time": int(max(1, grace)),
        "max_instances": 1,
        "coalesce": True,
        **({"jitter": jitter} if jitter else {}),
    }


def install(application: Application, runtime: Runtime, *, fetch: bool) -> None:
    queue = application.job_queue
    assert queue is not None, "install python-telegram-bot[job-queue]"
    runtime.fetching = fetch
    if fetch:
        tick = runtime.settings.fetch_tick
        runtime.metrics.schedule("fetch", tick)
        queue.run_repeating(
            fetch_tick,
            interval=tick,
            first=1.0,
            name="fetch",
            job_kwargs=_job_kwargs(tick, jitter=min(5.0, tick / 10)),
        )
    runtime.metrics.schedule("fanout", FANOUT_INTERVAL)
    runtime.metrics.schedule("digests", DIGEST_INTERVAL)
    queue.run_repeating(
        fanout_tick,
        interval=FANOUT_INTERVAL,
        first=0.5,
        name="fanout",
        job_kwargs=_job_kwargs(FANOUT_INTERVAL * 4),
    )
    queue.run_repeating(
        digest_tick,
        interval=DIGEST_INTERVAL,
        first=2.0,
        name="digests",
        job_kwargs=_job_kwargs(DIGEST_INTERVAL * 4),
    )


async def started(application: Application, runtime: Runtime) -> None:
    """Open the fetcher (when this process fetches) and start the delivery worker."""
    # First: a taken metrics port stops the start before anything else is opened.
    runtime.observer = start_observer(
        runtime.settings,
        runtime.engine,
        runtime.metrics,
        role="bot",
        fetching=runtime.fetching,
        delivery=lambda: runtime.deliverer.counters if runtime.deliverer else None,
    )
    if runtime.fetching:
        runtime.ingestor = await runtime.exit_stack.enter_async_context(
            ingestor(runtime.settings, runtime.engine)
        )
    runtime.deliverer = Deliverer(runtime, application.bot)
    runtime.deliverer.start()


async def stopping(application: Application, runtime: Runtime) -> None:
    if runtime.observer is not None:
        await asyncio.to_thread(runtime.observer.stop)
        runtime.observer = None
    if runtime.deliverer is not None:
        await runtime.deliverer.stop()
    await runtime.exit_stack.aclose()
    runtime.ingestor = None


def _stopping(context: ContextTypes.DEFAULT_TYPE) -> bool:
    """True once the application is stopping. PTB's JobQueue.stop waits for the jobs running
    when it is called, then shuts APScheduler down, which cancels any job started meanwhile
    (a fan-out tick during a long fetch): such a job must not begin work it cannot finish."""
    return not context.application.running


async def fetch_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    if _stopping(context):
        return
    runtime = get_runtime(context)
    with runtime.metrics.tick("fetch"):
        if runtime.ingestor is None:
            return
        report = await runtime.ingestor.run_cycle(
            on_feed_done=runtime.metrics.observe_feed,
            # PTB clears `running` first thing in stop() and then waits for this job: a stop
            # (SIGTERM) waits for the feeds in flight, not for every due one.
            stopping=lambda: _stopping(context),
        )
        runtime.metrics.observe_cycle(report)
        if report.feeds:
            log.info(
                "fetched %d feeds: %d new, %d duplicates, %d failed",
                len(report.feeds),
                report.total("new"),
                report.total("duplicate"),
                report.count("failed"),
            )
        await announce(runtime)


async def announce(runtime: Runtime) -> FanoutResult:
    """Owe every unannounced story to the chats that want it; wake the sender if any."""
    settings = runtime.settings
    total = FanoutResult()
    while True:
        result = await runtime.db(
            lambda s: announce_new_stories(
                s, backlog=settings.backlog_digest, channel_id=settings.channel_id
            )
        )
        total.stories += result.stories
        total.owed += result.owed
        total.queued += result.queued
        if result.queued:
            runtime.outbox_ready.set()
        if result.stories == 0:
            return total


async def fanout_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    if _stopping(context):
        return
    runtime = get_runtime(context)
    with runtime.metrics.tick("fanout"):
        await announce(runtime)


async def digest_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    if _stopping(context):
        return
    runtime = get_runtime(context)
    backlog = runtime.settings.backlog_digest
    with runtime.metrics.tick("digests"):
        if await runtime.db(lambda s: run_digests(s, backlog=backlog)):
            runtime.outbox_ready.set()
