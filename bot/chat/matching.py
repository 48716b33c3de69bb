"""Which new stories a chat gets: folding, the words of an alert or filter, and matching them.

Pure functions, no I/O: the fan-out calls them for every (story, alert) pair, so they must be
cheap and must agree exactly with what /alert and /filter stored (both go through
:func:`parse_words`, articles through :func:`text_words`, and both use one tokeniser).

Folding strips accents from Latin and Greek letters only ("Côte" is "cote"), because in other
scripts a combining mark is often part of the letter: Russian "й" is not "и", Japanese "が" is
not "か", and a Hindi vowel sign is half a syllable. Cyrillic only loses stress accents and the
diaeresis of "ё" (Russian writes "е" for it all the time).

Chinese and Japanese put no spaces between words, so a run of CJK characters is indexed as its
single characters and every character bigram, and a CJK alert word matches when all of its
bigrams occur (a one-character word: that character). That is how search engines without a
dictionary (Lucene's CJK analyser) do it: "選挙" finds "東京都知事選挙" with no word segmenter.
Bigrams need not be adjacent in the article, so a long CJK word can rarely match a text that
only has its pieces: accepted, it costs one extra brief, never a missed one. Hangul is treated
the same way, since Korean glues particles to nouns ("서울에서" must match an alert on "서울").
"""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterator, Sequence

__all__ = [
    "MAX_WORDS",
    "MAX_WORD_LENGTH",
    "PREFIX_MIN",
    "count_words",
    "fold",
    "matches_alert",
    "parse_words",
    "passes_filters",
    "text_words",
]

MAX_WORDS = 10  # words in one alert or /filter argument
MAX_WORD_LENGTH = 64  # characters kept of each word
PREFIX_MIN = 4  # words this long also match longer article words they begin


def _ranges(codepoints: Iterator[int]) -> str:
    """A regex character class body for a sorted run of code points."""
    parts: list[str] = []
    start = prev = -2
    for cp in [*codepoints, -2]:
        if cp == prev + 1:
            prev = cp
            continue
        if start >= 0:
            parts.append(
                re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev > start else "")
            )
        start = prev = cp
    return "".join(parts)


# Every combining mark (Mn, Mc, Me), computed once from the running Python's Unicode tables:
# Python's \w does not match marks, so "हिन्दी" would otherwise split at each vowel sign.
_MARKS = _ranges(
    cp
    for cp in [*range(0x30000), *range(0xE0100, 0xE01F0)]
    if unicodedata.category(chr(cp)).startswith("M")
)
# Scripts written without spaces (Han, kana, Hangul syllables, the iteration marks 々 and 〆).
_CJK = (
    "\u3005\u3006\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
)
_CJK_CHAR = re.compile(f"[{_CJK}]")
# A token: a CJK run, or a word character (not "_", not CJK) followed by word characters and
# marks. Everything else (spaces, punctuation, hyphens, apostrophes) separates words.
_TOKEN = re.compile(f"([{_CJK}]+)|[^\\W_{_CJK}](?:[^\\W_{_CJK}]|[{_MARKS}])*")

# Invisible characters that sit inside words in feed text and would split or disguise them:
# soft hyphens, the word joiner, a stray BOM, variation selectors.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x034F, 0x2060, 0xFEFF, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]
)
# Letters that are not base letter + mark in Unicode, so NFKD leaves them alone.
_LETTERS = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ß": "ss"})
_LATIN_GREEK = "\\x00-\u03ff\u1e00-\u1fff\u2c60-\u2c7f\ua720-\ua7ff\uab30-\uab6f"
_LATIN_GREEK_ACCENTS = re.compile(f"([{_LATIN_GREEK}])[{_MARKS}]+")
_CYRILLIC = "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f"
_CYRILLIC_STRESS = re.compile(f"([{_CYRILLIC}])[\u0300\u0301]+")
# Vowel points of Arabic and Hebrew: optional in ordinary writing, so a search ignores them.
_VOWEL_POINTS = re.compile("[\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u064b-\u065f\u0670]")


def fold(text: str) -> str:
    """``text`` lower-cased (Unicode case folding) without the accents of Latin and Greek
    letters, ligatures spelled out ("œ" → "oe", "ß" → "ss"), and "ё" as "е"; idempotent."""
    if text.isascii():
        return text.lower()
    # Unicode's compatibility caseless match (D146): NFKD(casefold(NFKD(casefold(NFD(x))))).
    # One pass is not enough: folding can produce characters that decompose further.
    text = unicodedata.normalize("NFD", text.translate(_INVISIBLE)).casefold()
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    text = _LATIN_GREEK_ACCENTS.sub(r"\1", text.translate(_LETTERS))
    text = _CYRILLIC_STRESS.sub(r"\1", text).replace("е\u0308", "е")
    return unicodedata.normalize("NFC", _VOWEL_POINTS.sub("", text))


def _tokens(folded: str) -> Iterator[tuple[str, bool]]:
    """(token, is CJK run) for each word of already folded text."""
    for match in _TOKEN.finditer(folded):
        yield match[0], match[1] is not None


def _distinct_words(text: str) -> list[str]:
    words: dict[str, None] = {}
    for token, _ in _tokens(fold(text)):
        words.setdefault(token[:MAX_WORD_LENGTH], None)
    return list(words)


def parse_words(text: str) -> list[str]:
    """The words of a user's alert or filter input: folded, first occurrence first, at most
    :data:`MAX_WORDS` of at most :data:`MAX_WORD_LENGTH` characters (longer ones truncated,
    which the prefix rule still matches). Punctuation, hyphens and apostrophes separate words.
    A CJK run stays one word: it matches by its bigrams (see the module docstring)."""
    return _distinct_words(text)[:MAX_WORDS]


def count_words(text: str) -> int:
    """How many distinct words ``text`` has before :func:`parse_words` keeps only the first
    :data:`MAX_WORDS` (so a reply can say some were dropped)."""
    return len(_distinct_words(text))


def text_words(text: str) -> frozenset[str]:
    """The folded words of an article (pass title and text together), for matching: each word,
    and for CJK runs each character and each character bigram."""
    found: set[str] = set()
    for token, cjk in _tokens(fold(text)):
        if cjk:
            found.update(token)
            found.update(token[i : i + 2] for i in range(len(token) - 1))
        else:
            found.add(token)
    return frozenset(found)


@functools.lru_cache(maxsize=64)
def _sorted(article_words: frozenset[str]) -> tuple[str, ...]:
    """The article's words in order, for prefix lookups by bisection. The fan-out checks one
    article against every alert and filter in turn, so this is worth keeping for a while."""
    return tuple(sorted(article_words))


def _has(word: str, article_words: frozenset[str]) -> bool:
    if not word:
        return False
    if _CJK_CHAR.match(word):
        if len(word) == 1:
            return word in article_words
        return all(word[i : i + 2] in article_words for i in range(len(word) - 1))
    if word in article_words:
        return True
    if len(word) < PREFIX_MIN:
        return False  # "ai" must not match "aid", nor "eu" "europe"
    ordered = _sorted(article_words)
    at = bisect_left(ordered, word)
    return at < len(ordered) and ordered[at].startswith(word)


def matches_alert(words: Sequence[str], article_words: frozenset[str]) -> bool:
    """True when every alert word is in the article (words of 4+ characters also as the start
    of a longer word: "election" finds "elections"). No words never match."""
    return bool(words) and all(_has(word, article_words) for word in words)


def passes_filters(
    required: Sequence[str], excluded: Sequence[str], article_words: frozenset[str]
) -> bool:
    """True when the article has every required word and none of the excluded ones (by the
    same rule as :func:`matches_alert`)."""
    return all(_has(word, article_words) for word in required) and not any(
        _has(word, article_words) for word in excluded
    )
