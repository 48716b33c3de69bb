"""bench/search: storage.search.search() at 100k and 1M articles, against the raw FTS query.

The archives are built by bench/search_corpus from the real corpus text (see there), loaded
the fast way (big transactions; SQLite without the FTS triggers, then one FTS5 'rebuild' and
the triggers recreated from the migration; PostgreSQL by COPY without the GIN index, then
the index recreated from the migration) and cached: SQLite files under data/bench/,
PostgreSQL databases newsbrief_bench_<size> on the server of --database-url. A build is
committed chunk by chunk and resumes where it stopped; --rebuild starts it afresh.

Each of the queries (bench/search_corpus.make_queries: words, phrases, prefixes, OR,
exclusions, operators, several languages) runs once to warm up, then --runs times; its time
is the median. Reported per backend and size: p50/p95/max over the queries of search()
(page 1, limit 5) and of the raw full-text query of the same positive words, and the ratio
of the p95s; per query kind, the p95s. Results go to data/bench/search-results.json (one
entry per backend and size, replaced when re-measured) and the docs section is rendered from
all of them; the statements of the --explain slowest queries are re-run with their plans
into data/bench/search-plans-<backend>-<size>.txt, for whoever tunes the engine.

Run: .venv/bin/python -m bench.search [--sizes 100000,1000000] [--backends sqlite,postgresql]
     [--queries 200] [--database-url postgresql://postgres@127.0.0.1:5432/test] [--rebuild]
Target: p95 < 50 ms at 1M on SQLite, within 2× the raw FTS5 query.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bench.report import write_section
from bench.search_corpus import (
    CHUNK,
    Generated,
    Query,
    generate_chunk,
    load_corpus,
    make_feeds,
    make_queries,
)
from storage.db import make_engine, normalize_url
from storage.migrate import MIGRATIONS_DIR, upgrade
from storage.models import Article, Feed, Story

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "bench"
# The search engine's source, hashed into each result's label (storage/).
SEARCH_ENGINE_FILES = ("search.py", "search_sql.py", "query.py", "query_compile.py")
RESULTS = DATA / "search-results.json"
SEED = 2026
TARGET_P95_MS, TARGET_RATIO = 50.0, 2.0
RAW_SQL = {
    "sqlite": "SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q "
    "ORDER BY bm25(articles_fts, 10.0, 1.0) LIMIT 5",
    "postgresql": "WITH q AS (SELECT to_tsquery('simple', newsbrief_unaccent(:q)) AS query) "
    "SELECT a.id FROM q JOIN articles AS a ON a.search_vector @@ q.query "
    "ORDER BY ts_rank_cd(a.search_vector, q.query) DESC LIMIT 5",
}
META = "CREATE TABLE IF NOT EXISTS bench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def label(size: int) -> str:
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else f"{size // 1000}k"


def _migration() -> Any:
    """The initial migration module, for its exact full-text DDL (its name starts with a
    digit, so it cannot be imported by name)."""
    path = MIGRATIONS_DIR / "versions" / "0001_initial_schema.py"
    spec = importlib.util.spec_from_file_location("newsbrief_migration_0001", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def database_url(backend: str, size: int, admin_url: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{DATA / f'search-{label(size)}.db'}"
    if not admin_url:
        raise SystemExit("--database-url is needed for the postgresql backend")
    url = make_url(normalize_url(admin_url)).set(database=f"newsbrief_bench_{label(size)}")
    return url.render_as_string(hide_password=False)


def prepare(backend: str, url: str, admin_url: str | None, rebuild: bool) -> None:
    """Delete the cached database when asked to; create the PostgreSQL database if missing."""
    if backend == "sqlite":
        database = make_url(url).database or ""
        if rebuild:
            for suffix in ("", "-wal", "-shm"):
                Path(database + suffix).unlink(missing_ok=True)
        return
    name = make_url(url).database
    admin = create_engine(normalize_url(admin_url or ""), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        exists = found.first() is not None
        if exists and rebuild:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            exists = False
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _meta(conn: Connection) -> dict[str, str]:
    return {k: v for k, v in conn.execute(text("SELECT key, value FROM bench_meta")).all()}


def _set_meta(conn: Connection, **values: object) -> None:
    for key, value in values.items():
        conn.execute(text("DELETE FROM bench_meta WHERE key = :k"), {"k": key})
        conn.execute(text("INSERT INTO bench_meta VALUES (:k, :v)"), {"k": key, "v": str(value)})


def build(backend: str, size: int, url: str) -> dict[str, Any]:
    """Build (or resume, or just open) the archive; returns its build figures."""
    engine = make_engine(url)
    upgrade(engine)  # a no-op at head; a cached archive follows later migrations
    with engine.begin() as conn:
        conn.execute(text(META))
        meta = _meta(conn)
    if meta.get("complete") != "yes":
        if meta.get("size", str(size)) != str(size) or meta.get("seed", str(SEED)) != str(SEED):
            raise SystemExit(f"{url} holds another build: run with --rebuild")
        _load(engine, backend, size, meta)
        _index(engine, backend)
    with engine.begin() as conn:
        meta = _meta(conn)
        counts = conn.execute(
            text("SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM stories)")
        ).one()
        if backend == "sqlite":
            database = make_url(url).database or ""
            db_bytes = sum(
                os.path.getsize(database + s) for s in ("", "-wal") if os.path.exists(database + s)
            )
        else:
            size_sql = text("SELECT pg_database_size(current_database())")
            db_bytes = int(conn.execute(size_sql).scalar() or 0)
    engine.dispose()
    return {
        "articles": int(counts[0]),
        "stories": int(counts[1]),
        "load_s": float(meta.get("load_seconds", 0)),
        "index_s": float(meta.get("index_seconds", 0)),
        "bytes": int(db_bytes or 0),
        "end": meta.get("end", ""),
    }


def _load(engine: Engine, backend: str, size: int, meta: dict[str, str]) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = datetime.fromisoformat(meta["end"]) if "end" in meta else today
    with engine.begin() as conn:
        _set_meta(conn, seed=SEED, size=size, end=end.isoformat())
        if backend == "sqlite":  # the triggers would index row by row; 'rebuild' does it once
            for name in ("articles_fts_ai", "articles_fts_ad", "articles_fts_au"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        else:  # a GIN index built once is faster than one maintained through the load
            conn.execute(text("DROP INDEX IF EXISTS ix_articles_search_vector"))
        if not conn.execute(text("SELECT count(*) FROM feeds")).scalar():
            conn.execute(Feed.__table__.insert(), _feed_rows(end))  # type: ignore[attr-defined]
    chunks = math.ceil(size / CHUNK)
    done, spent = int(meta.get("chunks", 0)), float(meta.get("load_seconds", 0))
    if done < chunks:
        log(f"{backend} {label(size)}: loading chunks {done + 1}..{chunks} of {CHUNK:,} articles")
    for chunk in range(done, chunks):
        started = time.perf_counter()
        generated = generate_chunk(SEED, size, chunk, end)
        with engine.begin() as conn:
            if backend == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size=-1000000")
            first_story = (
                int(conn.execute(text("SELECT coalesce(max(id), 0) FROM stories")).scalar() or 0)
                + 1
            )
            stories, articles = _rows(generated, chunk, first_story)
            if backend == "sqlite":
                conn.execute(Story.__table__.insert(), stories)  # type: ignore[attr-defined]
                conn.execute(Article.__table__.insert(), articles)  # type: ignore[attr-defined]
            else:
                _copy(conn, "stories", stories)
                _copy(conn, "articles", articles)
            spent += time.perf_counter() - started
            _set_meta(conn, chunks=chunk + 1, load_seconds=f"{spent:.1f}")
        rate = (chunk + 1 - done) * CHUNK / max(spent - float(meta.get("load_seconds", 0)), 1e-9)
        left = (chunks - chunk - 1) * CHUNK / rate
        where = f"{backend} {label(size)}: chunk {chunk + 1}/{chunks}"
        log(f"{where}, {rate:,.0f} articles/s, ~{left:.0f} s to go")


def _index(engine: Engine, backend: str) -> None:
    migration = _migration()
    log(f"{backend}: building the full-text index")
    started = time.perf_counter()
    with engine.begin() as conn:
        if backend == "sqlite":
            conn.execute(text("INSERT INTO articles_fts(articles_fts) VALUES('rebuild')"))
            for statement in migration.SQLITE_FTS[1:]:  # the three triggers, as migrated
                conn.execute(text(statement))
        else:
            conn.execute(text("SET maintenance_work_mem = '1GB'"))
            conn.execute(text(migration.POSTGRES_FTS[-1]))  # the GIN index, as migrated
            for table in ("feeds", "stories", "articles"):
                sequence = f"pg_get_serial_sequence('{table}', 'id')"
                conn.execute(text(f"SELECT setval({sequence}, max(id)) FROM {table}"))
    if backend == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:  # what autovacuum would have done by the time a real archive is this big
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    with engine.begin() as conn:
        _set_meta(conn, index_seconds=f"{time.perf_counter() - started:.1f}", complete="yes")
    log(f"{backend}: index built in {time.perf_counter() - started:.0f} s")


def _feed_rows(end: datetime) -> list[dict[str, Any]]:
    return [
        {
            "id": f.id,
            "url": f.url,
            "url_key": f.url.split("://", 1)[1],
            "title": f.title,
            "site_url": f.site_url,
            "language": f.language,
            "enabled": True,
            "created_at": end - timedelta(days=800),
            "next_check_at": end,
            "error_count": 0,
        }
        for f in make_feeds(load_corpus())
    ]


def _rows(
    generated: Generated, chunk: int, first_story: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    articles: list[dict[str, Any]] = []
    members: dict[int, list[dict[str, Any]]] = {}
    for n, values in enumerate(generated.articles):
        story = int(values["story"])  # type: ignore[call-overload]
        row = {k: v for k, v in values.items() if k != "story"}
        row.update(id=chunk * CHUNK + n + 1, story_id=first_story + story)
        articles.append(row)
        members.setdefault(story, []).append(row)
    stories = [
        {
            "id": first_story + story,
            "title": title,
            "representative_id": members[story][0]["id"],
            "article_count": count,
            "first_seen_at": members[story][0]["fetched_at"],
            "updated_at": members[story][-1]["fetched_at"],
            "announced_at": members[story][-1]["fetched_at"],
        }
        for story, (title, count) in enumerate(generated.stories)
    ]
    return stories, articles


def _copy(conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _timed(call: Callable[[], Any], runs: int, slow_s: float) -> tuple[float, Any]:
    """Median milliseconds of ``runs`` calls after one warm-up (one call when the warm-up
    alone took more than ``slow_s``), and the last result."""
    started = time.perf_counter()
    result = call()
    if time.perf_counter() - started > slow_s:
        runs = 1
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def measure(
    engine: Engine, backend: str, queries: list[Query], runs: int, slow_s: float
) -> list[dict[str, Any]]:
    from storage import search as engine_module  # at run time: the engine is being rewritten

    rows = []
    for n, query in enumerate(queries):
        row: dict[str, Any] = {"kind": query.kind, "lang": query.lang, "text": query.text}
        try:
            with Session(engine) as session:
                call = partial(engine_module.search, session, query.text, limit=5)
                row["search_ms"], (hits, total) = _timed(call, runs, slow_s)
            row["hits"], row["total"] = len(hits), int(total)
        except Exception as exc:  # a failing query is a finding, not a reason to stop
            row["error"] = f"{type(exc).__name__}: {exc}"[:300]
        raw = query.fts5 if backend == "sqlite" else query.tsquery
        with engine.connect() as conn:
            row["raw_ms"], raw_rows = _timed(
                partial(_raw, conn, RAW_SQL[backend], raw), runs, slow_s
            )
        row["raw_hits"] = len(raw_rows)
        rows.append(row)
        if (n + 1) % 25 == 0:
            log(f"  {n + 1}/{len(queries)} queries")
    return rows


def _raw(conn: Connection, sql: str, query: str) -> list[Any]:
    return list(conn.execute(text(sql), {"q": query}).all())


def explain(engine: Engine, backend: str, query_text: str) -> str:
    """The plan of every statement search() runs for ``query_text`` (EXPLAIN ANALYZE on
    PostgreSQL), captured at the cursor so it is whatever the engine sends today."""
    from storage import search as engine_module

    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if not statement.lstrip().upper().startswith("EXPLAIN"):
            captured.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            engine_module.search(session, query_text, limit=5)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    out = []
    with engine.connect() as conn:
        for statement, params in captured:
            started = time.perf_counter()
            conn.exec_driver_sql(statement, params).all()
            took = (time.perf_counter() - started) * 1000
            plan = conn.exec_driver_sql(prefix + statement, params).all()
            lines = "\n".join(" | ".join(str(c) for c in r) for r in plan)
            out.append(f"-- {took:.1f} ms, params {params}\n{' '.join(statement.split())}\n{lines}")
    return "\n\n".join(out)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)] if ordered else float("nan")


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if "search_ms" in r]
    search, raw = [r["search_ms"] for r in ok], [r["raw_ms"] for r in rows]
    kinds: dict[str, dict[str, float]] = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in ok if r["kind"] == kind]
        kinds[kind] = {
            "n": len([r for r in rows if r["kind"] == kind]),
            "search_p95": pct([r["search_ms"] for r in mine], 0.95),
            "raw_p95": pct([r["raw_ms"] for r in rows if r["kind"] == kind], 0.95),
            "total_median": statistics.median([r["total"] for r in mine]) if mine else 0,
            "errors": len([r for r in rows if r["kind"] == kind and "error" in r]),
        }
    return {
        "search": {
            "p50": pct(search, 0.5),
            "p95": pct(search, 0.95),
            "max": max(search, default=0),
        },
        "raw": {"p50": pct(raw, 0.5), "p95": pct(raw, 0.95), "max": max(raw, default=0)},
        "ratio_p95": pct(search, 0.95) / pct(raw, 0.95) if raw else float("nan"),
        "errors": len(rows) - len(ok),
        "kinds": kinds,
    }


def engine_version() -> str:
    """Which engine this process runs: import it now and hash its source right away (the
    engine is being rewritten; a process keeps the version it first imported)."""
    import storage.search

    digest = hashlib.sha256()
    for name in SEARCH_ENGINE_FILES:
        path = ROOT / "storage" / name
        digest.update(path.read_bytes() if path.exists() else b"")
    kind = "rewrite (search_page)" if hasattr(storage.search, "search_page") else "original"
    return f"{kind}, storage/{'+'.join(SEARCH_ENGINE_FILES)} sha256 {digest.hexdigest()[:10]}"


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def render(results: dict[str, Any]) -> str:
    """The docs section, from every configuration measured so far (newest run of each)."""
    order = sorted(results.values(), key=lambda r: (r["backend"] != "sqlite", r["size"]))
    head = (
        "| backend | articles | search p50 | p95 | max | raw FTS p50 | p95 | max "
        "| p95 ratio | errors | target |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    lines, builds, kinds = [], [], []
    for r in order:
        s, raw = r["summary"]["search"], r["summary"]["raw"]
        target = "—"
        if r["backend"] == "sqlite" and r["size"] >= 1_000_000:
            met = s["p95"] < TARGET_P95_MS and r["summary"]["ratio_p95"] <= TARGET_RATIO
            over = s["p95"] - TARGET_P95_MS
            target = "met" if met else f"**NOT met** (p95 {over:+.0f} ms)"
        lines.append(
            f"| {r['backend']} | {r['size']:,} | {_ms(s['p50'])} | **{_ms(s['p95'])}** "
            f"| {_ms(s['max'])} | {_ms(raw['p50'])} | {_ms(raw['p95'])} | {_ms(raw['max'])} "
            f"| {r['summary']['ratio_p95']:.1f}× | {r['summary']['errors']} | {target} |"
        )
        b = r["build"]
        builds.append(
            f"| {r['backend']} | {b['articles']:,} | {b['stories']:,} | {b['load_s']:.0f} s "
            f"| {b['index_s']:.0f} s | {b['bytes'] / 2**30:.2f} GiB |"
        )
    names = list(dict.fromkeys(k for r in order for k in r["summary"]["kinds"]))
    configs = [f"{r['backend']} {label(r['size'])}" for r in order]
    kinds.append("| kind (n) | " + " | ".join(configs) + " |")
    kinds.append("|---|" + "---:|" * len(configs))
    for name in names:
        cells = []
        for r in order:
            k = r["summary"]["kinds"].get(name)
            cells.append(
                f"{_ms(k['search_p95'])} / {_ms(k['raw_p95'])} ({k['total_median']:,.0f})"
                if k
                else "—"
            )
        n = order[0]["summary"]["kinds"].get(name, {}).get("n", 0)
        kinds.append(f"| {name} ({n}) | " + " | ".join(cells) + " |")
    engines: dict[str, list[str]] = {}
    for config, r in zip(configs, order, strict=True):
        engines.setdefault(r["engine"], []).append(f"{config} ({r['measured']})")
    return (
        "## Search (`python -m bench.search`)\n\n"
        "Synthetic archives built from the corpus text (bench/search_corpus.py: sentences "
        "recombined within a language, made-up names, ~200 feeds in 15 languages, dates over "
        "two years, ~1.3 articles a story), 200 queries of mixed kinds (words, rare words, "
        "2–3 words, prefixes, accents omitted, phrases, OR, exclusions, source:/lang:/since: "
        "operators). Milliseconds, median of 3 runs per query after a warm-up, database "
        "warm in the page cache (it fits in RAM); PostgreSQL as configured on the test server. "
        "`search()` is page 1, limit 5; raw FTS is the bare index query of the same positive "
        "words, exact words (prefix only for the prefix kind) ANDed, phrases, OR kept, "
        "exclusions and operators dropped (FTS5 MATCH ordered by bm25; PostgreSQL @@ "
        "ordered by ts_rank_cd), LIMIT 5. search() also matches longer words as prefixes "
        "(storage.query.PREFIX_MIN), keeps one article a story, counts the stories and cuts "
        "snippets: all of that is in the ratio. "
        "Plans of the slowest queries: data/bench/search-plans-*.txt after a run.\n\n"
        + head
        + "\n".join(lines)
        + "\n\nTarget: p95 < 50 ms at 1M on SQLite, within 2× raw FTS5.\n\n"
        "### p95 per query kind: search() / raw FTS in ms (median stories matched; the "
        "engine stops counting at 1,000)\n\n"
        + "\n".join(kinds)
        + "\n\n### Builds (cached; `--rebuild` to redo)\n\n"
        "| backend | articles | stories | load | full-text index | size on disk |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        + "\n".join(builds)
        + "\n\nEngine measured: "
        + "; ".join(f"{v} for {', '.join(c)}" for v, c in engines.items())
        + ".\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--backends", help="default: sqlite, and postgresql given a URL")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server to create the archives on (per-size databases)",
        default=os.environ.get("NEWSBRIEF_BENCH_POSTGRES_URL")
        or os.environ.get("NEWSBRIEF_TEST_POSTGRES_URL"),
    )
    parser.add_argument("--rebuild", action="store_true", help="build the archives afresh")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--slow", type=float, default=2.0, help="seconds: time slower queries once")
    parser.add_argument("--explain", type=int, default=3, help="plans of the N slowest queries")
    parser.add_argument(
        "--no-write", action="store_true", help="a trial: store no results, leave the docs alone"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    backends = (args.backends or ("sqlite,postgresql" if args.database_url else "sqlite")).split(
        ","
    )
    if not args.backends and not args.database_url:
        log("no --database-url: SQLite only")
    DATA.mkdir(parents=True, exist_ok=True)
    version = engine_version()
    queries = [] if args.build_only else make_queries(SEED, args.queries)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for backend in backends:
        for size in sizes:
            url = database_url(backend, size, args.database_url)
            prepare(backend, url, args.database_url, args.rebuild)
            info = build(backend, size, url)
            print(
                f"{backend} {label(size)}: {info['articles']:,} articles, {info['stories']:,} "
                f"stories, load {info['load_s']:.0f} s + index {info['index_s']:.0f} s, "
                f"{info['bytes'] / 2**30:.2f} GiB"
            )
            if args.build_only:
                continue
            engine = make_engine(url)
            log(f"{backend} {label(size)}: timing {len(queries)} queries")
            rows = measure(engine, backend, queries, args.runs, args.slow)
            summary = summarize(rows)
            key = f"{backend}-{label(size)}"
            slowest = sorted((r for r in rows if "search_ms" in r), key=lambda r: -r["search_ms"])
            plans = [
                f"## {r['search_ms']:.0f} ms [{r['kind']}] {r['text']}\n"
                + explain(engine, backend, r["text"])
                for r in slowest[: args.explain]
            ]
            (DATA / f"search-plans-{key}.txt").write_text("\n\n".join(plans), encoding="utf-8")
            engine.dispose()
            results[key] = {
                "backend": backend,
                "size": size,
                "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "engine": version,
                "build": info,
                "summary": summary,
                "queries": rows,
            }
            if not args.no_write:
                RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False))
            _print(key, summary)
    if not args.build_only and not args.no_write and results:
        write_section("search", render(results))


def _print(key: str, summary: dict[str, Any]) -> None:
    s, raw = summary["search"], summary["raw"]
    print(
        f"{key}: search p50 {s['p50']:.1f} / p95 {s['p95']:.1f} / max {s['max']:.0f} ms; raw "
        f"p50 {raw['p50']:.1f} / p95 {raw['p95']:.1f} / max {raw['max']:.0f} ms; "
        f"ratio p95 {summary['ratio_p95']:.1f}×; errors {summary['errors']}"
    )
    for kind, k in summary["kinds"].items():
        print(
            f"  {kind:<11} n={k['n']:<3} search p95 {k['search_p95']:8.1f} ms  raw p95 "
            f"{k['raw_p95']:8.1f} ms  median stories {k['total_median']:,.0f}  errors {k['errors']}"
        )


if __name__ == "__main__":
    main()
