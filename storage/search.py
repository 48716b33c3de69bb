"""Full-text search over stored articles: one hit per story, best match first.

The index is built by the initial migration: an FTS5 table on SQLite, a weighted tsvector
column on PostgreSQL (title A, text B, unaccented). Both fold case and accents, so the
query side only has to reduce the user's text to plain words; nothing the user typed ever
reaches either query language raw, because both have operators (FTS5: quotes, ``*``, ``:``,
``^``, NEAR, AND/OR/NOT; tsquery: ``& | ! <-> ( ) :*``) that would turn a typo into a
syntax error or a different question.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, bindparam
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Float
from sqlmodel import Session

from storage.models import UTCDateTime

__all__ = ["MAX_TERMS", "MAX_TERM_LENGTH", "SearchHit", "fts5_query", "parse_query", "search"]

MAX_TERMS = 12  # more words than this is a pasted paragraph, not a question
MAX_TERM_LENGTH = 64
_MAX_INPUT = 4096  # characters looked at; the first 12 words are well within this


def _is_word_char(ch: str) -> bool:
    # Letters, digits and combining marks (Indic vowel signs, Hebrew points): what both
    # tokenizers keep inside a word. Python's \w would split "हिन्दी" at its marks and keep
    # "_", which both index as a separator.
    return unicodedata.category(ch)[0] in "LNM"


def parse_query(text: str) -> list[str]:
    """The user's words, lower-cased, NFKC-normalised, deduplicated, in their order.

    Only runs of word characters survive (at least one letter or digit each), so punctuation,
    quotes, control characters and query-language operators are dropped; AND/OR/NOT/NEAR
    become ordinary words (lower-case, and quoted when used). At most :data:`MAX_TERMS`
    terms of at most :data:`MAX_TERM_LENGTH` characters.
    """
    normal = unicodedata.normalize("NFKC", text[:_MAX_INPUT]).lower()
    terms: list[str] = []
    current: list[str] = []
    for ch in [*normal, " "]:
        if _is_word_char(ch):
            current.append(ch)
            continue
        word = "".join(current)[:MAX_TERM_LENGTH]
        current = []
        # A lone combining mark is not a word (and tokenizes to nothing on either engine).
        if word and any(unicodedata.category(c)[0] in "LN" for c in word) and word not in terms:
            terms.append(word)
            if len(terms) == MAX_TERMS:
                break
    return terms


def fts5_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: every term as a quoted prefix phrase, implicitly ANDed.

    Terms hold only letters, digits and marks (see :func:`parse_query`), so the double quotes
    cannot be unbalanced and nothing inside them is an operator.
    """
    return " ".join(f'"{term}"*' for term in terms)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """The best-matching article of one story."""

    article_id: int
    story_id: int
    title: str
    url: str | None
    source: str  # the feed's title, or its URL when it has none
    published_at: datetime | None
    score: float  # higher is better; comparable only within one search on one backend


# Both queries: match, keep each story's best article (ties: the newer one), then rank the
# stories, counting them in the same pass. Recency is published_at, else when we fetched it.
_SQLITE = """
WITH matched AS (
    SELECT a.id AS article_id, a.story_id, a.title, a.url,
           coalesce(nullif(f.title, ''), f.url) AS source, a.published_at,
           coalesce(a.published_at, a.fetched_at) AS recency,
           -bm25(articles_fts, 10.0, 1.0) AS score
    FROM articles_fts
    JOIN articles AS a ON a.id = articles_fts.rowid
    JOIN feeds AS f ON f.id = a.feed_id
    WHERE articles_fts MATCH :match AND a.story_id IS NOT NULL
),
best AS (
    SELECT *, row_number() OVER (
        PARTITION BY story_id ORDER BY score DESC, recency DESC, article_id DESC
    ) AS place
    FROM matched
)
SELECT article_id, story_id, title, url, source, published_at, score,
       count(*) OVER () AS total
FROM best WHERE place = 1
ORDER BY score DESC, recency DESC, article_id DESC
LIMIT :limit OFFSET :offset
"""

# The tsquery text is assembled in SQL from the bound array of terms, each unaccented the way
# the indexed column was, then quoted as a lexeme (quotes and backslashes doubled: unaccent
# turns a few modifier letters into ' " ^ :) and given the :* prefix marker.
_POSTGRES = r"""
WITH q AS (
    SELECT to_tsquery('simple', coalesce((
        SELECT string_agg(
            '''' || replace(replace(newsbrief_unaccent(term), '\', '\\'), '''', '''''')
                 || ''':*',
            ' & ')
        FROM unnest(:terms) AS term
    ), '')) AS query
),
matched AS (
    SELECT a.id AS article_id, a.story_id, a.title, a.url,
           coalesce(nullif(f.title, ''), f.url) AS source, a.published_at,
           coalesce(a.published_at, a.fetched_at) AS recency,
           ts_rank_cd(a.search_vector, q.query) AS score
    FROM q
    JOIN articles AS a ON a.search_vector @@ q.query
    JOIN feeds AS f ON f.id = a.feed_id
    WHERE a.story_id IS NOT NULL
),
best AS (
    SELECT *, row_number() OVER (
        PARTITION BY story_id ORDER BY score DESC, recency DESC, article_id DESC
    ) AS place
    FROM matched
)
SELECT article_id, story_id, title, url, source, published_at, score,
       count(*) OVER () AS total
FROM best WHERE place = 1
ORDER BY score DESC, recency DESC, article_id DESC
LIMIT :limit OFFSET :offset
"""

_COLUMNS: dict[str, Any] = {
    "article_id": Integer(),
    "story_id": Integer(),
    "title": String(),
    "url": String(),
    "source": String(),
    "published_at": UTCDateTime(),  # SQLite hands back strings without the column type
    "score": Float(),
    "total": Integer(),
}


def _statement(dialect: str, terms: list[str]) -> tuple[Any, dict[str, Any]]:
    if dialect == "sqlite":
        return sql_text(_SQLITE).columns(**_COLUMNS), {"match": fts5_query(terms)}
    statement = sql_text(_POSTGRES).bindparams(bindparam("terms", type_=ARRAY(String())))
    return statement.columns(**_COLUMNS), {"terms": terms}


def search(
    session: Session, text: str, *, limit: int = 5, offset: int = 0
) -> tuple[list[SearchHit], int]:
    """Stories whose articles contain every word of ``text`` (prefixes, any case or accents).

    Returns one page of hits (the best article of each story, best story first, ties to the
    newer) and the number of matching stories in all. No usable words: nothing.
    """
    terms = parse_query(text)
    if not terms or limit <= 0:
        return [], 0
    offset = max(offset, 0)
    dialect = session.get_bind().dialect.name
    statement, params = _statement(dialect, terms)
    rows = session.execute(statement, {**params, "limit": limit, "offset": offset}).all()
    if not rows and offset > 0:
        # Past the last page the window count is not there to read; count from the start.
        first = session.execute(statement, {**params, "limit": 1, "offset": 0}).all()
        return [], int(first[0].total) if first else 0
    hits = [
        SearchHit(
            article_id=int(row.article_id),
            story_id=int(row.story_id),
            title=row.title or "",
            url=row.url,
            source=row.source or "",
            published_at=row.published_at,
            score=float(row.score),
        )
        for row in rows
    ]
    return hits, int(rows[0].total) if rows else 0
