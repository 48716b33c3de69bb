"""Story matching: does a new article report the same news event as a recent one?

``dedup.py`` finds copies: MinHash over word 3-shingles links re-published wire text, but two
publishers' teasers about one event share almost no three-word runs (NYT and CTV on the Fort
Lauderdale shooting: Jaccard 0.00), and none at all across languages. Event clustering in the
TDT tradition compares *words*, not runs of them: TF-IDF vectors of the headline (weighted up:
it is the editor's summary) and the lead, cosine similarity, and a time window, because an
event is news for a day or two and the same names recur in next week's different events.

Choices, each checked on the hand-labelled January 2017 feeds (tests/test_cluster.py):

* Tokens are casefolded and accent-folded (``Bouaké`` = ``bouake``). Ordinary words get their
  language's Snowball stem; names (capitalised mid-sentence, or acronyms; in German, where
  every noun is capitalised, only acronyms) do not, so ``Lauderdale`` is spelt alike in every
  language. Adjacent capitalised words are one name *unit*: "Hong Kong" shared by two
  headlines is one coincidence, not two; a candidate must share ``MIN_SHARED`` units.
* Names are *not* weighted up: a ×1.5 boost quintupled false merges on the labelled day. Most
  wrong pairs are one actor in two events ("Netanyahu questioned" / "Netanyahu backs pardon");
  what separates them is the action words.
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
import re
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from bot.briefs.tokenize import normalize_language, stemmer, stop_words

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_WINDOW",
    "StoryMatcher",
    "lead_text",
    "story_terms",
]

# Cosine at or above which an article joins a story. Chosen on a null distribution, not on
# the labelled pairs: every January 2017 article and every article of 14 news feeds from other
# months and years was matched against an index of all the articles from *other* periods
# (1,212 queries; same actors, certainly different events; time window off). 99% of them
# scored below 0.408, so at 0.41 an article whose event is not in the index is attached to a
# wrong story about 1% of the time. The labelled day is the check, not the source.
DEFAULT_THRESHOLD = 0.41
DEFAULT_WINDOW = timedelta(hours=36)  # an event's news cycle; a day and a half of stragglers

TITLE_WEIGHT = 2.0  # the headline is the editor's summary of the event
LEAD_CHARS = 400  # the lead says who/what/where; later paragraphs drift to background
MIN_SHARED = 2  # name units / words in common before a story is even scored
# A term in more than this share of the indexed articles (and more than MIN_POSTINGS of them)
# does not propose candidates; it still counts in the cosine. This bounds the work of a match;
# it is not a relevance rule (a big event makes its own words common).
MAX_DF_RATIO = 0.01
MIN_POSTINGS = 50
_NORM_STALENESS = 0.1  # recompute a stored vector's norm when the index grew/shrank by 10%

# Word tokens as in bot.briefs.tokenize.words, kept with their offsets (capitalisation needs
# the position in the sentence).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD_RE = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])[^\W_])+")
_SENTENCE_END = frozenset(".!?…:;\n")
_OPENERS = frozenset("\"'«»“”‘’„([{¿¡-–—* \t\r\f\v\u00a0")
_DASH = re.compile(r"\s(?:--|[-—–])\s")
_PARAGRAPH = re.compile(r"\n\s*\n")
_BYLINE_MAX = 40  # "EFE", "20MINUTOS.ES", "H. M. G. / AGENCIAS": agency lines, not the lead
_SENTENCE_FINAL = tuple('.!?…»"”)')
_TITLE_CASE_SHARE = 0.6
_NAME_GAP = 1  # "Fort Lauderdale", "Akufo-Addo": adjacent name words are one name


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words about the reporting, not the event: they make unrelated teasers look alike.
_REPORTING_WORDS = _word_set(
    """
    says said say according video videos photo photos pictures watch live latest update
    updates breaking exclusive selon video videos direct laut bilder fotostrecke segun fotos
    foto secondo сообщает сообщил сообщила сообщили передает ссылкой заявил заявила
    """
)
# Weekday and month names are capitalised mid-sentence in several languages but name no
# entity: "on Friday" must not count as a shared name. ("March", "Mars" and "May" are left
# alone: a protest march, the planet and Theresa May are news.)
_CALENDAR_WORDS = _word_set(
    """
    monday tuesday wednesday thursday friday saturday sunday january february april june
    july august september october november december jan feb apr jun jul aug sep sept oct nov
    dec lundi mardi mercredi jeudi vendredi samedi dimanche janvier fevrier avril mai juin
    juillet aout septembre octobre novembre decembre montag dienstag mittwoch
    donnerstag freitag samstag sonntag januar februar marz juni juli oktober dezember lunes
    martes miercoles jueves viernes sabado domingo enero febrero marzo abril mayo junio julio
    agosto septiembre octubre noviembre diciembre lunedi martedi mercoledi giovedi venerdi
    domenica gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre
    понедельник вторник среда четверг пятница суббота воскресенье января февраля марта
    апреля мая июня июля августа сентября октября ноября декабря
    """
)


# --- terms ------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _fold(token: str) -> str:
    """Casefolded, accents stripped (NFKD, combining marks dropped): "Bouaké" → "bouake"."""
    decomposed = unicodedata.normalize("NFKD", token.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=64)
def _stop_set(language: str | None) -> frozenset[str]:
    """The article language's stop words plus English ones (names and English loanwords are
    shared by every language's press), folded like tokens, plus calendar words."""
    words = set(stop_words("en")) | _CALENDAR_WORDS | _REPORTING_WORDS
    if language:
        words |= stop_words(language)
    return frozenset(_fold(w) for w in words)


@lru_cache(maxsize=65536)
def _stem(folded: str, language: str | None, *, name: bool) -> str:
    """Snowball for ordinary words; names only lose a plural "s" ("Americas"), which keeps
    them spelt the same whatever the article's language. Non-Latin words are always stemmed:
    they match only their own language, where names inflect too (Москва, Москве, Москвы)."""
    if language and folded.isalpha() and (not name or not folded.isascii()):
        stemmed = str(stemmer(language)(folded))
        if stemmed:
            return stemmed
    if len(folded) >= 5 and folded.endswith("s") and not folded.endswith(("ss", "us", "is")):
        return folded[:-1]
    return folded


def _is_acronym(surface: str) -> bool:
    return 2 <= len(surface) <= 5 and surface.isupper() and not surface.isdigit()


def _is_shouting(text: str) -> bool:
    upper = sum(map(str.isupper, text))
    lower = sum(map(str.islower, text))
    return upper + lower >= 8 and upper >= 0.6 * (upper + lower)


def _is_title_case(title: str) -> bool:
    """Headline Case ("Florida Airport Assailant May Have Heard Voices"): capitals there mark
    headline style, not names."""
    long_words = [w for w in _WORD_RE.findall(title) if len(w) >= 4 and w.isalpha()]
    if len(long_words) < 2:
        return False
    capitals = sum(w[0].isupper() for w in long_words)
    return capitals >= _TITLE_CASE_SHARE * len(long_words)


def _sentence_initial(text: str, start: int) -> bool:
    index = start - 1
    while index >= 0 and text[index] in _OPENERS:
        index -= 1
    return index < 0 or text[index] in _SENTENCE_END


def _tokens(text: str, *, capitals_mark_names: bool) -> Iterator[tuple[str, int, bool]]:
    """(surface token, offset, looks like a name). A name is an acronym, or a capitalised word
    that does not start a sentence (when ``capitals_mark_names``)."""
    shouting = _is_shouting(text)
    for match in _WORD_RE.finditer(text):
        surface, start = match.group(), match.start()
        if shouting:
            is_name = False
        elif _is_acronym(surface):
            is_name = True
        elif capitals_mark_names and surface[0].isupper() and not surface.isupper():
            is_name = not _sentence_initial(text, start)
        else:
            is_name = False
        yield surface, start, is_name


def _strip_dateline(paragraph: str) -> str:
    """Drop a wire dateline or rubric: "BAGHDAD (Reuters) - ", "BERLIN -- ", "INTERVIEW - ".
    Its place names and agency would make every report from one city look alike."""
    match = _DASH.search(paragraph[:80])
    if match is None:
        return paragraph
    prefix = re.sub(r"\([^()]*\)", "", paragraph[: match.start()])
    if any(ch.isalpha() for ch in prefix) and not any(ch.islower() for ch in prefix):
        return paragraph[match.end() :]
    return paragraph


def lead_text(text: str, limit: int = LEAD_CHARS) -> str:
    """The first ``limit`` characters of the article proper (whole words), paragraphs kept on
    separate lines: agency lines ("EFE") and a wire dateline at the start are skipped."""
    paragraphs = [p.strip() for p in _PARAGRAPH.split(text) if p.strip()]
    while (
        len(paragraphs) > 1
        and len(paragraphs[0]) < _BYLINE_MAX
        and not paragraphs[0].endswith(_SENTENCE_FINAL)
    ):
        paragraphs.pop(0)
    if paragraphs:
        paragraphs[0] = _strip_dateline(paragraphs[0])
    lead = "\n".join(paragraphs)
    if len(lead) <= limit:
        return lead
    end = limit
    while end < len(lead) and not lead[end].isspace():
        end += 1
    return lead[:end]


# Weighted terms, and for each term its unit (the name it is part of, or itself).
Analysis = tuple[dict[str, float], dict[str, str]]


def analyse(title: str, text: str, language: str | None) -> Analysis:
    """The article's weighted terms, and for each term its unit: the name it is part of
    ("hong" and "kong" are one unit), or itself. Pure and picklable: the pipeline computes it
    in its worker processes and hands it to ``match``/``add``, which then skip the analysis."""
    return _analyse(title, text, language)


@lru_cache(maxsize=64)  # match() then add() analyse the same article: do it once
def _analyse(title: str, text: str, language: str | None) -> Analysis:
    """See :func:`analyse`. Callers must not mutate the (cached) result."""
    lang = normalize_language(language)
    stops = _stop_set(lang)
    # German capitalises all nouns, so capitals there say "noun", not "name".
    capitals = lang != "de"
    sources = (
        (title, TITLE_WEIGHT, capitals and not _is_title_case(title)),
        (lead_text(text), 1.0, capitals),
    )
    # (folded, weight, is a name here, capitalised, start, end, source)
    found: list[tuple[str, float, bool, bool, int, int, int]] = []
    for index, (source, weight, capitals_mark_names) in enumerate(sources):
        for surface, start, is_name in _tokens(source, capitals_mark_names=capitals_mark_names):
            folded = _fold(surface)
            if len(folded) < 2 or (folded in stops and not _is_acronym(surface)):
                continue
            capitalised = surface[0].isupper()
            found.append((folded, weight, is_name, capitalised, start, start + len(surface), index))
    # A word that is a name anywhere in the article is a name everywhere in it, and names
    # are not stemmed: Snowball would spell "Lauderdale" differently in each language.
    name_words = {f[0] for f in found if f[2]}
    counts: dict[str, float] = {}
    parent: dict[str, str] = {}

    def root(term: str) -> str:
        while parent.get(term, term) != term:
            term = parent[term]
        return term

    previous: tuple[str, int, int, bool] | None = None  # capitalised term, end, source, name
    for folded, weight, is_name, capitalised, start, end, index in found:
        term = _stem(folded, lang, name=folded in name_words)
        counts[term] = counts.get(term, 0.0) + weight
        # Adjacent capitalised words are one name unit if any of them is a name ("Hong"
        # starts the title, "Kong" is a name).
        if (
            capitalised
            and previous is not None
            and previous[2] == index
            and start - previous[1] <= _NAME_GAP
            and (is_name or previous[3])
        ):
            parent[root(term)] = root(previous[0])
        previous = (term, end, index, is_name) if capitalised else None
    return counts, {term: root(term) for term in counts}


def story_terms(title: str, text: str, language: str | None) -> dict[str, float]:
    """Weighted term counts of an article's headline and lead (pure; IDF is the index's job).

    Each occurrence counts 1 in the lead (``lead_text``) and ``TITLE_WEIGHT`` in the headline.
    Terms are folded and stemmed as the module docstring says; stop words of the article's
    language and of English (names and loanwords cross languages), weekday and month names,
    words about the reporting ("says", "video") and single characters are left out.
    """
    return dict(_analyse(title, text, language)[0])


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
        terms = (analysis or _analyse(title, text, language))[0]
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
        terms, units = analysis or _analyse(title, text, language)
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
