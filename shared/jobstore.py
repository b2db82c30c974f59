"""The Redis job store: the one source of truth about every job.

Layout (all keys under ``mcfarm:``):

- ``job:{id}`` hash — ``owner``, ``doc`` (the submitted JobId/Config/UserData/… as JSON),
  ``specs`` (the planned ``OutputSpec`` list), ``create_us``, ``state``, ``code``,
  ``message``, ``finish_us``; per output ``out:{i}`` (its ``OutputDetail`` as JSON) and
  ``pct:{i}`` (its progress), ``deliveries:{i}``, ``dispatch:{i}`` (the task id of its
  newest message, after a watchdog requeue); per input ``probe:{i}`` (cached ffprobe JSON).
  Each worker writes only its own output's fields, so concurrent outputs never race; an
  output's detail is written in a transaction, and once terminal it is final.
- ``token:{owner}:{ClientToken}`` → job id (the idempotency index).
- ``idx:{owner}:all`` and ``idx:{owner}:state:{State}`` — sorted sets whose members are
  ``{create_us:020d}:{job_id}`` at score 0, so ``ZRANGEBYLEX`` pages in creation order
  with the last member as an exact, duplicate-free cursor.
- ``running`` (output → last heartbeat), ``running-on`` (→ worker), ``running-run`` (→ the
  run that owns the heartbeat), ``requeue`` (the watchdog's outbox).
- Live workers' keys: ``shared.worker_registry``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from shared.clock import now_us, wire_time
from shared.planning import GroupSpec, OutputSpec
from shared.redis_conn import connect, ping_once
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
    def from_url(cls, url: str, retry_window_s: float = 20) -> JobStore:
        """A store whose client waits out a Redis restart (``MCFARM_REDIS_RETRY_WINDOW``)."""
        return cls(connect(url, retry_window_s))

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
        """Update fields of one output's detail; a terminal detail is final.

        Once an output is ``Success``, ``Failed`` or ``Skipped`` nothing changes it again:
        a late run (a worker frozen, then requeued elsewhere, then woken up) gets the stored
        detail back instead of overwriting the result that the job already reported.

        Returns:
            The detail as stored after the call.
        """
        return self.transition_output(job_id, index, None, **changes)[0]

    def transition_output(
        self, job_id: str, index: int, allowed_from: Iterable[str] | None, **changes: Any
    ) -> tuple[dict[str, Any], bool]:
        """Update one output's detail if its ``Status`` is in ``allowed_from`` (None: any
        non-terminal status), in one atomic step.

        Returns:
            ``(detail as stored now, whether this call changed it)``.
        """
        key, field_name = self.job_key(job_id), f"out:{index}"
        allowed = None if allowed_from is None else set(allowed_from)

        def body(pipe) -> tuple[dict[str, Any], bool]:
            detail = json.loads(pipe.hget(key, field_name) or "{}")
            status = detail.get("Status")
            if status in TERMINAL_OUTPUT_STATES or (allowed is not None and status not in allowed):
                return detail, False
            detail.update(changes)
            pipe.multi()
            pipe.hset(key, field_name, json.dumps(detail))
            return detail, True

        return transaction(self.redis, body, key)

    #: ``job_id:index`` of the outputs the watchdog took back, until their message is sent.
    REQUEUE_KEY = f"{PREFIX}requeue"

    def take_back_output(self, job_id: str, index: int) -> bool:
        """``Running`` → ``Scheduled`` and into the requeue outbox, in one transaction.

        Returns:
            False when the output was not running (it ended, or was taken back already).
        """
        key, field_name = self.job_key(job_id), f"out:{index}"

        def body(pipe) -> bool:
            detail = json.loads(pipe.hget(key, field_name) or "{}")
            if detail.get("Status") != "Running":
                return False
            detail["Status"] = "Scheduled"
            pipe.multi()
            pipe.hset(key, field_name, json.dumps(detail))
            pipe.zadd(self.REQUEUE_KEY, {f"{job_id}:{index}": now_us()})
            return True

        return transaction(self.redis, body, key)

    def taken_back(self) -> list[tuple[str, int]]:
        """The outputs in the requeue outbox, oldest first."""
        members = self.redis.zrange(self.REQUEUE_KEY, 0, -1)
        return [(m.rsplit(":", 1)[0], int(m.rsplit(":", 1)[1])) for m in members]

    def is_taken_back(self, job_id: str, index: int) -> bool:
        return self.redis.zscore(self.REQUEUE_KEY, f"{job_id}:{index}") is not None

    def sent_back(self, job_id: str, index: int) -> None:
        """The output's new message is sent: out of the outbox."""
        self.redis.zrem(self.REQUEUE_KEY, f"{job_id}:{index}")

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

    def set_dispatch(self, job_id: str, index: int, task_id: str) -> None:
        """Record the task id of an output's newest message (a requeue supersedes the first)."""
        self.redis.hset(self.job_key(job_id), f"dispatch:{index}", task_id)

    def dispatch(self, job_id: str, index: int) -> str | None:
        """The task id ``set_dispatch`` recorded; None while the chord's own message stands."""
        return self.redis.hget(self.job_key(job_id), f"dispatch:{index}")

    # --- heartbeats of running outputs (read by the watchdog) --------------------------

    RUNNING_KEY = f"{PREFIX}running"

    RUNNING_ON_KEY = f"{PREFIX}running-on"

    #: ``job_id:index`` → the id of the run that owns the output's heartbeat.
    RUN_KEY = f"{PREFIX}running-run"

    def start_beating(self, job_id: str, index: int, worker: str = "") -> str:
        """Make a new run the owner of an output's heartbeat and beat once; returns its id.

        Only the owner's ``beat`` and ``unbeat`` count, so a run that the watchdog gave up
        on (and requeued) cannot keep the output looking alive or remove its successor's
        heartbeat when it wakes up.
        """
        member, run = f"{job_id}:{index}", uuid.uuid4().hex
        with self.redis.pipeline() as pipe:
            pipe.hset(self.RUN_KEY, member, run)
            pipe.zadd(self.RUNNING_KEY, {member: now_us()})
            if worker:
                pipe.hset(self.RUNNING_ON_KEY, member, worker)
            pipe.execute()
        return run

    def beat(self, job_id: str, index: int, worker: str = "", run: str | None = None) -> bool:
        """Mark an output as alive now; the watchdog requeues outputs that stop beating.

        Args:
            run: the id ``start_beating`` returned; the beat counts only while that run
                still owns the output (None: beat unconditionally).

        Returns:
            False when ``run`` no longer owns the output (nothing was written).
        """
        member = f"{job_id}:{index}"
        keys = [self.RUN_KEY, self.RUNNING_KEY, self.RUNNING_ON_KEY]
        return bool(self.redis.eval(_BEAT, 3, *keys, member, run or "", now_us(), worker))

    def beat_owner(self, job_id: str, index: int) -> str | None:
        """The id of the run that owns an output's heartbeat now (None: no run)."""
        return self.redis.hget(self.RUN_KEY, f"{job_id}:{index}")

    def unbeat(self, job_id: str, index: int, run: str | None = None) -> None:
        """Forget an output's heartbeat (only if ``run`` still owns it, when given)."""
        keys = [self.RUN_KEY, self.RUNNING_KEY, self.RUNNING_ON_KEY]
        self.redis.eval(_UNBEAT, 3, *keys, f"{job_id}:{index}", run or "")

    def has_beat(self, job_id: str, index: int) -> bool:
        """Whether some run beats (or beat, and the watchdog has not yet seen it stop)."""
        return self.redis.zscore(self.RUNNING_KEY, f"{job_id}:{index}") is not None

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
        """One PING, not retried: health checks answer at once while Redis is away."""
        return ping_once(self.redis)


def _initial_detail(job_id: str, spec: OutputSpec, created: str) -> dict[str, Any]:
    return {
        "Name": spec.name,
        "TaskId": f"{job_id}-{spec.index}",
        "Status": "Init",
        "Code": "",
        "Message": "",
        "CreateTime": created,
    }
