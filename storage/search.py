"""Full-text search over stored articles: one hit per story, best match first, with snippets.

The index is built by the initial migration: an FTS5 table on SQLite, a weighted tsvector
column on PostgreSQL (title A, text B, unaccented). Queries are parsed by :mod:`storage.query`
and compiled by :mod:`storage.query_compile`; nothing the user typed reaches either query
language raw. This module is the flow (plan, rank, widen, count, hits); the statements it runs
are written in :mod:`storage.search_sql`.

Speed: ranking every match and then keeping each story's best article costs as much as the
number of matches. Instead the index hands back its top ``k`` articles by rank (bm25 /
ts_rank_cd, title weighted over text), collapsed to stories in the same SQL statement. The
page is exact when its last story scores strictly better than the worst candidate (no
article left out can beat it) or the candidates were all the matches; otherwise ``k`` grows.
On SQLite a count of the matches by FTS5 alone (no ranking, stopping at COUNT_ROWS) comes
first: fewer are all ranked at once, for an exact total. Filters FTS5 can apply itself go
into its query (since: a lower id bound; a source with few articles: their ids, listed from
the feed index); the others (lang:, a big source, the exact date) are checked on the top
``k``, sized by the share of those first matches that pass, and applied before ranking when
that share is too small. PostgreSQL's planner combines the filters with the GIN index
itself. Without an exact count, the total is the stories among the first matches and the
candidates, a lower bound flagged ``total_is_estimate`` ("more than N").

Operators alone (``source:guardian``) list the newest stories: two index-ordered streams,
articles with a publication date by published_at and those without by fetched_at, merged
here, with the same exactness rule on their k-th rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, bindparam
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

from storage.models import UTCDateTime
from storage.query import Query, parse_query, words_of
from storage.query_compile import (
    fts5_exclusions,
    fts5_query,
    map_words,
    tsquery_exclusions,
    tsquery_text,
)
from storage.search_sql import Plan, listing_sql, ranked_sql, run, sample_sql
from storage.snippets import SNIPPET_WIDTH, fold, make_snippet

# SNIPPET_WIDTH and make_snippet live in storage.snippets; re-exported for existing importers.
__all__ = ["SNIPPET_WIDTH", "SearchHit", "SearchPage", "make_snippet", "search", "search_page"]

COUNT_ROWS = 1000  # matching articles looked at to count stories; beyond, "N+"
MAX_OFFSET = 1000  # pages start no deeper (the bot pages by 5: 200 pages)
FIRST_K = 64  # candidates asked of the index at first (a page is 5 stories)
LISTING_K = 256  # newest articles listed at first, without words: enough to count a few
PER_STORY = 8  # ...or this many per story wanted, for deeper pages
WIDEN = 8
JOINED_K = 1024  # candidates at least when a filter is checked on them (lang:, big source:)
MAX_K = 16384  # past this many candidates, rank only the articles passing the filters
FEED_LIST_MAX = 20000  # articles of the source: feeds that FTS5 may filter on by id


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
    language: str | None = None
    snippet: str = ""  # plain text from the body around the first matches (or its lead)
    highlights: list[tuple[int, int]] = field(default_factory=list)  # matched words in snippet


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results. ``error`` says why a query could not run, for the caller to
    word: "empty" (no usable words), "only_exclusions" (-words alone), "unknown_source"
    (no feed's title or URL contains the source: given)."""

    hits: list[SearchHit]
    total: int  # stories matching in all; at least that many when total_is_estimate
    total_is_estimate: bool
    query: Query
    error: str | None = None


class _Row(NamedTuple):
    id: int
    story_id: int
    score: float
    recency: datetime


# --- planning ------------------------------------------------------------------------------

_unaccent_cache: dict[str, str] = {}


def _unaccented(session: Session, query: Query) -> Query:
    """The query's words as PostgreSQL's unaccent (the index's) folds them, re-split into
    words: unaccent turns a few modifier letters into ' " ^ :, which must not reach
    to_tsquery. ASCII words are left alone (unaccent maps only non-ASCII characters)."""
    words = {w for g in (*query.groups, query.excluded) for atom in g for w in atom.words}
    todo = sorted(w for w in words if not w.isascii() and w not in _unaccent_cache)
    if todo:
        if len(_unaccent_cache) > 10_000:
            _unaccent_cache.clear()
        statement = sql_text("SELECT w, newsbrief_unaccent(w) FROM unnest(:words) AS w")
        statement = statement.bindparams(bindparam("words", type_=ARRAY(String())))
        for word, plain in session.execute(statement, {"words": todo}):
            _unaccent_cache[word] = plain or ""
    return map_words(query, lambda w: words_of(_unaccent_cache.get(w, w).lower()))


def _feed_ids(session: Session, names: Sequence[str]) -> tuple[tuple[int, ...], int]:
    """Feeds whose title or URL contains any of ``names`` (case and accents folded), and how
    many feeds there are. Matched here, not in SQL: SQLite's lower() folds ASCII only."""
    wanted = [fold(name) for name in names]
    rows = session.execute(sql_text("SELECT id, title, url FROM feeds")).all()
    found = tuple(
        int(row.id)
        for row in rows
        if any(w in fold(row.title or "") or w in fold(row.url or "") for w in wanted)
    )
    return found, len(rows)


def _lowest_id(session: Session, since: datetime) -> int | None:
    """The smallest id of an article published, or fetched, since then (a bound for every
    article whose recency is), None when there is none. Reads two indexes from ``since`` on."""
    # INDEXED BY: left alone, SQLite answers min(id) by walking the table from its first row.
    statement = sql_text(
        "SELECT (SELECT min(id) FROM articles INDEXED BY ix_articles_published_at"
        " WHERE published_at >= :since) AS published,"
        " (SELECT min(id) FROM articles INDEXED BY ix_articles_fetched_at"
        " WHERE fetched_at >= :since) AS fetched"
    ).bindparams(bindparam("since", type_=UTCDateTime()))
    row = session.execute(statement, {"since": since}).one()
    found = [int(value) for value in row if value is not None]
    return min(found) if found else None


def _plan(session: Session, query: Query) -> Plan | str:
    """What to run, or why nothing matches ("unknown_source", or "" when nothing can)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        match, exclude = fts5_query(query), fts5_exclusions(query)
    else:
        plain = _unaccented(session, query)
        if query.groups and not plain.groups:  # only symbols unaccent turns into punctuation
            return ""
        match, exclude = tsquery_text(plain), tsquery_exclusions(plain)
    feed_ids: tuple[int, ...] | None = None
    few = False
    if query.sources:
        feed_ids, feeds = _feed_ids(session, query.sources)
        if not feed_ids:
            return "unknown_source"
        if len(feed_ids) == feeds:
            feed_ids = None
        elif sqlite:
            # A few thousand article ids, listed from the feed index, are a cheap filter for
            # FTS5 (and few to sort by date); more are cheaper to check one by one on the
            # ranked candidates, like lang: (or on the newest, in date order).
            counted = sql_text(
                "SELECT count(*) FROM (SELECT 1 FROM articles WHERE feed_id IN :ids LIMIT :n)"
            ).bindparams(bindparam("ids", expanding=True))
            listed = session.execute(counted, {"ids": list(feed_ids), "n": FEED_LIST_MAX})
            few = int(listed.scalar() or 0) < FEED_LIST_MAX
    lowest = None
    if query.since is not None and sqlite and match is not None:
        lowest = _lowest_id(session, query.since)
        if lowest is None:
            return ""
    return Plan(sqlite, match, exclude, feed_ids, few, query.languages, query.since, lowest)


# --- ranking -------------------------------------------------------------------------------


def _stories(rows: Sequence[Any]) -> list[_Row]:
    """Each story's newest listed row, newest story first (ties: the higher id)."""
    best: dict[int, _Row] = {}
    for raw in rows:
        if raw.story_id is None:  # not clustered (yet)
            continue
        row = _Row(int(raw.id), int(raw.story_id), 0.0, raw.recency)
        held = best.get(row.story_id)
        if held is None or (row.recency, row.id) > (held.recency, held.id):
            best[row.story_id] = row
    return sorted(best.values(), key=lambda r: (r.recency, r.id), reverse=True)


def _listing(session: Session, plan: Plan, need: int) -> tuple[list[_Row], bool]:
    """The newest stories, at least ``need`` when there are, and whether they are all."""
    k = max(LISTING_K, PER_STORY * need)
    while True:
        rows = run(session, listing_sql(plan), k=k)
        stories = _stories(rows)
        # A stream that filled k rows may have left out rows older than its k-th.
        cuts = [
            min((r.recency, int(r.id)) for r in rows if r.stream == stream)
            for stream in (1, 2)
            if sum(r.stream == stream for r in rows) >= k
        ]
        if not cuts:
            return stories, True
        if len(stories) >= need and (stories[need - 1].recency, stories[need - 1].id) >= max(cuts):
            return stories, False
        k *= WIDEN


def _rank(session: Session, plan: Plan, need: int) -> tuple[list[_Row], int, bool]:
    """The best stories, at least ``need`` of them when there are; their number in all,
    and whether that is an estimate."""
    if plan.match is None:  # the stories among those listed: "N+" unless they were all
        stories, complete = _listing(session, plan, need)
        return stories, len(stories), not complete
    k = max(FIRST_K, PER_STORY * need)
    cap = max(COUNT_ROWS, k) + 1
    prefilter, counted = not plan.sqlite, 0  # counted: stories surely matching, at least
    if plan.sqlite:
        matches, kept, counted = _sample(session, plan, cap)
        if matches < cap:  # rank them all: one pass, and an exact total
            k = matches + 1
        elif kept < matches:  # size k by the share passing the joined filters
            # Generously: the best-ranked can differ from these first matches (an English
            # word's best for lang:fr), and one more pass costs far more than joining rows.
            wanted = math.ceil(3 * need * matches / kept) if kept else MAX_K + 1
            prefilter = wanted > MAX_K
            k = cap if prefilter else max(k, wanted, JOINED_K)
    else:
        k = cap  # ranking after the filters: enough to count up to COUNT_ROWS
    retried = False
    while True:
        rows = run(session, ranked_sql(plan, prefilter), k=k, need=need)
        head = rows[0]
        stories = [_Row(r.id, r.story_id, float(r.score), r.recency) for r in rows if r.id]
        if head.n < k:  # every match (passing the filters, when they come first) was ranked
            return stories, head.stories, False
        if len(stories) >= need and stories[need - 1].score > float(head.bound):
            return stories, max(head.stories, counted), True
        if prefilter or head.kept == head.n:  # no filter left out anything: more of the same
            k *= WIDEN
            continue
        # The filters keep kept/k of the candidates: ask for enough (once more), or rank
        # after them. The best-ranked can differ from the sample (an English word's top
        # for lang:es), so none kept is no proof of a rare filter.
        wanted = math.ceil(3 * need * k / head.kept) if head.kept else 16 * k
        if retried or wanted > MAX_K:
            prefilter, k = True, cap
        else:
            retried, k = True, max(wanted, 2 * k)


def _sample(session: Session, plan: Plan, cap: int) -> tuple[int, int, int]:
    """SQLite: the first ``cap`` matches by FTS5 alone (fast: in rowid order, no ranking),
    how many of them pass the joined filters, and the stories of those."""
    row = run(session, sample_sql(plan), k=cap)[0]
    return int(row.n), int(row.kept), int(row.stories)


# --- hits ---------------------------------------------------------------------------------


def _hits(session: Session, rows: list[_Row], query: Query) -> list[SearchHit]:
    if not rows:
        return []
    statement = sql_text(
        """SELECT a.id, a.title, a.url, a.published_at, a.language, a.text,
                  coalesce(nullif(f.title, ''), f.url) AS source
           FROM articles AS a JOIN feeds AS f ON f.id = a.feed_id WHERE a.id IN :ids"""
    )
    typed = statement.bindparams(bindparam("ids", expanding=True)).columns(
        published_at=UTCDateTime(), id=Integer()
    )
    details = {int(d.id): d for d in session.execute(typed, {"ids": [r.id for r in rows]})}
    terms = query.terms_for_highlight
    hits = []
    for row in rows:
        found = details.get(row.id)
        if found is None:  # deleted since it was ranked
            continue
        snippet, highlights = make_snippet(found.text or "", terms)
        hits.append(
            SearchHit(
                article_id=row.id,
                story_id=row.story_id,
                title=found.title or "",
                url=found.url,
                source=found.source or "",
                published_at=found.published_at,
                score=row.score,
                language=found.language,
                snippet=snippet,
                highlights=highlights,
            )
        )
    return hits


# --- entry points --------------------------------------------------------------------------


def search_page(
    session: Session, text: str, *, limit: int = 5, offset: int = 0, now: datetime | None = None
) -> SearchPage:
    """One page of the stories matching the query ``text`` (syntax: :mod:`storage.query`):
    each story's best article, best story first (ties to the newer); or, for operators
    alone, the newest stories. Never raises for any ``text``."""
    query = parse_query(text, now=now)
    if query.problem is not None:
        return SearchPage([], 0, False, query, query.problem)
    if limit <= 0:
        return SearchPage([], 0, False, query)
    plan = _plan(session, query)
    if isinstance(plan, str):
        return SearchPage([], 0, False, query, plan or None)
    offset = max(offset, 0)
    stories, total, estimate = _rank(session, plan, min(offset, MAX_OFFSET) + limit)
    hits = _hits(session, stories[offset : offset + limit], query)
    return SearchPage(hits, total, estimate, query)


def search(
    session: Session, text: str, *, limit: int = 5, offset: int = 0, now: datetime | None = None
) -> tuple[list[SearchHit], int]:
    """:func:`search_page`'s hits and total (a lower bound when that estimates it)."""
    page = search_page(session, text, limit=limit, offset=offset, now=now)
    return page.hits, page.total
