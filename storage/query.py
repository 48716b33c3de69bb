"""The search box's language, parsed into a :class:`Query` (compiled for FTS5 and tsquery by
:mod:`storage.query_compile`).

Syntax: words (all must match; four letters or more, or a trailing ``*``, also match as a
prefix: "élection" finds "élections"), "exact phrase" (``"..."*``: its last word a prefix),
-exclusion (a word or a "phrase"), ``OR`` (upper case; binds tighter than the implicit AND:
``a b OR c`` is a AND (b OR c)), and the operators ``source:NAME`` / ``source:"Le Monde"``
(feed title or URL), ``lang:fr`` and ``since:7d`` / ``24h`` / ``2w`` / ``2026-01-01`` (UTC;
published, else fetched). Anything else, ``foo:bar`` included, is words.

Nothing the user typed reaches either query language: words are reduced to runs of letters,
digits and marks, and the compilers (:mod:`storage.query_compile`) write every quote and
operator themselves. Scripts written without spaces (Chinese, Japanese, Thai...) are one
token per run on both engines (FTS5 unicode61 and PostgreSQL's parser both index
"東京都知事選挙" as a single word), so a run typed in the query always matches as a prefix:
"東京" finds "東京都知事選挙", but a word from the middle of a run does not (that would need
an n-gram index).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from storage.snippets import PREFIX_MIN, fold, fold_with_map, highlight_spans, is_unspaced

# fold, fold_with_map, highlight_spans, is_unspaced and PREFIX_MIN live in storage.snippets
# (pure text helpers shared with snippets); re-exported here for existing importers.
__all__ = ["MAX_TERM_LENGTH", "MAX_WORDS", "PREFIX_MIN", "Atom", "Phrase", "Query", "Term"]
__all__ += ["fold", "fold_with_map", "highlight_spans", "is_unspaced", "parse_query", "words_of"]

MAX_WORDS = 16  # words in a whole query (phrase words count); more is a pasted paragraph
MAX_TERM_LENGTH = 64
MAX_SOURCE_LENGTH = 100
_MAX_INPUT = 4096
_QUOTES = frozenset('"“”„‟«»')
# Punctuation inside a word ("covid-19", "l'élection", "U.S.", "AT&T", "12:30") joins its
# parts into a phrase; any other non-word character separates words.
_JOINERS = frozenset("-‐‑–'’.·/&@:")
_NAMED = re.compile(r"([^\W\d_]+):(.*)", re.DOTALL)  # name:value, known or not
_OPERATORS = frozenset({"source", "lang", "since"})
_LANG = re.compile(r"([a-z]{2})(?:[-_][a-z0-9]{1,8})*")
_SINCE_SPAN = re.compile(r"([0-9]{1,5})([hdw])")
_SINCE_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _is_word_char(ch: str) -> bool:
    # Letters, digits and combining marks (Indic vowel signs, Hebrew points): what both
    # tokenizers keep inside a word. Python's \w would split "हिन्दी" at its marks and keep
    # "_", which both index as a separator.
    return unicodedata.category(ch)[0] in "LNM"


def words_of(text: str) -> list[str]:
    """Runs of word characters in ``text``, each with at least one letter or digit (a lone
    combining mark tokenizes to nothing on either engine), cut to MAX_TERM_LENGTH."""
    words: list[str] = []
    current: list[str] = []
    for ch in [*text, " "]:
        if _is_word_char(ch):
            current.append(ch)
            continue
        if current:
            word = "".join(current)[:MAX_TERM_LENGTH]
            if any(unicodedata.category(c)[0] in "LN" for c in word):
                words.append(word)
            current = []
    return words


def _prefix_rule(word: str) -> bool:
    return len(word) >= PREFIX_MIN or is_unspaced(word)


@dataclass(frozen=True, slots=True)
class Term:
    """One word: NFKC, lower case, letters, digits and marks only."""

    word: str
    prefix: bool = True  # also match longer words starting with it

    @property
    def words(self) -> tuple[str, ...]:
        return (self.word,)

    def __str__(self) -> str:  # as it would be typed
        if self.prefix == _prefix_rule(self.word):
            return self.word
        return f"{self.word}*" if self.prefix else f'"{self.word}"'


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must follow each other; ``prefix``: the last one may be longer."""

    words: tuple[str, ...]
    prefix: bool = False

    def __str__(self) -> str:
        return '"' + " ".join(self.words) + '"' + ("*" if self.prefix else "")


Atom = Term | Phrase


@dataclass(frozen=True, slots=True)
class Query:
    """What a search asks for: an AND of OR-groups of atoms, minus the excluded atoms, within
    the sources, languages and time given. Empty fields do not restrict."""

    groups: tuple[tuple[Atom, ...], ...] = ()
    excluded: tuple[Atom, ...] = ()
    sources: tuple[str, ...] = ()  # any of them: feed title or URL contains it (folded)
    languages: tuple[str, ...] = ()  # any of these ISO 639-1 codes
    since: datetime | None = None  # published (else fetched) at or after
    since_text: str = field(default="", compare=False)  # as typed, for describe()

    @property
    def has_filters(self) -> bool:
        return bool(self.sources or self.languages or self.since)

    @property
    def is_empty(self) -> bool:
        """Nothing to search for: no positive word and no operator (exclusions alone would
        list the whole archive, so they do not count)."""
        return not self.groups and not self.has_filters

    @property
    def problem(self) -> str | None:
        """Why the query cannot run, for the caller to explain: "empty" (no usable word or
        operator) or "only_exclusions" (-words alone); None when it can run."""
        if not self.is_empty:
            return None
        return "only_exclusions" if self.excluded else "empty"

    def __bool__(self) -> bool:  # `if not parse_query(text)`: nothing to search for
        return not self.is_empty

    @property
    def terms_for_highlight(self) -> tuple[str, ...]:
        """The positive words, folded (accents and case), longest first, without repeats."""
        found = {fold(word) for group in self.groups for atom in group for word in atom.words}
        return tuple(sorted(found - {""}, key=lambda w: (-len(w), w)))

    def describe(self) -> str:
        """What was understood, shortly: 'brexit OR "article 50" · source: guardian · since 7d'."""
        parts: list[str] = []
        words = []
        for group in self.groups:
            text = " OR ".join(str(atom) for atom in group)
            words.append(f"({text})" if len(group) > 1 and len(self.groups) > 1 else text)
        words.extend(f"-{atom}" for atom in self.excluded)
        if words:
            parts.append(" ".join(words))
        if self.sources:
            parts.append("source: " + ", ".join(self.sources))
        if self.languages:
            parts.append("lang: " + ", ".join(self.languages))
        if self.since is not None:
            parts.append(f"since {self.since_text or self.since.date().isoformat()}")
        return " · ".join(parts)


# --- parsing -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Parts:
    """The query being assembled, in the order things were typed."""

    now: datetime
    groups: list[list[Atom]] = field(default_factory=list)
    excluded: list[Atom] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    since: datetime | None = None
    since_text: str = ""
    words: int = 0
    or_pending: bool = False  # an OR follows a positive atom: the next one joins its group
    last_positive: bool = False

    def add(self, atom: Atom | None, negated: bool) -> None:
        if atom is None:
            return
        if self.words + len(atom.words) > MAX_WORDS:
            self.or_pending = self.last_positive = False
            return
        self.words += len(atom.words)
        if negated:
            if atom not in self.excluded:
                self.excluded.append(atom)
            self.or_pending = self.last_positive = False
            return
        if self.or_pending and self.groups:
            if atom not in self.groups[-1]:
                self.groups[-1].append(atom)
        else:
            self.groups.append([atom])
        self.or_pending, self.last_positive = False, True

    def add_or(self) -> None:
        # A dangling OR (first, last, or next to an exclusion or operator) is dropped;
        # "a OR OR b" is still a OR b.
        self.or_pending = self.or_pending or self.last_positive
        self.last_positive = False

    def operator(self, name: str, value: str) -> bool:
        """Apply ``name:value``; False when the value is not one the operator takes."""
        if name == "source":
            value = " ".join(value.split())[:MAX_SOURCE_LENGTH]
            if not any(ch.isalnum() for ch in value):
                return False
            if value.lower() not in (s.lower() for s in self.sources):
                self.sources.append(value)
        elif name == "lang":
            match = _LANG.fullmatch(value.lower())
            if match is None:
                return False
            if match[1] not in self.languages:
                self.languages.append(match[1])
        else:
            since = _since(value.lower(), self.now)
            if since is None:
                return False
            if self.since is None or since > self.since:  # several: all must hold
                self.since, self.since_text = since, value.lower()
        self.or_pending = self.last_positive = False
        return True

    def query(self) -> Query:
        groups = []
        for group in self.groups:
            if tuple(group) not in groups:
                groups.append(tuple(group))
        return Query(
            groups=tuple(groups),
            excluded=tuple(self.excluded),
            sources=tuple(self.sources),
            languages=tuple(self.languages),
            since=self.since,
            since_text=self.since_text,
        )


def _since(value: str, now: datetime) -> datetime | None:
    if match := _SINCE_SPAN.fullmatch(value):
        amount, unit = int(match[1]), match[2]
        hours = amount * {"h": 1, "d": 24, "w": 24 * 7}[unit]
        span = timedelta(hours=min(hours, 24 * 365 * 100))
        return max(now - span, _EPOCH)
    if match := _SINCE_DATE.fullmatch(value):
        try:
            day = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
        except ValueError:
            return None
        return max(day, _EPOCH)
    return None


def _chunk_atoms(chunk: str) -> list[Atom]:
    """An unquoted chunk: its pieces between separators ("NEAR(a" is two words), each one
    word or, when joined by in-word punctuation ("covid-19", "l'élection", "U.S."), a phrase;
    its last word is a prefix by the length rule, or when a "*" follows it ("eu*")."""
    atoms: list[Atom] = []
    pieces = "".join(
        ch if _is_word_char(ch) or ch in _JOINERS else "* " if ch == "*" else " " for ch in chunk
    )
    for piece in pieces.lower().split():
        words = words_of(piece)
        if not words:
            continue
        prefix = _prefix_rule(words[-1]) or (piece.endswith("*") and len(words[-1]) > 1)
        if len(words) == 1:
            atoms.append(Term(words[0], prefix))
        else:
            atoms.append(Phrase(tuple(words), prefix))
    return atoms


def _quoted_atom(text: str, starred: bool) -> Atom | None:
    words = words_of(text.lower())
    if not words:
        return None
    prefix = starred and len(words[-1]) > 1
    return Term(words[0], prefix) if len(words) == 1 else Phrase(tuple(words), prefix)


def _quoted_end(text: str, start: int) -> int:
    """Index of the quote closing the one before ``start`` (the end when unbalanced)."""
    for index in range(start, len(text)):
        if text[index] in _QUOTES:
            return index
    return len(text)


def parse_query(text: str, *, now: datetime | None = None) -> Query:
    """The query typed in ``text``; never raises, whatever the text (see the module doc)."""
    now = now or datetime.now(UTC)
    parts = _Parts(now=now if now.tzinfo else now.replace(tzinfo=UTC))  # naive: UTC
    text = unicodedata.normalize("NFKC", text[:_MAX_INPUT])
    at, end = 0, len(text)
    while at < end:
        if text[at].isspace():
            at += 1
            continue
        negated = text[at] == "-" and at + 1 < end and not text[at + 1].isspace()
        at += negated
        if text[at] in _QUOTES:
            close = _quoted_end(text, at + 1)
            starred = text[close + 1 : close + 2] == "*"  # "foo bar"*: FTS5's prefix phrase
            parts.add(_quoted_atom(text[at + 1 : close], starred), negated)
            at = close + 1 + starred
            continue
        start = at
        while at < end and not text[at].isspace() and text[at] not in _QUOTES:
            at += 1
        chunk = text[start:at]
        named = _NAMED.fullmatch(chunk)
        if named and not negated and named[1].lower() in _OPERATORS:
            name, value = named[1].lower(), named[2]
            if not value and at < end and text[at] in _QUOTES:  # source:"Le Monde"
                close = _quoted_end(text, at + 1)
                value, at = text[at + 1 : close], close + 1
            if parts.operator(name, value):
                continue
            chunk = f"{name} {value}"  # not a value it takes: just words
        if named and not negated:  # foo:bar, since:soon: separate words, not a phrase
            for word in words_of(chunk.lower()):
                parts.add(Term(word, _prefix_rule(word)), negated=False)
        elif chunk == "OR" and not negated:
            parts.add_or()
        else:
            for atom in _chunk_atoms(chunk):
                parts.add(atom, negated)
    return parts.query()
