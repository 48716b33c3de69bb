"""PostgreSQL restarted in the middle of work: the process does not crash, reconnects by itself
(``pool_pre_ping`` in storage/db.py drops the dead pooled connections), and nothing is lost.

- (a) during a fetch cycle of the real Ingestor over slow local feeds: the cycle returns; a
  feed whose store was cut off is recorded as failed (or its lease expires) and the next
  cycle stores it; every article ends up stored exactly once.
- (b) during a /push being delivered by the real bot to 150 chats: the sender carries on
  after the restart, every chat gets its message, at most the few in flight at the restart
  twice (the outbox bound in docs/bot.md); and the bot answers commands again.

The shared server on 127.0.0.1:5432 is never touched: each test starts its own PostgreSQL
(initdb into a temporary directory, on a free port on 127.0.0.1, as the ``postgres`` user when
run as root since initdb refuses root) and restarts that one. Skipped, saying why, when the
PostgreSQL server binaries are not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import Session, col, select

from bot import services
from storage import outbox
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Article, Feed, OutboxItem, utcnow
from tests.support.botapi import BotAPIEmulator
from tests.support.botharness import ADMIN, bot_settings, running_bot, wait_for
from tests.support.feedserver import FeedServer
from tests.support.seed import add_chat, add_feed, add_story

FEEDS = (
    "lemonde-une-fr-2018-02.rss",
    "guardian-us-en-2018-01.rss",
    "golem-de-2018-12.rss",
    "japantimes-en-2017.rss",
    "indianexpress-en-2017.rss",
    "techcrunch-en-2011.rss",
    "cornucopia-blogger-en.rss",
    "theverge-en-2017-01.atom",
)
CHATS = [30_000 + n for n in range(150)]
CONCURRENCY = 4
INITDB_OPTIONS = ("-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions")


# --- a private PostgreSQL --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own: ``restart`` it at will, nobody else uses it."""

    bin_dir: Path
    root: Path
    port: int
    as_user: list[str]  # ["runuser", "-u", "postgres", "--"] when run as root

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60"]
        command += ["-l", str(self.root / "server.log"), "-o", options, *args]
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, timeout=90)

    def restart(self, mode: str, *, away: float = 0.0) -> float:
        """Stop (``fast``: sessions terminated; ``immediate``: no clean shutdown, recovery on
        start), stay down ``away`` seconds more, start again; the seconds it was away."""
        started = time.monotonic()
        self.pg_ctl("-m", mode, "stop")
        time.sleep(away)
        self.pg_ctl("start")
        return time.monotonic() - started


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: p.split("/")[4])
    initdb = shutil.which("initdb") or (found[-1] if found else None)
    if initdb is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="newsbrief-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("running as root and there is no postgres user to run initdb as")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PrivatePostgres(Path(initdb).parent, root, _free_port(), as_user)
    try:
        subprocess.run(
            [*as_user, initdb, "-D", str(server.data), *INITDB_OPTIONS],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server.pg_ctl("start")
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a private PostgreSQL: {exc}")
    try:
        admin = make_engine(server.url())
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("CREATE DATABASE newsbrief"))
        admin.dispose()
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            server.pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_engine(private_postgres: PrivatePostgres) -> Iterator[Engine]:
    engine = make_engine(private_postgres.url("newsbrief"))
    upgrade(engine)
    yield engine
    engine.dispose()


def test_the_private_server_restarts_and_the_engine_reconnects_on_its_own(
    private_postgres: PrivatePostgres, pg_engine: Engine
) -> None:
    with Session(pg_engine) as session:  # a pooled connection, killed by the restart
        assert session.exec(select(func.count()).select_from(Feed)).one() == 0
    away = private_postgres.restart("immediate")
    with Session(pg_engine) as session:  # pool_pre_ping: a new connection, not an error
        assert session.exec(select(func.count()).select_from(Feed)).one() == 0
    print(f"server away for {away:.2f} s")


# --- (a) a fetch cycle -------------------------------------------------------------------------


def _articles(engine: Engine) -> Counter[str]:
    with Session(engine) as session:
        return Counter(session.exec(select(Article.content_hash)).all())


async def test_a_restart_mid_fetch_cycle_loses_no_feed_and_no_article(
    private_postgres: PrivatePostgres,
    pg_engine: Engine,
    emu: BotAPIEmulator,
    corpus_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = bot_settings(
        emu,
        private_postgres.url("newsbrief"),
        fetch_concurrency=4,
        fetch_tick=1.0,  # the bot's own fetch job, every second
        lease_seconds=5,  # a lease the outage left behind frees itself soon
    )
    with FeedServer(root=corpus_dir) as server:
        for n, name in enumerate(FEEDS):
            # Staggered answers: some feeds are stored before the restart, some come back
            # while the server is away, some after it.
            server.alias(f"/slow/{name}", corpus_dir / "feeds" / name, delay=0.5 + 0.4 * n)
            services.add_feed(pg_engine, server.url(f"/slow/{name}"))
        async with running_bot(emu, settings, pg_engine, fetch=True) as bot:
            await wait_for(lambda: _stored_feeds(pg_engine) >= 1, timeout=60)
            away = await asyncio.to_thread(private_postgres.restart, "fast", away=2.0)
            # The next cycles store every feed the interrupted one could not.
            await wait_for(lambda: _stored_feeds(pg_engine) == len(FEEDS), timeout=90)
            welcome = await bot.ask(CHATS[0], "/start")  # and the bot still answers
        hits = server.hits
    errors = [r.getMessage()[:120] for r in caplog.records if r.levelname == "ERROR"]
    print(f"server away {away:.2f} s; errors logged meanwhile: {errors}; fetches: {hits}")
    assert "Hello" in (welcome.plain_text or "")
    stored = _articles(pg_engine)
    assert stored and max(stored.values()) == 1  # every article once, none twice
    with Session(pg_engine) as session:
        assert set(session.exec(select(Feed.error_count)).all()) == {0}  # the last fetch: ok

    # The same feeds fetched into a fresh database with no restart give the same articles.
    with FeedServer(root=corpus_dir) as server:
        reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
        upgrade(reference)
        for name in FEEDS:
            services.add_feed(reference, server.url(f"/feeds/{name}"))
        quiet = settings.model_copy(update={"database_url": str(reference.url)})
        async with services.ingestor(quiet, reference) as ingestor:
            await ingestor.run_cycle()
    assert set(_articles(reference)) == set(stored)
    reference.dispose()


def _stored_feeds(engine: Engine) -> int:
    with contextlib.suppress(Exception), Session(engine) as session:  # the server may be away
        return int(
            session.exec(
                select(func.count()).select_from(Feed).where(col(Feed.last_success_at).is_not(None))
            ).one()
        )
    return 0


# --- (b) a push being delivered --------------------------------------------------------------


def _received(emu: BotAPIEmulator) -> Counter[int | str]:
    return Counter(m.chat_id for m in emu.sent if m.chat_id in set(CHATS))


async def test_a_restart_mid_push_delivers_everything_with_at_most_the_in_flight_twice(
    private_postgres: PrivatePostgres, pg_engine: Engine, emu: BotAPIEmulator
) -> None:
    with Session(pg_engine) as session:
        feed = add_feed(session, "world")
        stories = [
            add_story(session, feed, f"Story {n}", f"What happened, part {n}.") for n in range(3)
        ]
        outbox.mark_announced(session, stories, utcnow())
        session.commit()
        for chat_id in CHATS:
            add_chat(session, chat_id)
    emu.delay_sends(0.02)
    settings = bot_settings(
        emu, private_postgres.url("newsbrief"), delivery_concurrency=CONCURRENCY
    )
    async with running_bot(emu, settings, pg_engine) as bot:
        preview = await bot.ask(ADMIN, "/push")
        assert preview.reply_markup is not None
        confirm = preview.reply_markup["inline_keyboard"][0][0]["callback_data"]
        await bot.press(ADMIN, confirm, preview.message_id)
        await wait_for(lambda: sum(_received(emu).values()) >= len(CHATS) // 3, timeout=60)
        away = await asyncio.to_thread(private_postgres.restart, "immediate", away=2.0)
        at_restart = sum(_received(emu).values())
        await wait_for(lambda: set(_received(emu)) == set(CHATS), timeout=120)

        def pending() -> int:
            with contextlib.suppress(Exception), Session(pg_engine) as session:
                query = select(func.count()).select_from(OutboxItem)
                return int(session.exec(query.where(OutboxItem.state == "pending")).one())
            return -1

        await wait_for(lambda: pending() == 0, timeout=60)
        await asyncio.sleep(1.0)  # anything still being sent by mistake would show up now
        # The bot still answers commands: its handlers reconnected too.
        welcome = await bot.ask(CHATS[0] + 10_000, "/start")
    received = _received(emu)
    twice = sum(received.values()) - len(CHATS)
    print(f"server away {away:.2f} s; sent before the restart {at_restart}; twice {twice}")
    assert at_restart < len(CHATS), "the restart came too late to test anything"
    assert 0 <= twice <= CONCURRENCY
    assert "Hello" in (welcome.plain_text or "")
    with Session(pg_engine) as session:
        states = Counter(session.exec(select(OutboxItem.state)).all())
    assert states == {"sent": len(CHATS)}
