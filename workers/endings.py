"""How an output ends, and with the last one its job: events, packaging, the final state.

Every path that ends an output comes here (a whole output's run, a split output's join, a
failed input at the job's start, a delivery cap), so an output's event, its group's
packaging and the job's finalizing happen the same way whoever ended it.
"""

from __future__ import annotations

import logging
from typing import Any

from shared import metrics
from shared.clock import now_us, wire_time
from shared.errors import TranscodeError
from shared.events import Notifier
from shared.job_events import emit_group_complete, emit_job_complete, emit_output_complete
from shared.jobstore import JobStore
from shared.jobview import final_outcome
from workers import adaptive
from workers.context import TaskContext

log = logging.getLogger(__name__)


def finish_output(
    ctx: TaskContext, job_id: str, index: int, detail: dict[str, Any]
) -> dict[str, Any]:
    """After an output ended: its event, its group's packaging, then the job's end if it
    was the last one.

    Every output tries to finalize: a watchdog-requeued output is outside the chord, and
    the chord callback then only backs this up.
    """
    job = ctx.store.get(job_id)
    if job is not None and ctx.notifier is not None:
        emit_output_complete(ctx.notifier, ctx.store, job, index)
    if detail.get("Status") == "Success":
        metrics.output_succeeded(detail)
    if job is not None and job.specs[index].segmented:
        package(ctx, job_id, job.specs[index].group)
    finalize(ctx.store, job_id, ctx.notifier)
    return detail


def fail_output(ctx: TaskContext, job_id: str, index: int, err: TranscodeError) -> dict[str, Any]:
    """End an output ``Failed`` with the error's code and message."""
    log.error("job %s output %d failed: %s", job_id, index, err)
    detail = ctx.store.set_output(
        job_id,
        index,
        Status="Failed",
        Code=err.code,
        Message=err.message,
        FinishTime=wire_time(now_us()),
    )
    return finish_output(ctx, job_id, index, detail)


def skip_output(ctx: TaskContext, job_id: str, index: int, message: str) -> dict[str, Any]:
    """End an output ``Skipped`` (its job ended first): no event, the job is over."""
    return ctx.store.set_output(
        job_id, index, Status="Skipped", Message=message, FinishTime=wire_time(now_us())
    )


def package(ctx: TaskContext, job_id: str, group: int) -> None:
    """Package an Hls/Dash group if it is due, then announce it."""
    job = ctx.store.get(job_id)
    if (
        job is not None
        and adaptive.package_when_ready(ctx, job, group) is not None
        and ctx.notifier
    ):
        emit_group_complete(ctx.notifier, ctx.store, ctx.store.get(job_id), group)


def finalize(store: JobStore, job_id: str, notifier: Notifier | None = None) -> str | None:
    """Write the job's final state once every output is terminal; safe to call twice.

    Returns:
        The final state, or None while some output is still pending.
    """
    job = store.get(job_id)
    if job is None:
        return None
    if job.terminal:
        return job.state
    outcome = final_outcome(job)
    if outcome is None:
        return None
    state, code, message = outcome
    ended = store.transition(
        job_id,
        state,
        allowed_from={"Inited", "Running"},
        code=code,
        message=message,
        finish_us=now_us(),
    )
    if ended and (job := store.get(job_id)) is not None:
        metrics.job_ended(job)
        if notifier is not None:
            emit_job_complete(notifier, store, job)
    return state
