"""`newsbrief worker` on a real PostgreSQL: several worker processes (the real CLI) share 150 feeds
served on 127.0.0.1; each feed is fetched exactly once per cycle (counted by the HTTP server),
a host never has more requests in flight than NEWSBRIEF_FETCH_PER_HOST across all workers, and
every article is stored once; a worker killed with SIGKILL mid-batch loses nothing: its feeds
are fetched by the others once its leases expire, and nothing is stored twice. Also: the bot
run with --no-fetch leaves the feeds to the workers, SQLite refuses workers, and one process's
store sees what another stored before it decides.

The feeds are the 50 smallest corpus feeds, each served under 3 paths (150 feed URLs, ~3,000
entries: enough work for three processes, little enough for a test on two cores). Copies are
the same articles, so "stored once" is checked against a single-process ingest of the 50
distinct feeds: the same articles, and no URL or text stored twice.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from bot.ingest.dedup import content_hash, minhash_signature
from bot.ingest.language import LanguageDetector
from bot.ingest.prepare import PreparedArticle, PreparedBatch
from bot.ingest.store import RecentIndex, store_batch
from bot.ingest.urls import url_key
from bot.services import add_feed, ingestor
from storage import feeds as feed_queries
from storage import leases
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Feed
from tests.conftest import POSTGRES_URL
from tests.support.botapi import BotAPIEmulator
from tests.support.database import fresh_postgres_database
from tests.support.feedserver import FeedServer
from tests.support.process import bot_api, environment, newsbrief, start
from tests.support.settings import ingest_settings

FILES = 50
COPIES = 3
WORKERS = 3
PER_HOST = 4

needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="workers need PostgreSQL: set NEWSBRIEF_TEST_POSTGRES_URL (.ci/run does)",
)


@dataclass(frozen=True, slots=True)
class Stored:
    """What a database holds after ingestion, as the "stored once" checks need it."""

    articles: int
    hashes: Counter[str]
    url_keys: Counter[str]

    @classmethod
    def read(cls, engine: Engine) -> Stored:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT content_hash, url_key FROM articles")).all()
        return cls(
            len(rows),
            Counter(h for h, _ in rows),
            Counter(k for _, k in rows if k is not None),
        )

    def twice(self) -> list[str]:
        return [k for k, n in (self.hashes + self.url_keys).items() if n > 1]

    def assert_same_as(self, reference: Stored) -> None:
        """Each article once, and the same articles as ``reference`` stored."""
        assert self.twice() == []
        assert set(self.hashes) == set(reference.hashes)
        assert self.articles == reference.articles


@pytest.fixture(scope="module")
def feed_files(corpus_dir: Path) -> list[Path]:
    files = sorted((p for p in (corpus_dir / "feeds").iterdir() if p.is_file()), key=_size)
    return files[:FILES]


def _size(path: Path) -> tuple[int, str]:
    return path.stat().st_size, path.name


@pytest.fixture(scope="module")
def reference(feed_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Stored:
    """One process ingesting each distinct feed once: what the workers must end up with."""
    import asyncio

    url = f"sqlite:///{tmp_path_factory.mktemp('reference') / 'reference.db'}"
    engine = make_engine(url)
    upgrade(engine)
    settings = ingest_settings(url)
    with FeedServer() as server:
        for path in feed_files:
            server.alias(f"/{path.name}", path)
            add_feed(engine, server.url(f"/{path.name}"))

        async def cycle() -> None:
            async with ingestor(settings, engine, LanguageDetector()) as ing:
                await ing.run_cycle(all_feeds=True)

        asyncio.run(cycle())
    stored = Stored.read(engine)
    engine.dispose()
    assert stored.articles > 500 and not stored.twice()
    return stored


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of its own (worker processes connect to it)."""
    assert POSTGRES_URL
    with fresh_postgres_database(POSTGRES_URL, "newsbrief_workers") as url:
        yield url


def serve_copies(
    server: FeedServer, engine: Engine, files: list[Path], *, due: bool, delay: float = 0.0
) -> list[str]:
    """Each file under COPIES paths, each path a feed (due now, or tomorrow); the paths."""
    paths = []
    next_check = datetime.now(UTC) + (timedelta(0) if due else timedelta(days=1))
    with Session(engine) as session:  # one transaction: no worker sees half of them
        for copy in range(COPIES):
            for path in files:
                served = f"/copy{copy}/{path.name}"
                server.alias(served, path, delay=delay)
                url = server.url(served)
                session.add(Feed(url=url, url_key=url_key(url) or url, next_check_at=next_check))
                paths.append(served)
        session.commit()
    return paths


class Workers:
    """`newsbrief worker` processes with their logs in files (pipes could fill up and block)."""

    def __init__(self, database_url: str, server: FeedServer, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        settings = {
            "NEWSBRIEF_DATABASE_URL": database_url,
            "NEWSBRIEF_ALLOW_PRIVATE_NETWORKS": "true",
            "NEWSBRIEF_EXTRACT_TEASERS": "false",
            "NEWSBRIEF_PARSE_WORKERS": "0",
            "NEWSBRIEF_FETCH_CONCURRENCY": "3",
            "NEWSBRIEF_FETCH_TICK": "0.3",
            "NEWSBRIEF_LOG_FORMAT": "json",
        }
        self.env = environment(settings, env)
        self.server = server
        self.processes: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, *args: str) -> None:
        env = {**self.env, "NEWSBRIEF_USER_AGENT": f"newsbrief-test/{name}"}
        with open(self.log(name), "wb") as log:
            self.processes[name] = start(
                "worker", "--id", name, "--batch", "3", *args, cwd=self.workdir, env=env, stderr=log
            )

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def messages(self, name: str) -> list[str]:
        lines = self.log(name).read_text(encoding="utf-8", errors="replace").splitlines()
        return [json.loads(line).get("message", "") for line in lines if line.startswith("{")]

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for name, process in self.processes.items():
                if process.poll() not in (None, 0, -signal.SIGKILL):
                    raise AssertionError(f"{name} exited {process.returncode}: {self.tail(name)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting until {what}")
            time.sleep(0.05)

    def wait_exit(self, name: str, timeout: float = 120) -> int:
        try:
            return self.processes[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name} did not exit: {self.tail(name)}") from None

    def tail(self, name: str) -> str:
        return self.log(name).read_text(encoding="utf-8", errors="replace")[-3000:]

    def fetched_by(self) -> Counter[str]:
        return Counter(h.get("User-Agent", "?") for _m, _t, h in self.server.requests)

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def feeds_done(engine: Engine) -> int:
    """Feeds fetched and recorded, with no lease left on them."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM feeds WHERE last_fetch_at IS NOT NULL "
                    "AND lease_owner IS NULL"
                )
            ).scalar()
            or 0
        )


@needs_postgres
def test_three_workers_fetch_each_of_150_feeds_exactly_once_and_store_each_article_once(
    database: str, feed_files: list[Path], reference: Stored, tmp_path: Path
) -> None:
    engine = make_engine(database)
    with FeedServer() as server:
        workers = Workers(database, server, tmp_path, NEWSBRIEF_FETCH_PER_HOST=str(PER_HOST))
        try:
            for n in range(WORKERS):
                workers.start(f"w{n}")
            # Due only once every worker is up, so that all three compete for them.
            paths = serve_copies(server, engine, feed_files, due=False)
            workers.wait_until(
                lambda: all(
                    any("ready" in m for m in workers.messages(name)) for name in workers.processes
                ),
                "every worker is ready",
            )
            with engine.begin() as conn:
                conn.execute(text("UPDATE feeds SET next_check_at = now()"))
            workers.wait_until(lambda: feeds_done(engine) == len(paths), "every feed is done")
            for process in workers.processes.values():
                process.send_signal(signal.SIGTERM)
            codes = {name: workers.wait_exit(name) for name in workers.processes}
        finally:
            workers.close()
        hits = server.hits
        in_flight = server.max_in_flight
        shares = workers.fetched_by()

    assert codes == {"w0": 0, "w1": 0, "w2": 0}, {n: workers.tail(n) for n in codes}
    assert len(paths) == 150
    assert {path: hits[path] for path in paths} == dict.fromkeys(paths, 1), shares
    assert sum(hits.values()) == 150  # nothing else was asked for
    assert in_flight <= PER_HOST  # one host, three workers: the limit holds across them
    Stored.read(engine).assert_same_as(reference)
    engine.dispose()


@needs_postgres
def test_a_worker_killed_mid_batch_loses_nothing_its_feeds_go_to_the_others_after_expiry(
    database: str, feed_files: list[Path], reference: Stored, tmp_path: Path
) -> None:
    engine = make_engine(database)
    with FeedServer() as server:
        # Every answer takes a moment, so the victim has requests in flight too.
        paths = serve_copies(server, engine, feed_files, due=True, delay=0.05)
        workers = Workers(
            database,
            server,
            tmp_path,
            NEWSBRIEF_LEASE_SECONDS="3",
            NEWSBRIEF_FETCH_PER_HOST="9",  # politeness is the other test's: no waiting here
        )
        try:
            for n in range(WORKERS):
                workers.start(f"w{n}", "--once")

            def victim_mid_batch() -> bool:
                with engine.connect() as conn:
                    held = conn.execute(
                        text("SELECT count(*) FROM feeds WHERE lease_owner = 'w0'")
                    ).scalar()
                return bool(held) and feeds_done(engine) >= 20

            workers.wait_until(victim_mid_batch, "w0 holds leases, mid-run")
            workers.processes["w0"].send_signal(signal.SIGKILL)
            workers.processes["w0"].wait()
            with engine.connect() as conn:
                orphaned = dict(
                    conn.execute(
                        text("SELECT id, lease_until FROM feeds WHERE lease_owner = 'w0'")
                    ).all()
                )
            codes = {name: workers.wait_exit(name) for name in ("w1", "w2")}
        finally:
            workers.close()
        hits = server.hits

    assert orphaned, "w0 held no lease when it was killed"
    assert codes == {"w1": 0, "w2": 0}, {n: workers.tail(n) for n in codes}
    with Session(engine) as session:
        feeds = {feed.id: feed for feed in feed_queries.list_feeds(session)}
    assert all(f.last_fetch_at is not None and f.lease_owner is None for f in feeds.values())
    for feed_id, until in orphaned.items():
        # Taken over only once the dead worker's lease had run out (same clock: one machine).
        fetched = feeds[feed_id].last_fetch_at
        assert fetched is not None and fetched >= until - timedelta(seconds=0.5)
    orphan_paths = {"/" + feeds[i].url.split("/", 3)[3] for i in orphaned}
    assert all(hits[path] >= 1 for path in paths)
    # Fetched twice only where the victim had asked before it died, never elsewhere.
    assert {path for path in paths if hits[path] > 1} <= orphan_paths
    Stored.read(engine).assert_same_as(reference)
    engine.dispose()


@needs_postgres
def test_the_bot_run_with_no_fetch_answers_and_leaves_the_feeds_to_a_worker(
    database: str, emu: BotAPIEmulator, feed_files: list[Path], tmp_path: Path
) -> None:
    engine = make_engine(database)
    with FeedServer() as server:
        workers = Workers(database, server, tmp_path)
        env = {**workers.env, **bot_api(emu), "NEWSBRIEF_FETCH_TICK": "0.2"}
        server.alias("/feed.rss", feed_files[-1])
        add_feed(engine, server.url("/feed.rss"))  # due now
        with open(tmp_path / "bot.log", "wb") as log:
            bot = start("run", "--no-fetch", cwd=tmp_path, env=env, stderr=log)
        try:
            emu.push_message(555, "/start")
            deadline = time.monotonic() + 60
            while not emu.sent_to(555):
                assert bot.poll() is None and time.monotonic() < deadline, workers.tail("bot")
                time.sleep(0.1)
            time.sleep(1.0)  # five fetch ticks, had there been a fetch job
            assert server.hits["/feed.rss"] == 0
            workers.start("w0", "--once")
            assert workers.wait_exit("w0") == 0
            assert server.hits["/feed.rss"] == 1
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=60)
            workers.close()
    assert bot.returncode == 0, workers.tail("bot")
    assert feeds_done(engine) == 1
    engine.dispose()


def test_worker_on_sqlite_exits_1_and_says_it_needs_postgresql(tmp_path: Path) -> None:
    env = {"NEWSBRIEF_DATABASE_URL": f"sqlite:///{tmp_path / 'one.db'}", "COLUMNS": "300"}
    done = newsbrief("worker", "--once", cwd=tmp_path, env=env, timeout=60)
    assert done.returncode == 1
    assert "newsbrief worker needs PostgreSQL" in done.stderr
    assert "on SQLite the bot's own scheduler fetches (newsbrief run)" in done.stderr
    assert done.stdout == ""


# --- the store step across processes -------------------------------------------------------

BRIDGE = (
    "The city council voted on Tuesday to close the old Harbour Street bridge to cars after "
    "engineers found deep cracks in two of its steel supports during a routine inspection. "
    "Buses will be diverted through the market district while repairs are planned, and "
    "cyclists and pedestrians may still use the footpath on the northern side. The mayor "
    "said the closure would last at least six months and promised a public meeting next week."
)


def prepared(guid: str, body: str) -> PreparedBatch:
    article = PreparedArticle(
        guid=guid,
        url=None,
        url_key=None,
        title="Harbour Street bridge closes to cars",
        author=None,
        published=datetime.now(UTC),
        language="en",
        text=body,
        content_hash=content_hash(body),
        minhash=minhash_signature(body),
    )
    return PreparedBatch(articles=[article], boilerplate=frozenset())


@needs_postgres
def test_a_process_sees_the_articles_another_stored_before_it_decides(database: str) -> None:
    engine = make_engine(database)
    with Session(engine) as session:
        first = feed_queries.add_feed(session, "https://a.example/rss", "a.example/rss").id
        second = feed_queries.add_feed(session, "https://b.example/rss", "b.example/rss").id
    assert first is not None and second is not None
    # Two processes' indexes, both loaded before anything was stored.
    ours, theirs = RecentIndex(), RecentIndex()
    with Session(engine) as session:
        ours.load(session, datetime.now(UTC) - timedelta(days=7))
        theirs.load(session, datetime.now(UTC) - timedelta(days=7))
    with Session(engine) as session:
        leases.lock_store(session)
        assert store_batch(session, first, prepared("a-1", BRIDGE), theirs).new == 1
        session.commit()
    reworded = BRIDGE.replace("Tuesday", "Tuesday evening")  # a near-duplicate, another text

    with Session(engine) as session:
        leases.lock_store(session)
        assert ours.catch_up(session) == 1
        counts = store_batch(session, second, prepared("b-1", reworded), ours)
        session.commit()

    assert (counts.new, counts.duplicate) == (0, 1)
    assert ours.watermark == theirs.watermark
    engine.dispose()
