"""GET /metrics and /healthz over real HTTP, served by the real bot (running_bot with
NEWSBRIEF_METRICS_PORT=0) while its own jobs fetch corpus feeds from a local server and its
delivery worker sends to the local Bot API; then made unhealthy for real (feeds failing, a job
stopped, delivery stopped) and healthy again. Both databases."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from bot.chat.delivery import Deliverer
from bot.observe.counters import DELIVERY_FIELDS, DELIVERY_HELP, DeliveryCounters
from bot.observe.health import HealthRules
from bot.observe.metrics import Metrics
from bot.observe.server import ObserveServer, start_observer
from bot.services import add_feed
from bot.settings import Settings
from storage import outbox
from storage.db import make_engine
from storage.models import Article, Feed, Story, utcnow
from tests.conftest import REPO_ROOT
from tests.support.botapi import BotAPIEmulator
from tests.support.botharness import ADMIN, USER, BotHarness, bot_settings, running_bot
from tests.support.database import count
from tests.support.feedserver import FeedServer
from tests.support.seed import add_chat, add_story
from tests.support.seed import add_feed as seed_feed

FEEDS = ("lemonde-une-fr-2018-02.rss", "guardian-us-en-2018-01.rss", "golem-de-2018-12.rss")
T = TypeVar("T")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 30.0) -> T:
    """The first non-None answer of ``check``, polled until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.1)


class Observed:
    """An HTTP client for one observe server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.AsyncClient(base_url=url, trust_env=False, timeout=10)

    async def metrics(self) -> Samples:
        answer = await self.client.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples
        }

    async def health(self) -> tuple[int, dict[str, Any]]:
        answer = await self.client.get("/healthz")
        assert answer.headers["content-type"] == "application/json"
        body: dict[str, Any] = answer.json()
        return answer.status_code, body

    async def health_is(
        self,
        status: int,
        timeout: float = 30.0,
        *,
        when: Callable[[dict[str, Any]], bool] = lambda body: True,
    ) -> dict[str, Any]:
        """The first /healthz body with this status (and for which ``when`` holds)."""

        async def check() -> dict[str, Any] | None:
            code, body = await self.health()
            return body if code == status and when(body) else None

        return await eventually(check, timeout)


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def observed(bot: BotHarness) -> Observed:
    observer = bot.runtime.observer
    assert observer is not None, "NEWSBRIEF_METRICS_PORT was set: the bot serves"
    return Observed(observer.url)


def make_feeds_due(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(update(Feed).values(next_check_at=utcnow() - timedelta(seconds=1)))
        session.commit()


# -- the bot's figures ----------------------------------------------------------------------------


async def test_metrics_count_what_the_bots_own_fetch_job_fetched_and_stored(
    emu: BotAPIEmulator, server: FeedServer, engine: Engine, database_url: str
) -> None:
    for name in FEEDS:
        add_feed(engine, server.url(f"/feeds/{name}"))
    settings = bot_settings(emu, database_url, fetch_tick=0.5, metrics_port=0)
    async with running_bot(emu, settings, engine, fetch=True) as bot:
        http = observed(bot)

        async def fetched(n: int) -> Samples | None:
            found = await http.metrics()
            done = total(found, "newsbrief_fetch_duration_seconds_count") == n
            return found if done and total(found, "newsbrief_fetch_cycles_total") >= 1 else None

        first = await eventually(lambda: fetched(len(FEEDS)), timeout=60)
        hits = sum(server.hits[f"/feeds/{n}"] for n in FEEDS)
        assert hits == len(FEEDS)
        assert sample(first, "newsbrief_fetches_total", status="ok") == len(FEEDS)
        stored = count(engine, Article)
        assert stored > 50
        assert sample(first, "newsbrief_entries_total", kind="new") == stored
        assert sample(first, "newsbrief_feeds_enabled") == len(FEEDS)
        assert sample(first, "newsbrief_last_successful_fetch_timestamp_seconds") > 1.7e9

        code, body = await http.health()
        assert code == 200 and body["status"] == "ok" and body["problems"] == []
        assert body["role"] == "bot" and body["fetching"] and body["delivering"]
        assert body["last_successful_fetch"] is not None
        assert body["failing_feeds"] == [] and body["feeds"]["enabled"] == len(FEEDS)
        assert set(body["scheduler_lag_seconds"]) == {"fetch", "fanout", "digests"}
        assert body["outbox"] == {"pending": 0, "due": 0, "oldest_due_age_seconds": None}

        # Due again: the conditional GETs come back 304, and the ratio says so.
        make_feeds_due(engine)
        await eventually(lambda: fetched(2 * len(FEEDS)), timeout=60)
        # Each feed is counted as it is done, the ratio when its cycle ends: wait for a cycle
        # to end after the last feed was seen (cycles never overlap: one fetch job at a time).
        last_feed_seen = time.time()

        async def cycle_ended() -> Samples | None:
            found = await http.metrics()
            ended = sample(found, "newsbrief_fetch_cycle_last_end_timestamp_seconds")
            return found if ended >= last_feed_seen else None

        second = await eventually(cycle_ended, timeout=30)
        assert ("/feeds/" + FEEDS[0], 304) in server.responses
        assert sum(server.hits[f"/feeds/{n}"] for n in FEEDS) == 2 * len(FEEDS)
        assert sample(second, "newsbrief_fetches_total", status="not_modified") == len(FEEDS)
        assert sample(second, "newsbrief_fetch_not_modified_ratio") == 1.0
        assert sample(second, "newsbrief_entries_total", kind="new") == count(engine, Article)
        assert sample(second, "newsbrief_scheduler_ticks_total", job="fetch") >= 2


async def test_sends_and_429s_match_what_telegram_received_after_a_push(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    with Session(engine) as session:
        feed = seed_feed(session, "world")
        for n in range(3):
            add_story(session, feed, f"Harbour story {n}", "Ships are back in the harbour.")
    settings = bot_settings(emu, database_url, metrics_port=0)
    users = (USER, USER + 1)
    async with running_bot(emu, settings, engine) as bot:
        http = observed(bot)

        async def announced() -> bool | None:
            waiting = count(engine, Story, col(Story.announced_at).is_(None))
            return True if waiting == 0 else None

        await eventually(announced)  # announced to nobody: no chat yet
        for user in users:
            await bot.ask(user, "/start", user_id=user)
        preview = await bot.ask(ADMIN, "/push", user_id=ADMIN)
        assert preview.reply_markup is not None, preview.plain_text
        confirm = preview.reply_markup["inline_keyboard"][0][0]["callback_data"]
        before = {user: len(emu.sent_to(user)) for user in users}
        emu.fail_next("sendMessage", 429, retry_after=1)  # the first send of the push
        await bot.press(ADMIN, confirm, preview.message_id, user_id=ADMIN)

        async def delivered() -> Samples | None:
            found = await http.metrics()
            return found if sample(found, "newsbrief_delivery_sent_total") == 2 else None

        found = await eventually(delivered)
        received = sum(len(emu.sent_to(user)) - before[user] for user in users)
        assert received == 2 == sample(found, "newsbrief_delivery_sent_total")
        assert sample(found, "newsbrief_delivery_rate_limited_total") == 1
        assert sample(found, "newsbrief_delivery_failed_total") == 0
        assert sample(found, "newsbrief_outbox_pending") == 0
        assert sample(found, "newsbrief_healthy") == 1
        code, body = await http.health()
        assert code == 200 and body["delivery"]["sent"] == 2
        assert body["delivery"]["rate_limited"] == 1


# -- unhealthy for real, then healthy again -------------------------------------------------------


async def test_healthz_is_503_while_every_feed_fails_and_200_once_one_is_fetched(
    emu: BotAPIEmulator, server: FeedServer, engine: Engine, database_url: str, corpus_dir: Path
) -> None:
    server.route("/broken.rss", status=500, body=b"upstream down")
    add_feed(engine, server.url("/broken.rss"))
    settings = bot_settings(emu, database_url, fetch_tick=0.3, metrics_port=0)
    async with running_bot(emu, settings, engine, fetch=True) as bot:
        assert bot.runtime.observer is not None
        bot.runtime.observer.rules = HealthRules(fetch_stale=1.0)
        http = observed(bot)

        # Until the first fetch fails, the feed is unhealthy for another reason: due, unfetched.
        body = await http.health_is(503, when=lambda body: body["feeds"]["failing"] == 1)
        assert body["status"] == "unhealthy" and body["database"] == "ok"
        assert body["problems"] == [
            "fetching: no feed fetched successfully for 1 s (1 of 1 failing)"
        ]
        assert body["last_successful_fetch"] is None
        [failing] = body["failing_feeds"]
        assert failing["url"] == server.url("/broken.rss") and failing["error_count"] >= 1
        assert failing["last_error"].startswith("fetch:")
        found = await http.metrics()
        assert sample(found, "newsbrief_healthy") == 0
        assert sample(found, "newsbrief_feeds_failing") == 1
        assert sample(found, "newsbrief_fetch_failures_total", stage="fetch") >= 1

        server.alias("/broken.rss", corpus_dir / "feeds" / FEEDS[0])
        make_feeds_due(engine)
        body = await http.health_is(200)
        assert body["failing_feeds"] == [] and body["last_successful_fetch"] is not None


async def test_healthz_is_503_while_a_scheduled_job_does_not_run(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    settings = bot_settings(emu, database_url, metrics_port=0)
    async with running_bot(emu, settings, engine) as bot:
        assert bot.runtime.observer is not None and bot.app.job_queue is not None
        bot.runtime.observer.rules = HealthRules(scheduler_lag=1.0)
        http = observed(bot)
        await http.health_is(200)

        [fanout] = bot.app.job_queue.get_jobs_by_name("fanout")
        fanout.enabled = False  # the job stops being run, as on a stalled scheduler
        body = await http.health_is(503)
        [problem] = body["problems"]
        assert problem.startswith("scheduler: job fanout is")
        assert body["scheduler_lag_seconds"]["fanout"] > 1.0
        found = await http.metrics()
        assert sample(found, "newsbrief_scheduler_lag_seconds", job="fanout") > 1.0

        fanout.enabled = True
        await http.health_is(200, timeout=20)


async def test_healthz_is_503_while_due_messages_wait_and_nothing_is_sent(
    emu: BotAPIEmulator, engine: Engine, database_url: str
) -> None:
    settings = bot_settings(emu, database_url, metrics_port=0)
    async with running_bot(emu, settings, engine) as bot:
        runtime = bot.runtime
        assert runtime.observer is not None and runtime.deliverer is not None
        runtime.observer.rules = HealthRules(outbox_stuck=1.0)
        http = observed(bot)
        await runtime.deliverer.stop()
        with Session(engine) as session:
            add_chat(session, USER, subscribe=False)
            outbox.enqueue(session, USER, 0, "broadcast", {"html": "Maintenance tonight."})
            session.commit()

        body = await http.health_is(503)
        [problem] = body["problems"]
        assert problem.startswith("delivery: a message has been due for")
        assert body["outbox"]["pending"] == 1 and body["outbox"]["due"] == 1
        assert body["outbox"]["oldest_due_age_seconds"] > 1.0
        found = await http.metrics()
        assert sample(found, "newsbrief_outbox_due") == 1
        assert sample(found, "newsbrief_outbox_oldest_due_seconds") > 1.0

        runtime.deliverer = Deliverer(runtime, bot.app.bot)
        runtime.deliverer.start()
        body = await http.health_is(200)
        assert [m.text for m in emu.sent_to(USER)] == ["Maintenance tonight."]


# -- the server itself ----------------------------------------------------------------------------


def worker_settings(database_url: str, **extra: Any) -> Settings:
    return Settings(_env_file=None, database_url=database_url, **extra)  # type: ignore[call-arg]


async def test_unknown_paths_are_404_head_works_and_stop_frees_the_port(
    engine: Engine, database_url: str
) -> None:
    settings = worker_settings(database_url)
    with ObserveServer(settings, engine, Metrics(), role="worker", port=0) as server:
        http = Observed(server.url)
        assert (await http.client.get("/nope")).status_code == 404
        head = await http.client.head("/healthz")
        assert head.status_code == 200 and head.content == b""
        code, body = await http.health()
        assert code == 200 and body["role"] == "worker" and body["delivery"] is None
        with pytest.raises(OSError):  # a taken port stops the start, loudly
            ObserveServer(settings, engine, Metrics(), role="worker", port=server.port).start()
        await http.client.aclose()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{http.url}/healthz", trust_env=False)


async def test_a_database_that_cannot_be_read_is_503_and_database_up_0(tmp_path: Path) -> None:
    broken = make_engine(f"sqlite:///{tmp_path}")  # a directory, not a database file
    settings = worker_settings(f"sqlite:///{tmp_path}")
    with ObserveServer(settings, broken, Metrics(), role="worker", port=0) as server:
        http = Observed(server.url)
        code, body = await http.health()
        assert code == 503 and body["database"] == "unreachable"
        assert body["problems"] == ["database: cannot be read (OperationalError)"]
        found = await http.metrics()  # the figures still come, saying the database is down
        assert sample(found, "newsbrief_database_up") == 0
        assert sample(found, "newsbrief_healthy") == 0
        await http.client.aclose()
    broken.dispose()


def test_no_port_no_server(engine: Engine, database_url: str) -> None:
    unset = worker_settings(database_url, metrics_port="")
    assert unset.metrics_port is None
    assert start_observer(unset, engine, Metrics(), role="worker", fetching=True) is None
    with pytest.raises(ValueError, match="NEWSBRIEF_METRICS_PORT"):
        ObserveServer(unset, engine, Metrics(), role="worker")


def test_every_metric_served_is_documented_in_operations_md(
    engine: Engine, database_url: str
) -> None:
    metrics = Metrics()
    metrics.schedule("fetch", 60)
    settings = worker_settings(database_url)
    counters = DeliveryCounters()
    with ObserveServer(
        settings, engine, metrics, role="bot", delivery=lambda: counters, port=0
    ) as server:
        answer = httpx.get(f"{server.url}/metrics", trust_env=False)
    families = set(re.findall(r"^# TYPE (newsbrief_\w+) \w+$", answer.text, re.M))
    families = {name for name in families if not name.endswith("_created")}
    assert len(families) > 25
    docs = (REPO_ROOT / "docs" / "operations.md").read_text()
    missing = sorted(name for name in families if f"`{name}`" not in docs)
    assert missing == [], "document these in docs/operations.md"


def test_healthz_and_metrics_serve_exactly_the_fields_of_delivery_counters(
    engine: Engine, database_url: str
) -> None:
    """bot/observe/counters.py is the only list of the delivery counters: each field (and
    nothing else) reaches /healthz and /metrics with its own value and its help text."""
    expected = {f.name: 10 + i for i, f in enumerate(dataclasses.fields(DeliveryCounters))}
    counters = DeliveryCounters(**expected)
    with ObserveServer(
        worker_settings(database_url),
        engine,
        Metrics(),
        role="bot",
        delivery=lambda: counters,
        port=0,
    ) as server:
        health = httpx.get(f"{server.url}/healthz", trust_env=False).json()
        scraped = httpx.get(f"{server.url}/metrics", trust_env=False).text
    served = dict(health["delivery"])
    assert served.pop("idle_seconds") is not None
    assert served == expected
    families = {
        family.name.removeprefix("newsbrief_delivery_"): family
        for family in text_string_to_metric_families(scraped)
        if family.name.startswith("newsbrief_delivery_") and family.type == "counter"
    }
    assert sorted(families) == sorted(expected)
    for name, family in families.items():
        assert family.documentation == DELIVERY_HELP[name] != ""
        totals = [s.value for s in family.samples if s.name.endswith("_total")]
        assert totals == [expected[name]], name
    assert tuple(expected) == DELIVERY_FIELDS
