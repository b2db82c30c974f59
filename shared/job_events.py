"""The three media-convert events of a job, each emitted once (reference §5.3).

- ``MediaConvertOutputComplete`` when an output ends (Success or Failed),
- ``MediaConvertOutputGroupComplete`` when the last output of a group ends,
- ``MediaConvertComplete`` when the job ends (Complete, Error or Cancelled).

Exactly-once is guarded by one-shot flags on the job record, since the worker that ends an
output, a watchdog-requeued copy and the chord callback may all get here.
"""

from __future__ import annotations

from typing import Any

from shared.config import user_id_for
from shared.events import Notifier
from shared.jobrecord import TERMINAL_OUTPUT_STATES, JobRecord
from shared.jobstore import JobStore
from shared.jobview import job_document


def _emit(notifier: Notifier, job: JobRecord, event_type: str, body: dict[str, Any]) -> None:
    notifier.emit(job.owner, user_id_for(job.owner), event_type, body, job.doc.get("UserData", ""))


def _base(job: JobRecord) -> dict[str, Any]:
    return {"JobId": job.job_id, "UserData": job.doc.get("UserData", "")}


def job_event_body(job: JobRecord) -> dict[str, Any]:
    doc = job_document(job)
    keys = (
        "JobId",
        "State",
        "Code",
        "Message",
        "PipelineId",
        "UserData",
        "RequestId",
        "CreateTime",
        "FinishTime",
        "OutputDetails",
        "OutputGroupDetails",
    )
    return {k: doc.get(k, "") for k in keys}


def emit_job_complete(notifier: Notifier, store: JobStore, job: JobRecord) -> bool:
    """``MediaConvertComplete`` for a terminal job, once."""
    if not job.terminal or not store.claim(job.job_id, "event:job"):
        return False
    _emit(notifier, job, "MediaConvertComplete", job_event_body(job))
    return True


def emit_output_complete(notifier: Notifier, store: JobStore, job: JobRecord, index: int) -> None:
    """``MediaConvertOutputComplete`` for one ended output, then its group's event if due."""
    detail = job.outputs.get(index, {})
    if detail.get("Status") not in ("Success", "Failed") or not store.claim(
        job.job_id, f"event:out:{index}"
    ):
        return
    _emit(notifier, job, "MediaConvertOutputComplete", {**_base(job), **detail})
    group = job.specs[index].group
    if group is not None:
        emit_group_complete(notifier, store, job, group)


def emit_group_complete(notifier: Notifier, store: JobStore, job: JobRecord, group: int) -> None:
    """``MediaConvertOutputGroupComplete`` once the group ended (Hls/Dash: once packaged)."""
    members = [s.index for s in job.specs if s.group == group]
    if any(job.outputs.get(i, {}).get("Status") not in TERMINAL_OUTPUT_STATES for i in members):
        return
    packaging = job.group_states.get(group)
    if packaging is not None and packaging.get("Status") not in ("Success", "Failed", "Skipped"):
        return
    if not store.claim(job.job_id, f"event:group:{group}"):
        return
    detail = job_document(job)["OutputGroupDetails"][group]
    _emit(notifier, job, "MediaConvertOutputGroupComplete", {**_base(job), **detail})
