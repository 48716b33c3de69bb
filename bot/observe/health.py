"""Is this process healthy? The facts (``read_snapshot``, ``Probe``) and the rules (``evaluate``).

``evaluate`` is a pure function of a :class:`Snapshot`, the time and the :class:`HealthRules`;
``/healthz`` answers 503 when it finds a problem. The rules, with their default thresholds:

1. **database**: the feeds and outbox tables cannot be read.
2. **fetching** (only in a process that fetches, after ``fetch_stale`` of uptime; default
   ``max(1 h, 4 × NEWSBRIEF_FETCH_INTERVAL)``):

   - *all failing*: no enabled feed was fetched successfully (200 or 304) during the last
     ``fetch_stale`` seconds, and either every enabled feed is failing (its last fetch failed)
     or fetches were attempted during that time (and so all failed). Feeds that are merely
     quiet (a long RSS ttl or max-age, no errors) do not count: nothing was attempted.
   - *stalled*: an enabled feed has been due for more than ``fetch_stale`` seconds, so no
     fetch cycle is picking feeds up (a hung cycle, or no cycles at all).
3. **scheduler**: a periodic job (fetch, fan-out, digests) is more than ``scheduler_lag``
   seconds (default 120) past its due time; see ``Metrics.scheduler_lag``.
4. **delivery** (only in a process that delivers): a message has been due for more than
   ``outbox_stuck`` seconds (default 600) *and* the delivery worker has done nothing (sent,
   retried, skipped, failed, hit a 429) for as long. Only the head of each chat's queue
   counts: rows waiting behind their chat's backing-off row are not stuck, and a long
   broadcast that is being sent at Telegram's pace is progress, not a problem.

The delivery worker's progress is known from its in-memory counters; the probe notes when they
last changed each time it is asked, so "idle for" is exact to the interval between checks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.observe.counters import DELIVERY_FIELDS, DeliveryCounters
from bot.observe.metrics import Metrics
from bot.settings import Settings
from storage import outbox
from storage.models import Feed, utcnow

log = logging.getLogger(__name__)
Role = Literal["bot", "worker"]
WORST_FEEDS = 5  # failing feeds listed in the body, most errors first


@dataclass(frozen=True, slots=True)
class HealthRules:
    """Thresholds in seconds (see the module docstring for what each one guards)."""

    fetch_stale: float = 3600.0
    scheduler_lag: float = 120.0
    outbox_stuck: float = 600.0

    @classmethod
    def for_settings(cls, settings: Settings) -> HealthRules:
        return cls(fetch_stale=max(3600.0, 4.0 * settings.fetch_interval))


@dataclass(frozen=True, slots=True)
class FailingFeed:
    id: int
    url: str
    error_count: int
    last_error: str | None
    last_success_at: datetime | None


@dataclass(frozen=True, slots=True)
class DbSnapshot:
    """What the database says (read in one short transaction)."""

    feeds: int  # enabled feeds
    failing: int  # enabled feeds whose last fetch failed
    worst: tuple[FailingFeed, ...]
    last_success_at: datetime | None  # newest successful fetch (200 or 304) of any feed
    last_attempt_at: datetime | None  # newest fetch attempt, successful or not
    oldest_due_feed_at: datetime | None  # earliest next_check_at of an enabled feed
    outbox_pending: int  # rows not sent yet (due now or backing off)
    outbox_due: int  # pending rows whose time has come
    oldest_due_at: datetime | None  # since when the longest-waiting chat head has been due


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The database's facts and this process's own."""

    role: Role
    uptime: float  # seconds since the probe started
    fetching: bool
    delivering: bool
    db: DbSnapshot | None
    db_error: str | None = None
    scheduler_lag: Mapping[str, float] = field(default_factory=dict)
    delivery: Mapping[str, int] | None = None  # the worker's counters, when it runs here
    delivery_idle: float | None = None  # seconds since those counters last changed


def read_snapshot(session: Session, now: datetime) -> DbSnapshot:
    enabled = col(Feed.enabled).is_(True)
    failing_filter = (enabled, col(Feed.error_count) > 0)
    feeds, failing, last_success, last_attempt, feed_due = session.execute(
        sa_select(
            func.count(),
            func.count().filter(col(Feed.error_count) > 0),
            func.max(Feed.last_success_at),
            func.max(Feed.last_fetch_at),
            func.min(Feed.next_check_at),
        ).where(enabled)
    ).one()
    worst = (
        session.exec(
            select(Feed)
            .where(*failing_filter)
            .order_by(col(Feed.error_count).desc(), col(Feed.id))
            .limit(WORST_FEEDS)
        ).all()
        if failing
        else []
    )
    pending, due, oldest_due = outbox.delivery_backlog(session, now)
    return DbSnapshot(
        feeds=int(feeds),
        failing=int(failing),
        worst=tuple(
            FailingFeed(f.id or 0, f.url, f.error_count, f.last_error, f.last_success_at)
            for f in worst
        ),
        last_success_at=last_success,
        last_attempt_at=last_attempt,
        oldest_due_feed_at=feed_due,
        outbox_pending=int(pending),
        outbox_due=int(due),
        oldest_due_at=oldest_due,
    )


def _age(now: datetime, moment: datetime | None) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _problems(snap: Snapshot, now: datetime, rules: HealthRules) -> list[str]:
    db = snap.db
    if db is None:
        return [f"database: cannot be read ({snap.db_error or 'error'})"]
    problems: list[str] = []
    if snap.fetching and db.feeds and snap.uptime > rules.fetch_stale:
        window = rules.fetch_stale
        success_age = _age(now, db.last_success_at)
        attempt_age = _age(now, db.last_attempt_at)
        no_success = success_age is None or success_age > window
        trying = attempt_age is not None and attempt_age <= window
        if no_success and (db.failing == db.feeds or trying):
            problems.append(
                f"fetching: no feed fetched successfully for {window:.0f} s "
                f"({db.failing} of {db.feeds} failing)"
            )
        overdue = _age(now, db.oldest_due_feed_at)
        if overdue is not None and overdue > window:
            problems.append(f"fetching: a feed has been due for {overdue:.0f} s and not fetched")
    for job, lag in sorted(snap.scheduler_lag.items()):
        if lag > rules.scheduler_lag:
            problems.append(f"scheduler: job {job} is {lag:.0f} s late")
    if snap.delivering:
        waited = _age(now, db.oldest_due_at)
        idle = snap.delivery_idle if snap.delivery_idle is not None else snap.uptime
        if waited is not None and waited > rules.outbox_stuck and idle > rules.outbox_stuck:
            problems.append(
                f"delivery: a message has been due for {waited:.0f} s and nothing was sent "
                f"for {idle:.0f} s"
            )
    return problems


def evaluate(snap: Snapshot, now: datetime, rules: HealthRules) -> tuple[bool, dict[str, Any]]:
    """(healthy, the /healthz body). Pure: everything it needs is in its arguments."""
    problems = _problems(snap, now, rules)
    db = snap.db
    body: dict[str, Any] = {
        "status": "unhealthy" if problems else "ok",
        "role": snap.role,
        "problems": problems,
        "checked_at": now.isoformat(),
        "uptime_seconds": round(snap.uptime, 3),
        "database": "ok" if db is not None else "unreachable",
        "fetching": snap.fetching,
        "delivering": snap.delivering,
        "scheduler_lag_seconds": {
            job: round(v, 3) for job, v in sorted(snap.scheduler_lag.items())
        },
        "last_successful_fetch": None,
        "last_successful_fetch_age_seconds": None,
        "feeds": None,
        "failing_feeds": [],
        "outbox": None,
        "delivery": None,
    }
    if db is not None:
        body["last_successful_fetch"] = _iso(db.last_success_at)
        body["last_successful_fetch_age_seconds"] = _age(now, db.last_success_at)
        body["feeds"] = {
            "enabled": db.feeds,
            "failing": db.failing,
            "last_attempt": _iso(db.last_attempt_at),
            "oldest_due_age_seconds": _age(now, db.oldest_due_feed_at),
        }
        body["failing_feeds"] = [
            {
                "id": f.id,
                "url": f.url,
                "error_count": f.error_count,
                "last_error": f.last_error,
                "last_success": _iso(f.last_success_at),
            }
            for f in db.worst
        ]
        body["outbox"] = {
            "pending": db.outbox_pending,
            "due": db.outbox_due,
            "oldest_due_age_seconds": _age(now, db.oldest_due_at),
        }
    if snap.delivering:
        body["delivery"] = {
            **(snap.delivery or {}),
            "idle_seconds": None if snap.delivery_idle is None else round(snap.delivery_idle, 3),
        }
    return not problems, body


class Probe:
    """Gathers a :class:`Snapshot` of one process: its database, scheduler and delivery.

    ``delivery`` returns the delivery worker's counters (None before it started); leave it
    out in a process that does not deliver (a fetch worker). Thread-safe: the observe server
    calls it from its request threads.
    """

    def __init__(
        self,
        engine: Engine,
        metrics: Metrics,
        *,
        role: Role,
        fetching: bool,
        delivery: Callable[[], DeliveryCounters | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.role: Role = role
        self.fetching = fetching
        self.delivery = delivery
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._progress: tuple[int, float] | None = None  # (counters' sum, when it last changed)

    def snapshot(self, now: datetime | None = None) -> tuple[Snapshot, datetime]:
        now = now or utcnow()
        # The counters first: the worker marks a row sent in the database before it counts it,
        # so the database read after them shows every send they count (no "2 sent, 1 pending").
        counters, idle = self._delivery_state()
        db: DbSnapshot | None = None
        db_error: str | None = None
        try:
            with Session(self.engine) as session:
                db = read_snapshot(session, now)
        except Exception as exc:  # the answer must still come: "the database is down"
            log.warning("health: cannot read the database", exc_info=True)
            db_error = type(exc).__name__  # no message: it may name hosts or users
        snap = Snapshot(
            role=self.role,
            uptime=self._clock() - self._started,
            fetching=self.fetching,
            delivering=self.delivery is not None,
            db=db,
            db_error=db_error,
            scheduler_lag=self.metrics.scheduler_lag(),
            delivery=counters,
            delivery_idle=idle,
        )
        return snap, now

    def _delivery_state(self) -> tuple[dict[str, int] | None, float | None]:
        if self.delivery is None:
            return None, None
        source = self.delivery()
        if source is None:  # not started yet: idle since the probe started
            return None, self._clock() - self._started
        counters = {name: int(getattr(source, name)) for name in DELIVERY_FIELDS}
        total, now = sum(counters.values()), self._clock()
        with self._lock:
            if self._progress is None:
                # First look: it has done something since it started, or nothing yet.
                self._progress = (total, now if total else self._started)
            elif self._progress[0] != total:
                self._progress = (total, now)  # it moved since the last look
            idle = now - self._progress[1]
        return counters, idle
