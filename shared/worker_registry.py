"""Live workers: each announces itself, and the task ids it holds, with short-lived keys.

Keys (named in ``shared.keys``): ``worker:{host}`` (what the worker can do, and when it was last
seen) and ``holding:{host}`` (the task ids it holds), both expiring unless renewed.
``/readyz``, ``GET /v1/workers``, GPU routing and the lost-message watchdog read them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from shared import keys
from shared.clock import now_us
from shared.routing import WorkerCaps

WORKER_TTL_S = 15


class WorkerRegistry:
    """Workers announce themselves with a short-lived key; ``/readyz`` counts them."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def beat(self, hostname: str, info: Mapping[str, Any]) -> None:
        """Announce (again) a live worker and what it can do: queues, concurrency, FFmpeg…"""
        self.redis.set(
            keys.worker(hostname),
            json.dumps({**info, "hostname": hostname, "seen_us": now_us()}),
            ex=WORKER_TTL_S,
        )

    def drop(self, hostname: str) -> None:
        self.redis.delete(keys.worker(hostname), keys.holding(hostname))

    def hold(self, hostname: str, task_ids: Iterable[str], ttl_s: float) -> None:
        """Announce the ids of the tasks a worker holds now (running, reserved, waiting for
        their countdown); the announcement lapses after ``ttl_s`` unless renewed."""
        self.redis.set(keys.holding(hostname), json.dumps(sorted(task_ids)), px=int(ttl_s * 1000))

    def held(self) -> set[str]:
        """The ids of the tasks that some live worker holds."""
        ids: set[str] = set()
        for key in self.redis.scan_iter(match=keys.HOLDING_PATTERN, count=100):
            raw = self.redis.get(key)
            if raw:
                ids.update(json.loads(raw))
        return ids

    def alive(self) -> list[dict[str, Any]]:
        """What every live worker announced (``describe_worker``), with its ``hostname``."""
        found = []
        for key in self.redis.scan_iter(match=keys.WORKERS_PATTERN, count=100):
            raw = self.redis.get(key)
            if raw:
                found.append(json.loads(raw))
        return found

    def caps(self) -> list[WorkerCaps]:
        """The live workers as the routing decision reads them."""
        return [WorkerCaps.from_info(info) for info in self.alive() if "hostname" in info]

    def caps_of(self, hostname: str) -> WorkerCaps | None:
        """What one live worker announced, or None when it has not (or no longer)."""
        raw = self.redis.get(keys.worker(hostname))
        return WorkerCaps.from_info(json.loads(raw)) if raw else None
