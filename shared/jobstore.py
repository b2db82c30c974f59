"""The Redis job store: the one source of truth about every job.

Layout (key names in ``shared.keys``):

- ``job:{id}`` hash — ``owner``, ``doc`` (the submitted JobId/Config/UserData/… as JSON),
  ``specs`` (the planned ``OutputSpec`` list), ``create_us``, ``state``, ``code``,
  ``message``, ``finish_us``, ``run_us`` (when its first output or chunk began); per output ``out:{i}`` (its ``OutputDetail`` as JSON) and
  ``pct:{i}`` (its progress), ``deliveries:{i}``, ``dispatch:{i}`` (the task id of its
  newest message, after a watchdog requeue), ``start:{i}`` (when and where it began),
  ``ffmpeg:{i}`` (its last FFmpeg command and stderr tail; a part's ``ffmpeg:{i}:{part}``); per
  input ``probe:{i}`` (cached ffprobe JSON); one-shot ``flag:{name}`` fields.
  Each worker writes only its own output's fields, so concurrent outputs never race; an
  output's detail is written in a transaction, and once terminal it is final.
- ``token:{owner}:{ClientToken}`` → job id (the idempotency index).
- ``idx:{owner}:all`` and ``idx:{owner}:state:{State}`` — sorted sets whose members are
  ``{create_us:020d}:{job_id}`` at score 0, so ``ZRANGEBYLEX`` pages in creation order
  with the last member as an exact, duplicate-free cursor; ``idx:{owner}:pipe:{PipelineId}``,
  the same for one pipeline's jobs; ``idx-unfinished``, the same
  members for every owner's ``Inited`` and ``Running`` jobs (the watchdog's time limit).

Running outputs' heartbeats and the watchdog's requeue outbox: ``shared.heartbeats``.
Live workers: ``shared.worker_registry``. A hash reads into a ``JobRecord`` in
``shared.jobrecord_parse``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import redis

from shared import keys
from shared.clock import now_us
from shared.jobrecord import (
    TERMINAL_JOB_STATES,
    TERMINAL_OUTPUT_STATES,
    JobQuery,
    JobRecord,
)
from shared.jobrecord_parse import LIST_FIELDS, listed_record, new_job, record_from_hash
from shared.planning import GroupSpec, OutputSpec
from shared.redis_conn import ping_once
from shared.redis_tx import transaction, transaction_replies
from shared.units import Unit

# HSET key field value, only if value is above the current one: one atomic step.
_RAISE_FIELD = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
"""

# The list fields (ARGV) of each job hash (KEYS), in one reply: one command for a page.
_LIST_FIELDS_SCRIPT = """
local rows = {}
for i, key in ipairs(KEYS) do rows[i] = redis.call('HMGET', key, unpack(ARGV)) end
return rows
"""

#: The most jobs one page of a pipeline-and-state list looks at.
_SCAN = 1000


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
        self._list_fields = client.register_script(_LIST_FIELDS_SCRIPT)

    # --- create and read -----------------------------------------------------------

    def create(self, **job: Any) -> str:
        """``create_record``'s job id: ``job_id``, or the id of the job already stored under
        the same ``ClientToken``."""
        return self.create_record(**job)[0].job_id

    def create_record(
        self,
        *,
        job_id: str,
        owner: str,
        doc: Mapping[str, Any],
        specs: list[OutputSpec],
        client_token: str = "",
        fingerprint: str = "",
        groups: list[GroupSpec] = (),
        then: Callable[[redis.client.Pipeline], None] | None = None,
    ) -> tuple[JobRecord, Any]:
        """Store a new ``Inited`` job and its indexes in one transaction.

        Args:
            then: queues one more command in the same transaction (a paused pipeline's
                hold, ``PipelineStore.queue_hold``): one round trip for both.

        Returns:
            ``(job, reply)``: the job as stored, from what was written (no read back), and
            the reply of ``then``'s command (None without one); or the job already stored
            under the same ``ClientToken`` and None (the caller compares fingerprints to tell
            a retry from a conflict).
        """
        create_us = now_us()
        fields, record = new_job(job_id, owner, doc, specs, groups, fingerprint, create_us)
        member = _member(create_us, job_id)
        token_key = keys.client_token(owner, client_token) if client_token else None
        pipeline_id = doc.get("PipelineId", "")

        def body(pipe) -> str:
            # WATCH makes "token unused → write job and token" one atomic step.
            existing = pipe.get(token_key) if token_key else None
            if existing:
                return existing
            pipe.multi()
            if token_key:
                pipe.set(token_key, job_id)
            pipe.hset(keys.job(job_id), mapping=fields)
            pipe.zadd(keys.job_index(owner), {member: 0})
            pipe.zadd(keys.job_index(owner, "Inited"), {member: 0})
            if pipeline_id:
                pipe.zadd(keys.job_index(owner, pipeline=pipeline_id), {member: 0})
            pipe.zadd(keys.UNFINISHED_JOBS, {member: 0})
            if then is not None:
                then(pipe)
            return job_id

        stored, replies = transaction_replies(self.redis, body, *([token_key] if token_key else []))
        if stored != job_id:
            return self.get(stored), None
        return record, (replies[-1] if then is not None else None)

    def state(self, job_id: str) -> str | None:
        """Just the job's state: one cheap read, polled while encoding to notice a cancel."""
        return self.redis.hget(keys.job(job_id), "state")

    def fingerprint(self, job_id: str) -> str | None:
        return self.redis.hget(keys.job(job_id), "fingerprint")

    def by_token(self, owner: str, client_token: str) -> JobRecord | None:
        """The owner's job that ``client_token`` made, if any."""
        job_id = self.redis.get(keys.client_token(owner, client_token))
        return self.get(job_id) if job_id else None

    def get(self, job_id: str) -> JobRecord | None:
        return record_from_hash(job_id, self.redis.hgetall(keys.job(job_id)))

    def get_many(self, job_ids: Iterable[str]) -> list[JobRecord]:
        """The jobs of ``job_ids`` that exist, in that order: one round trip for them all."""
        job_ids = list(job_ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(keys.job(job_id))
            raws = pipe.execute()
        records = (record_from_hash(job_id, raw) for job_id, raw in zip(job_ids, raws, strict=True))
        return [record for record in records if record is not None]

    def get_listed(self, job_ids: Iterable[str]) -> list[JobRecord]:
        """The jobs of ``job_ids`` that exist, in that order, as a job list shows them: from
        their ``LIST_FIELDS`` only (``listed_record``), a ``Running`` one whole (its percent
        and ETA read its outputs). A page of 50 is one script call (and one more read for
        its running jobs), not 50 whole hashes parsed.
        """
        job_ids = list(job_ids)
        rows = self._list_fields(keys=[keys.job(j) for j in job_ids], args=LIST_FIELDS)
        pairs = zip(job_ids, rows, strict=True)
        listed = [r for j, row in pairs if (r := listed_record(j, row)) is not None]
        running = [r.job_id for r in listed if r.state == "Running"]
        whole = {r.job_id: r for r in self.get_many(running)} if running else {}
        return [whole.get(r.job_id, r) for r in listed]

    def states(self, job_ids: Sequence[str]) -> list[str | None]:
        """The state of each job of ``job_ids`` (None for no such job), in one call."""
        if not job_ids:
            return []
        rows = self._list_fields(keys=[keys.job(j) for j in job_ids], args=["state"])
        return [row[0] for row in rows]

    def list_ids(self, owner: str, query: JobQuery) -> tuple[list[str], str | None]:
        """One page of the owner's job ids in creation order, as ``query`` says.

        Returns:
            ``(ids, cursor)``; the cursor (for ``JobQuery.after``) is None on the last page.
            With both a pipeline and a state, a page may hold fewer than ``limit`` ids
            (at most ``_SCAN`` jobs are looked at per page) and still have a cursor.
        """
        q = query
        if q.pipeline_id and q.state:
            return self._filtered_ids(owner, q)
        key = keys.job_index(owner, q.state, pipeline=q.pipeline_id)
        members = self._members(key, q, q.after, q.limit + 1)
        page = members[: q.limit]
        cursor = page[-1] if len(members) > q.limit else None
        return [m.split(":", 1)[1] for m in page], cursor

    def _members(self, key: str, q: JobQuery, after: str | None, count: int) -> list[str]:
        """Up to ``count`` index members after the cursor ``after``, in ``q``'s order."""
        # Members sort by creation time: "{create_us:020d}:{job_id}"; ";" sorts after ":".
        lo = f"[{q.since_us:020d}:" if q.since_us is not None else "-"
        hi = f"({q.until_us + 1:020d}:" if q.until_us is not None else "+"
        if after:
            if q.newest_first:
                hi = min(hi, f"({after}", key=_lex_upper)
            else:
                lo = max(lo, f"({after}", key=_lex_lower)
        if q.newest_first:
            return self.redis.zrevrangebylex(key, hi, lo, start=0, num=count)
        return self.redis.zrangebylex(key, lo, hi, start=0, num=count)

    def _filtered_ids(self, owner: str, q: JobQuery) -> tuple[list[str], str | None]:
        """A page of one pipeline's jobs in one state: the pipeline's index, filtered."""
        key, kept, after, scanned = keys.job_index(owner, pipeline=q.pipeline_id), [], q.after, 0
        while len(kept) <= q.limit and scanned < _SCAN:
            members = self._members(key, q, after, min(_SCAN - scanned, 4 * q.limit + 4))
            if not members:
                return [m.split(":", 1)[1] for m in kept], None
            with self.redis.pipeline(transaction=False) as pipe:
                for member in members:
                    pipe.hget(keys.job(member.split(":", 1)[1]), "state")
                states = pipe.execute()
            kept += [m for m, state in zip(members, states, strict=True) if state == q.state]
            after, scanned = members[-1], scanned + len(members)
        page = kept[: q.limit]
        cursor = page[-1] if len(kept) > q.limit else after
        return [m.split(":", 1)[1] for m in page], cursor

    def unfinished_before(self, cutoff_us: int) -> list[str]:
        """The ids of every owner's unfinished (``Inited``/``Running``) jobs created before
        ``cutoff_us``, oldest first (the watchdog ends those past ``MCFARM_JOB_MAX_RUNTIME``)."""
        members = self.redis.zrangebylex(keys.UNFINISHED_JOBS, "-", f"({cutoff_us:020d}:")
        return [member.split(":", 1)[1] for member in members]

    # --- state changes ----------------------------------------------------------------

    def transition(
        self, job_id: str, new_state: str, *, allowed_from: Iterable[str], **extra: Any
    ) -> bool:
        """Move a job to ``new_state`` if it is now in ``allowed_from``; indexes follow.

        Returns:
            True when this call made the change (so exactly one caller acts on it).
        """
        key, allowed = keys.job(job_id), set(allowed_from)

        def body(pipe) -> bool:
            current, owner, create_us = pipe.hmget(key, "state", "owner", "create_us")
            if current not in allowed:
                return False
            member = _member(int(create_us), job_id)
            pipe.multi()
            pipe.hset(key, mapping={"state": new_state, **extra})
            pipe.zrem(keys.job_index(owner, current), member)
            pipe.zadd(keys.job_index(owner, new_state), {member: 0})
            if new_state in TERMINAL_JOB_STATES:
                pipe.zrem(keys.UNFINISHED_JOBS, member)
            return True

        return transaction(self.redis, body, key)

    def set_pipeline_priority(self, job_id: str, priority: int) -> JobRecord | None:
        """Record the priority its pipeline has now (a held job being released); the job."""
        key = keys.job(job_id)

        def body(pipe) -> bool:
            raw = pipe.hget(key, "doc")
            if raw is None:
                return False
            doc = json.loads(raw)
            doc["PipelinePriority"] = int(priority)
            pipe.multi()
            pipe.hset(key, "doc", json.dumps(doc))
            return True

        return self.get(job_id) if transaction(self.redis, body, key) else None

    def set_output(
        self, job_id: str, index: int, *, part: str = "", **changes: Any
    ) -> dict[str, Any]:
        """Update fields of one output's detail; a terminal detail is final.

        Once an output is ``Success``, ``Failed`` or ``Skipped`` nothing changes it again:
        a late run (a worker frozen, then requeued elsewhere, then woken up) gets the stored
        detail back instead of overwriting the result that the job already reported.

        Returns:
            The detail as stored after the call.
        """
        return self.transition_output(job_id, index, None, part=part, **changes)[0]

    def transition_output(
        self,
        job_id: str,
        index: int,
        allowed_from: Iterable[str] | None,
        *,
        part: str = "",
        **changes: Any,
    ) -> tuple[dict[str, Any], bool]:
        """Update one output's detail (or, with ``part``, one of its parts') if its
        ``Status`` is in ``allowed_from`` (None: any non-terminal status), in one atomic step.

        Returns:
            ``(detail as stored now, whether this call changed it)``.
        """
        key, field_name = keys.job(job_id), Unit(job_id, index, part).detail_field
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

    def set_group(self, job_id: str, group: int, **changes: Any) -> dict[str, Any]:
        """Update an Hls/Dash group's packaging state; once over, it is final (as an output's
        detail is: a late packaging run gets the stored state back)."""
        key, name = keys.job(job_id), f"grp:{group}"

        def body(pipe) -> dict[str, Any]:
            state = json.loads(pipe.hget(key, name) or "{}")
            if state.get("Status") not in TERMINAL_OUTPUT_STATES:
                state.update(changes)
                pipe.multi()
                pipe.hset(key, name, json.dumps(state))
            return state

        return transaction(self.redis, body, key)

    def set_rendition(self, job_id: str, index: int, info: Mapping[str, Any]) -> None:
        """What packaging needs of a finished rendition (bitrates, codecs, size, files)."""
        self.redis.hset(keys.job(job_id), f"rend:{index}", json.dumps(info))

    def first_run(self, job_id: str, at_us: int) -> bool:
        """Record that the job's first output or chunk began at ``at_us``; True for the one
        call that recorded it (later ones find it set)."""
        return bool(self.redis.hsetnx(keys.job(job_id), "run_us", at_us))

    def mark_started(self, job_id: str, index: int, worker: str = "") -> None:
        """When and where an output's encode began (scheduling tests and /v1/workers read it)."""
        self.redis.hset(
            keys.job(job_id), f"start:{index}", json.dumps({"us": now_us(), "worker": worker})
        )

    def starts(self, job_id: str) -> dict[int, dict[str, Any]]:
        raw = self.redis.hgetall(keys.job(job_id))
        return {int(k[6:]): json.loads(v) for k, v in raw.items() if k.startswith("start:")}

    def set_ffmpeg(self, job_id: str, index: int, part: str, command: str, log: str) -> None:
        """Record a unit's last FFmpeg run (``ffmpeg:{i}`` or ``ffmpeg:{i}:{part}``): its
        command line, secrets redacted, and its stderr tail (``workers.ffmpeg_record``)."""
        name = Unit(job_id, index, part).field("ffmpeg")
        self.redis.hset(keys.job(job_id), name, json.dumps({"Command": command, "Log": log}))

    def set_progress(self, job_id: str, index: int, percent: int, part: str = "") -> None:
        """Raise an output's (or a part's) progress; it never goes down, even when a
        requeued run restarts."""
        name = Unit(job_id, index, part).field("pct")
        self.redis.eval(_RAISE_FIELD, 1, keys.job(job_id), name, max(0, min(100, int(percent))))

    def cached_probe(self, job_id: str, input_index: int) -> dict[str, Any] | None:
        raw = self.redis.hget(keys.job(job_id), f"probe:{input_index}")
        return json.loads(raw) if raw else None

    def cache_probe(self, job_id: str, input_index: int, probe: Mapping[str, Any]) -> None:
        self.redis.hset(keys.job(job_id), f"probe:{input_index}", json.dumps(probe))

    def cached_measure(self, job_id: str, input_index: int, name: str) -> Any:
        """A measuring pass's value on an input (``workers.analysis``); None before it ran."""
        raw = self.redis.hget(keys.job(job_id), f"measure:{input_index}:{name}")
        return json.loads(raw) if raw else None

    def cache_measure(self, job_id: str, input_index: int, name: str, value: Any) -> None:
        self.redis.hset(keys.job(job_id), f"measure:{input_index}:{name}", json.dumps(value))

    def claim(self, job_id: str, flag: str) -> bool:
        """Set a one-shot flag on the job; True only for the first caller (HSETNX)."""
        return bool(self.redis.hsetnx(keys.job(job_id), f"flag:{flag}", now_us()))

    def unclaim(self, job_id: str, flag: str) -> None:
        """Clear a flag ``claim`` set, so that the next caller may claim it again."""
        self.redis.hdel(keys.job(job_id), f"flag:{flag}")

    def count_delivery(self, job_id: str, index: int, part: str = "") -> int:
        """Count one more delivery of a unit's task; returns the count so far."""
        name = Unit(job_id, index, part).field("deliveries")
        return int(self.redis.hincrby(keys.job(job_id), name, 1))

    def set_dispatch(self, job_id: str, index: int, task_id: str, part: str = "") -> None:
        """Record the task id of a unit's newest message (a requeue supersedes the first)."""
        self.redis.hset(keys.job(job_id), Unit(job_id, index, part).field("dispatch"), task_id)

    def dispatch(self, job_id: str, index: int, part: str = "") -> str | None:
        """The task id ``set_dispatch`` recorded; None while the first message stands."""
        return self.redis.hget(keys.job(job_id), Unit(job_id, index, part).field("dispatch"))

    def set_plan(self, job_id: str, index: int, plan: Mapping[str, Any] | None) -> None:
        """Record (or, with None, forget) how an output is split for Boost."""
        name = f"plan:{index}"
        if plan is None:
            self.redis.hdel(keys.job(job_id), name)
        else:
            self.redis.hset(keys.job(job_id), name, json.dumps(plan))

    def set_pieces(self, job_id: str, input_index: int, pieces: Mapping[str, Any]) -> None:
        """Record the pieces a Boost job's input was cut into (``workers.boost_plan``)."""
        self.redis.hset(keys.job(job_id), f"pieces:{input_index}", json.dumps(pieces))

    def ping(self) -> bool:
        """One PING, not retried: health checks answer at once while Redis is away."""
        return ping_once(self.redis)
