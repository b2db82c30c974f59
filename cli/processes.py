"""The command lines of the farm's long-running processes, in one place.

``mcfarm api|worker|flower`` exec them, ``mcfarm up`` supervises them, and the end-to-end
tests start them, so all three run the farm the same way.
"""

from __future__ import annotations

import sys


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers.main", *args]


def api_argv(
    bind: str, workers: int = 2, threads: int = 8, *, log_format: str = "plain"
) -> list[str]:
    """The API's server (``cli.api_server``: granian serving ``api:create_app()``):
    ``workers`` processes of ``threads`` threads, logging in ``log_format``
    (``MCFARM_LOG_FORMAT``).

    Threads, not one request per process: a failed authentication is answered late
    (api/throttle.py ``FailureDelay``), and that wait must not hold a whole process.
    ``threads`` must be ``MCFARM_API_THREADS``, which sizes that wait. A few suffice: every
    thread past the requests a process has CPU for only queues them on the GIL.
    """
    return [
        sys.executable,
        "-m",
        "cli.api_server",
        *("--bind", bind, "--workers", str(workers), "--threads", str(threads)),
        *("--log-format", log_format),
    ]


def worker_argv(
    name: str, queues: str = "cpu", concurrency: int = 0, loglevel: str = "INFO"
) -> list[str]:
    """A Celery worker consuming ``queues``; ``concurrency`` 0 means one process per core."""
    argv = _celery(
        "worker",
        "-Q",
        queues,
        "-n",
        name,
        "-l",
        loglevel,
        "-E",
        "--without-mingle",
        "--without-gossip",
    )
    return argv + (["-c", str(concurrency)] if concurrency else [])


def flower_argv(port: int, address: str = "127.0.0.1") -> list[str]:
    """Flower's command line. Its password never goes here (``ps`` shows argv to every
    user): ``mcfarm flower`` hands it over as ``FLOWER_BASIC_AUTH``, which Flower reads."""
    return _celery("flower", f"--port={port}", f"--address={address}")
