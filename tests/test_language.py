"""Tests for bot.ingest.language: declared tags first, lingua on real feed text second."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import feedparser
import lxml.html
import pytest

from bot.ingest.language import (
    DEFAULT_LANGUAGES,
    MAX_CHARS,
    LanguageDetector,
    normalize_language_tag,
)

FRENCH = (
    "Le gouvernement a présenté mardi un projet de loi sur le logement qui prévoit la "
    "construction de cent mille logements sociaux supplémentaires d'ici à la fin du mandat."
)


def _entry_texts(corpus_dir: Path, name: str) -> list[str]:
    texts = []
    for entry in feedparser.parse((corpus_dir / "feeds" / name).read_bytes()).entries:
        html = entry.content[0].value if entry.get("content") else entry.get("summary", "")
        body = " ".join(lxml.html.fromstring(html).itertext()) if html.strip() else ""
        texts.append(f"{entry.get('title', '')}. {body}")
    return texts


# --- normalize_language_tag -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en-us", "en"),
        ("fr-FR", "fr"),
        ("de_DE", "de"),
        (" EN ", "en"),
        ("pt-BR", "pt"),
        ("zh-Hans-CN", "zh"),
        ("es-419", "es"),
        ("fra", "fr"),  # ISO 639-2/T
        ("ger", "de"),  # ISO 639-2/B
        ("iw", "he"),  # legacy code for Hebrew
        ("hu", "hu"),  # valid even though the detector does not know it
    ],
)
def test_declared_tag_is_normalised_to_its_two_letter_base(tag: str, expected: str) -> None:
    assert normalize_language_tag(tag) == expected


@pytest.mark.parametrize("tag", [None, "", "   ", "und", "mul", "x-default", "xx", "english"])
def test_tags_that_name_no_language_give_none(tag: str | None) -> None:
    assert normalize_language_tag(tag) is None


# --- detect: declared language ----------------------------------------------------------------


def test_declared_language_wins_over_detection(detector: LanguageDetector) -> None:
    assert detector.detect(FRENCH, declared="en-US") == "en"
    assert detector.detect("too short", declared=" DE ") == "de"


def test_invalid_declaration_falls_back_to_detection(detector: LanguageDetector) -> None:
    assert detector.detect(FRENCH, declared="xx-YY") == "fr"
    assert detector.detect(FRENCH, declared="") == "fr"


# --- detect: real text without a declaration ---------------------------------------------------


@pytest.mark.parametrize(
    ("feed", "language"),
    [
        ("lemonde-une-fr-2018-02.rss", "fr"),
        ("heise-online-de.rdf", "de"),
        ("ibash-ru-windows1251.rss", "ru"),
        ("lanacion-es-ar-2022-04.rss", "es"),
        ("geekpark-zh-2020-12.rss", "zh"),
        ("suspilne-ukrnet-uk-2023-12.rss", "uk"),
        ("bbc-urdu-ur-2018-10.rss", "ur"),
    ],
)
def test_feed_entries_are_detected_in_their_language(
    detector: LanguageDetector, corpus_dir: Path, feed: str, language: str
) -> None:
    texts = _entry_texts(corpus_dir, feed)
    results = Counter(detector.detect(text) for text in texts)
    # iBash quotes are chat logs with SQL and English mixed in: allow one odd entry in 20.
    assert results[language] >= 0.95 * len(texts), results


def test_undeclared_blog_is_detected_by_its_text_not_its_file_label(
    detector: LanguageDetector, corpus_dir: Path
) -> None:
    # The corpus files the Cornucopia blog under "en", but it is written in Swedish and its
    # feed declares nothing: detection gets it right.
    texts = _entry_texts(corpus_dir, "cornucopia-blogger-en.rss")
    assert {detector.detect(text) for text in texts} == {"sv"}


def test_french_seed_article_is_french(detector: LanguageDetector, seeds_dir: Path) -> None:
    text = (seeds_dir / "blog-article-fr.txt").read_text(encoding="utf-8")
    assert detector.detect(text) == "fr"


def test_links_do_not_outvote_the_words_around_them(detector: LanguageDetector) -> None:
    # Rutube-style description: a few Russian lines and many social-media URLs.
    text = (
        "Всё, что нужно знать про современное искусство. Эфир от 13.02.2015. "
        "Telegram: https://t.me/comedyclubru ВКонтакте: https://vk.com/comedyclubru "
        "YouTube: https://www.youtube.com/channel/UCmVoIfd7II6lVCTovtncaNQ "
        "Rutube: https://rutube.ru/channel/11234072/ https://vk.com/garikharlamov"
    )
    assert detector.detect(text) == "ru"


def test_only_the_start_of_a_long_text_is_read(detector: LanguageDetector) -> None:
    # MAX_CHARS bounds lingua's work; the opening of an article says its language.
    french = (FRENCH + " ") * (MAX_CHARS // len(FRENCH) + 1)
    english = "The council voted on Tuesday to expand the network of bicycle lanes. " * 40
    assert len(french) >= MAX_CHARS
    assert detector.detect(french + english) == "fr"
    assert detector.detect(english + french) == "en"


# --- detect: refusing to guess ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "Oui", "Hello world", "2024-01-01 12:00 — 42 %", "https://example.com/a-long-path"],
)
def test_too_little_text_gives_none(detector: LanguageDetector, text: str) -> None:
    assert detector.detect(text) is None


def test_text_in_a_script_outside_the_configured_set_gives_none(
    detector: LanguageDetector,
) -> None:
    greek = "Η κυβέρνηση ανακοίνωσε την Τρίτη ένα νέο νομοσχέδιο για τη στέγαση και τα ενοίκια."
    assert "el" not in DEFAULT_LANGUAGES
    assert detector.detect(greek) is None


def test_unknown_language_codes_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="qq"):
        LanguageDetector(["en", "qq"])
