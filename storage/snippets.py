"""Pure text functions for showing search results: folding (case and accents, as both indexes
fold) for highlights, the highlight spans of query words, and the snippet window.

Kept apart from :mod:`storage.query` (the query language) and :mod:`storage.search` (search)
because neither needs a database nor the parser: they turn text and folded terms into text
and spans. The prefix rule and the unspaced scripts live here, the lowest layer, because
highlighting must apply them exactly as the query compilers do; :mod:`storage.query` imports
them from here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = ["PREFIX_MIN", "SNIPPET_WIDTH", "fold", "fold_with_map", "highlight_spans"]
__all__ += ["is_unspaced", "make_snippet"]

# Shorter words match exactly unless followed by "*": "uk" must not find "ukraine", nor
# "off" every "office" (a prefix that common also costs a scan of many index terms); four
# letters still find inflections ("шахт" → "шахтах", "vote" → "voters").
PREFIX_MIN = 4
# Scripts written without spaces between words: both engines index a whole run as one token.
# Thai and Lao, Myanmar, Khmer, Hiragana and Katakana, CJK ideographs (with extensions and
# compatibility forms), half-width Katakana.
_UNSPACED = [(0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF)]
_UNSPACED += [(0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)]
_UNSPACED += [(0xFF66, 0xFF9D), (0x20000, 0x3FFFF)]
SNIPPET_WIDTH = 200
SNIPPET_CONTEXT = 50  # characters shown before the first match, at most
_SNIPPET_SCAN = 50_000  # characters of a body searched for matches


def is_unspaced(word: str) -> bool:
    """Whether ``word`` has a character of a script written without spaces (CJK, Thai...)."""
    return any(lo <= ord(ch) <= hi for ch in word for lo, hi in _UNSPACED)


# --- folding and highlighting --------------------------------------------------------------


@lru_cache(maxsize=16384)
def _fold_char(ch: str) -> str:
    if ch.isascii():
        return ch.lower()
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    folded = base.casefold()
    return folded if len(folded) == len(base) else base.lower()


def fold(text: str) -> str:
    """Case and accents folded the way both indexes do (near enough for highlighting)."""
    return "".join(_fold_char(ch) for ch in text)


def fold_with_map(text: str) -> tuple[str, list[int] | None]:
    """``fold(text)`` and, when lengths changed, where each folded character came from
    (one entry more than characters: the end). None: the same positions."""
    chars = set(text)
    folds = {ch: _fold_char(ch) for ch in chars}
    if all(len(f) == 1 for f in folds.values()):
        return text.translate({ord(ch): f for ch, f in folds.items()}), None
    pieces, origin = [], []
    for index, ch in enumerate(text):
        piece = folds[ch]
        pieces.append(piece)
        origin.extend([index] * len(piece))
    origin.append(len(text))
    return "".join(pieces), origin


def _highlight_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    alternatives = []
    for term in terms:
        word = re.escape(term)
        if is_unspaced(term):
            alternatives.append(word)  # anywhere: these scripts have no word boundaries
        elif len(term) >= PREFIX_MIN:
            alternatives.append(rf"(?<!\w){word}\w*")
        else:
            alternatives.append(rf"(?<!\w){word}(?!\w)")
    return re.compile("|".join(alternatives)) if alternatives else None


def highlight_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """(start, end) of each word of ``text`` matching a folded term, in order: whole words
    for prefixes ("élect" marks "Élections"), exact words under PREFIX_MIN letters."""
    pattern = _highlight_pattern(tuple(sorted(set(terms), key=lambda t: (-len(t), t))))
    if pattern is None or not text:
        return []
    folded, origin = fold_with_map(text)
    spans = []
    for match in pattern.finditer(folded):
        if match.end() > match.start():
            if origin is None:
                spans.append((match.start(), match.end()))
            else:
                spans.append((origin[match.start()], origin[match.end()]))
    return spans


# --- snippets ------------------------------------------------------------------------------


def _window_start(body: str, spans: list[tuple[int, int]], width: int) -> int:
    """Where the snippet starts: a little before the match whose window shows the most
    different matched words (the first such), at a sentence or word start."""
    best, best_seen = 0, -1
    for start, _ in spans[:32]:
        begin = max(0, start - SNIPPET_CONTEXT)
        seen = {fold(body[s:e]) for s, e in spans if s >= begin and e <= begin + width}
        if len(seen) > best_seen:
            best, best_seen = begin, len(seen)
    if best == 0:
        return 0
    anchor = min(s for s, _ in spans if s >= best)
    sentence = max(body.rfind(mark, best, anchor) for mark in (". ", "! ", "? "))
    if sentence != -1:
        return sentence + 2
    space = body.find(" ", best, anchor)
    return space + 1 if space != -1 else best


def make_snippet(
    text: str, terms: Sequence[str], *, width: int = SNIPPET_WIDTH
) -> tuple[str, list[tuple[int, int]]]:
    """A plain-text window of at most ``width`` characters of ``text`` (whitespace made
    single spaces) around its first matches of the folded ``terms``, or its lead when none
    matches; and the (start, end) spans of the matched words in it."""
    body = " ".join(text[:_SNIPPET_SCAN].split())
    spans = highlight_spans(body, terms)
    if len(body) <= width:
        return body, spans
    start = _window_start(body, spans, width) if spans else 0
    if len(body) - start < width - 1:  # near the end: show as much before as fits
        earliest = len(body) - width + 1
        space = body.find(" ", earliest, start)
        start = space + 1 if space != -1 else min(earliest, start)
    prefix = "…" if start > 0 else ""
    end, suffix = start + width - len(prefix), ""
    if end < len(body):  # cut at a space, leaving room for the "…"
        space = body.rfind(" ", start, end)
        end, suffix = (space if space > start else end - 1), "…"
    snippet = prefix + body[start:end] + suffix
    shift = len(prefix) - start
    return snippet, [(s + shift, min(e, end) + shift) for s, e in spans if start <= s < end]
