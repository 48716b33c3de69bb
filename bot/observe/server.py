"""The HTTP server for ``GET /metrics`` (Prometheus text format) and ``GET /healthz`` (JSON,
200 when healthy, 503 when not), on ``NEWSBRIEF_METRICS_HOST:NEWSBRIEF_METRICS_PORT``.

A stdlib ThreadingHTTPServer in a daemon thread: scrapes and health checks read the database
synchronously in their own thread, so a slow query never stalls the bot's event loop, and the
server needs no event loop of its own (a fetch worker can use it as it is).

Wiring, in the bot (bot/chat/jobs.py) or a fetch worker::

    metrics = Metrics()
    observer = start_observer(settings, engine, metrics, role="worker", fetching=True)
    ...  # run_cycle(on_feed_done=metrics.observe_feed); metrics.observe_cycle(report)
    if observer is not None:
        observer.stop()
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from bot.httpthread import BackgroundHTTPServer
from bot.observe.counters import DELIVERY_FIELDS, DELIVERY_HELP, DeliveryCounters
from bot.observe.health import HealthRules, Probe, Role, Snapshot, evaluate
from bot.observe.metrics import Metrics
from bot.settings import Settings

log = logging.getLogger(__name__)
LIVE_GAUGES = {
    "newsbrief_healthy": "1 when /healthz answers 200, else 0.",
    "newsbrief_database_up": "1 when the database could be read for this scrape, else 0.",
    "newsbrief_feeds_enabled": "Enabled feeds.",
    "newsbrief_feeds_failing": "Enabled feeds whose last fetch failed.",
    "newsbrief_last_successful_fetch_timestamp_seconds": (
        "Unix time of the newest successful fetch (200 or 304) of any feed."
    ),
    "newsbrief_outbox_pending": "Outbox rows not sent yet (due now or backing off).",
    "newsbrief_outbox_due": "Outbox rows that can be sent now.",
    "newsbrief_outbox_oldest_due_seconds": (
        "How long the longest-waiting chat's next message has been due (0 when none)."
    ),
    "newsbrief_delivery_idle_seconds": (
        "Seconds since the delivery worker last sent, retried, skipped or failed a message."
    ),
}


class ObserveServer:
    """Serves /metrics and /healthz for one process until stopped.

    ``role`` is "bot" or "worker"; ``fetching`` says whether this process fetches feeds;
    ``delivery`` returns the delivery worker's counters (omit it where nothing is delivered).
    ``port`` 0 binds a free port (read it from ``.port``). ``rules`` may be replaced while
    running (the tests tighten the thresholds).
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        metrics: Metrics,
        *,
        role: Role,
        fetching: bool = True,
        delivery: Callable[[], DeliveryCounters | None] | None = None,
        rules: HealthRules | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        port = settings.metrics_port if port is None else port
        if port is None:
            raise ValueError("NEWSBRIEF_METRICS_PORT is not set")
        self.metrics = metrics
        self.probe = Probe(engine, metrics, role=role, fetching=fetching, delivery=delivery)
        self.rules = rules or HealthRules.for_settings(settings)
        self._address = (settings.metrics_host if host is None else host, port)
        self._collector = _LiveCollector(self)
        self._server: BackgroundHTTPServer | None = None

    # -- what the endpoints answer ------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        snap, now = self.probe.snapshot()
        return evaluate(snap, now, self.rules)

    def scrape(self) -> bytes:
        return generate_latest(self.metrics.registry)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; raises OSError if the port is taken."""
        handler = type("Handler", (_Handler,), {"observer": self})
        self._server = BackgroundHTTPServer(self._address, handler, name="newsbrief-observe")
        self.metrics.registry.register(self._collector)
        self._server.start()
        log.info("metrics and health on http://%s:%d/", self._address[0], self.port)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self.metrics.registry.unregister(self._collector)
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.port

    @property
    def url(self) -> str:
        host = self._address[0]
        host = "127.0.0.1" if host in ("", "0.0.0.0") else host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"


def start_observer(
    settings: Settings,
    engine: Engine,
    metrics: Metrics,
    *,
    role: Role,
    fetching: bool,
    delivery: Callable[[], DeliveryCounters | None] | None = None,
) -> ObserveServer | None:
    """The started server, or None when NEWSBRIEF_METRICS_PORT is not set."""
    if settings.metrics_port is None:
        return None
    server = ObserveServer(
        settings, engine, metrics, role=role, fetching=fetching, delivery=delivery
    )
    return server.start()


class _Handler(BaseHTTPRequestHandler):
    observer: ObserveServer
    server_version = "newsbrief"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                status, payload, kind = HTTPStatus.OK, self.observer.scrape(), CONTENT_TYPE_LATEST
            elif path == "/healthz":
                healthy, report = self.observer.health()
                status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
                payload = json.dumps(report, ensure_ascii=False).encode()
                kind = "application/json"
            else:
                status, payload, kind = HTTPStatus.NOT_FOUND, b"not found\n", "text/plain"
        except Exception:
            log.exception("observe: %s failed", path)
            status, payload, kind = HTTPStatus.INTERNAL_SERVER_ERROR, b"error\n", "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("observe: " + format, *args)


class _LiveCollector(Collector):
    """Figures read at scrape time: the database (feeds, outbox), the delivery worker's
    counters and the health verdict, from one snapshot."""

    def __init__(self, observer: ObserveServer) -> None:
        self.observer = observer

    def describe(self) -> Iterable[Metric]:
        return _families({}, {})

    def collect(self) -> Iterable[Metric]:
        snap, now = self.observer.probe.snapshot()
        healthy, _ = evaluate(snap, now, self.observer.rules)
        return _families(_gauge_values(snap, now, healthy), _counter_values(snap))


def _gauge_values(snap: Snapshot, now: datetime, healthy: bool) -> dict[str, float | None]:
    db = snap.db
    values: dict[str, float | None] = {
        "newsbrief_healthy": float(healthy),
        "newsbrief_database_up": float(db is not None),
        "newsbrief_delivery_idle_seconds": snap.delivery_idle if snap.delivering else None,
    }
    if db is not None:
        waited = (now - db.oldest_due_at).total_seconds() if db.oldest_due_at else 0.0
        values.update(
            newsbrief_feeds_enabled=db.feeds,
            newsbrief_feeds_failing=db.failing,
            newsbrief_last_successful_fetch_timestamp_seconds=(
                db.last_success_at.timestamp() if db.last_success_at else None
            ),
            newsbrief_outbox_pending=db.outbox_pending,
            newsbrief_outbox_due=db.outbox_due,
            newsbrief_outbox_oldest_due_seconds=max(0.0, waited),
        )
    return values


def _counter_values(snap: Snapshot) -> dict[str, int]:
    if not snap.delivering:
        return {}  # nothing is delivered here: the counters stay empty rather than 0
    return {name: (snap.delivery or {}).get(name, 0) for name in DELIVERY_FIELDS}


def _families(gauges: dict[str, float | None], counters: dict[str, int]) -> list[Metric]:
    """Every scrape-time family; a value left out (or None) leaves its family empty."""
    families: list[Metric] = []
    for name, doc in LIVE_GAUGES.items():
        family = GaugeMetricFamily(name, doc)
        value = gauges.get(name)
        if value is not None:
            family.add_metric([], value)
        families.append(family)
    for name in DELIVERY_FIELDS:
        counter = CounterMetricFamily(f"newsbrief_delivery_{name}", DELIVERY_HELP[name])
        if name in counters:
            counter.add_metric([], counters[name])
        families.append(counter)
    return families
