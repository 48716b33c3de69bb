"""bench/stages: what each per-entry ingestion stage costs on the real corpus, against feedparser.

``bench.ingest`` says whether the whole pipeline meets its budget (≤ 1.5× feedparser.parse on
the same bytes); this says where the time goes. Every corpus feed is parsed once with
``parse_feed``, then each stage function is timed alone over all entries, its inputs prepared
beforehand so a row measures that function and nothing upstream. Each row is the best of
``--repeat`` runs; canonical_url's cache is emptied before every run, so it is measured cold,
as on a feed's first fetch. ``prepare_entries`` is the pipeline's real per-entry CPU
work (cleaning, language, dedup keys), the figure the stage rows add up to.

Run: .venv/bin/python -m bench.stages [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import feedparser

from bench.ingest import CONTENT_TYPES, corpus_files
from bench.report import write_section
from bot.ingest import urls
from bot.ingest.clean import clean_article, fix_mojibake, html_to_text, learn_boilerplate
from bot.ingest.dedup import minhash_signature
from bot.ingest.language import LanguageDetector
from bot.ingest.parse import FeedParseError, parse_feed
from bot.ingest.prepare import clean_title, prepare_entries
from bot.ingest.records import ParsedFeed
from bot.ingest.urls import canonical_url, url_key


@dataclass(frozen=True, slots=True)
class Row:
    stage: str
    calls: int
    seconds: float


def best_of(repeat: int, run: Callable[[], int], caches: Sequence[Any] = ()) -> tuple[float, int]:
    """Fastest of ``repeat`` runs of ``run`` (which returns its number of calls)."""
    best, calls = float("inf"), 0
    for _ in range(repeat):
        for cached in caches:
            cached.cache_clear()
        started = time.perf_counter()
        calls = run()
        best = min(best, time.perf_counter() - started)
    return best, calls


def load(
    url_prefix: str = "http://bench.invalid/",
) -> tuple[list[tuple[bytes, str]], list[ParsedFeed]]:
    """Every corpus document (bytes, content type) and the feeds parse_feed accepts."""
    docs, feeds = [], []
    for path in corpus_files():
        body, ctype = path.read_bytes(), CONTENT_TYPES.get(path.suffix, "application/xml")
        docs.append((body, ctype))
        try:
            feeds.append(parse_feed(body, url=url_prefix + path.name, content_type=ctype))
        except FeedParseError:
            continue  # the corpus holds one HTML page and one truncated feed on purpose
    return docs, feeds


def measure(repeat: int) -> tuple[list[Row], int]:
    docs, parsed = load()
    entries = [(feed, entry) for feed in parsed for entry in feed.entries]
    bodies = [entry.content_html for _f, entry in entries]
    raw_titles = [entry.title for _f, entry in entries]
    texts = [html_to_text(b) for b in bodies]
    titles = [clean_title(t) for t in raw_titles]
    learned = {id(feed): learned_for(feed) for feed in parsed}
    cleaned = [
        clean_article(body, boilerplate=learned[id(feed)], title=title).text
        for (feed, _e), body, title in zip(entries, bodies, titles, strict=True)
    ]
    joined = [f"{t}\n{c}" for t, c in zip(titles, cleaned, strict=True)]
    detector = LanguageDetector()
    detector.detect("warm up the language models once, outside the timing")
    rows: list[Row] = []

    def add(stage: str, run: Callable[[], int], caches: Sequence[Any] = ()) -> None:
        seconds, calls = best_of(repeat, run, caches)
        rows.append(Row(stage, calls, seconds))
        print(f"  {stage}: {seconds * 1000:.0f} ms", flush=True)

    def feedparser_alone() -> int:
        for body, ctype in docs:
            feedparser.parse(io.BytesIO(body), response_headers={"content-type": ctype})
        return len(docs)

    def run(fn: Callable[..., object], args: Sequence[tuple[Any, ...]]) -> Callable[[], int]:
        def go() -> int:
            for a in args:
                fn(*a)
            return len(args)

        return go

    url_caches = [urls._cached_canonical_url]  # emptied before each run: measured cold
    add("feedparser.parse alone", feedparser_alone)
    add("parse_feed (feedparser + mapping)", run(parse_feed_doc, [(b, c) for b, c in docs]))
    add("html_to_text (bodies)", run(html_to_text, [(b,) for b in bodies]))
    add("html_to_text (titles)", run(html_to_text, [(t,) for t in raw_titles]))
    add("fix_mojibake (body texts)", run(fix_mojibake, [(t,) for t in texts]))
    add("learn_boilerplate (per feed)", run(learned_for, [(f,) for f in parsed]))
    add(
        "clean_article (raw HTML)",
        run(
            lambda b, bp, t: clean_article(b, boilerplate=bp, title=t),
            [(b, learned[id(f)], t) for (f, _e), b, t in zip(entries, bodies, titles, strict=True)],
        ),
    )
    add(
        "clean_article (is_text=True)",
        run(
            lambda x, bp, t: clean_article(x, boilerplate=bp, title=t, is_text=True),
            [(x, learned[id(f)], t) for (f, _e), x, t in zip(entries, texts, titles, strict=True)],
        ),
    )
    add("minhash_signature", run(minhash_signature, [(j,) for j in joined]))
    add("detect (no declared tag)", run(detector.detect, [(j,) for j in joined]))
    add(
        "canonical_url + url_key",
        run(url_pair, [(e.url, f.site_url) for f, e in entries]),
        url_caches,
    )
    add(
        "prepare_entries (all per-entry CPU work)",
        run(
            lambda f: prepare_entries(
                f,
                feed_language=None,
                stored_boilerplate=frozenset(),
                skip_guids=(),
                detector=detector,
            ),
            [(f,) for f in parsed],
        ),
        url_caches,
    )
    return rows, len(entries)


def parse_feed_doc(body: bytes, ctype: str) -> None:
    with contextlib.suppress(FeedParseError):
        parse_feed(body, url="http://bench.invalid/feed", content_type=ctype)


def learned_for(feed: ParsedFeed) -> frozenset[str]:
    return learn_boilerplate([html_to_text(e.content_html) for e in feed.entries])


def url_pair(url: str | None, base: str | None) -> str | None:
    # The cheapest way to get both: url_key on canonical_url's output, not canonicalised again.
    canonical = canonical_url(url, base)
    return url_key(canonical, canonical=True) if canonical else None


def render(rows: list[Row], entries: int) -> tuple[str, str]:
    floor = rows[0].seconds
    header = ("stage", "calls", "total ms", "µs/call", "µs/entry", "× feedparser")
    lines = [
        (
            r.stage,
            str(r.calls),
            f"{r.seconds * 1000:.0f}",
            f"{r.seconds / max(r.calls, 1) * 1e6:.0f}",
            f"{r.seconds / entries * 1e6:.0f}",
            f"{r.seconds / floor:.2f}",
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    table = "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [header, *lines]
    )
    markdown = (
        "| "
        + " | ".join(header)
        + " |\n|---|"
        + "---:|" * (len(header) - 1)
        + "\n"
        + "\n".join("| " + " | ".join(line) + " |" for line in lines)
    )
    return table, markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows, entries = measure(args.repeat)
    table, markdown = render(rows, entries)
    print(f"\n{entries} entries from {len(corpus_files())} corpus feeds, best of {args.repeat}\n")
    print(table)
    write_section(
        "stages",
        "## Per-entry stages (`python -m bench.stages`)\n\n"
        f"{entries} entries of the corpus feeds, each stage timed alone over all of them (best "
        f"of {args.repeat}; the URL cache emptied before each run). µs/entry divides by the entry "
        "count even for per-feed or per-document rows; × feedparser compares with "
        "feedparser.parse alone on the same bytes. Stage rows overlap: clean_article includes "
        "html_to_text and fix_mojibake, prepare_entries includes everything below it.\n\n"
        f"{markdown}",
    )


if __name__ == "__main__":
    main()
