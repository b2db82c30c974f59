"""Entry point for the ``celery`` command line: ``celery -A workers.main worker``/``flower``.

This is the one place a worker process turns its environment into an app.
"""

from shared.config import Settings
from workers.celery_app import make_celery

app = make_celery(Settings.from_env())
