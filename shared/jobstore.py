"""The Redis job store: the one source of truth about every job.

Layout (all keys under ``mcfarm:``):

- ``job:{id}`` hash — ``owner``, ``doc`` (the submitted JobId/Config/UserData/… as JSON),
  ``specs`` (the planned ``OutputSpec`` list), ``create_us``, ``state``, ``code``,
  ``message``, ``finish_us``; per output ``out:{i}`` (its ``OutputDetail`` as JSON) and
  ``pct:{i}`` (its progress); per input ``probe:{i}`` (cached ffprobe JSON).
  Each worker writes only its own output's fields, so concurrent outputs never race.
- ``token:{owner}:{ClientToken}`` → job id (the idempotency index).
- ``idx:{owner}:all`` and ``idx:{owner}:state:{State}`` — sorted sets whose members are
  ``{create_us:020d}:{job_id}`` at score 0, so ``ZRANGEBYLEX`` pages in creation order
  with the last member as an exact, duplicate-free cursor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from shared.clock import now_us, wire_time
from shared.planning import GroupSpec, OutputSpec
from shared.redis_tx import transaction

PREFIX = "mcfarm:"
JOB_STATES = ("Inited", "Running", "Complete", "Error", "Cancelled")
TERMINAL_JOB_STATES = frozenset({"Complete", "Error", "Cancelled"})
OUTPUT_STATES = ("Init", "Scheduled", "Running", "Success", "Failed", "Skipped")
TERMINAL_OUTPUT_STATES = frozenset({"Success", "Failed", "Skipped"})


@dataclass(frozen=True)
class JobRecord:
    """A job as stored: the submitted document plus its live state."""

    job_id: str
    owner: str
    doc: dict[str, Any]
    specs: list[OutputSpec]
    create_us: int
    state: str
    code: str = ""
    message: str = ""
    finish_us: int | None = None
    outputs: dict[int, dict[str, Any]] = field(default_factory=dict)
    progress: dict[int, int] = field(default_factory=dict)
    #: Hls/Dash groups, their packaging state (``grp:{g}``) and their renditions' measures.
    groups: list[GroupSpec] = field(default_factory=list)
    group_states: dict[int, dict[str, Any]] = field(default_factory=dict)
    renditions: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_JOB_STATES


# HSET key field value, only if value is above the current one: one atomic step.
_RAISE_FIELD = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
"""


def _lex_upper(bound: str) -> str:
    # "+" is above everything; otherwise compare the member part of "(member" / "[member".
    return "\uffff" if bound == "+" else bound[1:]


def _lex_lower(bound: str) -> str:
    return "" if bound == "-" else bound[1:]


def _member(create_us: int, job_id: str) -> str:
    return f"{create_us:020d}:{job_id}"


class JobStore:
    """Reads and writes jobs in Redis. Cheap to build; holds only a client."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    @classmethod
    def from_url(cls, url: str) -> JobStore:
        return cls(redis.Redis.from_url(url, decode_responses=True, health_check_interval=30))

    # --- keys ---------------------------------------------------------------------

    @staticmethod
    def job_key(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    @staticmethod
    def index_key(owner: str, state: str | None = None) -> str:
        return f"{PREFIX}idx:{owner}:" + (f"state:{state}" if state else "all")

    @staticmethod
    def token_key(owner: str, token: str) -> str:
        return f"{PREFIX}token:{owner}:{token}"

    # --- create and read -----------------------------------------------------------

    def create(
        self,
        *,
        job_id: str,
        owner: str,
        doc: Mapping[str, Any],
        specs: list[OutputSpec],
        client_token: str = "",
        fingerprint: str = "",
        groups: list[GroupSpec] = (),
    ) -> str:
        """Store a new ``Inited`` job and its indexes in one transaction.

        Returns:
            ``job_id``, or the id of the job already stored under the same ``ClientToken``
            (the caller compares fingerprints to tell a retry from a conflict).
        """
        create_us = now_us()
        fields = {
            "owner": owner,
            "doc": json.dumps(doc),
            "specs": json.dumps([s.to_dict() for s in specs]),
            "create_us": create_us,
            "state": "Inited",
            "fingerprint": fingerprint,
            "groups": json.dumps([g.to_dict() for g in groups]),
        }
        for group in groups:
            fields[f"grp:{group.index}"] = json.dumps({"Status": "Init"})
        created = wire_time(create_us)
        for spec in specs:
            fields[f"out:{spec.index}"] = json.dumps(_initial_detail(job_id, spec, created))
        member = _member(create_us, job_id)
        token_key = self.token_key(owner, client_token) if client_token else None

        def body(pipe) -> str:
            # WATCH makes "token unused → write job and token" one atomic step.
            existing = pipe.get(token_key) if token_key else None
            if existing:
                return existing
            pipe.multi()
            if token_key:
                pipe.set(token_key, job_id)
            pipe.hset(self.job_key(job_id), mapping=fields)
            pipe.zadd(self.index_key(owner), {member: 0})
            pipe.zadd(self.index_key(owner, "Inited"), {member: 0})
            return job_id

        return transaction(self.redis, body, *([token_key] if token_key else []))

    def state(self, job_id: str) -> str | None:
        """Just the job's state: one cheap read, polled while encoding to notice a cancel."""
        return self.redis.hget(self.job_key(job_id), "state")

    def fingerprint(self, job_id: str) -> str | None:
        return self.redis.hget(self.job_key(job_id), "fingerprint")

    def get(self, job_id: str) -> JobRecord | None:
        raw = self.redis.hgetall(self.job_key(job_id))
        if not raw or "doc" not in raw:
            return None
        outputs, progress, group_states, renditions = {}, {}, {}, {}
        for key, value in raw.items():
            kind, _, index = key.partition(":")
            if kind == "out":
                outputs[int(index)] = json.loads(value)
            elif kind == "pct":
                progress[int(index)] = int(value)
            elif kind == "grp":
                group_states[int(index)] = json.loads(value)
            elif kind == "rend":
                renditions[int(index)] = json.loads(value)
        return JobRecord(
            job_id=job_id,
            owner=raw["owner"],
            doc=json.loads(raw["doc"]),
            specs=[OutputSpec.from_dict(s) for s in json.loads(raw["specs"])],
            create_us=int(raw["create_us"]),
            state=raw["state"],
            code=raw.get("code", ""),
            message=raw.get("message", ""),
            finish_us=int(raw["finish_us"]) if raw.get("finish_us") else None,
            outputs=outputs,
            progress=progress,
            groups=[GroupSpec.from_dict(g) for g in json.loads(raw.get("groups") or "[]")],
            group_states=group_states,
            renditions=renditions,
        )

    def list_ids(
        self,
        owner: str,
        *,
        state: str | None = None,
        after: str | None = None,
        limit: int = 20,
        newest_first: bool = True,
        since_us: int | None = None,
        until_us: int | None = None,
    ) -> tuple[list[str], str | None]:
        """One page of job ids in creation order.

        Args:
            after: the cursor returned with the previous page (exclusive).
            since_us, until_us: creation-time bounds, both inclusive.

        Returns:
            ``(ids, cursor)``; the cursor is None on the last page.
        """
        # Members sort by creation time: "{create_us:020d}:{job_id}"; ";" sorts after ":".
        lo = f"[{since_us:020d}:" if since_us is not None else "-"
        hi = f"({until_us + 1:020d}:" if until_us is not None else "+"
        if after:
            if newest_first:
                hi = min(hi, f"({after}", key=_lex_upper)
            else:
                lo = max(lo, f"({after}", key=_lex_lower)
        key = self.index_key(owner, state)
        if newest_first:
            members = self.redis.zrevrangebylex(key, hi, lo, start=0, num=limit + 1)
        else:
            members = self.redis.zrangebylex(key, lo, hi, start=0, num=limit + 1)
        page = members[:limit]
        cursor = page[-1] if len(members) > limit else None
        return [m.split(":", 1)[1] for m in page], cursor

    # --- state changes ----------------------------------------------------------------

    def transition(
        self, job_id: str, new_state: str, *, allowed_from: Iterable[str], **extra: Any
    ) -> bool:
        """Move a job to ``new_state`` if it is now in ``allowed_from``; indexes follow.

        Returns:
            True when this call made the change (so exactly one caller acts on it).
        """
        key, allowed = self.job_key(job_id), set(allowed_from)

        def body(pipe) -> bool:
            current, owner, create_us = pipe.hmget(key, "state", "owner", "create_us")
            if current not in allowed:
                return False
            member = _member(int(create_us), job_id)
            pipe.multi()
            pipe.hset(key, mapping={"state": new_state, **extra})
            pipe.zrem(self.index_key(owner, current), member)
            pipe.zadd(self.index_key(owner, new_state), {member: 0})
            return True

        return transaction(self.redis, body, key)

    def set_output(self, job_id: str, index: int, **changes: Any) -> dict[str, Any]:
        """Update fields of one output's detail (only its own worker writes it)."""
        key = self.job_key(job_id)
        detail = json.loads(self.redis.hget(key, f"out:{index}") or "{}")
        detail.update(changes)
        self.redis.hset(key, f"out:{index}", json.dumps(detail))
        return detail

    def set_group(self, job_id: str, group: int, **changes: Any) -> dict[str, Any]:
        """Update an Hls/Dash group's packaging state (only its packaging task writes it)."""
        key = self.job_key(job_id)
        state = json.loads(self.redis.hget(key, f"grp:{group}") or "{}")
        state.update(changes)
        self.redis.hset(key, f"grp:{group}", json.dumps(state))
        return state

    def set_rendition(self, job_id: str, index: int, info: Mapping[str, Any]) -> None:
        """What packaging needs of a finished rendition (bitrates, codecs, size, files)."""
        self.redis.hset(self.job_key(job_id), f"rend:{index}", json.dumps(info))

    def mark_started(self, job_id: str, index: int, worker: str = "") -> None:
        """When and where an output's encode began (scheduling tests and /v1/workers read it)."""
        self.redis.hset(
            self.job_key(job_id), f"start:{index}", json.dumps({"us": now_us(), "worker": worker})
        )

    def starts(self, job_id: str) -> dict[int, dict[str, Any]]:
        raw = self.redis.hgetall(self.job_key(job_id))
        return {int(k[6:]): json.loads(v) for k, v in raw.items() if k.startswith("start:")}

    def set_progress(self, job_id: str, index: int, percent: int) -> None:
        """Raise an output's progress; it never goes down, even when a requeued run restarts."""
        self.redis.eval(
            _RAISE_FIELD, 1, self.job_key(job_id), f"pct:{index}", max(0, min(100, int(percent)))
        )

    def cached_probe(self, job_id: str, input_index: int) -> dict[str, Any] | None:
        raw = self.redis.hget(self.job_key(job_id), f"probe:{input_index}")
        return json.loads(raw) if raw else None

    def cache_probe(self, job_id: str, input_index: int, probe: Mapping[str, Any]) -> None:
        self.redis.hset(self.job_key(job_id), f"probe:{input_index}", json.dumps(probe))

    def claim(self, job_id: str, flag: str) -> bool:
        """Set a one-shot flag on the job; True only for the first caller (HSETNX)."""
        return bool(self.redis.hsetnx(self.job_key(job_id), f"flag:{flag}", now_us()))

    def count_delivery(self, job_id: str, index: int) -> int:
        """Count one more delivery of an output's task; returns the count so far."""
        return int(self.redis.hincrby(self.job_key(job_id), f"deliveries:{index}", 1))

    # --- heartbeats of running outputs (read by the watchdog) --------------------------

    RUNNING_KEY = f"{PREFIX}running"

    RUNNING_ON_KEY = f"{PREFIX}running-on"

    def beat(self, job_id: str, index: int, worker: str = "") -> None:
        """Mark an output as alive now; the watchdog requeues outputs that stop beating."""
        member = f"{job_id}:{index}"
        self.redis.zadd(self.RUNNING_KEY, {member: now_us()})
        if worker:
            self.redis.hset(self.RUNNING_ON_KEY, member, worker)

    def unbeat(self, job_id: str, index: int) -> None:
        self.redis.zrem(self.RUNNING_KEY, f"{job_id}:{index}")
        self.redis.hdel(self.RUNNING_ON_KEY, f"{job_id}:{index}")

    def running_on(self) -> dict[str, list[str]]:
        """Worker hostname → the ``job_id:index`` outputs it is encoding now."""
        tasks: dict[str, list[str]] = {}
        for member, worker in self.redis.hgetall(self.RUNNING_ON_KEY).items():
            tasks.setdefault(worker, []).append(member)
        return tasks

    def stale(self, older_than_us: int) -> list[tuple[str, int]]:
        """Outputs whose last heartbeat is older than ``older_than_us``."""
        members = self.redis.zrangebyscore(self.RUNNING_KEY, "-inf", older_than_us)
        return [(m.rsplit(":", 1)[0], int(m.rsplit(":", 1)[1])) for m in members]

    def ping(self) -> bool:
        return bool(self.redis.ping())


def _initial_detail(job_id: str, spec: OutputSpec, created: str) -> dict[str, Any]:
    return {
        "Name": spec.name,
        "TaskId": f"{job_id}-{spec.index}",
        "Status": "Init",
        "Code": "",
        "Message": "",
        "CreateTime": created,
    }


WORKER_TTL_S = 15


class WorkerRegistry:
    """Workers announce themselves with a short-lived key; ``/readyz`` counts them."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def beat(self, hostname: str, info: Mapping[str, Any]) -> None:
        """Announce (again) a live worker and what it can do: queues, concurrency, FFmpeg…"""
        key = f"{PREFIX}worker:{hostname}"
        self.redis.set(
            key, json.dumps({**info, "hostname": hostname, "seen_us": now_us()}), ex=WORKER_TTL_S
        )

    def drop(self, hostname: str) -> None:
        self.redis.delete(f"{PREFIX}worker:{hostname}")

    def alive(self) -> list[dict[str, Any]]:
        found = []
        for key in self.redis.scan_iter(match=f"{PREFIX}worker:*", count=100):
            raw = self.redis.get(key)
            if raw:
                found.append(json.loads(raw))
        return found
