"""Reading corpus feeds in tests the way the parser does (from bytes, never fetching)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser


def parsed_entries(corpus_dir: Path, name: str) -> list[Any]:
    """feedparser's entries of the corpus feed ``name``."""
    parsed = feedparser.parse((corpus_dir / "feeds" / name).read_bytes())
    return list(parsed.entries)


def feed_entries(
    corpus_dir: Path, name: str, *, allow_empty: bool = False
) -> Iterator[tuple[str, str]]:
    """(title, body HTML) of each entry of a corpus feed, parsed from bytes like parse.py does;
    a feed without entries fails the test unless ``allow_empty``."""
    entries = parsed_entries(corpus_dir, name)
    assert entries or allow_empty, f"{name} has no entries"
    for entry in entries:
        body = entry.content[0].value if entry.get("content") else entry.get("summary", "")
        yield entry.get("title", ""), body


def paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p]
