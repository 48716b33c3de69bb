"""One brief per story: choose the member to summarise, list the others as "also".

A story is a cluster of articles about one event (near-duplicates found at ingestion). Readers
get one brief for it: the best-written member is summarised and the other publishers are
linked underneath. Pure: callers pass plain :class:`StoryMember` values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ftfy.badness import is_bad

__all__ = [
    "MAX_ALSO",
    "StoryMember",
    "also_sources",
    "member_quality",
    "pick_representative",
]

MAX_ALSO = 5

# Scoring weights (see member_quality). Text length dominates because a full article makes a
# far better summary than a teaser. A penalty of 0.5 equals the whole value of a 1 KB text: a
# garbled or untitled member wins only when it is the one with the full article and the
# others are teasers; the smaller penalties only settle members of similar length.
_LENGTH_SCALE = 1500.0  # characters; 1 − e^(−len/scale): 0.5 at ~1 KB, 0.86 at 3 KB
_MOJIBAKE_PENALTY = 0.5
_NO_TITLE_PENALTY = 0.5
_SHOUTING_PENALTY = 0.3
_TRUNCATED_PENALTY = 0.1

# ftfy's detector misses a lone "Â" before a space (a mangled no-break space: "airportÂ ").
_MOJIBAKE_HINT = re.compile(r"\ufffd|Â(?=\s|$)|Ã[\u0080-\u00bf]|â€")
_TRUNCATED = re.compile(r"(?:\.\.\.|…|\[…\]|\[\.\.\.\])\s*$")


@dataclass(frozen=True, slots=True)
class StoryMember:
    """One article of a story, as stored (text is the cleaned article body)."""

    article_id: int
    title: str
    text: str
    source: str  # feed or site name, as shown to readers
    url: str
    published: datetime | None
    language: str | None


def _is_mojibake(text: str) -> bool:
    return bool(_MOJIBAKE_HINT.search(text)) or is_bad(text)


def _is_shouting(title: str) -> bool:
    letters = [ch for ch in title if ch.isalpha() and ch.lower() != ch.upper()]
    return len(letters) >= 8 and all(ch.isupper() for ch in letters)


def member_quality(member: StoryMember) -> float:
    """How good a base for the brief ``member`` is; higher is better.

    * length of the text with diminishing returns (1 − e^(−chars/1500)): full text beats a
      teaser by a lot, 9 KB beats 6 KB by little (both are "the whole article");
    * −0.5 for mojibake in title or text (the summary would show it);
    * −0.5 for a missing title, −0.3 for an ALL-CAPS one (the brief's headline);
    * −0.1 for text ending in "…"/"...": a truncated teaser.
    """
    title = member.title.strip()
    text = member.text.strip()
    score = 1.0 - math.exp(-len(text) / _LENGTH_SCALE)
    if _is_mojibake(f"{title}\n{text[:4000]}"):
        score -= _MOJIBAKE_PENALTY
    if not title:
        score -= _NO_TITLE_PENALTY
    elif _is_shouting(title):
        score -= _SHOUTING_PENALTY
    if _TRUNCATED.search(text):
        score -= _TRUNCATED_PENALTY
    return score


def _timestamp(member: StoryMember) -> float:
    """Seconds since the epoch; undated members sort last. Naive datetimes are taken as UTC."""
    if member.published is None:
        return math.inf
    published = member.published
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return published.timestamp()


def pick_representative(members: Sequence[StoryMember]) -> StoryMember:
    """The best-written member (see :func:`member_quality`).

    Scores within 0.01 of each other count as a tie (a few characters of length should not
    decide); ties go to the earliest publication (the original report rather than a rewrite),
    then to the lowest article id, so the choice is stable across runs.
    """
    if not members:
        raise ValueError("a story has at least one member")
    return min(
        members,
        key=lambda m: (-round(member_quality(m), 2), _timestamp(m), m.article_id),
    )


def also_sources(
    members: Sequence[StoryMember], representative: StoryMember, *, limit: int = MAX_ALSO
) -> list[tuple[str, str]]:
    """(source, url) of other publishers of the story, earliest first, one per source.

    The representative's own source is left out (its link is the brief's headline), as are
    members without a URL; a source that published several members is listed with its
    earliest one.
    """
    seen = {_source_key(representative.source)}
    result: list[tuple[str, str]] = []
    for member in sorted(members, key=lambda m: (_timestamp(m), m.article_id)):
        key = _source_key(member.source)
        if member.article_id == representative.article_id or key in seen or not member.url:
            continue
        seen.add(key)
        result.append((member.source, member.url))
        if len(result) == limit:
            break
    return result


def _source_key(source: str) -> str:
    return " ".join(source.casefold().split())
