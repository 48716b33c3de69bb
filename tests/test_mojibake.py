"""Tests for bot.ingest.mojibake: repairing mis-decoded UTF-8, and leaving clean text alone."""

from __future__ import annotations

import re._constants as sre_constants
import re._parser as sre_parse  # ftfy's regex is checked structurally (see the gate test)
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ftfy
import pytest
from ftfy.badness import BADNESS_RE
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ingest import mojibake
from bot.ingest.clean import clean_article
from bot.ingest.html_text import html_to_text
from bot.ingest.mojibake import fix_mojibake
from tests.support.corpus import feed_entries


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("It doesnâ€™t matter", "It doesn’t matter"),
        ("Gesetz fÃ¼r Kinder", "Gesetz für Kinder"),
        ("Ð¯Ð½Ð´ÐµÐºÑ\x81", "Яндекс"),
        ("Ã‰lysÃ©e", "Élysée"),
    ],
)
def test_double_encoded_utf8_is_repaired(broken: str, fixed: str) -> None:
    assert fix_mojibake(broken) == fixed


@pytest.mark.parametrize(
    "clean",
    [
        "L’été à Noël — « Élysée » œuvre",
        "Größe, Straße, Übermaß: „Anführungszeichen“",
        "Яндекс — «новости» ёлка",
        "中文，全角（括号）「日本語」ＡＢＣ",
        'Straight "quotes" and ligature ﬁ stay',
    ],
)
def test_clean_text_is_left_exactly_as_is(clean: str) -> None:
    assert fix_mojibake(clean) == clean


@pytest.mark.parametrize(
    "name",
    [
        "lemonde-une-fr-2017-01-mojibake.rss",
        "spiegel-de-2017-01-mojibake.rss",
        "yandex-news-moscow-ru-2017-01-mojibake.rss",
        "mirror-en-2016-08.rss",
        "lefigaro-fr-2017-01-mojibake.rss",
        "20minutos-es-2017-01-mojibake.rdf",
    ],
)
def test_mojibake_feeds_come_out_readable(corpus_dir: Path, name: str) -> None:
    # The Mirror is garbled only in a title; the pipeline runs titles through fix_mojibake.
    marks = ("Ã", "â€", "Ð")
    broken_before = 0
    for title, body in feed_entries(corpus_dir, name):
        broken_before += any(m in html_to_text(body) or m in title for m in marks)
        for text in (clean_article(body, title=title).text, fix_mojibake(title)):
            assert not any(m in text for m in marks), text[:200]
    assert broken_before, f"{name} should contain mojibake before cleaning"


@pytest.mark.parametrize(
    "name",
    [
        "lemonde-une-fr-2018-02.rss",
        "golem-de-2017-12.rss",
        "golem-de-2018-12.rss",
        "ibash-ru-windows1251.rss",
        "touchnokia-ru-movabletype.atom",
        "lanacion-es-ar-2022-04.rss",
        "geekpark-zh-2020-12.rss",
    ],
)
def test_clean_feeds_are_unchanged_by_fix_mojibake(corpus_dir: Path, name: str) -> None:
    for title, body in feed_entries(corpus_dir, name):
        text = html_to_text(body)
        assert fix_mojibake(text) == text
        assert fix_mojibake(title) == title


def _charset(item: tuple[Any, Any]) -> set[int] | None:
    """The code points one parsed regex item matches, or None when not a plain set."""
    op, arg = item
    if op is sre_constants.LITERAL:
        return {arg}
    if op is sre_constants.IN:
        chars: set[int] = set()
        for kind, value in arg:
            if kind is sre_constants.LITERAL:
                chars.add(value)
            elif kind is sre_constants.RANGE:
                chars.update(range(value[0], value[1] + 1))
            else:  # a negated set or a category: treat as "anything"
                return None
        return chars
    return None


def _always_needs(sequence: Any, triggers: set[int]) -> bool:
    """Whether every match of this parsed sequence contains a trigger character."""
    for item in sequence:
        op, arg = item
        chars = _charset(item)
        if chars is not None and chars <= triggers:
            return True
        if op is sre_constants.BRANCH and all(_always_needs(alt, triggers) for alt in arg[1]):
            return True
        if op is sre_constants.SUBPATTERN and _always_needs(arg[-1], triggers):
            return True
    return False


def test_mojibake_gate_rests_on_the_installed_ftfy_regex() -> None:
    # fix_mojibake skips ftfy unless a trigger character has a badness match around it. That
    # is exact only if every branch of ftfy's badness regex needs a trigger and no match is
    # longer than the window: check both on the regex itself (fails on an ftfy change).
    (triggers,) = (_charset(item) for item in sre_parse.parse(mojibake._MOJIBAKE_TRIGGERS.pattern))
    assert triggers is not None
    parsed = sre_parse.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    assert _always_needs(parsed, triggers)
    assert parsed.getwidth()[1] <= mojibake._MOJIBAKE_REACH


def _mojibake_samples(corpus_dir: Path) -> Iterator[str]:
    """Titles and body texts of every corpus feed, plus the clean ones garbled four ways."""
    for path in sorted((corpus_dir / "feeds").iterdir()):
        for i, (title, body) in enumerate(feed_entries(corpus_dir, path.name, allow_empty=True)):
            text = html_to_text(body)
            yield title
            yield text
            if i < 3:
                for encoding in ("latin-1", "cp1252", "mac_roman", "cp1251"):
                    yield text.encode("utf-8").decode(encoding, errors="replace")


def test_fix_mojibake_gives_ftfys_answer_on_every_corpus_text(corpus_dir: Path) -> None:
    changed = 0
    for text in _mojibake_samples(corpus_dir):
        expected = ftfy.fix_text(text, mojibake._FTFY_CONFIG)
        assert fix_mojibake(text) == expected, text[:200]
        changed += expected != text
    assert changed > 200  # the garbled ones really were repaired, through ftfy


_MOJIBAKE_ALPHABET = st.sampled_from(
    sorted({ch for ch in BADNESS_RE.pattern if ord(ch) > 127})
    + list("aAzé \n\t.,!?\x85\x9c\u00a0")
    + ["Ã", "Â", "â€", "Ð¯", "вЂ", "‚Ä", "β€", "ā€", "ГўВЂВ"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_MOJIBAKE_ALPHABET, max_size=14).map("".join))
def test_fix_mojibake_gives_ftfys_answer_on_mojibake_like_text(text: str) -> None:
    assert fix_mojibake(text) == ftfy.fix_text(text, mojibake._FTFY_CONFIG)
