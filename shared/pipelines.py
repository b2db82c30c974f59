"""Pipelines (ICE's MPS queues) and the jobs a paused pipeline holds, stored in Redis.

Layout (key names in ``shared.keys``):

- ``pipe:{id}`` hash — ``owner``, ``name``, ``speed``, ``priority``, ``status``,
  ``create_us``, ``modified_us``, ``default`` (``1`` for the owner's default pipeline).
- ``pipes:{owner}`` sorted set — pipeline ids scored by ``create_us`` (exact: a
  microsecond timestamp needs about 51 bits, under a double's 53).
- ``pipe-default:{owner}`` → the id of the owner's default pipeline, created on first use.
- ``pipe-held:{id}`` sorted set — held jobs, every member at score 0 and spelled
  ``{10 - priority}:{create_us:020d}:{job_id}`` so that lexicographic order is exactly
  "higher priority first, then older first" with no float rounding;
  ``pipe-held-members:{id}`` hash maps ``job_id`` → its member for ``unhold``.

Every record belongs to an owner; another owner's id behaves exactly like an unknown one.
Refusals that depend on a pipeline's state answer 403 ``OperationDenied.*``:
``OperationDenied.DefaultPipeline`` (the default pipeline cannot be deleted) and
``OperationDenied.PipelineNotEmpty`` (it still holds jobs).

The store takes typed values that the API already checked (``api/params.py`` for the ICE
RPC endpoint, the schemas of ``api/rest_schemas.py`` for REST): a ``speed`` of ``SPEEDS``,
a ``priority`` from 1 to 10, a ``status`` of ``STATUSES``, a non-blank name.

The client must be built with ``decode_responses=True`` (as ``Stores.connect`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import redis

from shared import keys
from shared.clock import new_job_id, now_us
from shared.errors import ApiError, require_found
from shared.records import OwnedRecord
from shared.redis_tx import transaction

SPEEDS = ("Standard", "Boost", "NarrowBandHDV2")
STATUSES = ("Active", "Paused")
DEFAULT_PRIORITY = 6
DEFAULT_NAME = "Default"
_ID = re.compile(r"^[0-9a-f]{32}$")
# hold(): KEYS pipeline hash, held zset, held-members hash; ARGV owner, job id, member.
# -1: no such pipeline of this owner; 1: held on a paused pipeline; 0: it is active.
_HOLD = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return -1 end
local previous = redis.call('HGET', KEYS[3], ARGV[2])
if previous then redis.call('ZREM', KEYS[2], previous) end
redis.call('ZADD', KEYS[2], 0, ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
if redis.call('HGET', KEYS[1], 'status') == 'Paused' then return 1 end
return 0
"""


@dataclass(frozen=True, kw_only=True)
class Pipeline(OwnedRecord):
    pipeline_id: str
    speed: str
    priority: int
    status: str

    @classmethod
    def new(
        cls, owner: str, name: str, speed: str, priority: int, is_default: bool = False
    ) -> Pipeline:
        """A new ``Active`` pipeline, created now."""
        now = now_us()
        return cls(
            pipeline_id=new_job_id(),
            owner=owner,
            name=name,
            speed=speed,
            priority=priority,
            status="Active",
            create_us=now,
            modified_us=now,
            is_default=is_default,
        )

    def to_wire(self) -> dict[str, Any]:
        """The ``Pipeline`` object of Create/Get/ListPipelines."""
        return {
            "PipelineId": self.pipeline_id,
            "Name": self.name,
            "Speed": self.speed,
            "Priority": self.priority,
            "Status": self.status,
            **self.wire_times(),
        }

    def to_hash(self) -> dict[str, str | int]:
        return {
            "owner": self.owner,
            "name": self.name,
            "speed": self.speed,
            "priority": self.priority,
            "status": self.status,
            "create_us": self.create_us,
            "modified_us": self.modified_us,
            "default": int(self.is_default),
        }

    @classmethod
    def from_hash(cls, pipeline_id: str, raw: dict[str, str]) -> Pipeline:
        return cls(
            pipeline_id=pipeline_id,
            owner=raw["owner"],
            name=raw["name"],
            speed=raw["speed"],
            priority=int(raw["priority"]),
            status=raw["status"],
            create_us=int(raw["create_us"]),
            modified_us=int(raw["modified_us"]),
            is_default=str(raw.get("default")) == "1",
        )


# --- helpers ---------------------------------------------------------------------------


def _denied(code: str, message: str) -> ApiError:
    return ApiError(message, code=f"OperationDenied.{code}", http_status=403)


def held_member(priority: int, create_us: int, job_id: str) -> str:
    """The sorted-set member of a held job: lexicographic order = release order.

    Raises:
        ValueError: for values that this spelling cannot order (a priority outside 1–10, a
            time outside 20 digits, no job id): a caller's bug, not a request's.
    """
    if not (1 <= priority <= 10 and 0 <= create_us < 10**20 and job_id):
        raise ValueError(f"cannot hold {job_id!r} at priority {priority}, time {create_us}")
    return f"{10 - priority}:{create_us:020d}:{job_id}"


def _held_keys(pipeline_id: str) -> list[str]:
    return [keys.pipeline(pipeline_id), keys.held_jobs(pipeline_id), keys.held_members(pipeline_id)]


def held_answer(reply: int, pipeline_id: str) -> bool:
    """What the hold script answered: True held on a paused pipeline, False it is active.

    Raises:
        ApiError: ``ResourceNotFound`` (no such pipeline of this owner).
    """
    if int(reply) < 0:
        require_found(None, "pipeline", pipeline_id)
    return int(reply) == 1


def _job_of(member: str) -> str:
    return member.split(":", 2)[2]


# --- the store --------------------------------------------------------------------------


class PipelineStore:
    """Pipelines and held jobs in Redis. Cheap to build; holds only a client."""

    def __init__(self, client: redis.Redis):
        self.redis = client
        self._hold = client.register_script(_HOLD)

    # --- reads ------------------------------------------------------------------------

    def _load(self, reader: Any, owner: str, pipeline_id: Any) -> Pipeline | None:
        if not isinstance(pipeline_id, str) or not _ID.match(pipeline_id):
            return None
        raw = reader.hgetall(keys.pipeline(pipeline_id))
        if not raw or raw.get("owner") != owner:
            return None
        return Pipeline.from_hash(pipeline_id, raw)

    def get(self, owner: str, pipeline_id: str) -> Pipeline | None:
        """The pipeline, or None when it does not exist or belongs to another owner."""
        return self._load(self.redis, owner, pipeline_id)

    def require(self, owner: str, pipeline_id: str) -> Pipeline:
        """Like ``get`` but raises ``ResourceNotFound`` (404) instead of answering None."""
        return require_found(self.get(owner, pipeline_id), "pipeline", pipeline_id)

    def default(self, owner: str) -> Pipeline:
        """The owner's default pipeline, created on first use (one winner under races)."""
        dkey = keys.default_pipeline(owner)
        existing = self.redis.get(dkey)
        if existing:
            found = self.get(owner, existing)
            if found is not None:
                return found

        def body(pipe: redis.client.Pipeline) -> str:
            current = pipe.get(dkey)
            if current:
                return current
            new = Pipeline.new(owner, DEFAULT_NAME, "Standard", DEFAULT_PRIORITY, is_default=True)
            pipe.multi()
            pipe.set(dkey, new.pipeline_id)
            pipe.hset(keys.pipeline(new.pipeline_id), mapping=new.to_hash())
            pipe.zadd(keys.pipelines(owner), {new.pipeline_id: new.create_us})
            return new.pipeline_id

        return self.require(owner, transaction(self.redis, body, dkey))

    def list(self, owner: str, speed: str | None = None) -> list[Pipeline]:
        """The owner's pipelines in creation order (the default one first).

        Args:
            owner: the account.
            speed: one of ``SPEEDS`` to list only those, or None for all.
        """
        self.default(owner)
        ids = self.redis.zrange(keys.pipelines(owner), 0, -1)
        with self.redis.pipeline(transaction=False) as pipe:
            for pipeline_id in ids:
                pipe.hgetall(keys.pipeline(pipeline_id))
            raws = pipe.execute()
        found = [
            Pipeline.from_hash(pid, raw)
            for pid, raw in zip(ids, raws, strict=True)
            if raw and raw.get("owner") == owner
        ]
        return [p for p in found if speed is None or p.speed == speed]

    # --- writes -----------------------------------------------------------------------

    def create(
        self, owner: str, name: str, speed: str, priority: int = DEFAULT_PRIORITY
    ) -> Pipeline:
        """Store a new ``Active`` pipeline.

        Args:
            owner: the account.
            name: a non-blank name (the API checked it).
            speed: one of ``SPEEDS``.
            priority: 1–10.
        """
        self.default(owner)  # so that the default pipeline is always the oldest
        pipeline = Pipeline.new(owner, name, speed, priority)
        with self.redis.pipeline() as pipe:
            pipe.hset(keys.pipeline(pipeline.pipeline_id), mapping=pipeline.to_hash())
            pipe.zadd(keys.pipelines(owner), {pipeline.pipeline_id: pipeline.create_us})
            pipe.execute()
        return pipeline

    def update(
        self,
        owner: str,
        pipeline_id: str,
        *,
        name: str | None = None,
        priority: int | None = None,
        status: str | None = None,
    ) -> tuple[Pipeline, bool]:
        """Rename, re-prioritize, pause or resume a pipeline; None leaves a field as it is.

        Args:
            owner: the account.
            pipeline_id: the pipeline.
            name: a non-blank name.
            priority: 1–10.
            status: one of ``STATUSES``.

        Returns:
            ``(pipeline, resumed)``; ``resumed`` is True only for the one call that moved
            it from ``Paused`` to ``Active``: that caller must ``release`` the held jobs.

        Raises:
            ApiError: ``ResourceNotFound`` (404).
        """
        wanted = {"name": name, "priority": priority, "status": status}
        changes = {field: value for field, value in wanted.items() if value is not None}
        self.require(owner, pipeline_id)
        key = keys.pipeline(pipeline_id)

        def body(pipe: redis.client.Pipeline) -> tuple[Pipeline, bool]:
            before = require_found(self._load(pipe, owner, pipeline_id), "pipeline", pipeline_id)
            if not changes:
                return before, False
            after = Pipeline.from_hash(
                pipeline_id, {**before.to_hash(), **changes, "modified_us": now_us()}
            )
            pipe.multi()
            pipe.hset(key, mapping=after.to_hash())
            return after, before.status == "Paused" and after.status == "Active"

        return transaction(self.redis, body, key)

    def delete(self, owner: str, pipeline_id: str) -> None:
        """Delete a pipeline.

        Raises:
            ApiError: ``ResourceNotFound`` (404); ``OperationDenied.DefaultPipeline`` (403)
                for the default pipeline; ``OperationDenied.PipelineNotEmpty`` (403) while
                it holds jobs (resume it first, or cancel them).
        """
        self.require(owner, pipeline_id)
        key, held = keys.pipeline(pipeline_id), keys.held_jobs(pipeline_id)

        def body(pipe: redis.client.Pipeline) -> None:
            pipeline = require_found(self._load(pipe, owner, pipeline_id), "pipeline", pipeline_id)
            if pipeline.is_default:
                raise _denied(
                    "DefaultPipeline", f'The default pipeline "{pipeline_id}" cannot be deleted.'
                )
            count = pipe.zcard(held)
            if count:
                raise _denied(
                    "PipelineNotEmpty",
                    f'The pipeline "{pipeline_id}" still holds {count} job(s); '
                    "set its Status to Active (or cancel them) before deleting it.",
                )
            pipe.multi()
            pipe.delete(key, held, keys.held_members(pipeline_id))
            pipe.zrem(keys.pipelines(owner), pipeline_id)

        transaction(self.redis, body, key, held)

    # --- held jobs --------------------------------------------------------------------

    def hold(
        self, owner: str, pipeline_id: str, job_id: str, priority: int, create_us: int
    ) -> bool:
        """Hold a job on a pipeline until whoever resumes it calls ``release``.

        The job is stored whatever the status, and the status is read in the same atomic
        step as the write (one Lua script: no WATCH to lose to the other submits holding
        jobs on the same pipeline), so the return value is exact even while a concurrent
        ``update`` resumes the pipeline: either that resumer's ``release`` returns this job,
        or this call returns False and the caller releases it.

        Returns:
            True when the pipeline was ``Paused`` as the job was held (a later resume
            releases it); False when it was ``Active``: the caller must call ``release``
            now (the returned ids include this job). Re-holding a job moves it.

        Raises:
            ApiError: ``ResourceNotFound`` (404).
            ValueError: as ``held_member`` does.
        """
        member = held_member(priority, create_us, job_id)
        if not (isinstance(pipeline_id, str) and _ID.match(pipeline_id)):
            require_found(None, "pipeline", pipeline_id)  # raises ResourceNotFound
        held = self._hold(keys=_held_keys(pipeline_id), args=[owner, job_id, member])
        return held_answer(held, pipeline_id)

    def queue_hold(
        self, pipe: redis.client.Pipeline, owner: str, pipeline_id: str, job_id: str, priority: int
    ) -> None:
        """Queue ``hold`` on ``pipe`` (in its transaction: a submit's create); its reply goes
        through ``held_answer``. The script's text rides along (EVAL, not EVALSHA), so no
        SCRIPT LOAD round trip precedes the transaction."""
        member = held_member(priority, now_us(), job_id)
        pipe.eval(_HOLD, 3, *_held_keys(pipeline_id), owner, job_id, member)

    def release(self, owner: str, pipeline_id: str) -> list[str]:
        """Take every held job off the pipeline, in one atomic step.

        Returns:
            Job ids, higher priority first, then older first. Each held job is returned
            by exactly one call, however many run at once.
        """
        self.require(owner, pipeline_id)
        held = keys.held_jobs(pipeline_id)
        with self.redis.pipeline() as pipe:  # MULTI/EXEC: read and clear as one step
            pipe.zrange(held, 0, -1)
            pipe.delete(held, keys.held_members(pipeline_id))
            members, _ = pipe.execute()
        return [_job_of(m) for m in members]

    def held(self, owner: str, pipeline_id: str) -> list[str]:
        """The held job ids in release order, without releasing them."""
        self.require(owner, pipeline_id)
        return [_job_of(m) for m in self.redis.zrange(keys.held_jobs(pipeline_id), 0, -1)]

    def unhold(self, owner: str, pipeline_id: str, job_id: str) -> bool:
        """Drop one held job (it was cancelled). True when it was held."""
        self.require(owner, pipeline_id)
        held, members = keys.held_jobs(pipeline_id), keys.held_members(pipeline_id)

        def body(pipe: redis.client.Pipeline) -> bool:
            member = pipe.hget(members, job_id)
            if not member:
                return False
            pipe.multi()
            pipe.zrem(held, member)
            pipe.hdel(members, job_id)
            return True

        return transaction(self.redis, body, members)
