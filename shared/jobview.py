"""Pure functions over a ``JobRecord``: the wire document, the job's time left and its
final outcome.

Both APIs (ICE RPC and REST) render jobs with ``job_document``, so they return the same
document; ``final_outcome`` is what ``finalize_job`` writes.
"""

from __future__ import annotations

from typing import Any

from shared import clock
from shared.clock import wire_time
from shared.jobrecord import TERMINAL_OUTPUT_STATES, JobRecord
from shared.units import chunk_part


def output_percent(rec: JobRecord, index: int) -> int:
    """0–100: an output's progress; a split output's is its chunks', weighted by frames."""
    if rec.outputs.get(index, {}).get("Status") in TERMINAL_OUTPUT_STATES:
        return 100
    plan = rec.plans.get(index)
    if not plan:
        return rec.progress.get(index, 0)
    parts, done = rec.part_progress.get(index, {}), 0
    for number, chunk in enumerate(plan["chunks"]):
        status = rec.parts.get(index, {}).get(chunk_part(number), {}).get("Status")
        percent = 100 if status in TERMINAL_OUTPUT_STATES else parts.get(chunk_part(number), 0)
        done += chunk["frames"] * percent
    return done // max(1, sum(chunk["frames"] for chunk in plan["chunks"]))


def job_percent(rec: JobRecord) -> int:
    """0–100: the mean of the outputs' progress; 100 once the job is over."""
    if rec.terminal or not rec.specs:
        return 100 if rec.terminal else 0
    return sum(output_percent(rec, spec.index) for spec in rec.specs) // len(rec.specs)


def _seconds_left(start_us: int | None, now_us: int, percent: int) -> int | None:
    """Seconds left at the speed so far: ``percent`` done since ``start_us``, rounded up;
    None unless 0 < ``percent`` < 100 and time has passed (another host's clock may be
    ahead of this one)."""
    if start_us is None or not 0 < percent < 100 or now_us <= start_us:
        return None
    left_us = (now_us - start_us) * (100 - percent)
    return -(-left_us // (percent * 1_000_000))


def output_eta(rec: JobRecord, index: int, now_us: int) -> int | None:
    """Seconds a ``Running`` output has left, from its encode speed so far (its percent
    since it began: ``start:{i}``, or for a split output the job's first run); None
    while that is unknown (no progress yet) or the output is not running."""
    if rec.outputs.get(index, {}).get("Status") != "Running":
        return None
    start_us = rec.run_us if index in rec.plans else rec.starts.get(index, {}).get("us")
    return _seconds_left(start_us, now_us, output_percent(rec, index))


def job_eta(rec: JobRecord, now_us: int) -> int | None:
    """Seconds a ``Running`` job has left: its slowest unfinished output's; when one of
    those has no estimate (not started yet), the job's own, from its percent since its
    first output began. None when neither is known or the job is not running."""
    if rec.state != "Running":
        return None
    unfinished = [
        s.index
        for s in rec.specs
        if rec.outputs.get(s.index, {}).get("Status") not in TERMINAL_OUTPUT_STATES
    ]
    etas = [output_eta(rec, index, now_us) for index in unfinished]
    if etas and None not in etas:
        return max(etas)
    return _seconds_left(rec.run_us, now_us, job_percent(rec))


def output_detail(rec: JobRecord, index: int) -> dict[str, Any]:
    """An output's ``OutputDetail``; a split output's lists its chunks too (ours:
    ``Chunks``, each with its ``Status``, the ``Worker`` that ran it, its ``Frames`` and,
    once encoded, the ``InputBytes`` it read: its piece of the input)."""
    detail = rec.outputs[index]
    plan = rec.plans.get(index)
    if not plan:
        return detail
    parts = rec.parts.get(index, {})
    chunks = [
        {
            "Chunk": number,
            "Status": parts.get(chunk_part(number), {}).get("Status", "Init"),
            "Worker": parts.get(chunk_part(number), {}).get("Worker", ""),
            "Frames": chunk["frames"],
        }
        | _input_bytes(parts.get(chunk_part(number), {}))
        for number, chunk in enumerate(plan["chunks"])
    ]
    return {**detail, "Chunks": chunks}


def _input_bytes(part: dict[str, Any]) -> dict[str, int]:
    return {"InputBytes": part["InputBytes"]} if "InputBytes" in part else {}


def _group_status(details: list[dict[str, Any]]) -> str:
    statuses = {d.get("Status") for d in details}
    if statuses <= {"Success"}:
        return "Success"
    if statuses <= {"Skipped"}:
        return "Skipped"
    if statuses <= TERMINAL_OUTPUT_STATES:
        return "Failed" if "Failed" in statuses else "Success"
    if statuses & {"Running", "Success", "Failed", "Skipped"}:
        return "Running"
    return "Init"


def group_details(rec: JobRecord) -> list[dict[str, Any]]:
    groups = rec.doc["Config"].get("OutputGroups", [])
    result = []
    for g, group in enumerate(groups):
        details = [output_detail(rec, s.index) for s in rec.specs if s.group == g]
        failed = next((d for d in details if d.get("Status") == "Failed"), {})
        finish = [d["FinishTime"] for d in details if d.get("FinishTime")]
        status = _group_status(details)
        packaged = rec.group_states.get(g)
        if packaged is not None and status in ("Success", "Failed", "Skipped"):
            # An Hls/Dash group ends when its manifest is written (or packaging failed).
            status = (
                packaged.get("Status")
                if packaged.get("Status") in ("Success", "Failed")
                else "Running"
            )
            failed = failed or packaged
            finish = finish + ([packaged["FinishTime"]] if packaged.get("FinishTime") else [])
        entry = {
            "Name": group.get("Name", f"group{g}"),
            "TaskId": f"{rec.job_id}-g{g}",
            "Status": status,
            "Code": failed.get("Code", ""),
            "Message": failed.get("Message", ""),
            "CreateTime": wire_time(rec.create_us),
            "Outputs": details,
        }
        if status in ("Success", "Failed", "Skipped") and finish:
            entry["FinishTime"] = max(finish)
        if packaged and packaged.get("Result"):
            entry["Result"] = packaged["Result"]
        result.append(entry)
    return result


def job_document(
    rec: JobRecord, *, detail: bool = True, now_us: int | None = None
) -> dict[str, Any]:
    """The ``Job`` object of GetMediaConvertJob (``detail``) or ListMediaConvertJobs.

    Ours on top of ICE's: ``EtaSeconds`` (``job_eta`` at ``now_us``, by default now), only
    while the job is ``Running`` and the estimate is known.
    """
    doc = rec.doc
    job: dict[str, Any] = {
        "JobId": rec.job_id,
        "ClientToken": doc.get("ClientToken", ""),
        "PipelineId": doc.get("PipelineId", ""),
        "UserData": doc.get("UserData", ""),
        "RequestId": doc.get("RequestId", ""),
        "State": rec.state,
        "Code": rec.code,
        "Message": rec.message,
        "CreateTime": wire_time(rec.create_us),
        "Config": doc["Config"],
    }
    if rec.finish_us:
        job["FinishTime"] = wire_time(rec.finish_us)
    eta = job_eta(rec, clock.now_us() if now_us is None else now_us)
    if eta is not None:
        job["EtaSeconds"] = eta
    if detail:
        job["Percent"] = job_percent(rec)
        job["OutputDetails"] = [output_detail(rec, s.index) for s in rec.specs if s.group is None]
        job["OutputGroupDetails"] = group_details(rec)
    return job


def final_outcome(rec: JobRecord) -> tuple[str, str, str] | None:
    """``(State, Code, Message)`` once every output is terminal, else None.

    The job is ``Complete`` when no output failed, else ``Error`` with the first failure's
    code and message.
    """
    details = [rec.outputs.get(s.index, {}) for s in rec.specs]
    if any(d.get("Status") not in TERMINAL_OUTPUT_STATES for d in details):
        return None
    packaging = [rec.group_states.get(g.index, {}) for g in rec.groups]
    if any(p.get("Status") not in ("Success", "Failed", "Skipped") for p in packaging):
        return None
    failed = [d for d in details if d.get("Status") == "Failed"]
    failed += [p for p in packaging if p.get("Status") == "Failed"]
    if not failed:
        return "Complete", "", ""
    first = failed[0]
    return (
        "Error",
        first.get("Code", "InternalError"),
        f"{first.get('Name', 'packaging')}: {first.get('Message', '')}",
    )


def settled(rec: JobRecord) -> bool:
    """Whether nothing its document shows can change any more: the job is over, and so is
    every output, every chunk of a split one and every packaged group. The store refuses a
    change to each of those once it is over (``JobStore.transition_output``, ``set_group``),
    so a late worker cannot rewrite them; a cancelled job's running outputs still end later.
    """
    if not rec.terminal:
        return False
    over = TERMINAL_OUTPUT_STATES
    for spec in rec.specs:
        if rec.outputs.get(spec.index, {}).get("Status") not in over:
            return False
        plan = rec.plans.get(spec.index)
        parts = rec.parts.get(spec.index, {})
        for number in range(len(plan["chunks"]) if plan else 0):
            if parts.get(chunk_part(number), {}).get("Status") not in over:
                return False
    return all(rec.group_states.get(g.index, {}).get("Status") in over for g in rec.groups)
