"""gunicorn's configuration for the API (``gunicorn -c python:shared.gunicorn_conf``).

Outside ``api/`` on purpose: importing the ``api`` package would import
``prometheus_client`` before the metrics folder is set (``shared.metrics_dir``). The master
makes the folder, every API process it forks writes its metrics there, and a process that
exits is marked dead, as prometheus_client's multiprocess mode asks. With
``MCFARM_LOG_FORMAT=json`` gunicorn's own log lines are JSON too.
"""

import os

from shared.metrics_dir import use_multiprocess_dir

use_multiprocess_dir("api")

if os.environ.get("MCFARM_LOG_FORMAT") == "json":
    # gunicorn's own lines (start, workers booting, errors) as JSON too (shared.logs).
    # Its loggers keep to their own handlers (its defaults also send them up to the root's,
    # which doubled every line).
    logconfig_dict = {
        "formatters": {"generic": {"()": "shared.logs.JsonFormatter"}},
        "loggers": {
            name: {"level": "INFO", "handlers": [handler], "propagate": False, "qualname": name}
            for name, handler in (
                ("gunicorn.error", "error_console"),
                ("gunicorn.access", "console"),
            )
        },
    }


def child_exit(server, worker) -> None:
    from shared.metrics import process_ended

    process_ended(worker.pid)
