"""bench/workers: fetch-and-ingest throughput of 1, 2 and 4 `newsbrief worker` processes sharing
one PostgreSQL database, with the ratio to one worker and the cost of the cross-process store
lock.

The real corpus ×N is served on 127.0.0.1 by several local HTTP servers (one "host" each, so
the per-host limit is as polite as with real feeds, not one host throttling everything). For
each worker count: a fresh database, the feeds added but not due, the workers started (the real
CLI, one process each, NEWSBRIEF_PARSE_WORKERS=0 so that one worker is one process), then every
feed made due at once; the clock runs until every feed is fetched and recorded. Each feed is
checked to be fetched exactly once, and the articles stored are checked against the one-worker
run (the same count, no URL or text twice). Then the next cycle, as most cycles are: every
feed due again, each server answering 304 after --latency seconds (network-bound, not CPU).

Run: .venv/bin/python -m bench.workers [--copies 4] [--workers 1,2,4] [--hosts 32]
     [--latency 0.5] [--parse-workers 0] [--no-write]
     [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
from sqlalchemy import Engine, text
from sqlmodel import Session

from bench.report import write_section
from bot.ingest.urls import url_key
from storage.db import make_engine, normalize_url
from storage.migrate import upgrade
from storage.models import Feed
from tests.support.feedserver import FeedServer

CORPUS = Path(
    os.environ.get(
        "NEWSBRIEF_CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
)
NEWSBRIEF = Path(sys.executable).with_name("newsbrief")


@dataclass(slots=True)
class Run:
    workers: int
    feeds: int
    entries: int
    seconds: float
    articles: int
    twice: int  # articles whose URL or text another stored article has too
    max_hits: int  # most fetches of one feed (1: each fetched exactly once)
    revisit_seconds: float  # the next cycle: every feed again, each answering 304 late
    revisit_hits: tuple[int, int]  # fewest and most fetches of a feed over both cycles
    not_modified: int  # 304 answers
    lock_waited: float
    lock_held: float
    stores: int
    caught_up: int
    cpu: float  # CPU seconds of the worker processes, start-up included

    @property
    def feeds_per_s(self) -> float:
        return self.feeds / self.seconds

    @property
    def entries_per_s(self) -> float:
        return self.entries / self.seconds


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    admin = make_engine(admin_url)
    name = f"newsbrief_bench_workers_{uuid.uuid4().hex[:8]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = normalize_url(admin_url).rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


Served = list[tuple[FeedServer, str, Path]]


def add_feeds(engine: Engine, servers: list[FeedServer], files: list[Path], copies: int) -> Served:
    """Every file under ``copies`` paths, spread over the servers; not due yet."""
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    served: Served = []
    with Session(engine) as session:
        for copy in range(copies):
            for n, path in enumerate(files):
                server = servers[(copy * len(files) + n) % len(servers)]
                route = f"/copy{copy}/{path.name}"
                server.alias(route, path)
                url = server.url(route)
                session.add(Feed(url=url, url_key=url_key(url) or url, next_check_at=tomorrow))
                served.append((server, route, path))
        session.commit()
    return served


def feeds_done(engine: Engine, since: datetime | None = None) -> int:
    """Feeds fetched and recorded (since ``since``), with no lease left on them."""
    with engine.connect() as conn:
        sql = "SELECT count(*) FROM feeds WHERE last_fetch_at >= :since AND lease_owner IS NULL"
        moment = since or datetime(1970, 1, 1, tzinfo=UTC)
        return int(conn.execute(text(sql), {"since": moment}).scalar() or 0)


def time_until_done(engine: Engine, feeds: int) -> float:
    """Make every feed due now and time it until every one is fetched and recorded."""
    since = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(text("UPDATE feeds SET next_check_at = now()"))
    started = time.perf_counter()
    while feeds_done(engine, since) < feeds:
        time.sleep(0.05)
    return time.perf_counter() - started


def log_records(path: Path) -> list[dict[str, object]]:
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


def run(
    admin_url: str,
    files: list[Path],
    entries: int,
    copies: int,
    workers: int,
    hosts: int,
    parse_workers: int,
    latency: float,
) -> Run:
    with (
        fresh_database(admin_url) as url,
        tempfile.TemporaryDirectory() as tmp,
        ExitStack() as stack,
    ):
        servers = [stack.enter_context(FeedServer()) for _ in range(hosts)]
        engine = make_engine(url)
        served = add_feeds(engine, servers, files, copies)
        feeds = len(served)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBRIEF_")}
        env |= {
            "NEWSBRIEF_DATABASE_URL": url,
            "NEWSBRIEF_ALLOW_PRIVATE_NETWORKS": "true",
            "NEWSBRIEF_EXTRACT_TEASERS": "false",
            "NEWSBRIEF_PARSE_WORKERS": str(parse_workers),
            "NEWSBRIEF_FETCH_TICK": "0.5",
            "NEWSBRIEF_LOG_FORMAT": "json",
        }
        cpu_before = _children_cpu()
        logs = [Path(tmp) / f"w{n}.log" for n in range(workers)]
        processes = []
        for n, log in enumerate(logs):
            with open(log, "wb") as err:
                processes.append(
                    subprocess.Popen(
                        [str(NEWSBRIEF), "worker", "--id", f"w{n}"],
                        cwd=tmp,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                    )
                )
        try:
            while not all(
                any("ready" in str(r.get("message")) for r in log_records(log)) for log in logs
            ):
                if any(p.poll() is not None for p in processes):
                    raise SystemExit(f"a worker exited: {logs[0].read_text()[-2000:]}")
                time.sleep(0.1)
            seconds = time_until_done(engine, feeds)
            first_hits = [n for server in servers for n in server.hits.values()]
            # The next cycle, as most cycles are: nothing new (304), servers some way off.
            for server, route, path in served:
                server.alias(route, path, delay=latency)
            revisit = time_until_done(engine, feeds)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=120)
        cpu = _children_cpu() - cpu_before
        totals = [
            r["totals"]
            for log in logs
            for r in log_records(log)
            if isinstance(r.get("totals"), dict)
        ]
        with engine.connect() as conn:
            articles, hashes, keys = conn.execute(
                text("SELECT count(*), count(DISTINCT content_hash), count(url_key) FROM articles")
            ).one()
            distinct_keys = conn.execute(
                text("SELECT count(DISTINCT url_key) FROM articles")
            ).scalar()
        hits = [n for server in servers for n in server.hits.values()]
        not_modified = sum(
            1 for server in servers for _path, status in server.responses if status == 304
        )
        engine.dispose()
    return Run(
        workers=workers,
        feeds=feeds,
        entries=entries * copies,
        seconds=seconds,
        articles=int(articles),
        twice=int(articles) - int(hashes) + int(keys) - int(distinct_keys or 0),
        max_hits=max(first_hits),
        revisit_seconds=revisit,
        revisit_hits=(min(hits), max(hits)),
        not_modified=not_modified,
        lock_waited=sum(float(t["lock_waited"]) for t in totals),  # type: ignore[index]
        lock_held=sum(float(t["lock_held"]) for t in totals),  # type: ignore[index]
        stores=sum(int(t["stores"]) for t in totals),  # type: ignore[index]
        caught_up=sum(int(t["caught_up"]) for t in totals),  # type: ignore[index]
        cpu=cpu,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=4, help="the corpus served this many times")
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--hosts", type=int, default=32, help="local HTTP servers (hosts)")
    parser.add_argument(
        "--latency", type=float, default=0.5, help="seconds each answer takes in the revisit"
    )
    parser.add_argument(
        "--parse-workers", type=int, default=0, help="NEWSBRIEF_PARSE_WORKERS of each worker"
    )
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server where throw-away databases can be created",
    )
    args = parser.parse_args()
    files = sorted(p for p in (CORPUS / "feeds").iterdir() if p.is_file())
    entries = sum(len(feedparser.parse(p.read_bytes()).entries) for p in files)
    load_before = os.getloadavg()[0]
    runs: list[Run] = []
    for workers in (int(w) for w in args.workers.split(",")):
        result = run(
            args.database_url,
            files,
            entries,
            args.copies,
            workers,
            args.hosts,
            args.parse_workers,
            args.latency,
        )
        runs.append(result)
        print(
            f"{workers} worker(s): {result.seconds:.1f} s, {result.feeds_per_s:.1f} feeds/s, "
            f"{result.entries_per_s:.0f} entries/s, {result.articles} articles, "
            f"lock waited {result.lock_waited:.1f} s held {result.lock_held:.1f} s",
            flush=True,
        )
    base = runs[0]
    rows = [
        "| workers | seconds | feeds/s | entries/s | ratio to 1 worker | worker CPU (s) "
        "| stores under the lock | lock held (s) | per store (ms) | lock waited (s) "
        "| articles caught up | articles stored | fetches of a feed |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        rows.append(
            f"| {r.workers} | {r.seconds:.1f} | {r.feeds_per_s:.1f} | {r.entries_per_s:.0f} | "
            f"{r.feeds_per_s / base.feeds_per_s:.2f}× | {r.cpu:.0f} | {r.stores} | "
            f"{r.lock_held:.1f} | "
            f"{1000 * r.lock_held / max(1, r.stores):.0f} | {r.lock_waited:.1f} | "
            f"{r.caught_up} | {r.articles}{'' if r.articles == base.articles else ' (≠!)'}"
            f"{'' if not r.twice else f' ({r.twice} twice!)'} | {r.max_hits} |"
        )
    table = "\n".join(rows)
    revisits = [
        "| workers | seconds | feeds/s | ratio to 1 worker | 304 answers | fetches of a feed, "
        "both cycles |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        low, high = r.revisit_hits
        revisits.append(
            f"| {r.workers} | {r.revisit_seconds:.1f} | {r.feeds / r.revisit_seconds:.1f} | "
            f"{base.revisit_seconds / r.revisit_seconds:.2f}× | {r.not_modified} | "
            f"{low if low == high else f'{low}–{high}'} |"
        )
    revisit_table = "\n".join(revisits)
    print(table)
    print(revisit_table)
    if args.no_write:
        return
    write_section(
        "workers",
        f"## Fetch workers on PostgreSQL (`python -m bench.workers`)\n\n"
        f"The corpus ×{args.copies} ({base.feeds} feeds, {base.entries} entries) served by "
        f"{args.hosts} local HTTP servers (hosts); `newsbrief worker` processes with "
        f"NEWSBRIEF_PARSE_WORKERS={args.parse_workers}"
        f"{' (one process each)' if args.parse_workers == 0 else ''}, timed from the moment "
        "every feed is due until every feed is fetched and recorded. Load average of the "
        "machine (other "
        f"jobs included) before: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}.\n\n"
        f"{table}\n\n"
        "*Worker CPU*: CPU seconds of the worker processes, start-up included (PostgreSQL's "
        "own are not). Store lock: the store step (dedup decision, insert, commit) runs under "
        "one PostgreSQL advisory lock across processes; *stores under the lock* counts the "
        "documents that needed it (a copy whose entries are all stored already by URL or text "
        "takes none), *held* is the time spent under it, *waited* the time spent waiting for "
        "it, both summed over the workers. *Articles caught up*: other workers' articles each "
        "worker added to its in-memory indexes before deciding (with n workers, n−1 times the "
        "articles stored). " + check(runs) + "\n\n"
        "Reading it: these processes share the machine's two cores with PostgreSQL and with "
        "whatever else runs there (the load average above): more workers on one machine can "
        "only use what is left of its cores, and each extra worker also indexes the others' "
        "articles (see *worker CPU*). *Lock waited* tells whether the serialised store "
        "step limits the rate. On separate machines each worker's cores are its own and only "
        "the database is shared. A first ingest (all-new articles, measured here) is the worst "
        "case for the lock; in steady state most fetches are 304s or documents whose entries "
        "are known by GUID, which take no lock.\n\n"
        f"### The next cycle: nothing new, servers {args.latency:g} s away\n\n"
        "Right after, with the same workers: every feed due again, every server answering "
        f"after {args.latency:g} s, and with 304 (the feeds have not changed), as most fetches "
        "of a real cycle do. Here a worker spends its time waiting on the network with "
        "NEWSBRIEF_FETCH_CONCURRENCY (10) feeds in flight, not on the CPU, so workers add "
        f"up ({args.hosts} hosts × NEWSBRIEF_FETCH_PER_HOST 2 bound the feeds in flight "
        "across all of them).\n\n"
        f"{revisit_table}",
    )


def check(runs: list[Run]) -> str:
    """The correctness line under the table, as measured (not assumed)."""
    once = all(r.max_hits == 1 for r in runs)
    same = all(r.articles == runs[0].articles and not r.twice for r in runs)
    return (
        "Every feed was fetched exactly once in every run"
        if once
        else "**A feed was fetched twice**"
    ) + (
        ", and every run stored the same articles, none twice."
        if same
        else ", and **the runs stored different articles**."
    )


if __name__ == "__main__":
    main()
