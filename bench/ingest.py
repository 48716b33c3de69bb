"""bench/ingest: the real corpus ×N through the whole pipeline vs feedparser.parse alone.

The pipeline side is everything `newsbrief fetch` does: HTTP from a local server, parsing,
cleaning, language, dedup keys, MinHash/LSH, SQLite writes with the FTS triggers. The baseline
is feedparser.parse on the same bytes, serially, with no I/O: the floor of ingestion cost.
Copies are served under distinct URLs; copies after the first are the same articles, so the
pipeline recognises them as duplicates (as it must) rather than storing them again.

Run: .venv/bin/python -m bench.ingest [--copies 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

import feedparser

from bench.report import write_section
from bot.demo.server import DemoFeedServer
from bot.ingest.language import LanguageDetector
from bot.services import add_feed, ingestor
from bot.settings import Settings
from storage.db import make_engine
from storage.migrate import upgrade

CORPUS = Path(
    os.environ.get(
        "NEWSBRIEF_CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
)
CONTENT_TYPES = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
}


def corpus_files() -> list[Path]:
    return sorted(p for p in (CORPUS / "feeds").iterdir() if p.is_file())


def baseline(files: list[Path], copies: int) -> tuple[float, int]:
    bodies = [(p.read_bytes(), CONTENT_TYPES.get(p.suffix, "application/xml")) for p in files]
    entries = 0
    started = time.perf_counter()
    for k in range(copies):
        for body, ctype in bodies:
            parsed = feedparser.parse(
                body, response_headers={"content-type": ctype, "content-location": f"http://x/{k}"}
            )
            entries += len(parsed.entries)
    return time.perf_counter() - started, entries


def pipeline(
    files: list[Path], copies: int, workdir: Path, workers: int
) -> tuple[float, dict[str, int]]:
    root = workdir / "served"
    for k in range(copies):
        (root / str(k)).mkdir(parents=True)
        for p in files:
            (root / str(k) / p.name).symlink_to(p)
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        allow_private_networks=True,
        extract_teasers=False,
        fetch_per_host=10,
        parse_workers=workers,
        _env_file=None,  # type: ignore[call-arg]
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    detector = LanguageDetector()
    detector.detect("warm up the language models once, outside the timing", declared=None)
    with DemoFeedServer(root) as server:
        for k in range(copies):
            for p in files:
                add_feed(engine, f"{server.base_url}/{k}/{p.name}")

        async def cycle() -> dict[str, int]:
            async with ingestor(settings, engine, detector) as ing:
                report = await ing.run_cycle(all_feeds=True)
            return {
                "feeds": len(report.feeds),
                "new": report.total("new"),
                "duplicate": report.total("duplicate"),
                "failed": report.count("failed"),
            }

        started = time.perf_counter()
        totals = asyncio.run(cycle())
        return time.perf_counter() - started, totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument(
        "--workers", default="2,0", help="comma-separated NEWSBRIEF_PARSE_WORKERS values to run"
    )
    args = parser.parse_args()
    files = corpus_files()
    base_s, entries = baseline(files, args.copies)
    rows = [
        ("feed documents", f"{len(files) * args.copies}"),
        ("entries (feedparser)", f"{entries}"),
        ("feedparser.parse alone (1 core)", f"{base_s:.1f} s ({entries / base_s:.0f} entries/s)"),
    ]
    for workers in (int(w) for w in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            pipe_s, totals = pipeline(files, args.copies, Path(tmp), workers)
        label = f"{workers} worker processes" if workers else "in-process threads"
        rows += [
            (f"whole pipeline, {label}", f"{pipe_s:.1f} s ({entries / pipe_s:.0f} entries/s)"),
            (f"ratio, {label}", f"{pipe_s / base_s:.2f}× (target ≤ 1.5×)"),
            (
                f"new / duplicate / failed feeds, {label}",
                f"{totals['new']} / {totals['duplicate']} / {totals['failed']}",
            ),
        ]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak RSS of the main process", f"{rss_mb:.0f} MB"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    write_section(
        # ×50 is the benchmark; other sizes keep their own section beside it.
        "ingest" if args.copies == 50 else f"ingest-x{args.copies}",
        f"## Ingestion: corpus ×{args.copies} (`python -m bench.ingest --copies {args.copies}`)\n\n"
        f"{table}\n\nThe pipeline fetches over real HTTP from a local server, parses and "
        "cleans (in NEWSBRIEF_PARSE_WORKERS processes, or threads when 0), deduplicates and "
        "writes SQLite. Copies after the first are recognised as duplicates (the same articles "
        "under other feed URLs), so they cost fetch, parse, cleaning and dedup but no insert; "
        "the first copy pays every insert.",
    )


if __name__ == "__main__":
    main()
