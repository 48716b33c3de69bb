"""Tests for bot.ingest.extract: main text from real article pages, teaser detection."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest

from bench.extract import word_prf
from bot.ingest.clean import clean_article, html_to_text
from bot.ingest.extract import MIN_EXTRACTED_CHARS, extract_main_text, is_teaser

# A handful of full-gold pages across layouts and scripts (en, ru, ja, ko).
GOLD_PAGES = [
    "bbc-com-70cb2d5b",
    "theguardian-com-5fa3154e",
    "reuters-com-57d46c9d",
    "nytimes-com-04a6711c",
    "businessinsider-com-fde930b0",
    "wday-ru-c82b3d1d",
    "lhpat-tm-com-85439e26",
    "entermedia-co-kr-9da36ae4",
]

SNIPPET_PAGES = [
    "traf-lopinion-fr-glyphosate",
    "traf-sciencesetavenir-fr-rumeur",
    "traf-sports-fr-lorient",
    "traf-spiegel-de-albtraum",
    "traf-tagesschau-de-rheinmetall",
    "traf-sueddeutsche-de-flixtrain",
    "traf-elpais-com-ciencia",
    "traf-clarin-com-albertofernandez",
    "traf-infobae-com-ucrania",
    "traf-lanacion-com-ar-jugada",
    "traf-xinhuanet-com-c-1125597921",
    "traf-nhk-or-jp-k100",
]


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", GOLD_PAGES)
def test_extracted_text_matches_gold_words(corpus_dir: Path, name: str) -> None:
    articles = corpus_dir / "articles"
    html = (articles / f"{name}.html").read_bytes()
    gold = (articles / f"{name}.gold.txt").read_text(encoding="utf-8")
    text = extract_main_text(html)
    assert text is not None
    f1, _precision, _recall = word_prf(clean_article(text).text, gold)
    assert f1 >= 0.85, f"{name}: word F1 {f1:.3f}"


def test_paragraphs_are_separated_by_blank_lines(corpus_dir: Path) -> None:
    html = (corpus_dir / "articles" / "bbc-com-70cb2d5b.html").read_text(encoding="utf-8")
    text = extract_main_text(html, url="https://www.bbc.com/news/newsbeat-50470672")
    assert text is not None
    paragraphs = text.split("\n\n")
    assert len(paragraphs) >= 8
    assert all(p and p == p.strip() and "\n" not in p for p in paragraphs)


def test_snippet_gold_pages_keep_article_and_drop_boilerplate(corpus_dir: Path) -> None:
    found = wanted = leaked = unwanted = 0
    for name in SNIPPET_PAGES:
        gold = json.loads((corpus_dir / "articles" / f"{name}.gold.json").read_text("utf-8"))
        html = (corpus_dir / "articles" / f"{name}.html").read_bytes()
        raw = extract_main_text(html, url=gold["url"])
        assert raw is not None, name
        text = squash(clean_article(raw).text)
        present = [squash(s) in text for s in gold["with"]]
        absent = [squash(s) not in text for s in gold["without"]]
        # Per page: most of the article snippets, at most one boilerplate snippet.
        assert sum(present) * 3 >= len(present) * 2, (name, gold["with"], present)
        assert absent.count(False) <= 1, (name, gold["without"], absent)
        found += sum(present)
        wanted += len(present)
        leaked += absent.count(False)
        unwanted += len(absent)
    assert found / wanted >= 0.9
    assert leaked / unwanted <= 0.1


def test_extraction_is_repeatable_in_one_process(corpus_dir: Path) -> None:
    # trafilatura's deduplicate=True would empty the second call from its process-wide cache.
    html = (corpus_dir / "articles" / "reuters-com-57d46c9d.html").read_bytes()
    first = extract_main_text(html)
    assert first is not None
    assert extract_main_text(html) == first


@pytest.mark.parametrize(
    "html",
    [
        b"",
        "",
        "<html><body><p>Too short to be an article.</p></body></html>",
        b"\x00\xff\xfe garbage \x89PNG",
        "<html><body><nav><a href='/'>Home</a></nav></body></html>",
    ],
)
def test_nothing_usable_gives_none(html: str | bytes) -> None:
    assert extract_main_text(html) is None


def test_results_are_at_least_the_minimum_length(corpus_dir: Path) -> None:
    html = (corpus_dir / "articles" / "traf-nhk-or-jp-k100.html").read_bytes()
    text = extract_main_text(html)
    assert text is not None and len(text) >= MIN_EXTRACTED_CHARS


# --- is_teaser --------------------------------------------------------------------------


def _bodies(corpus_dir: Path, name: str) -> list[str]:
    parsed = feedparser.parse((corpus_dir / "feeds" / name).read_bytes())
    return [
        clean_article(e.content[0].value if e.get("content") else e.get("summary", "")).text
        for e in parsed.entries
    ]


def test_newsroom_feed_entries_are_teasers(corpus_dir: Path) -> None:
    bodies = _bodies(corpus_dir, "reuters-topnews-en-2017-01.rss")
    assert all(is_teaser(b) for b in bodies)


def test_full_content_feed_entries_are_not_teasers(corpus_dir: Path) -> None:
    bodies = _bodies(corpus_dir, "lanacion-es-ar-2022-04.rss")
    assert sum(not is_teaser(b) for b in bodies) >= 0.9 * len(bodies)


def test_teaser_threshold_counts_text_not_whitespace() -> None:
    assert is_teaser("")
    assert is_teaser("word\n\n" * 50)  # 250 characters of text once whitespace is collapsed
    assert not is_teaser("word " * 100)
    assert is_teaser("word " * 100, min_chars=1000)
    assert not is_teaser(html_to_text("<p>" + "x" * 400 + "</p>"))
