"""Live workers: each announces itself, and the task ids it holds, with short-lived keys.

Keys (named in ``shared.keys``): ``worker:{host}`` (what the worker can do, and when it was
last seen) and ``holding:{host}`` (the task ids it holds), both expiring unless renewed, and
``workers``, the hosts by their announcement's expiry, so that readers look up the few live
workers by name instead of scanning the whole keyspace. ``/readyz``, ``GET /v1/workers``,
the routing decision of every job and the lost-message watchdog read them.
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
#: A host that has not announced itself for this long leaves the ``workers`` index.
FORGET_AFTER_S = 3600


class WorkerRegistry:
    """Workers announce themselves with a short-lived key; ``/readyz`` counts them."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def beat(self, hostname: str, info: Mapping[str, Any]) -> None:
        """Announce (again) a live worker and what it can do: queues, concurrency, FFmpeg…"""
        now = now_us()
        with self.redis.pipeline() as pipe:
            pipe.set(
                keys.worker(hostname),
                json.dumps({**info, "hostname": hostname, "seen_us": now}),
                ex=WORKER_TTL_S,
            )
            pipe.zadd(keys.WORKERS, {hostname: now / 1e6 + WORKER_TTL_S})
            pipe.zremrangebyscore(keys.WORKERS, "-inf", now / 1e6 - FORGET_AFTER_S)
            pipe.execute()

    def drop(self, hostname: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.worker(hostname), keys.holding(hostname))
            pipe.zrem(keys.WORKERS, hostname)
            pipe.execute()

    def _announced(self, key, hosts: list[str]) -> list[Any]:
        """The JSON values of ``key(host)`` for ``hosts``, where they have not expired."""
        raws = self.redis.mget([key(host) for host in hosts]) if hosts else []
        return [json.loads(raw) for raw in raws if raw]

    def hold(self, hostname: str, task_ids: Iterable[str], ttl_s: float) -> None:
        """Announce the ids of the tasks a worker holds now (running, reserved, waiting for
        their countdown); the announcement lapses after ``ttl_s`` unless renewed."""
        self.redis.set(keys.holding(hostname), json.dumps(sorted(task_ids)), px=int(ttl_s * 1000))

    def held(self) -> set[str]:
        """The ids of the tasks that some worker holds (its announcement has not lapsed)."""
        hosts = self.redis.zrange(keys.WORKERS, 0, -1)
        return {task for ids in self._announced(keys.holding, hosts) for task in ids}

    def alive(self) -> list[dict[str, Any]]:
        """What every live worker announced (``describe_worker``), with its ``hostname``."""
        hosts = self.redis.zrangebyscore(keys.WORKERS, now_us() / 1e6, "+inf")
        return self._announced(keys.worker, hosts)

    def caps(self) -> list[WorkerCaps]:
        """The live workers as the routing decision reads them."""
        return [WorkerCaps.from_info(info) for info in self.alive() if "hostname" in info]

    def caps_of(self, hostname: str) -> WorkerCaps | None:
        """What one live worker announced, or None when it has not (or no longer)."""
        raw = self.redis.get(keys.worker(hostname))
        return WorkerCaps.from_info(json.loads(raw)) if raw else None
