"""Tests for bot.briefs.keywords: yake keywords, deduplicated and readably cased."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.briefs.keywords import extract_keywords
from bot.briefs.tokenize import stemmer, words


def record(corpus_dir: Path, name: str, needle: str) -> dict[str, str]:
    lines = (corpus_dir / "summaries" / name).read_text(encoding="utf-8").splitlines()
    return next(json.loads(line) for line in lines if needle in line)


def assert_no_near_duplicates(keywords: list[str], language: str) -> None:
    stem = stemmer(language)
    stems = [frozenset(stem(w) for w in words(k)) for k in keywords]
    for i, a in enumerate(stems):
        for b in stems[i + 1 :]:
            assert not (a <= b or b <= a), keywords
    assert len({k.casefold() for k in keywords}) == len(keywords)


def test_english_article_keywords_name_the_people_and_agency(corpus_dir: Path) -> None:
    article = record(corpus_dir, "cnndm-en-frank-20.jsonl", "Ellen Stofan")["article"]
    keywords = extract_keywords(article, language="en")
    assert 1 <= len(keywords) <= 5
    assert "NASA" in keywords
    assert "Ellen Stofan" in keywords or "Star Trek" in keywords
    assert_no_near_duplicates(keywords, "en")


def test_french_article_keywords_use_the_title(corpus_dir: Path) -> None:
    rec = record(corpus_dir, "orangesum-fr-25.jsonl", "Simone Veil")
    keywords = extract_keywords(rec["article"], language="fr", title=rec["title"])
    assert {"Simone Veil", "Nicolas Sarkozy"} <= set(keywords)
    assert_no_near_duplicates(keywords, "fr")


def test_seed_keywords_are_deduplicated(seeds_dir: Path) -> None:
    text = (seeds_dir / "blog-article-fr.txt").read_text(encoding="utf-8")
    keywords = extract_keywords(text, language="fr", top=8)
    assert "Dmitri Peskov" in keywords and "Karabakh" in keywords
    # yake alone also returns "russe Dmitri", "Dmitri" and "Peskov"
    assert not {"Dmitri", "Peskov", "russe Dmitri"} & set(keywords)
    assert_no_near_duplicates(keywords, "fr")


def test_common_words_are_lower_cased_and_names_keep_capitals() -> None:
    text = (
        "Volcanoes erupted in Iceland on Monday. Volcanoes near Grindavik forced an evacuation. "
        "The volcanoes had been quiet for centuries, and Grindavik residents left at night. "
        "Officials in Reykjavik said the volcanoes could stay active for weeks."
    )
    keywords = extract_keywords(text, language="en")
    assert "volcanoes" in keywords
    assert "Grindavik" in keywords
    assert "Volcanoes" not in keywords


def test_incidental_word_pairs_are_dropped() -> None:
    text = (
        "The council approved the budget on Monday. The budget includes new schools. "
        "Critics surfaced quickly, showing concern about debt. The budget passed anyway."
    )
    keywords = extract_keywords(text, language="en", top=10)
    assert "budget" in keywords
    assert not [k for k in keywords if " " in k and not k.istitle()], keywords


@pytest.mark.parametrize("language", [None, "xx", "de", "ru"])
def test_any_language_code_is_accepted(language: str | None) -> None:
    keywords = extract_keywords(
        "Die Bundesregierung hat am Mittwoch ein neues Klimagesetz beschlossen. "
        "Das Klimagesetz soll ab 2025 gelten.",
        language=language,
    )
    assert keywords and all(isinstance(k, str) and k for k in keywords)


def test_empty_text_or_zero_top_gives_no_keywords() -> None:
    assert extract_keywords("", language="en") == []
    assert extract_keywords("   ", language="en", title="") == []
    assert extract_keywords("Some text about Paris and Berlin.", language="en", top=0) == []


def test_top_limits_the_count(corpus_dir: Path) -> None:
    article = record(corpus_dir, "cnndm-en-frank-20.jsonl", "Ellen Stofan")["article"]
    assert len(extract_keywords(article, language="en", top=3)) == 3
