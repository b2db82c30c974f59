"""A job's Redis hash → its ``JobRecord``, and a new job's hash: pure, so they are tested
on canned hashes.

The store (``shared.jobstore``) reads a hash (``HGETALL``) and hands it here, and writes the
fields ``new_job`` makes for a submitted job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from shared.clock import wire_time
from shared.jobrecord import JobRecord, initial_detail
from shared.planning import GroupSpec, OutputSpec

#: The job hash's per-output fields ``{kind}:{index}`` (``{kind}:{index}:{part}`` for the
#: parts of a split output, read into ``part``, ``ppct`` and ``pffmpeg``), and how their
#: values read.
_PER_OUTPUT = {"out": orjson.loads, "pct": int, "grp": orjson.loads, "rend": orjson.loads}
_PER_OUTPUT |= {"plan": orjson.loads, "part": orjson.loads, "ppct": int, "pieces": orjson.loads}
_PER_OUTPUT |= {"start": orjson.loads, "ffmpeg": orjson.loads, "pffmpeg": orjson.loads}
#: Kinds whose whole-output and part fields go to different ``JobRecord`` fields.
_PART_KIND = {"pct": "ppct", "ffmpeg": "pffmpeg"}


def record_from_hash(job_id: str, raw: Mapping[str, str]) -> JobRecord | None:
    """The ``JobRecord`` of a job's hash (None when there is no such job)."""
    if not raw or "doc" not in raw:
        return None
    fields = _per_output(raw)
    return JobRecord(
        **_job_fields(job_id, raw),
        specs=[OutputSpec.from_dict(s) for s in orjson.loads(raw["specs"])],
        outputs=fields["out"],
        progress=fields["pct"],
        groups=[GroupSpec.from_dict(g) for g in orjson.loads(raw.get("groups") or "[]")],
        group_states=fields["grp"],
        renditions=fields["rend"],
        plans=fields["plan"],
        pieces=fields["pieces"],
        parts=fields["part"],
        part_progress=fields["ppct"],
        starts=fields["start"],
        ffmpeg=fields["ffmpeg"],
        part_ffmpeg=fields["pffmpeg"],
    )


def _job_fields(job_id: str, raw: Mapping[str, str | None]) -> dict[str, Any]:
    """The job's own fields (``LIST_FIELDS``), from a whole hash or a list's read of them."""
    return {
        "job_id": job_id,
        "owner": raw["owner"],
        "doc": orjson.loads(raw["doc"]),
        "create_us": int(raw["create_us"]),
        "state": raw["state"],
        "code": raw.get("code") or "",
        "message": raw.get("message") or "",
        "finish_us": int(raw["finish_us"]) if raw.get("finish_us") else None,
        "run_us": int(raw["run_us"]) if raw.get("run_us") else None,
    }


#: What a job list reads of a job's hash (``listed_record``), in this order.
LIST_FIELDS = ("owner", "doc", "create_us", "state", "code", "message", "finish_us", "run_us")


def listed_record(job_id: str, values: Sequence[str | None]) -> JobRecord | None:
    """The ``JobRecord`` of a job as a list shows it, from its ``LIST_FIELDS`` values (None
    when there is no such job): no outputs, specs or groups, so only a job that is not
    ``Running`` reads whole from it (its percent is 0 or 100, it has no ETA)."""
    raw = dict(zip(LIST_FIELDS, values, strict=True))
    return JobRecord(**_job_fields(job_id, raw), specs=[]) if raw["doc"] is not None else None


def _per_output(raw: Mapping[str, str]) -> dict[str, dict]:
    fields: dict[str, dict] = {kind: {} for kind in _PER_OUTPUT}
    for key, value in raw.items():
        kind, _, rest = key.partition(":")
        index, _, part = rest.partition(":")
        if part:
            kind = _PART_KIND.get(kind, kind)
        if kind not in _PER_OUTPUT or not index.isdigit():
            continue
        parsed = _PER_OUTPUT[kind](value)
        if part:
            fields[kind].setdefault(int(index), {})[part] = parsed
        else:
            fields[kind][int(index)] = parsed
    return fields


def new_job(
    job_id: str,
    owner: str,
    doc: Mapping[str, Any],
    specs: Sequence[OutputSpec],
    groups: Sequence[GroupSpec],
    fingerprint: str,
    create_us: int,
) -> tuple[dict[str, Any], JobRecord]:
    """A submitted (``Inited``) job: the fields of its hash, and its record made from the
    same values, not parsed back from their JSON (that parse was a seventh of a submit's
    CPU); ``record_from_hash`` of the fields gives the same record."""
    fields: dict[str, Any] = {
        "owner": owner,
        "doc": to_json(doc),
        "specs": to_json(specs),  # dataclasses, as their to_dict() would write them
        "create_us": create_us,
        "state": "Inited",
        "fingerprint": fingerprint,
        "groups": to_json(groups),
    }
    group_states = {group.index: {"Status": "Init"} for group in groups}
    for index, group_state in group_states.items():
        fields[f"grp:{index}"] = json.dumps(group_state)
    created = wire_time(create_us)
    outputs = {spec.index: initial_detail(job_id, spec, created) for spec in specs}
    for index, detail in outputs.items():
        fields[f"out:{index}"] = json.dumps(detail)
    record = JobRecord(
        job_id=job_id,
        owner=owner,
        doc=dict(doc),
        specs=list(specs),
        create_us=create_us,
        state="Inited",
        outputs=outputs,
        groups=list(groups),
        group_states=group_states,
    )
    return fields, record


def to_json(value: Any) -> str:
    """``value`` as compact JSON; dataclasses as dicts of their fields (orjson's, in C)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
