"""bot/observe/metrics.py: what each feed report and cycle adds, how late a job counts as, and
one registry per Metrics (two in one process never collide). Over HTTP, with the real bot, in
tests/test_observe_server.py."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from bot.ingest.records import CycleReport, FeedReport
from bot.observe.metrics import Metrics, failure_stage


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    assert found is not None, f"{name}{labels} not exported"
    return found


def test_each_feed_report_adds_its_duration_outcome_and_entries() -> None:
    metrics = Metrics()
    metrics.observe_feed(FeedReport(1, "u1", "ok", new=5, duplicate=2, same_story=1, elapsed=0.3))
    metrics.observe_feed(FeedReport(2, "u2", "not_modified", elapsed=0.01))
    metrics.observe_feed(FeedReport(3, "u3", "failed", error="fetch: timed out", elapsed=20.0))
    metrics.observe_feed(FeedReport(4, "u4", "ok", new=1, extracted=1, elapsed=1.5))

    assert value(metrics, "newsbrief_fetch_duration_seconds_count", status="ok") == 2
    assert value(metrics, "newsbrief_fetch_duration_seconds_sum", status="ok") == pytest.approx(1.8)
    assert value(metrics, "newsbrief_fetch_duration_seconds_count", status="failed") == 1
    # 0.3 s and 1.5 s: one refresh within the 0.5 s bucket, both within 2.5 s.
    assert value(metrics, "newsbrief_fetch_duration_seconds_bucket", status="ok", le="0.5") == 1
    assert value(metrics, "newsbrief_fetch_duration_seconds_bucket", status="ok", le="2.5") == 2
    assert value(metrics, "newsbrief_fetches_total", status="not_modified") == 1
    assert value(metrics, "newsbrief_fetch_failures_total", stage="fetch") == 1
    assert value(metrics, "newsbrief_fetch_failures_total", stage="parse") == 0
    assert value(metrics, "newsbrief_entries_total", kind="new") == 6
    assert value(metrics, "newsbrief_entries_total", kind="duplicate") == 2
    assert value(metrics, "newsbrief_entries_total", kind="same_story") == 1
    assert value(metrics, "newsbrief_teasers_extracted_total") == 1


def test_a_failure_is_filed_under_the_step_that_failed() -> None:
    assert failure_stage("fetch: HTTP 500") == "fetch"
    assert failure_stage("parse: not a feed (text/html)") == "parse"
    assert failure_stage("internal error: OperationalError()") == "internal"
    assert failure_stage(None) == "internal"


def test_the_304_ratio_is_the_last_cycles_and_survives_a_cycle_with_nothing_answered() -> None:
    metrics = Metrics()
    answered = [
        FeedReport(1, "a", "ok"),
        FeedReport(2, "b", "not_modified"),
        FeedReport(3, "c", "not_modified"),
        FeedReport(4, "d", "not_modified"),
        FeedReport(5, "e", "failed", error="fetch: refused"),
    ]
    metrics.observe_cycle(CycleReport(feeds=answered, elapsed=2.5))
    assert value(metrics, "newsbrief_fetch_not_modified_ratio") == 0.75  # failures excluded
    assert value(metrics, "newsbrief_fetch_cycle_feeds") == 5
    assert value(metrics, "newsbrief_fetch_cycle_duration_seconds") == 2.5
    assert value(metrics, "newsbrief_fetch_cycle_last_end_timestamp_seconds") > 1.7e9

    metrics.observe_cycle(CycleReport(feeds=[FeedReport(5, "e", "failed")], elapsed=0.1))
    metrics.observe_cycle(CycleReport(feeds=[], elapsed=0.0))
    assert value(metrics, "newsbrief_fetch_not_modified_ratio") == 0.75
    assert value(metrics, "newsbrief_fetch_cycles_total") == 3
    assert value(metrics, "newsbrief_fetch_cycle_feeds") == 0


def test_a_job_is_late_once_its_interval_has_passed_since_its_last_run_ended() -> None:
    clock = Clock()
    metrics = Metrics(clock=clock)
    metrics.schedule("fanout", 5.0)
    clock.now += 4.0
    assert metrics.scheduler_lag() == {"fanout": 0.0}
    clock.now += 8.0  # never ran: 12 s after it was scheduled, 7 s past due
    assert metrics.scheduler_lag() == {"fanout": 7.0}
    assert value(metrics, "newsbrief_scheduler_lag_seconds", job="fanout") == 7.0

    with metrics.tick("fanout"):
        clock.now += 30.0  # a long run is not lag: the scheduler is not stuck, the job is busy
        assert metrics.scheduler_lag() == {"fanout": 0.0}
        assert metrics.running_for() == {"fanout": 30.0}
        assert value(metrics, "newsbrief_scheduler_running_seconds", job="fanout") == 30.0
    clock.now += 5.0
    assert metrics.scheduler_lag() == {"fanout": 0.0}
    clock.now += 2.5
    assert metrics.scheduler_lag() == {"fanout": 2.5}
    assert value(metrics, "newsbrief_scheduler_ticks_total", job="fanout") == 1


def test_a_run_that_raises_still_counts_as_ended() -> None:
    clock = Clock()
    metrics = Metrics(clock=clock)
    metrics.schedule("digests", 30.0)
    with pytest.raises(RuntimeError), metrics.tick("digests"):
        clock.now += 1.0
        raise RuntimeError("database away")
    assert metrics.running_for() == {"digests": 0.0}
    clock.now += 31.0
    assert metrics.scheduler_lag() == {"digests": 1.0}


def test_a_job_must_be_declared_with_its_interval_before_it_ticks() -> None:
    with pytest.raises(KeyError, match="schedule"), Metrics().tick("fetch"):
        pass


def test_two_metrics_in_one_process_keep_separate_counts() -> None:
    first, second = Metrics(), Metrics()
    first.observe_feed(FeedReport(1, "u", "ok", new=3))
    assert value(first, "newsbrief_entries_total", kind="new") == 3
    assert value(second, "newsbrief_entries_total", kind="new") == 0
    text = generate_latest(second.registry).decode()
    assert 'newsbrief_entries_total{kind="new"} 0.0' in text
    assert "process_cpu_seconds_total" in text  # the process figures, in its own registry
