"""What several ingesting processes need from PostgreSQL to share one database safely.

Fetch workers on any number of machines coordinate through the database alone:

- **Feed leases.** A worker claims due feeds in small batches: in one short transaction it
  picks due feeds whose lease is free or expired (``FOR UPDATE SKIP LOCKED``: a row another
  claimer holds is passed over, never waited for) and writes its name and an expiry on them.
  ``record_fetch`` ends the lease in the transaction that moves ``next_check_at`` on, so a
  feed is fetched once per cycle. A worker that dies simply stops renewing: when its leases
  expire the feeds, still due, are claimed by the others.
- **Per-host politeness across workers.** A feed is claimed only while its host has fewer than
  ``per_host`` unexpired leases. To make that count race-free a claimer takes a transaction
  advisory lock per host (``pg_try_advisory_xact_lock``, non-blocking): a host that another
  claimer is counting right now is skipped this round rather than waited for. Advisory locks
  need no table of hosts to keep in step with the feeds; two hosts whose hashes collide merely
  share a lock.
- **One store at a time.** Each process keeps recent articles in memory (MinHash and event
  indexes, bot/ingest/store.py). Before deciding new / duplicate / same story it must know what
  the others stored, and two processes must not both call the same story "new": the store
  transaction takes one advisory lock (``lock_store``) and catches up with the articles stored
  since its own watermark (``storage.articles.articles_after``). Fetching and parsing stay parallel.

Lease times use the database clock (``now()``), never a worker's: machines' clocks disagree.
SQLite has one writer and no SKIP LOCKED; there the bot's own scheduler fetches, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from storage.models import Feed

# Advisory-lock namespaces (the two-int form: namespace, key); "nb" + a number, so newsbrief's
# locks do not collide with another application's on a shared server.
HOST_LOCK_NAMESPACE = 0x6E620001
STORE_LOCK_NAMESPACE = 0x6E620002
# Due feeds looked at per claim, beyond the ones wanted: enough to fill a batch across hosts
# without ranking the whole backlog on every claim.
SCAN_FACTOR = 20
SCAN_MIN = 200


class LeasesUnsupportedError(RuntimeError):
    """Leases (and so fetch workers) need PostgreSQL."""


def supports_leases(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _require_postgresql(session: Session) -> None:
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        raise LeasesUnsupportedError(
            f"feed leases need PostgreSQL (this database is {bind.dialect.name}); "
            "on SQLite one process fetches"
        )


@dataclass(slots=True)
class Claim:
    """What one claim got, and whether waiting could get more."""

    feeds: list[Feed] = field(default_factory=list)  # leased to the claimer; detached rows
    # Due feeds with a free lease were left: their host was at its limit or being claimed by
    # someone else, or the batch was full. Worth asking again soon.
    more: bool = False
    # Feeds due before ``pending_before`` are still there (leased by anyone or free): a worker
    # draining one cycle (`--once`) waits for them, since a dead worker's come back.
    pending: bool = False


# A feed any worker may take now: enabled, due, its lease (if any) expired. Every query below
# that looks for free feeds uses this one condition.
_FREE = (
    "{t}enabled AND {t}next_check_at <= now() "
    "AND ({t}lease_until IS NULL OR {t}lease_until <= now())"
)
_CANDIDATES = text(
    """
    WITH leased AS (
        SELECT host, count(*) AS n FROM feeds WHERE lease_until > now() GROUP BY host
    ), due AS (
        SELECT f.id, f.host, f.next_check_at FROM feeds f
        WHERE FREE_FEED
          AND NOT EXISTS (SELECT 1 FROM leased l WHERE l.host = f.host AND l.n >= :per_host)
        ORDER BY f.next_check_at, f.id
        LIMIT :scan
    ), ranked AS (
        SELECT d.id, d.host, d.next_check_at,
               row_number() OVER (PARTITION BY d.host ORDER BY d.next_check_at, d.id) AS rn
        FROM due d
    )
    SELECT r.id, r.host FROM ranked r LEFT JOIN leased l ON l.host = r.host
    WHERE r.rn + coalesce(l.n, 0) <= :per_host
    ORDER BY r.next_check_at, r.id
    LIMIT :want
    """.replace("FREE_FEED", _FREE.format(t="f."))
)
_LOCK_HOSTS = text(
    "SELECT h FROM unnest(CAST(:hosts AS text[])) AS h "
    "WHERE pg_try_advisory_xact_lock(:namespace, hashtext(h))"
)
_LEASED_PER_HOST = text(
    "SELECT host, count(*) FROM feeds "
    "WHERE host = ANY(CAST(:hosts AS text[])) AND lease_until > now() GROUP BY host"
)
_LOCK_FEEDS = text(
    """
    SELECT id, host FROM feeds
    WHERE id = ANY(CAST(:ids AS integer[])) AND FREE_FEED
    ORDER BY next_check_at, id
    FOR UPDATE SKIP LOCKED
    """.replace("FREE_FEED", _FREE.format(t=""))
)
_LEASE = text(
    "UPDATE feeds SET lease_owner = :owner, lease_until = now() + make_interval(secs => :seconds) "
    "WHERE id = ANY(CAST(:ids AS integer[]))"
)
_MORE = text(f"SELECT EXISTS (SELECT 1 FROM feeds WHERE {_FREE.format(t='')})")
_COUNT_FREE = text(f"SELECT count(*) FROM feeds WHERE {_FREE.format(t='')}")
_PENDING = text("SELECT EXISTS (SELECT 1 FROM feeds WHERE enabled AND next_check_at <= :before)")


def claim_feeds(
    session: Session,
    owner: str,
    *,
    limit: int,
    lease_seconds: float,
    per_host: int,
    pending_before: datetime | None = None,
) -> Claim:
    """Lease up to ``limit`` due feeds to ``owner`` for ``lease_seconds``, oldest due first,
    never letting a host have more than ``per_host`` unexpired leases. Commits."""
    _require_postgresql(session)
    if limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    params = {"per_host": per_host, "want": limit * 2, "scan": max(SCAN_MIN, limit * SCAN_FACTOR)}
    candidates = session.execute(_CANDIDATES, params).all()
    chosen: list[int] = []
    if candidates:
        hosts = sorted({host for _, host in candidates})
        locked = set(
            session.execute(
                _LOCK_HOSTS, {"hosts": hosts, "namespace": HOST_LOCK_NAMESPACE}
            ).scalars()
        )
        # Under the host locks the counts are exact: whoever leased for these hosts before
        # has committed, and nobody else can lease for them until this transaction ends.
        rows = session.execute(_LEASED_PER_HOST, {"hosts": sorted(locked)}).all()
        leased: dict[str, int] = {host: int(n) for host, n in rows}
        wanted = [feed_id for feed_id, host in candidates if host in locked]
        rows = session.execute(_LOCK_FEEDS, {"ids": wanted}).all() if wanted else []
        for feed_id, host in rows:
            if len(chosen) < limit and leased.get(host, 0) < per_host:
                chosen.append(feed_id)
                leased[host] = leased.get(host, 0) + 1
        if chosen:
            session.execute(_LEASE, {"owner": owner, "seconds": lease_seconds, "ids": chosen})
    feeds = _load(session, chosen)
    claim = Claim(feeds=feeds, more=bool(session.execute(_MORE).scalar()))
    if pending_before is not None:
        claim.pending = bool(session.execute(_PENDING, {"before": pending_before}).scalar())
    session.commit()  # ends the transaction: the host locks go, the leases stay
    return claim


def _load(session: Session, ids: Sequence[int]) -> list[Feed]:
    if not ids:
        return []
    feeds = list(
        session.exec(
            select(Feed)
            .where(col(Feed.id).in_(ids))
            .order_by(col(Feed.next_check_at), col(Feed.id))
        ).all()
    )
    for feed in feeds:  # detached before the commit, so their attributes stay readable
        session.expunge(feed)
    return feeds


def renew_leases(
    session: Session, owner: str, feed_ids: Sequence[int], lease_seconds: float
) -> int:
    """Extend ``owner``'s leases on feeds it is still working on; a lease another worker has
    taken over meanwhile is not taken back. Returns how many were renewed. Commits."""
    _require_postgresql(session)
    if not feed_ids:
        return 0
    result = session.execute(
        text(
            "UPDATE feeds SET lease_until = now() + make_interval(secs => :seconds) "
            "WHERE lease_owner = :owner AND id = ANY(CAST(:ids AS integer[]))"
        ),
        {"owner": owner, "seconds": lease_seconds, "ids": list(feed_ids)},
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def release_leases(session: Session, owner: str, feed_ids: Sequence[int] | None = None) -> int:
    """Give back ``owner``'s leases (those on ``feed_ids``, or all), e.g. on a stop before
    those feeds were done: they are due again at once for the others. Commits."""
    _require_postgresql(session)
    where = "lease_owner = :owner"
    params: dict[str, Any] = {"owner": owner}
    if feed_ids is not None:
        if not feed_ids:
            return 0
        where += " AND id = ANY(CAST(:ids AS integer[]))"
        params["ids"] = list(feed_ids)
    result = session.execute(
        text(f"UPDATE feeds SET lease_owner = NULL, lease_until = NULL WHERE {where}"), params
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def make_all_due(session: Session) -> int:
    """`fetch --all` on PostgreSQL: every enabled feed is due now, for whoever claims it."""
    _require_postgresql(session)
    result = session.execute(text("UPDATE feeds SET next_check_at = now() WHERE enabled"))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def count_due(session: Session) -> int:
    """Due feeds with a free lease (for a progress bar's total)."""
    return int(session.execute(_COUNT_FREE).scalar() or 0)


def database_now(session: Session) -> datetime:
    """The database's clock: the one lease expiries and ``pending_before`` are compared with."""
    value = session.execute(text("SELECT now()")).scalar()
    assert isinstance(value, datetime)
    return value


# --- the store step across processes ---------------------------------------------------------


def lock_store(session: Session) -> None:
    """Serialise the store step across processes until this transaction ends (PostgreSQL)."""
    _require_postgresql(session)
    session.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, 0)"), {"namespace": STORE_LOCK_NAMESPACE}
    )


def try_lock_store(session: Session) -> bool:
    """``lock_store`` if nobody holds it now; False, at once, if somebody does."""
    _require_postgresql(session)
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(:namespace, 0)"),
            {"namespace": STORE_LOCK_NAMESPACE},
        ).scalar()
    )
