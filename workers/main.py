"""Entry point for the ``celery`` command line: ``celery -A workers.main worker``/``flower``.

This is the one place a worker process turns its environment into an app.
"""

from shared.metrics_dir import use_multiprocess_dir

use_multiprocess_dir("worker")  # before anything imports prometheus_client (shared.metrics)

from shared.config import Settings  # noqa: E402
from workers.celery_app import make_celery  # noqa: E402

app = make_celery(Settings.from_env())
