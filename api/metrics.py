"""``/metrics``: the API's Prometheus metrics, and what the farm is, read from Redis.

Answered only with ``Authorization: Bearer {MCFARM_METRICS_TOKEN}``; with no token set the
endpoint is off (404), so metrics are never open by default. A scrape shows every API
process's counters (``shared.metrics``, summed across the API's processes) and, read at
that moment, the farm's state: messages waiting per kind of queue (every priority list of
every fair-share slot), messages reserved by workers (unacknowledged), live workers per
queue kind, and dead-lettered event deliveries.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.operations import Operation
from api.turns import RECEIVED
from shared import metrics
from shared.errors import ApiError
from shared.routing import KINDS
from shared.stores import Stores

blp = Blueprint("metrics", __name__)


class FarmCollector(Collector):
    """The farm's state from Redis, at scrape time."""

    def __init__(self, stores: Stores):
        self.stores = stores

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily(
            "mcfarm_queue_waiting_tasks",
            "Messages waiting for a worker (every priority and fair-share list)",
            labels=["kind"],
        )
        for kind, count in self.stores.queues.waiting().items():
            waiting.add_metric([kind], count)
        reserved = GaugeMetricFamily(
            "mcfarm_queue_reserved_tasks",
            "Messages a worker took and has not acknowledged (running or reserved)",
            labels=["kind"],
        )
        for kind, count in self.stores.queues.reserved().items():
            reserved.add_metric([kind], count)
        alive = GaugeMetricFamily(
            "mcfarm_workers_alive", "Live workers, by the queue kind they serve", labels=["queue"]
        )
        announced = self.stores.workers.caps()
        for kind in KINDS:
            alive.add_metric([kind], sum(1 for caps in announced if kind in caps.queues))
        dead = GaugeMetricFamily(
            "mcfarm_callbacks_dead_letters", "Event deliveries dead-lettered now (kept 7 days)"
        )
        dead.add_metric([], self.stores.events.dead_count())
        yield from (waiting, reserved, alive, dead)


def instrument(app: Flask) -> None:
    """Count and time every request by its route template, method and status."""

    @app.before_request
    def _start_clock():
        # From when the request reached the app, its wait for a turn included.
        g.started = request.environ.get(RECEIVED) or time.perf_counter()

    #: (route, method, status) → its counter and histogram: labels() takes a lock per call.
    series: dict[tuple[str, str, int], tuple] = {}

    @app.after_request
    def _count(response):
        req = request._get_current_object()  # one proxy lookup, not one per use
        rule, method, status = req.url_rule, req.method, response.status_code
        route = rule.rule if rule is not None else "unmatched"
        found = series.get((route, method, status))
        if found is None:
            found = series.setdefault(
                (route, method, status),
                (
                    metrics.API_REQUESTS.labels(route, method, str(status)),
                    metrics.API_LATENCY.labels(route, method),
                ),
            )
        count, latency = found
        count.inc()
        if (started := g.get("started")) is not None:
            latency.observe(time.perf_counter() - started)
        return response


class MetricsOff(ApiError):
    code = "NotFound"
    http_status = 404


class MetricsRefused(ApiError):
    code = "Forbidden.Metrics"
    http_status = 403


@blp.get("/metrics")
@Operation("Prometheus metrics (bearer token)", public=True, documented=False)
def scrape():
    farm = current_app.extensions["mcfarm"]
    token = farm.settings.metrics_token
    refusal = metrics.bearer_refusal(request.headers.get("Authorization"), token, required=True)
    if refusal is not None:
        raise (MetricsRefused if token else MetricsOff)(refusal)
    body = metrics.exposition(FarmCollector(farm.stores))
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
