"""bot/observe/health.py: the health rules (pure), what the database says (both backends) and
the probe's view of the delivery worker. Over HTTP, with the real bot: test_observe_server.py."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.observe.counters import DeliveryCounters
from bot.observe.health import (
    DbSnapshot,
    FailingFeed,
    HealthRules,
    Probe,
    Snapshot,
    evaluate,
    read_snapshot,
)
from bot.observe.metrics import Metrics
from bot.settings import Settings
from storage import feeds as feed_queries
from storage import outbox
from storage.db import make_engine
from storage.models import Feed, utcnow
from tests.support.seed import add_chat, add_feed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=utcnow().tzinfo)
RULES = HealthRules(fetch_stale=3600, scheduler_lag=120, outbox_stuck=600)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def db(**changes: Any) -> DbSnapshot:
    """A healthy database: 3 feeds, one fetched a minute ago, nothing owed."""
    values: dict[str, Any] = {
        "feeds": 3,
        "failing": 0,
        "worst": (),
        "last_success_at": ago(60),
        "last_attempt_at": ago(60),
        "oldest_due_feed_at": NOW + timedelta(minutes=10),
        "outbox_pending": 0,
        "outbox_due": 0,
        "oldest_due_at": None,
    }
    values.update(changes)
    return DbSnapshot(**values)


def snapshot(**changes: Any) -> Snapshot:
    values: dict[str, Any] = {
        "role": "bot",
        "uptime": 86_400.0,
        "fetching": True,
        "delivering": True,
        "db": db(),
        "scheduler_lag": {"fetch": 0.0, "fanout": 0.0},
        "delivery": {"sent": 10},
        "delivery_idle": 5.0,
    }
    values.update(changes)
    return Snapshot(**values)


def feed_state(feed_id: int, *, errors: int) -> FailingFeed:
    return FailingFeed(
        feed_id, f"http://feed{feed_id}.example/rss", errors, "fetch: HTTP 500", None
    )


def check(snap: Snapshot) -> tuple[bool, list[str]]:
    healthy, body = evaluate(snap, NOW, RULES)
    assert body["status"] == ("ok" if healthy else "unhealthy")
    return healthy, body["problems"]


# -- the rules (pure) ---------------------------------------------------------------------------


def test_a_working_process_is_healthy_and_says_what_it_sees() -> None:
    failing = (feed_state(7, errors=4),)
    healthy, body = evaluate(
        snapshot(db=db(failing=1, worst=failing, outbox_pending=4, outbox_due=2)), NOW, RULES
    )
    assert healthy and body["problems"] == [] and body["status"] == "ok"
    assert body["role"] == "bot" and body["database"] == "ok"
    assert body["last_successful_fetch"] == ago(60).isoformat()
    assert body["last_successful_fetch_age_seconds"] == 60
    assert body["scheduler_lag_seconds"] == {"fanout": 0.0, "fetch": 0.0}
    assert body["outbox"] == {"pending": 4, "due": 2, "oldest_due_age_seconds": None}
    assert body["feeds"]["enabled"] == 3 and body["feeds"]["failing"] == 1
    assert body["failing_feeds"] == [
        {
            "id": 7,
            "url": "http://feed7.example/rss",
            "error_count": 4,
            "last_error": "fetch: HTTP 500",
            "last_success": None,
        }
    ]
    assert body["delivery"] == {"sent": 10, "idle_seconds": 5.0}


def test_an_unreadable_database_is_unhealthy() -> None:
    healthy, body = evaluate(snapshot(db=None, db_error="OperationalError"), NOW, RULES)
    assert not healthy and body["database"] == "unreachable"
    assert body["problems"] == ["database: cannot be read (OperationalError)"]
    assert body["outbox"] is None and body["last_successful_fetch"] is None


def test_feeds_all_failing_for_longer_than_the_window_are_unhealthy() -> None:
    every_feed_failing = db(failing=3, last_success_at=ago(3700), last_attempt_at=ago(4000))
    healthy, problems = check(snapshot(db=every_feed_failing))
    assert not healthy and problems[0].startswith("fetching: no feed fetched successfully")
    # Some feeds are quiet, not failing, but every fetch tried in the window failed.
    attempts_failing = db(failing=1, last_success_at=ago(5000), last_attempt_at=ago(30))
    assert check(snapshot(db=attempts_failing))[0] is False
    # Never fetched successfully at all, and failing.
    never = db(failing=3, last_success_at=None, last_attempt_at=ago(30))
    assert check(snapshot(db=never))[0] is False


def test_quiet_feeds_are_not_failing_feeds() -> None:
    # A day-long RSS ttl: no success for hours, but nothing was tried and nothing fails.
    quiet = db(failing=1, last_success_at=ago(20_000), last_attempt_at=ago(20_000))
    assert check(snapshot(db=quiet)) == (True, [])


def test_a_fresh_process_gets_the_whole_window_before_fetch_rules_apply() -> None:
    failing = db(failing=3, last_success_at=None, last_attempt_at=ago(5))
    assert check(snapshot(db=failing, uptime=3000.0)) == (True, [])
    assert check(snapshot(db=failing, uptime=3700.0))[0] is False


def test_feed_rules_apply_only_to_a_process_that_fetches() -> None:
    failing = db(failing=3, last_success_at=None, last_attempt_at=ago(5))
    assert check(snapshot(db=failing, fetching=False, role="bot")) == (True, [])
    assert check(snapshot(db=db(feeds=0, last_success_at=None))) == (True, [])


def test_a_feed_due_for_longer_than_the_window_means_fetching_stalled() -> None:
    healthy, problems = check(snapshot(db=db(oldest_due_feed_at=ago(3800))))
    assert not healthy and problems == ["fetching: a feed has been due for 3800 s and not fetched"]
    assert check(snapshot(db=db(oldest_due_feed_at=ago(600))))[0] is True


def test_a_job_late_beyond_the_threshold_is_unhealthy() -> None:
    healthy, problems = check(snapshot(scheduler_lag={"fetch": 0.0, "fanout": 121.0}))
    assert not healthy and problems == ["scheduler: job fanout is 121 s late"]
    assert check(snapshot(scheduler_lag={"fanout": 119.0}))[0] is True


def test_due_messages_are_stuck_only_when_the_worker_has_been_idle_as_long() -> None:
    stuck = db(outbox_pending=9, outbox_due=9, oldest_due_at=ago(900))
    healthy, problems = check(snapshot(db=stuck, delivery_idle=700.0))
    assert not healthy
    assert problems == ["delivery: a message has been due for 900 s and nothing was sent for 700 s"]
    # A long broadcast sent at Telegram's pace: old rows, but the worker keeps moving.
    assert check(snapshot(db=stuck, delivery_idle=1.0))[0] is True
    # Never started since the process did: idle for the whole uptime.
    assert check(snapshot(db=stuck, delivery=None, delivery_idle=None))[0] is False
    # A fetch worker does not deliver: the outbox is someone else's.
    assert check(snapshot(db=stuck, role="worker", delivering=False))[0] is True
    assert check(snapshot(db=db(oldest_due_at=ago(100)), delivery_idle=5000.0))[0] is True


def test_every_problem_is_listed() -> None:
    snap = snapshot(
        db=db(
            failing=3, last_success_at=None, oldest_due_at=ago(1000), oldest_due_feed_at=ago(4000)
        ),
        scheduler_lag={"fetch": 500.0},
        delivery_idle=1000.0,
    )
    healthy, problems = check(snap)
    assert not healthy
    assert [p.split(":")[0] for p in problems] == [
        "fetching",
        "fetching",
        "scheduler",
        "delivery",
    ]


def test_the_fetch_window_follows_the_fetch_interval() -> None:
    assert HealthRules.for_settings(Settings(_env_file=None)).fetch_stale == 3600  # type: ignore[call-arg]
    slow = Settings(_env_file=None, fetch_interval=3600)  # type: ignore[call-arg]
    assert HealthRules.for_settings(slow) == HealthRules(fetch_stale=4 * 3600)


# -- what the database says (both backends) ------------------------------------------------------


def test_read_snapshot_counts_feeds_failures_and_the_outbox(engine: Engine) -> None:
    now = utcnow()
    with Session(engine) as session:
        ok, bad, worse, off = (add_feed(session, name) for name in ("ok", "bad", "worse", "off"))
        later = now + timedelta(hours=1)
        feed_queries.record_fetch(session, ok, status="ok", next_check_at=later)
        for feed_id, errors in ((bad, 1), (worse, 3), (off, 5)):
            for _ in range(errors):
                feed_queries.record_fetch(
                    session, feed_id, status="failed", next_check_at=later, error=f"fetch: {errors}"
                )
        disabled = session.get(Feed, off)
        assert disabled is not None
        disabled.enabled = False
        session.add(disabled)
        add_chat(session, 1, subscribe=False)
        add_chat(session, 2, subscribe=False)
        # Chat 1: its head backs off for an hour; the row behind it is due but must wait.
        head = outbox.enqueue(session, 1, 0, "broadcast", {"html": "a"})
        outbox.enqueue(session, 1, 0, "broadcast", {"html": "b"})
        outbox.reschedule(session, head, now + timedelta(hours=1), "NetworkError")
        # Chat 2: one row, due for five minutes.
        waiting = outbox.enqueue(session, 2, 0, "broadcast", {"html": "c"})
        outbox.reschedule(session, waiting, now - timedelta(minutes=5), "TimedOut")
        sent = outbox.enqueue(session, 2, 0, "broadcast", {"html": "d"})
        outbox.mark_sent(session, sent, 42)
        session.commit()
        found = read_snapshot(session, utcnow())

    assert found.feeds == 3 and found.failing == 2
    assert [(f.id, f.error_count, f.last_error) for f in found.worst] == [
        (worse, 3, "fetch: 3"),
        (bad, 1, "fetch: 1"),
    ]
    assert (
        found.last_success_at is not None
        and abs((found.last_success_at - now).total_seconds()) < 60
    )
    assert found.last_attempt_at is not None and found.last_attempt_at >= found.last_success_at
    assert found.oldest_due_feed_at == later
    assert (found.outbox_pending, found.outbox_due) == (3, 2)
    assert found.oldest_due_at == now - timedelta(minutes=5)  # chat 2's head, not chat 1's tail


def test_read_snapshot_of_an_empty_database(engine: Engine) -> None:
    with Session(engine) as session:
        found = read_snapshot(session, utcnow())
    assert found == DbSnapshot(0, 0, (), None, None, None, 0, 0, None)


# -- the probe --------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_the_probe_notes_when_the_delivery_worker_last_moved(engine: Engine) -> None:
    clock, counters = Clock(), DeliveryCounters()
    current: list[DeliveryCounters | None] = [None]
    probe = Probe(
        engine,
        Metrics(clock=clock),
        role="bot",
        fetching=False,
        delivery=lambda: current[0],
        clock=clock,
    )
    clock.now += 10
    snap, _ = probe.snapshot()
    assert snap.delivering and snap.delivery is None and snap.delivery_idle == 10  # not started
    current[0] = counters
    clock.now += 5
    assert probe.snapshot()[0].delivery_idle == 15  # nothing done since the start
    counters.sent += 1
    clock.now += 5
    snap, _ = probe.snapshot()
    assert snap.delivery_idle == 0 and snap.delivery is not None and snap.delivery["sent"] == 1
    clock.now += 40
    assert probe.snapshot()[0].delivery_idle == 40
    counters.rate_limited += 1  # a 429 is the worker at work too
    assert probe.snapshot()[0].delivery_idle == 0
    assert snap.uptime == 20 and snap.db is not None and snap.db.feeds == 0


def test_the_probe_of_a_fetch_worker_has_no_delivery(engine: Engine) -> None:
    metrics = Metrics()
    metrics.schedule("fetch", 60.0)
    snap, _ = Probe(engine, metrics, role="worker", fetching=True).snapshot()
    assert not snap.delivering and snap.delivery is None and snap.delivery_idle is None
    assert snap.scheduler_lag == {"fetch": 0.0}
    healthy, body = evaluate(snap, utcnow(), dataclasses.replace(RULES))
    assert healthy and body["delivery"] is None and body["role"] == "worker"


def test_the_probe_reports_a_database_it_cannot_read(tmp_path: Path) -> None:
    broken = make_engine(f"sqlite:///{tmp_path}")  # a directory, not a database file
    snap, now = Probe(broken, Metrics(), role="worker", fetching=True).snapshot()
    broken.dispose()
    assert snap.db is None and snap.db_error == "OperationalError"
    assert evaluate(snap, now, RULES)[0] is False
