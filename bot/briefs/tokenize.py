"""Sentence and word tokenisation that needs no NLTK data.

sumy's own ``Tokenizer`` loads NLTK's punkt models, which cannot be downloaded where this bot
runs. sumy only needs an object with ``.language``, ``.to_sentences()`` and ``.to_words()``, so
this module supplies one: pysbd (rule-based, offline, many languages) for sentences and a
Unicode word regex for words.

Speed matters more than it looks: pysbd runs one regex per abbreviation it sees over the whole
string it is given, so its cost grows with text length times the number of abbreviations. We
therefore (1) segment paragraph by paragraph and (2) pre-split each paragraph at boundaries no
abbreviation rule could dispute (a long lower-case word, a full stop, a space, a capital), then
let pysbd settle the hard cases (initials, "Dr.", "z.B.", decimals) inside the small chunks.
That keeps a 5 KB article at a few milliseconds instead of ~50.

Sentences are always verbatim substrings of the input: if pysbd ever returns text that is not
in its input (it normalises in some modes), the chunk is kept whole rather than rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from functools import lru_cache
from importlib.resources import files

import pysbd
from pysbd.languages import LANGUAGE_CODES
from sumy.utils import get_stop_words

__all__ = [
    "Tokenizer",
    "dangling_openers",
    "normalize_language",
    "split_paragraphs",
    "stemmer",
    "stop_words",
    "words",
]

# Han ideographs and kana: these scripts put no spaces between words, so every character is a
# token. Single characters are a crude but dependency-free unit for sentence similarity (jieba
# or a Japanese morphological analyser would be better, and heavy).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD_RE = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])[^\W_])+")

_CJK_STOP = re.compile(r"[。！？]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")

# A candidate boundary: terminal punctuation, optional closing quotes/brackets, whitespace.
_BOUNDARY = re.compile(r"[.!?…][\"'»”’)\]]*\s+")
# The same, or glued to the next word ("at home.Half of parents"): scraped pages often join
# paragraphs without a space, and pysbd then sees one endless sentence.
_PRESPLIT = re.compile(r"[.!?…][\"'»”’)\]]*(?:\s+|(?=[^\W\d_]{2}))")
_OPENERS = "\"'«“‘„(["
_LAST_WORD = re.compile(r"([^\W\d_]+)[ \u00a0\u202f]?$")

_MAX_CHUNK = 3000  # characters handed to pysbd at once, at most (see _bounded)

# Lower-case abbreviations of four letters or more that may precede a capitalised word
# mid-sentence (German capitalises every noun). A miss here only costs a split that pysbd would
# not have made; it never loses text.
_LONG_ABBREVIATIONS = frozenset(
    {"approx", "aprox", "bzgl", "evtl", "inkl", "zzgl", "exkl", "sept", "resp"}
)


def normalize_language(language: str | None) -> str | None:
    """Reduce a declared language ("fr-FR", "en_us", "DE") to its primary subtag, or None."""
    if not language:
        return None
    primary = re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a cleaned text (blank-line separated), stripped, empty ones dropped."""
    return [p.strip() for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def words(sentence: str) -> tuple[str, ...]:
    """Word tokens: runs of letters/digits, one token per CJK character, no punctuation.

    Apostrophes and hyphens split words ("l'Arménie" → "l", "Arménie"), so the elided article
    becomes a stop word and the noun still matches its other occurrences.
    """
    return tuple(_WORD_RE.findall(sentence))


@lru_cache(maxsize=32)
def _segmenter(language: str) -> pysbd.Segmenter:
    # Building a Segmenter compiles its language's rule set; one per language is plenty.
    return pysbd.Segmenter(language=language, clean=False)


class _QuoteBalance:
    """Open/close counts of double quotes since the current chunk began, updated
    incrementally so a long paragraph is scanned once, not once per boundary."""

    def __init__(self) -> None:
        self.straight = self.curly = self.guillemets = 0

    def add(self, text: str) -> None:
        self.straight += text.count('"')
        self.curly += text.count("“") - text.count("”")
        self.guillemets += text.count("«") - text.count("»")

    def balanced(self) -> bool:
        return self.straight % 2 == 0 and self.curly == 0 and self.guillemets == 0


def _presplit(paragraph: str) -> list[str]:
    """Cut a paragraph at boundaries that cannot be abbreviations (see the module docstring):
    after a lower-case word of four letters or more, outside quotes, before a capital."""
    chunks: list[str] = []
    start = scanned = 0
    quotes = _QuoteBalance()
    for match in _PRESPLIT.finditer(paragraph):
        end = match.end()
        if end >= len(paragraph):
            break
        nxt = paragraph[end]
        if nxt in _OPENERS and end + 1 < len(paragraph):
            nxt = paragraph[end + 1]
        if not nxt.isupper():
            continue
        word_match = _LAST_WORD.search(paragraph[max(start, match.start() - 32) : match.start()])
        word = word_match.group(1) if word_match else ""
        glued = not match.group().endswith(tuple(" \t\n\r\f\v\u00a0\u202f"))
        if len(word) < 4 or word.lower() in _LONG_ABBREVIATIONS:
            continue
        # Spaced: only after a lower-case word (German "Dr. Müller" has a short word anyway,
        # but "Nr. 5" or "Jh. Die" would not). Glued: any case, since real abbreviations are
        # written with a space after them in edited text.
        if not glued and not word.islower():
            continue
        quotes.add(paragraph[scanned:end])
        scanned = end
        if not quotes.balanced():
            continue  # inside quoted speech: pysbd keeps "A. B," she said together
        chunks.append(paragraph[start:end])
        start, quotes = end, _QuoteBalance()
    chunks.append(paragraph[start:])
    return [piece for chunk in chunks for piece in _bounded(chunk.strip()) if piece]


def _bounded(chunk: str) -> list[str]:
    """A chunk too long for pysbd (whose cost grows with length × abbreviations: seconds on
    pathological 100 KB paragraphs), cut at every plain boundary. Normal prose never gets
    here; the cut may split after an abbreviation, which beats a stalled pipeline."""
    if len(chunk) <= _MAX_CHUNK:
        return [chunk]
    pieces, start = [], 0
    for match in _BOUNDARY.finditer(chunk):
        if match.end() - start >= 200:
            pieces.append(chunk[start : match.end()].strip())
            start = match.end()
    pieces.append(chunk[start:].strip())
    return pieces


class Tokenizer:
    """A sumy-compatible tokenizer: ``.language``, ``.to_sentences()``, ``.to_words()``.

    ``language`` is the normalised code given (or None when unknown); sentence rules fall back
    to English for languages pysbd does not know, which splits most Latin, Cyrillic and Greek
    text well enough.
    """

    def __init__(self, language: str | None) -> None:
        self.language = normalize_language(language)
        rules = self.language if self.language in LANGUAGE_CODES else "en"
        self._segmenter = _segmenter(rules)

    def iter_sentences(self, text: str) -> Iterator[tuple[int, str]]:
        """(paragraph index, sentence) pairs, lazily, so callers can stop early on long texts."""
        for index, paragraph in enumerate(split_paragraphs(text)):
            for chunk in _presplit(paragraph):
                for sentence in self._segment(chunk):
                    yield index, sentence

    def to_sentences(self, text: str) -> tuple[str, ...]:
        return tuple(sentence for _, sentence in self.iter_sentences(text))

    def to_words(self, sentence: str) -> tuple[str, ...]:
        return words(sentence)

    def _segment(self, chunk: str) -> list[str]:
        # Most chunks hold one sentence after the pre-split: skip pysbd's ~0.5 ms fixed cost
        # when there is no inner boundary candidate at all (CJK full stops need no space).
        inner = _BOUNDARY.search(chunk.rstrip())
        if inner is None and not _CJK_STOP.search(chunk.rstrip()[:-1]):
            return [chunk]
        try:
            pieces = [p.strip() for p in self._segmenter.segment(chunk)]
        except Exception:  # pysbd has crashed on odd input before; a whole chunk is still usable
            return [chunk]
        pieces = [p for p in pieces if p]
        if not pieces or any(p not in chunk for p in pieces):
            return [chunk]
        return pieces


def _stop_word_file(language: str) -> str | None:
    """yake's bundled stop word list for ``language`` (it has Russian, which sumy lacks)."""
    try:
        resource = files("yake.core") / "StopwordsList" / f"stopwords_{language}.txt"
        return resource.read_text(encoding="utf-8") if resource.is_file() else None
    except (ModuleNotFoundError, OSError, UnicodeDecodeError):
        return None


@lru_cache(maxsize=64)
def stop_words(language: str | None) -> frozenset[str]:
    """Lower-cased stop words: sumy's list united with yake's (each misses common words, e.g.
    sumy's French list has no "de" or "un"); empty for unknown languages."""
    lang = normalize_language(language)
    if lang is None:
        return frozenset()
    found: set[str] = set()
    with suppress(LookupError):  # sumy has no list for this language
        found |= get_stop_words(lang)
    # yake is a declared dependency; if a future release drops its lists, IDF weighting in
    # the rankers still discounts function words, so a missing list degrades, never fails.
    text = _stop_word_file(lang)
    if text:
        found |= {w.strip() for w in text.splitlines() if w.strip()}
    return frozenset(w.lower() for w in found)


@lru_cache(maxsize=64)
def stemmer(language: str | None) -> Callable[[str], str]:
    """A Snowball stemmer (via sumy) that lower-cases; plain lower-casing where none exists.

    Thread-safe: functools.lru_cache is, and the stemmers keep no state between words."""
    # Imported here: sumy's stemmers import all of nltk (3 s), which only stemming needs.
    from sumy.nlp.stemmers import Stemmer, null_stemmer

    lang = normalize_language(language)
    if lang is None:
        return null_stemmer
    try:
        stem: Callable[[str], str] = Stemmer(lang)
        # sumy finds out on the first word that a stemmer's optional package is missing
        # (Polish needs pystempel): unstemmed words then, not a failed feed for every article.
        stem("probe")
    except (LookupError, ValueError):
        return null_stemmer
    # Snowball is pure Python (~40 µs a word) and the same words recur across an article's
    # sentences and the day's articles: memoise.
    return lru_cache(maxsize=65536)(lambda word: stem(word.lower()))


# Words that open a sentence leaning on the one before it: personal and possessive pronouns and
# connectives ("He denied it.", "Cependant, …"). Demonstrative determiners are left out on
# purpose: "Ce vendredi, …" and "This week, …" stand alone. "c" is French "C'est …".
_DANGLING_OPENERS = {
    "en": "he she it they him her his its their them however but and also yet still instead "
    "meanwhile moreover furthermore nevertheless nonetheless besides thus therefore hence",
    "fr": "il elle ils elles lui leur leurs son sa ses c cela ça celui celle ceux celles mais "
    "cependant pourtant toutefois néanmoins or donc ainsi aussi et puis ensuite enfin outre",
    "de": "er sie es ihm ihn ihr ihre sein seine seiner aber doch jedoch allerdings dennoch "
    "trotzdem außerdem deshalb daher",
    "es": "él ella ellos ellas su sus esto eso pero además también aunque entonces así",
}


@lru_cache(maxsize=64)
def dangling_openers(language: str | None) -> frozenset[str]:
    """Lower-cased first words that make a sentence depend on the previous one; empty for
    languages without a list (no sentence is then held back for its first word)."""
    return frozenset(_DANGLING_OPENERS.get(normalize_language(language) or "", "").split())


ELLIPSIS = "…"


def cut_at_word(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` characters at a word boundary, with "…".

    Falls back to a hard cut for unspaced scripts (Chinese, Japanese) or a single huge word.
    """
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    head = text[: limit - 1]
    space = head.rfind(" ")
    if not text[len(head)].isspace() and space >= limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:–—-") + ELLIPSIS
