"""The SQL :mod:`storage.search` runs, for both backends, built from a :class:`Plan`.

Kept apart from the search flow (how many candidates to ask for, when a page is exact, when
to widen) because these functions only write statements: each returns the SQL text, its
parameters and its bind types (:data:`Built`), and :func:`run` executes one. The flow
decides ``k`` and ``need``; nothing here reads the database's contents.

SQLite ranks in FTS5 (bm25, title weighted 10:1 over text) and checks the other filters on
the rows it yields; PostgreSQL ranks the GIN matches by ts_rank_cd with every filter in the
same WHERE, for its planner to combine with the index. Both collapse the candidates to one
article per story in the same statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam
from sqlalchemy import text as sql_text
from sqlalchemy.types import Float
from sqlmodel import Session

from storage.models import UTCDateTime

_FTS5_RANK = "bm25(articles_fts, 10.0, 1.0)"  # columns: title, text
_TS_WEIGHTS = "'{0.1, 0.1, 0.2, 1.0}'::float4[]"  # D, C, B (text), A (title)


@dataclass(frozen=True, slots=True)
class Plan:
    """The parsed query reduced to what the SQL needs."""

    sqlite: bool
    match: str | None  # FTS5 expression / tsquery text of the positive words, if any
    exclude: str | None  # any excluded atom, for a listing without positive words
    feed_ids: tuple[int, ...] | None
    few_feed_articles: bool  # SQLite: FTS5 filters on the source's ids, else they are joined
    languages: tuple[str, ...]
    since: datetime | None
    lowest_id: int | None  # FTS5 skips older postings


_RECENCY = "coalesce(a.published_at, a.fetched_at)"
# recency >= since, in a form each half of which an index serves.
_SINCE = "(a.published_at >= :since OR (a.published_at IS NULL AND a.fetched_at >= :since))"
_TYPES: dict[str, Any] = {
    "n": Integer(),
    "kept": Integer(),
    "stories": Integer(),
    "bound": Float(),
    "stream": Integer(),
    "id": Integer(),
    "story_id": Integer(),
    "score": Float(),
    "recency": UTCDateTime(),  # SQLite hands back strings without the column type
}
Built = tuple[str, dict[str, Any], list[Any]]  # SQL, parameters, bindparams


def _joined(plan: Plan, *, since: bool = True, fts: bool = True) -> Built:
    """WHERE clauses on articles ``a`` for the filters (with ``fts``: those FTS5 does not
    apply itself; with ``since``: the date too)."""
    clauses = ["1 = 1"]  # no "story_id IS NOT NULL": SQLite would scan that index for it
    params: dict[str, Any] = {}
    binds: list[Any] = []
    if plan.feed_ids is not None and not (plan.few_feed_articles and fts):
        clauses.append("a.feed_id IN :feed_ids")
        params["feed_ids"] = list(plan.feed_ids)
        binds.append(bindparam("feed_ids", expanding=True))
    if plan.languages:
        clauses.append("a.language IN :languages")
        params["languages"] = list(plan.languages)
        binds.append(bindparam("languages", expanding=True))
    if plan.since is not None:
        params["since"] = plan.since
        binds.append(bindparam("since", type_=UTCDateTime()))
        if since:
            clauses.append(_SINCE)
    return " AND ".join(clauses), params, binds


def _fts(plan: Plan) -> Built:
    """The FTS5 match with the filters FTS5 applies itself, on ``articles_fts.rowid``."""
    sql = "articles_fts MATCH :match"
    params: dict[str, Any] = {"match": plan.match}
    binds: list[Any] = []
    if plan.lowest_id is not None:
        sql += " AND articles_fts.rowid >= :lowest_id"
        params["lowest_id"] = plan.lowest_id
    if plan.few_feed_articles and plan.feed_ids is not None:
        # "+": a filter on the rows FTS5 yields; a bare rowid IN would run one FTS5 query
        # per listed id.
        sql += " AND +articles_fts.rowid IN (SELECT id FROM articles WHERE feed_id IN :feeds)"
        params["feeds"] = list(plan.feed_ids)
        binds.append(bindparam("feeds", expanding=True))
    return sql, params, binds


def ranked_sql(plan: Plan, prefilter: bool) -> Built:
    """The top k by rank, collapsed to stories: (n, bound, kept, stories, row...) with the
    number of candidates, the worst one's score, how many of them passed the joined filters,
    their stories, then the best ``need`` stories' best rows (a NULL row when there is none).
    ``prefilter``: the joined filters are applied before ranking instead of after."""
    where, params, binds = _joined(plan)
    recency = f"a.story_id, {_RECENCY} AS recency"
    if plan.sqlite:
        fts, fts_params, fts_binds = _fts(plan)
        params, binds = params | fts_params, binds + fts_binds
        if prefilter:
            ranked = f"""SELECT articles_fts.rowid AS id, -{_FTS5_RANK} AS score, {recency}
                FROM articles_fts CROSS JOIN articles AS a ON a.id = articles_fts.rowid
                WHERE {fts} AND {where} ORDER BY score DESC LIMIT :k"""
        else:
            ranked = f"""SELECT rowid AS id, -{_FTS5_RANK} AS score FROM articles_fts
                WHERE {fts} ORDER BY score DESC LIMIT :k"""
    else:  # the planner combines the filters' indexes with the GIN index itself
        params["match"] = plan.match
        ranked = f"""SELECT a.id, ts_rank_cd({_TS_WEIGHTS}, a.search_vector, q.query) AS score,
                {recency} FROM articles AS a, to_tsquery('simple', :match) AS q(query)
            WHERE a.search_vector @@ q.query AND {where} ORDER BY score DESC LIMIT :k"""
    kept = "SELECT * FROM c"
    if plan.sqlite and not prefilter:
        kept = f"SELECT c.id, c.score, {recency} FROM c CROSS JOIN articles AS a ON a.id = c.id"
        kept += f" WHERE {where}"
    # Each story's best candidate (ties: newer, then higher id), the best `need` of those.
    order = "score DESC, recency DESC, id DESC"
    sql = f"""WITH c AS MATERIALIZED ({ranked}), m AS MATERIALIZED ({kept}),
        b AS MATERIALIZED (SELECT m.*, row_number() OVER (PARTITION BY story_id ORDER BY {order})
            AS place FROM m WHERE story_id IS NOT NULL),
        best AS (SELECT id, score, story_id, recency FROM b WHERE place = 1
            ORDER BY {order} LIMIT :need)
        SELECT s.*, best.* FROM (SELECT
            (SELECT count(*) FROM c) AS n, (SELECT min(score) FROM c) AS bound,
            (SELECT count(*) FROM m) AS kept, (SELECT count(*) FROM b WHERE place = 1) AS stories
        ) AS s LEFT JOIN best ON 1 = 1"""
    return sql, params, binds


def listing_sql(plan: Plan) -> Built:
    """Without positive words: the newest k articles with a publication date and the newest
    k without, each in its index's order, as (stream, id, story_id, recency). Excluded atoms
    are subtracted here, there being no match to subtract them from."""
    where, params, binds = _joined(plan, since=False, fts=False)
    if plan.exclude is not None:
        params["exclude"] = plan.exclude
        if plan.sqlite:
            where += " AND a.id NOT IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH"
            where += " :exclude)"
        else:
            where += " AND NOT a.search_vector @@ to_tsquery('simple', :exclude)"
    dated = "a.published_at >= :since" if plan.since else "a.published_at IS NOT NULL"
    undated = "a.fetched_at >= :since" if plan.since else "1 = 1"
    # Many articles of the source: walk the dates and check the feed, rather than sort them.
    walk = plan.sqlite and plan.feed_ids is not None and not plan.few_feed_articles
    indexed = "INDEXED BY ix_articles_published_at" if walk else ""
    sql = f"""SELECT * FROM (
            SELECT 1 AS stream, a.id, a.story_id, a.published_at AS recency
            FROM articles AS a {indexed}
            WHERE {dated} AND {where} ORDER BY a.published_at DESC, a.id DESC LIMIT :k
        ) AS dated UNION ALL SELECT * FROM (
            SELECT 2 AS stream, a.id, a.story_id, a.fetched_at AS recency FROM articles AS a
            WHERE a.published_at IS NULL AND {undated} AND {where}
            ORDER BY a.fetched_at DESC, a.id DESC LIMIT :k
        ) AS undated"""
    return sql, params, binds


def sample_sql(plan: Plan) -> Built:
    """SQLite: (n, kept, stories) over the first k matches by FTS5 alone (in rowid order, no
    ranking): how many there are, how many pass the joined filters, and their stories."""
    where, params, binds = _joined(plan)
    fts, fts_params, fts_binds = _fts(plan)
    sql = f"""SELECT count(*) AS n, coalesce(sum({where}), 0) AS kept,
            count(DISTINCT CASE WHEN {where} THEN a.story_id END) AS stories
        FROM (SELECT articles_fts.rowid AS id FROM articles_fts WHERE {fts} LIMIT :k) AS f
        CROSS JOIN articles AS a ON a.id = f.id"""
    return sql, params | fts_params, binds + fts_binds


def run(session: Session, built: Built, **values: Any) -> Any:
    """The rows of ``built`` with ``values`` (k, need) bound, its columns typed alike on
    both backends."""
    sql, params, binds = built
    types = {name: kind for name, kind in _TYPES.items() if name in sql}
    statement = sql_text(sql).bindparams(*binds).columns(**types)
    return session.execute(statement, {**params, **values}).all()
