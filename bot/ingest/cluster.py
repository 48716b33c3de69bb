"""Story matching: does a new article report the same news event as a recent one?

``dedup.py`` finds copies: MinHash over word 3-shingles links re-published wire text, but two
publishers' teasers about one event share almost no three-word runs (NYT and CTV on the Fort
Lauderdale shooting: Jaccard 0.00), and none at all across languages. Event clustering in the
TDT tradition compares *words*, not runs of them: TF-IDF vectors of the headline (weighted up:
it is the editor's summary) and the lead, cosine similarity, and a time window, because an
event is news for a day or two and the same names recur in next week's different events.

This module is the index and its scoring; which words an article contributes (folding,
stemming, names and name units, stop words) is ``cluster_terms.py``'s job. Choices, each
checked on the hand-labelled January 2017 feeds (tests/test_cluster.py):

* A candidate story must share ``MIN_SHARED`` units with the article (a name of several
  words is one unit, any other term its own): one shared "Hong Kong" is a coincidence.
* IDF comes from the index itself, kept current as articles come and go.
* A story is scored by its best member and by its centroid, so a story told five times
  attracts the sixth teaser that shares "airport" with one and "gunman" with another.

Cross-language reports share only names ("Putin", "Akufo-Addo"), which also recur across
different events: at a threshold that keeps false merges rare they do not match. Accepted:
merging two events in one brief is worse than two briefs about one.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.ingest.cluster_terms import Analysis, analyse

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_WINDOW",
    "StoryMatcher",
]

# Cosine at or above which an article joins a story. Chosen on a null distribution, not on
# the labelled pairs: every January 2017 article and every article of 14 news feeds from other
# months and years was matched against an index of all the articles from *other* periods
# (1,212 queries; same actors, certainly different events; time window off). 99% of them
# scored below 0.408, so at 0.41 an article whose event is not in the index is attached to a
# wrong story about 1% of the time. The labelled day is the check, not the source.
DEFAULT_THRESHOLD = 0.41
DEFAULT_WINDOW = timedelta(hours=36)  # an event's news cycle; a day and a half of stragglers

MIN_SHARED = 2  # name units / words in common before a story is even scored
# A term in more than this share of the indexed articles (and more than MIN_POSTINGS of them)
# does not propose candidates; it still counts in the cosine. This bounds the work of a match;
# it is not a relevance rule (a big event makes its own words common).
MAX_DF_RATIO = 0.01
MIN_POSTINGS = 50
_NORM_STALENESS = 0.1  # recompute a stored vector's norm when the index grew/shrank by 10%


# --- the index --------------------------------------------------------------------------------


# ("story", caller's story id) or ("article", key) for an article added without a story: the
# two id spaces never collide.
_StoryKey = tuple[str, int]


@dataclass(slots=True)
class _Item:
    terms: dict[str, float]
    time: float  # POSIX seconds: compared in the hot loop, where datetimes are slow
    story: _StoryKey
    norm: float = 0.0
    norm_size: int = 0  # index size when ``norm`` was computed


@dataclass(slots=True)
class _Story:
    members: set[int] = field(default_factory=set)
    terms: Counter[str] = field(default_factory=Counter)  # members' term weights, summed


def _timestamp(moment: datetime) -> float:
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


class StoryMatcher:
    """Recent articles in memory, keyed by article id, to find the story a new one belongs to.

    ``match`` returns an article of the story that most likely tells the same event, or None;
    the caller then ``add``s the new article whatever the answer, passing the story it was
    attached to. Candidates come from an inverted index over distinctive terms, so a match
    costs time in proportion to the articles sharing rare words, not to the index size.

    Time: an article's time is its publication date, or, when the feed gives none, the moment
    it was added (``clock``; feeds are read as they publish, so that is close). Articles more
    than ``window`` apart never match; articles older than ``window`` before ``clock()`` are
    evicted, as are the oldest-added beyond ``max_items``. Not thread-safe: the pipeline calls
    it under its write lock.
    """

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        window: timedelta = DEFAULT_WINDOW,
        max_items: int = 50_000,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if window <= timedelta(0):
            raise ValueError(f"window must be positive, got {window}")
        if max_items < 1:
            raise ValueError(f"max_items must be positive, got {max_items}")
        self.threshold = threshold
        self.window = window
        self.max_items = max_items
        self._span = window.total_seconds()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._items: OrderedDict[int, _Item] = OrderedDict()  # insertion order, oldest first
        self._stories: dict[_StoryKey, _Story] = {}
        self._postings: dict[str, set[int]] = {}
        self._by_time: list[tuple[float, int, int]] = []  # (time, seq, key), lazy deletes
        self._seq = itertools.count()
        self._latest = -math.inf  # the latest article time ever indexed

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def add(
        self,
        key: int,
        *,
        title: str,
        text: str,
        published: datetime | None,
        language: str | None,
        story: int | None = None,
        analysis: Analysis | None = None,
    ) -> None:
        """Index an article (replacing any earlier one with the same key) as a member of
        ``story``, the caller's story id; None gives it a story of its own. ``analysis``, if
        given, must be ``analyse(title, text, language)``."""
        now = self._now()
        if key in self._items:
            self.remove(key)
        story_id = ("article", key) if story is None else ("story", story)
        terms = (analysis or analyse(title, text, language))[0]
        item = _Item(terms, self._time(published, now), story_id)
        self._items[key] = item
        for term in item.terms:
            self._postings.setdefault(term, set()).add(key)
        group = self._stories.setdefault(story_id, _Story())
        group.members.add(key)
        group.terms.update(item.terms)
        self._refresh_norm(item, len(self._items))
        heapq.heappush(self._by_time, (item.time, next(self._seq), key))
        self._latest = max(self._latest, item.time)
        while len(self._items) > self.max_items:
            self.remove(next(iter(self._items)))

    def remove(self, key: int) -> None:
        """Forget an article (deleted, or its transaction rolled back). KeyError if absent."""
        item = self._items.pop(key)
        for term in item.terms:
            keys = self._postings[term]
            keys.discard(key)
            if not keys:
                del self._postings[term]
        group = self._stories[item.story]
        group.members.discard(key)
        if not group.members:
            del self._stories[item.story]
            return
        group.terms.subtract(item.terms)
        for term in item.terms:
            if group.terms[term] <= 1e-9:  # float sums do not return to exactly zero
                del group.terms[term]

    def match(
        self,
        *,
        title: str,
        text: str,
        published: datetime | None,
        language: str | None,
        analysis: Analysis | None = None,
    ) -> tuple[int, float] | None:
        """(article, cosine score) for the story that most likely tells the same event, or
        None when no story within the window reaches the threshold.

        A story scores the better of its best member and its centroid (the members' summed
        terms): a story told five times knows "airport", "gunman" and "Lauderdale" where each
        teaser has some of them. The article returned is the story's best-scoring member.
        """
        now = self._now()
        terms, units = analysis or analyse(title, text, language)
        if not terms or not self._items:
            return None
        size = len(self._items)
        idf = {term: self._idf(term, size) for term in terms}
        norm = math.sqrt(sum((tf * idf[t]) ** 2 for t, tf in terms.items())) or 1.0
        # tf·idf², so that a dot product with the other side's raw tf is the TF-IDF dot product.
        query = {t: tf * idf[t] ** 2 / norm for t, tf in terms.items()}
        best: tuple[int, float] | None = None
        moment = self._time(published, now)
        for story, keys in self._candidates(terms, units, moment, size).items():
            key, score = max(
                ((k, self._cosine(query, self._items[k], size)) for k in keys),
                key=lambda pair: (pair[1], -pair[0]),
            )
            group = self._stories[story]
            if len(group.members) > 1:
                score = max(score, self._centroid_cosine(query, group, size))
            if score >= self.threshold and (best is None or (score, -key) > (best[1], -best[0])):
                best = (key, score)
        return best

    # --- internals ----------------------------------------------------------------------

    def _now(self) -> float:
        now = _timestamp(self._clock())
        horizon = now - self._span
        while self._by_time and self._by_time[0][0] < horizon:
            moment, _, key = heapq.heappop(self._by_time)
            item = self._items.get(key)
            if item is not None and item.time == moment:
                self.remove(key)
        return now

    @staticmethod
    def _time(published: datetime | None, now: float) -> float:
        if published is None:
            return now
        # A date in the future is a feed's mistake; it must not outlive the window.
        return min(_timestamp(published), now)

    def _idf(self, term: str, size: int) -> float:
        # Smoothed IDF (as scikit-learn's): never zero, so a common term still counts a little.
        df = len(self._postings.get(term, ()))
        return math.log((size + 1) / (df + 1)) + 1.0

    def _refresh_norm(self, item: _Item, size: int) -> None:
        # IDF drifts as the index fills and empties; a stored norm within 10% of the size is
        # close enough, and recomputing it at every match would dominate the cost.
        if item.norm_size == 0 or abs(size - item.norm_size) > _NORM_STALENESS * item.norm_size:
            item.norm = math.sqrt(
                sum((tf * self._idf(t, size)) ** 2 for t, tf in item.terms.items())
            )
            item.norm_size = size

    def _cosine(self, query: dict[str, float], item: _Item, size: int) -> float:
        self._refresh_norm(item, size)
        other = item.terms
        dot = sum(w * other[t] for t, w in query.items() if t in other)
        return dot / (item.norm or 1.0)

    def _centroid_cosine(self, query: dict[str, float], group: _Story, size: int) -> float:
        centroid = group.terms
        length = math.sqrt(sum((tf * self._idf(t, size)) ** 2 for t, tf in centroid.items()))
        dot = sum(w * centroid[t] for t, w in query.items() if t in centroid)
        return dot / (length or 1.0)

    def _candidates(
        self, terms: dict[str, float], units: dict[str, str], moment: float, size: int
    ) -> dict[_StoryKey, list[int]]:
        """Stories within the window sharing distinctive terms of at least MIN_SHARED units
        with the query (a name of several words is one unit), with their sharing members."""
        limit = max(MIN_POSTINGS, MAX_DF_RATIO * size)
        by_unit: dict[str, set[int]] = {}
        for term in terms:
            keys = self._postings.get(term)
            if keys and len(keys) <= limit:
                by_unit.setdefault(units[term], set()).update(keys)
        items, low, high = self._items, moment - self._span, moment + self._span
        everything = set().union(*by_unit.values())
        if by_unit and (low > self._by_time[0][0] or high < self._latest):
            recent = {key for key in everything if low <= items[key].time <= high}
        else:  # the usual case: the whole index is within the query's window
            recent = everything
        shared: Counter[_StoryKey] = Counter()
        for keys in by_unit.values():
            shared.update({items[key].story for key in keys & recent})
        found: dict[_StoryKey, list[int]] = {}
        for key in recent:
            story = items[key].story
            if shared[story] >= MIN_SHARED:
                found.setdefault(story, []).append(key)
        return found
