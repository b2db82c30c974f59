"""The API's HTTP server: granian serving ``api:create_app()`` (``python -m cli.api_server``).

Granian parses HTTP and writes answers in Rust, outside the GIL; gunicorn did both in Python
and spent more CPU on them than the app spent on a Get (``make bench-api``: a Get cost
1.0–1.2 ms of CPU under gunicorn's ``gthread``, 0.6–0.7 ms under granian, same app).

Outside ``api/`` on purpose: importing the ``api`` package imports ``prometheus_client``,
which must find the metrics folder (``shared.metrics_dir``) already set. This process makes
it, the worker processes it forks write their metrics there, and it is removed when this
process ends. The API has no live gauges, so a worker that exits needs no marking: its
counters and histograms stay in the sum, as prometheus_client's multiprocess mode asks.
"""

from __future__ import annotations

import argparse
import signal
import sys

from shared.metrics_dir import use_multiprocess_dir

#: Seconds a stopping worker may finish its requests before it is killed.
STOP_GRACE_S = 5


def log_config(log_format: str) -> dict:
    """granian's logging: in JSON (``shared.logs``) when asked, its own lines otherwise."""
    if log_format != "json":
        return {}
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
    return {
        "formatters": {"json": {"()": "shared.logs.JsonFormatter"}},
        "handlers": {"console": {**handler, "formatter": "json"}},
        "loggers": {"_granian": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }


def app():
    """The app of one server process (granian's factory), with its access line; made, then
    its objects frozen out of the garbage collector's sight. They live as long as the
    process, and each full collection walked all of them: a pause of milliseconds in the
    middle of requests.

    Until granian sets its own, the process holds the stop handler it was forked with, the
    main process's, which does nothing here: a stop that came while the app loads was lost.
    A stop during the load now ends the process, which is serving nothing yet.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import gc

    from api import create_app
    from api.access_log import PlainAccessLog

    made = create_app()
    if made.extensions["mcfarm"].settings.log_format != "json":  # JSON: the app writes it
        made = PlainAccessLog(made, sys.stdout.fileno())
    gc.collect()
    gc.freeze()
    return made


def serve(bind: str, workers: int, threads: int, log_format: str) -> None:
    use_multiprocess_dir("api")
    from granian.constants import Interfaces
    from granian.server import Server

    host, _, port = bind.rpartition(":")
    Server(
        "cli.api_server:app",
        factory=True,
        interface=Interfaces.WSGI,
        address=host.strip("[]") or "0.0.0.0",
        port=int(port),
        workers=workers,
        blocking_threads=threads,
        respawn_failed_workers=True,
        # A worker still starting when the stop comes misses it (it holds the handler it
        # was forked with); after this many seconds it is killed instead of waited for.
        workers_kill_timeout=STOP_GRACE_S,
        # The access line is the app's (api/access_log.py), plain or in JSON.
        log_access=False,
        log_dictconfig=log_config(log_format) or None,
    ).serve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcfarm api", description=__doc__.splitlines()[0])
    parser.add_argument("--bind", required=True, help="host:port")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--log-format", choices=("plain", "json"), default="plain")
    args = parser.parse_args(argv)
    serve(args.bind, args.workers, args.threads, args.log_format)
    return 0


if __name__ == "__main__":
    sys.exit(main())
