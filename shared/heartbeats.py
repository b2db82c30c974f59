"""Heartbeats of running outputs, and the watchdog's requeue outbox, in Redis.

Every running unit (an output, or a part of a split one: ``shared.units``) beats
(``workers.watchdog.heartbeat``); any worker's watchdog finds the silent ones (``stale``),
takes them back (``take_back``: the unit goes back to ``Scheduled`` and into the outbox in
one transaction) and requeues them; an output leaves
the outbox once its new message is sent (``sent_back``), so a send that failed is tried
again by the next sweep.

Layout (key names in ``shared.keys``; members are ``Unit.member``, ``job_id:index[:part]``):
``running`` (unit → last heartbeat, µs),
``running-on`` (→ the worker), ``running-run`` (→ the run that owns the heartbeat),
``requeue`` (the outbox), ``watchdog-lock`` (the worker whose watchdog runs this round).
"""

from __future__ import annotations

import json
import uuid

import redis

from shared import keys
from shared.clock import now_us
from shared.redis_tx import transaction
from shared.units import Unit

# KEYS: run owners, heartbeats, workers; ARGV: member, run ("" = any), now, worker.
_BEAT = """
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[4]) end
return 1
"""

_UNBEAT = """
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

_KEYS = (keys.RUN_OWNER, keys.RUNNING, keys.RUNNING_ON)


def _member(job_id: str, index: int, part: str = "") -> str:
    return Unit(job_id, index, part).member


class Heartbeats:
    """Which run owns each running output, when it last beat, and the requeue outbox."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    # --- heartbeats -------------------------------------------------------------------

    def start_beating(self, job_id: str, index: int, worker: str = "", part: str = "") -> str:
        """Make a new run the owner of an output's heartbeat and beat once; returns its id.

        Only the owner's ``beat`` and ``unbeat`` count, so a run that the watchdog gave up
        on (and requeued) cannot keep the output looking alive or remove its successor's
        heartbeat when it wakes up.
        """
        member, run = _member(job_id, index, part), uuid.uuid4().hex
        with self.redis.pipeline() as pipe:
            pipe.hset(keys.RUN_OWNER, member, run)
            pipe.zadd(keys.RUNNING, {member: now_us()})
            if worker:
                pipe.hset(keys.RUNNING_ON, member, worker)
            pipe.execute()
        return run

    def beat(
        self, job_id: str, index: int, worker: str = "", run: str | None = None, part: str = ""
    ) -> bool:
        """Mark an output as alive now; the watchdog requeues outputs that stop beating.

        Args:
            run: the id ``start_beating`` returned; the beat counts only while that run
                still owns the output (None: beat unconditionally).

        Returns:
            False when ``run`` no longer owns the output (nothing was written).
        """
        member = _member(job_id, index, part)
        return bool(self.redis.eval(_BEAT, 3, *_KEYS, member, run or "", now_us(), worker))

    def owner(self, job_id: str, index: int, part: str = "") -> str | None:
        """The id of the run that owns a unit's heartbeat now (None: no run)."""
        return self.redis.hget(keys.RUN_OWNER, _member(job_id, index, part))

    def unbeat(self, job_id: str, index: int, run: str | None = None, part: str = "") -> None:
        """Forget a unit's heartbeat (only if ``run`` still owns it, when given)."""
        self.redis.eval(_UNBEAT, 3, *_KEYS, _member(job_id, index, part), run or "")

    def has_beat(self, job_id: str, index: int, part: str = "") -> bool:
        """Whether some run beats (or beat, and the watchdog has not yet seen it stop)."""
        return self.redis.zscore(keys.RUNNING, _member(job_id, index, part)) is not None

    def running_on(self) -> dict[str, list[Unit]]:
        """Worker hostname → the units (outputs, or parts of split ones) it runs now."""
        tasks: dict[str, list[Unit]] = {}
        for member, worker in self.redis.hgetall(keys.RUNNING_ON).items():
            tasks.setdefault(worker, []).append(Unit.parse(member))
        return tasks

    def stale(self, older_than_us: int) -> list[Unit]:
        """Units whose last heartbeat is older than ``older_than_us``."""
        members = self.redis.zrangebyscore(keys.RUNNING, "-inf", older_than_us)
        return [Unit.parse(m) for m in members]

    def lead(self, worker: str, interval_s: float) -> bool:
        """Become the worker whose watchdog runs for the next ``interval_s``; False when
        another worker already is."""
        lease = int(interval_s * 1000)
        return bool(self.redis.set(keys.WATCHDOG_LOCK, worker or "1", nx=True, px=lease))

    # --- the requeue outbox ---------------------------------------------------------------

    def take_back(self, job_id: str, index: int, part: str = "") -> bool:
        """``Running`` → ``Scheduled`` and into the requeue outbox, in one transaction.

        Returns:
            False when the unit was not running (it ended, or was taken back already).
        """
        unit = Unit(job_id, index, part)
        key, field_name = keys.job(job_id), unit.detail_field

        def body(pipe) -> bool:
            detail = json.loads(pipe.hget(key, field_name) or "{}")
            if detail.get("Status") != "Running":
                return False
            detail["Status"] = "Scheduled"
            pipe.multi()
            pipe.hset(key, field_name, json.dumps(detail))
            pipe.zadd(keys.REQUEUE, {unit.member: now_us()})
            return True

        return transaction(self.redis, body, key)

    def taken_back(self) -> list[Unit]:
        """The units in the requeue outbox, oldest first."""
        return [Unit.parse(m) for m in self.redis.zrange(keys.REQUEUE, 0, -1)]

    def is_taken_back(self, job_id: str, index: int, part: str = "") -> bool:
        return self.redis.zscore(keys.REQUEUE, _member(job_id, index, part)) is not None

    def sent_back(self, job_id: str, index: int, part: str = "") -> None:
        """The unit's new message is sent: out of the outbox."""
        self.redis.zrem(keys.REQUEUE, _member(job_id, index, part))
