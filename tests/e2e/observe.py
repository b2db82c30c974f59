"""Waiting for what a test can see, instead of sleeping and hoping (STYLE 31).

A test that sleeps for a fixed time passes or fails with the machine's speed: on a loaded
machine the thing it waited for has not happened yet, and "nothing happened in 3 s" proves
nothing about second 4. Tests here wait for an observable condition instead (a state, a
log line, a held set, a count), with a deadline that only bounds a hang, and prove that
something did not happen by an ordering: a later event that would have come after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

import pytest

from shared.stores import Stores
from tests.servers.farm import FarmInfo, dump_logs

T = TypeVar("T")

#: How long a wait may take before it counts as a hang: far above any healthy wait, even on
#: a loaded 2-core machine. Reaching it fails the test; it never makes one pass.
HANG_S = 120


def wait_until(
    check: Callable[[], T],
    what: str,
    *,
    timeout: float = HANG_S,
    interval: float = 0.1,
    farm: FarmInfo | None = None,
) -> T:
    """Call ``check`` until it returns something truthy, and return that.

    Args:
        what: the condition, for the failure message ("the output is Running").
        timeout: bounds a hang only; keep it generous.
        farm: whose logs to show on a timeout.

    Raises:
        pytest.fail.Exception: ``check`` stayed falsy for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            logs = f"\n{dump_logs(farm.log_dir)}" if farm else ""
            pytest.fail(f"not seen within {timeout} s: {what}{logs}")
        time.sleep(interval)
    return found


def log_lines(path: Path, *needles: str) -> list[str]:
    """The lines of a log file that hold every one of ``needles`` (none if it is missing)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if all(n in line for n in needles)]


def encoded_again(log_dir: Path, job_id: str) -> list[str]:
    """The worker log lines of Boost chunks of ``job_id`` encoded a second time because their
    first encode had the wrong frame count (``workers.boost``)."""
    return [
        line for log in log_dir.glob("*.log") for line in log_lines(log, job_id, "more lead-in")
    ]


@cache
def farm_stores(redis_url: str) -> Stores:
    """The stores of a running farm (one client per farm for the whole session)."""
    return Stores.connect(redis_url)


def held_jobs(farm: FarmInfo, owner: str, pipeline_id: str) -> list[str]:
    """The jobs a paused pipeline holds, in release order (``PipelineStore.held``)."""
    return farm_stores(farm.env["MCFARM_REDIS_URL"]).pipelines.held(owner, pipeline_id)


def last_at_least(seconds: float, since: float) -> None:
    """Sleep what is left of ``seconds`` since ``since`` (``time.monotonic()``).

    For an outage a scenario says lasts that long: its length is what the test is about,
    not a wait for something to happen (wait for that with ``wait_until`` first).
    """
    time.sleep(max(0.0, seconds - (time.monotonic() - since)))
