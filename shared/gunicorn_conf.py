"""gunicorn's configuration for the API (``gunicorn -c python:shared.gunicorn_conf``).

Outside ``api/`` on purpose: importing the ``api`` package would import
``prometheus_client`` before the metrics folder is set (``shared.metrics_dir``). The master
makes the folder, every API process it forks writes its metrics there, and a process that
exits is marked dead, as prometheus_client's multiprocess mode asks.
"""

from shared.metrics_dir import use_multiprocess_dir

use_multiprocess_dir("api")


def child_exit(server, worker) -> None:
    from shared.metrics import process_ended

    process_ended(worker.pid)
