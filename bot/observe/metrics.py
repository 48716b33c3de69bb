"""Prometheus metrics of one newsbrief process, in a registry of its own.

Every :class:`Metrics` owns a ``CollectorRegistry`` instead of prometheus-client's global
default one: two applications in one process (the tests start many bots) never collide, and
nothing is registered as a side effect of an import.

Two kinds of figures live here:

- pushed as things happen: each feed refresh (``observe_feed``, given to
  ``Ingestor.run_cycle(on_feed_done=...)``), each fetch cycle (``observe_cycle``) and each run
  of a periodic job (``tick``);
- read when Prometheus scrapes: how late each periodic job is (``scheduler_lag``). The
  database figures (feeds, outbox) and the delivery worker's counters are added by the
  observe server's own collector (bot/observe/server.py), which reads them at scrape time so
  that bot/chat/delivery.py needs no hooks.

Scheduler lag is how far past its due time each job is *now*: seconds since the end of its
last run minus its interval (0 while a run is in progress). A lag measured inside the job
("this run started 3 s late") cannot see a scheduler that has stopped, because a job that
never runs never reports; this one keeps growing until the job runs again, which is what the
health check needs. A fetch cycle longer than the tick does not count as lag: the
scheduler's next run comes within one interval of the end of the last one (max_instances=1).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from bot.ingest.records import CycleReport, FeedReport

# Refreshing one feed: a 304 takes milliseconds, a big feed on a slow host tens of seconds.
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
ENTRY_KINDS = ("new", "duplicate", "same_story")
FETCH_STATUSES = ("ok", "not_modified", "failed")
FAILURE_STAGES = ("fetch", "parse", "internal")


def failure_stage(error: str | None) -> str:
    """Which step a failed refresh stopped at, from the reason the pipeline recorded."""
    text = error or ""
    for stage in ("fetch", "parse"):
        if text.startswith(f"{stage}:"):
            return stage
    return "internal"


@dataclass(slots=True)
class _Job:
    interval: float
    last_end: float  # clock() when the last run ended (or when the job was scheduled)
    running_since: float | None = None


class Metrics:
    """The metrics of one process (a bot or a fetch worker)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = CollectorRegistry()
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        r = self.registry
        # Process figures (CPU, memory, open files, start time), as the default registry has.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

        self.fetch_duration = Histogram(
            "newsbrief_fetch_duration_seconds",
            "Time to refresh one feed (fetch, parse, clean, store), by outcome.",
            ["status"],
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        self.fetches = Counter(
            "newsbrief_fetches",
            "Feed refreshes by outcome: ok, not_modified (HTTP 304), failed.",
            ["status"],
            registry=r,
        )
        self.fetch_failures = Counter(
            "newsbrief_fetch_failures",
            "Failed feed refreshes by the step that failed: fetch, parse, internal.",
            ["stage"],
            registry=r,
        )
        self.entries = Counter(
            "newsbrief_entries",
            "Feed entries by decision: new (stored), duplicate (not stored), same_story "
            "(stored and attached to an existing story; also counted in new).",
            ["kind"],
            registry=r,
        )
        self.extracted = Counter(
            "newsbrief_teasers_extracted",
            "Teaser entries whose article page was fetched and its text extracted.",
            registry=r,
        )
        self.cycles = Counter(
            "newsbrief_fetch_cycles",
            "Fetch cycles run (including cycles with no feed due).",
            registry=r,
        )
        self.cycle_feeds = Gauge(
            "newsbrief_fetch_cycle_feeds", "Feeds refreshed by the last fetch cycle.", registry=r
        )
        self.cycle_duration = Gauge(
            "newsbrief_fetch_cycle_duration_seconds",
            "Duration of the last fetch cycle.",
            registry=r,
        )
        self.cycle_end = Gauge(
            "newsbrief_fetch_cycle_last_end_timestamp_seconds",
            "Unix time at which the last fetch cycle ended.",
            registry=r,
        )
        self.not_modified_ratio = Gauge(
            "newsbrief_fetch_not_modified_ratio",
            "Share of the last cycle's answered fetches that were HTTP 304 (not_modified / "
            "(ok + not_modified)); unchanged by cycles without an answered fetch.",
            registry=r,
        )
        self.ticks = Counter(
            "newsbrief_scheduler_ticks", "Runs of each periodic job.", ["job"], registry=r
        )
        for status in FETCH_STATUSES:
            self.fetches.labels(status)
        for stage in FAILURE_STAGES:
            self.fetch_failures.labels(stage)
        for kind in ENTRY_KINDS:
            self.entries.labels(kind)
        r.register(_SchedulerCollector(self))

    # -- fetching ---------------------------------------------------------------------------

    def observe_feed(self, report: FeedReport) -> None:
        """One feed refreshed (pass as ``run_cycle(on_feed_done=metrics.observe_feed)``)."""
        self.fetch_duration.labels(report.status).observe(report.elapsed)
        self.fetches.labels(report.status).inc()
        if report.status == "failed":
            self.fetch_failures.labels(failure_stage(report.error)).inc()
        self.entries.labels("new").inc(report.new)
        self.entries.labels("duplicate").inc(report.duplicate)
        self.entries.labels("same_story").inc(report.same_story)
        self.extracted.inc(report.extracted)

    def observe_cycle(self, report: CycleReport) -> None:
        """A fetch cycle ended (its feeds were already counted one by one by observe_feed)."""
        self.cycles.inc()
        self.cycle_feeds.set(len(report.feeds))
        self.cycle_duration.set(report.elapsed)
        self.cycle_end.set(time.time())
        ok, not_modified = report.count("ok"), report.count("not_modified")
        if ok + not_modified:
            self.not_modified_ratio.set(not_modified / (ok + not_modified))

    # -- periodic jobs ----------------------------------------------------------------------

    def schedule(self, job: str, interval: float) -> None:
        """Declare a periodic job: from now on it is late if it does not run every
        ``interval`` seconds."""
        with self._lock:
            self._jobs[job] = _Job(interval=interval, last_end=self._clock())
        self.ticks.labels(job)

    @contextlib.contextmanager
    def tick(self, job: str) -> Iterator[None]:
        """Wrap each run of a periodic job (declared first with ``schedule``: without its
        interval, no lag could be told from a pause between runs)."""
        with self._lock:
            state = self._jobs.get(job)
            if state is None:
                raise KeyError(f"job {job!r} was not declared with Metrics.schedule()")
            state.running_since = self._clock()
        self.ticks.labels(job).inc()
        try:
            yield
        finally:
            with self._lock:
                state.running_since = None
                state.last_end = self._clock()

    def scheduler_lag(self) -> dict[str, float]:
        """Seconds each job is past its due time now (0 while it runs or when on time)."""
        now = self._clock()
        with self._lock:
            return {
                name: 0.0
                if job.running_since is not None
                else max(0.0, now - job.last_end - job.interval)
                for name, job in self._jobs.items()
            }

    def running_for(self) -> dict[str, float]:
        """Seconds the current run of each job has lasted (0 when it is not running)."""
        now = self._clock()
        with self._lock:
            return {
                name: 0.0 if job.running_since is None else now - job.running_since
                for name, job in self._jobs.items()
            }


class _SchedulerCollector(Collector):
    """Scheduler lag and run time, computed at scrape time (see the module docstring)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return self._families({}, {})

    def collect(self) -> Iterable[Metric]:
        return self._families(self.metrics.scheduler_lag(), self.metrics.running_for())

    @staticmethod
    def _families(lag: dict[str, float], running: dict[str, float]) -> list[Metric]:
        lag_family = GaugeMetricFamily(
            "newsbrief_scheduler_lag_seconds",
            "Seconds each periodic job is past its due time (grows while it does not run).",
            labels=["job"],
        )
        running_family = GaugeMetricFamily(
            "newsbrief_scheduler_running_seconds",
            "Seconds the current run of each periodic job has lasted (0 when idle).",
            labels=["job"],
        )
        for job, value in sorted(lag.items()):
            lag_family.add_metric([job], value)
        for job, value in sorted(running.items()):
            running_family.add_metric([job], value)
        return [lag_family, running_family]
