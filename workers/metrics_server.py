"""A worker node's metrics port (``mcfarm worker --metrics-port``): its processes' metrics.

Started in the worker's main process when ``MCFARM_WORKER_METRICS_PORT`` is set, on
``MCFARM_WORKER_METRICS_ADDRESS`` (127.0.0.1 unless told otherwise); with
``MCFARM_METRICS_TOKEN`` set, a scrape must carry it as a bearer token. It shows the sum of
the main process's and every pool process's metrics (``shared.metrics``).
"""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import ThreadingWSGIServer

from shared import metrics
from shared.config import Settings

log = logging.getLogger(__name__)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base's name)
        """Scrapes every few seconds would drown the worker's log."""


def metrics_app(token: str | None):
    """The WSGI app of the port: ``/metrics`` (bearer ``token`` when set), nothing else."""

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"only /metrics here\n"]
        refusal = metrics.bearer_refusal(environ.get("HTTP_AUTHORIZATION"), token, required=False)
        if refusal is not None:
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [refusal.encode() + b"\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [metrics.exposition()]

    return app


def serve_metrics(settings: Settings) -> ThreadingWSGIServer | None:
    """Serve the port in a daemon thread, if one is set; the server (to shut it down)."""
    if not settings.worker_metrics_port:
        return None
    server = make_server(
        settings.worker_metrics_address,
        settings.worker_metrics_port,
        metrics_app(settings.metrics_token),
        ThreadingWSGIServer,
        handler_class=_Quiet,
    )
    threading.Thread(target=server.serve_forever, name="mcfarm-metrics", daemon=True).start()
    log.info(
        "metrics on http://%s:%d/metrics",
        settings.worker_metrics_address,
        settings.worker_metrics_port,
    )
    return server
