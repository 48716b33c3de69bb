"""A few readable keywords for a brief (tags, alert matching hints), with yake.

yake is unsupervised and language-light (stop words + statistics of casing, position and
co-occurrence), which suits an offline bot reading a dozen languages. Its raw list is noisy in
two ways we fix here:

* near-duplicates: "Dmitri Peskov", "russe Dmitri", "Peskov" all come back. We keep the
  best-scored of any group whose stemmed words overlap by half or more (overlap coefficient,
  so a phrase and any phrase containing one of its two words collide).
* casing: yake reports the first surface form, so a sentence-initial "Scientists" keeps its
  capital. A keyword is lower-cased when the text also writes it in lower case; phrases only
  ever written capitalised (names, acronyms: "Star Trek", "NASA") keep their form.
* incidental pairs: yake happily returns a word pair seen once ("surfaced showing"). A
  two-word keyword must be a name (every word capitalised), recur, or be in the title.

Bigrams at most: tags must be short, and yake's trigrams are mostly a name plus a verb
("Peskov a confirmé").
"""

from __future__ import annotations

import re
from functools import lru_cache

import yake

from bot.briefs.tokenize import normalize_language, stemmer, stop_words, words

__all__ = ["extract_keywords"]

_MAX_NGRAM = 2
_OVERLAP = 0.5
_POOL_FACTOR = 4  # yake candidates examined per keyword wanted, to survive deduplication


@lru_cache(maxsize=32)
def _extractor(language: str | None, pool: int) -> yake.KeywordExtractor:
    # The extractor loads its stop word file on construction; build one per language.
    stops = stop_words(language)
    return yake.KeywordExtractor(
        # An unknown code makes yake fall back to its language-neutral stop word list.
        lan=language or "xx",
        n=_MAX_NGRAM,
        top=pool,
        stopwords=set(stops) if stops else None,
    )


def _occurrences(phrase: str, text: str, *, flags: int = 0) -> int:
    return len(re.findall(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, flags))


def _readable(keyword: str, body: str) -> str:
    lower = keyword.lower()
    return lower if lower != keyword and _occurrences(lower, body) else keyword


def _is_incidental(keyword: str, tokens: tuple[str, ...], body: str, title: str) -> bool:
    """A multi-word keyword that is neither a name, nor repeated, nor in the headline."""
    if len(keyword.split()) < 2 or all(t[:1].isupper() or t.isdigit() for t in tokens):
        return False
    return _occurrences(keyword, body, flags=re.I) < 2 and not _occurrences(
        keyword, title, flags=re.I
    )


def extract_keywords(
    text: str, *, language: str | None, title: str | None = None, top: int = 5
) -> list[str]:
    """Up to ``top`` keywords of ``text``, best first, deduplicated, readably cased.

    The title is read first: yake favours early, repeated terms, and the headline names
    what the story is about. Returns [] for empty text or ``top`` < 1.
    """
    if top < 1:
        return []
    # A full stop after the headline: yake reads a blank line as no boundary at all and would
    # pair the headline's last word with the lede's first ("Rocheval Profitant").
    body = (
        f"{title.rstrip()}{'' if title.rstrip()[-1:] in '.!?…' else '.'}\n\n{text}"
        if title
        else text
    )
    if not body.strip():
        return []
    lang = normalize_language(language)
    stem = stemmer(lang)
    kept: list[str] = []
    kept_stems: list[frozenset[str]] = []
    for keyword, _score in _extractor(lang, top * _POOL_FACTOR).extract_keywords(body):
        tokens = words(keyword)
        if not tokens or all(t.isdigit() for t in tokens) or len(keyword) < 3:
            continue
        if _is_incidental(keyword, tokens, body, title or ""):
            continue
        stems = frozenset(stem(t) for t in tokens)
        if any(
            len(stems & other) >= _OVERLAP * min(len(stems), len(other)) for other in kept_stems
        ):
            continue
        kept.append(_readable(keyword, body))
        kept_stems.append(stems)
        if len(kept) == top:
            break
    return kept
