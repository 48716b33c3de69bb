"""Article → terms for story matching: which words of a headline and lead say what happened.

``cluster.py`` compares articles as TF-IDF vectors; this module decides what goes into those
vectors. It is apart from the index because it is pure and picklable (the pipeline runs it in
its worker processes, see ``analyse``) and because its language data (stop words, calendar and
reporting words) is tuned on text, not on the index's arithmetic.

Choices, each checked on the hand-labelled January 2017 feeds (tests/test_cluster.py and
tests/test_cluster_terms.py):

* Tokens are casefolded and accent-folded (``Bouaké`` = ``bouake``). Ordinary words get their
  language's Snowball stem; names (capitalised mid-sentence, or acronyms; in German, where
  every noun is capitalised, only acronyms) do not, so ``Lauderdale`` is spelt alike in every
  language. Adjacent capitalised words are one name *unit*: "Hong Kong" shared by two
  headlines is one coincidence, not two (the matcher asks for several shared units).
* Names are *not* weighted up: a ×1.5 boost quintupled false merges on the labelled day. Most
  wrong pairs are one actor in two events ("Netanyahu questioned" / "Netanyahu backs pardon");
  what separates them is the action words.
* The headline counts ``TITLE_WEIGHT`` times (it is the editor's summary); only the lead
  (``lead_text``) is read after it, because later paragraphs drift to background.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from bot.briefs.tokenize import normalize_language, stemmer, stop_words

__all__ = [
    "LEAD_CHARS",
    "TITLE_WEIGHT",
    "Analysis",
    "analyse",
    "lead_text",
    "story_terms",
]

TITLE_WEIGHT = 2.0  # the headline is the editor's summary of the event
LEAD_CHARS = 400  # the lead says who/what/where; later paragraphs drift to background

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
    in its worker processes and hands it to ``StoryMatcher.match``/``add``, which then skip the
    analysis."""
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
