"""The folder where a process group's metrics live (``shared.metrics``), made before they exist.

Kept apart from ``shared.metrics`` because it must run before the farm's metrics are made:
``prometheus_client`` picks how a metric keeps its value (in memory, or in the folder) from
``PROMETHEUS_MULTIPROC_DIR`` when its ``values`` module is imported, so where that happened
already, the choice is made again. ``workers.main`` and ``cli.api_server`` call it
first thing.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess_dir(role: str) -> None:
    """Give this process group a fresh metrics folder, inherited by the processes it forks,
    unless the operator named one (then it is theirs to empty at start, as prometheus_client
    asks). The folder is removed when the process that made it exits."""
    if os.environ.get(MULTIPROC_ENV):
        return
    folder = tempfile.mkdtemp(prefix=f"mcfarm-metrics-{role}-")
    os.environ[MULTIPROC_ENV] = folder
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        # Imported already (the celery command loads Flower's plugin, which imports
        # prometheus_client): metrics made from now on write to the folder.
        values.ValueClass = values.get_value_class()
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
