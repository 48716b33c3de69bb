"""bench/cluster: StoryMatcher.match latency with 10,000 recent articles in the index.

Every corpus feed entry, five times over with disjoint vocabularies (a suffix per copy), is
10,000 distinct articles within the window; matching a new article is timed.

Run: .venv/bin/python -m bench.cluster
"""

from __future__ import annotations

import re
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.ingest import CORPUS
from bench.report import write_section
from bot.ingest.clean import clean_article
from bot.ingest.cluster import StoryMatcher
from bot.ingest.parse import FeedParseError, parse_feed
from bot.ingest.prepare import clean_title

T0 = datetime(2017, 1, 7, 12, tzinfo=UTC)


def main() -> None:
    entries = []
    for path in sorted((CORPUS / "feeds").iterdir()):
        try:
            parsed = parse_feed(path.read_bytes(), url="http://example.com/", content_type=None)
        except FeedParseError:
            continue
        for entry in parsed.entries:
            title = clean_title(entry.title)
            entries.append((title, clean_article(entry.content_html, title=title).text))
    matcher = StoryMatcher(clock=lambda: T0)
    word = re.compile(r"\w+")
    started = time.perf_counter()
    for key in range(10_000):
        title, text = entries[key % len(entries)]
        suffix = "q" * (key // len(entries))
        if suffix:
            title, text = (word.sub(lambda m, s=suffix: m.group() + s, x) for x in (title, text))
        matcher.add(
            key, title=title, text=text, published=T0 - timedelta(seconds=12 * key), language="en"
        )
    add_ms = (time.perf_counter() - started) * 1000 / 10_000
    queries = entries[1::8]
    for title, text in queries:  # warm-up
        matcher.match(title=f"{title} warm", text=text, published=T0, language="en")
    times = []
    for title, text in queries:
        started = time.perf_counter()
        matcher.match(title=f"{title} timed", text=text, published=T0, language="en")
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[int(len(times) * 0.95)]
    rows = [
        ("articles in the index", f"{len(matcher)}"),
        ("add (incl. analysis), mean", f"{add_ms:.2f} ms"),
        ("match, median", f"{statistics.median(times):.2f} ms"),
        ("match, p95", f"{p95:.2f} ms"),
        ("queries", f"{len(times)}"),
    ]
    for key, value in rows:
        print(f"{key:<28} {value}")
    table = "| measure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    write_section(
        "cluster",
        "## Event matching (`python -m bench.cluster`)\n\n" + table + "\n\nTarget: match well "
        "under 1 ms at 10k articles (the inverted index scores only articles sharing rare terms).",
    )


if __name__ == "__main__":
    main()
