"""Celery tasks: thin adapters from a message to the plain functions in ``transcode``.

Tasks carry ids only and read everything else from the job store. Expected failures are
*returned* as output details so the chord callback always runs (STYLE 18); the job record,
not the Celery result, is the truth.
"""

from __future__ import annotations

import logging
import uuid

from celery import chord, shared_task
from celery.exceptions import Reject
from redis.exceptions import RedisError

from shared.dispatch import FINALIZE_JOB, START_JOB, TRANSCODE_OUTPUT
from shared.errors import StorageUnavailable, TranscodeError
from shared.jobstore import JobRecord
from shared.retry import RetryingStorage
from shared.routing import Route, WorkerCaps, celery_priority, route_output
from workers import transcode
from workers.context import TaskContext

log = logging.getLogger(__name__)

#: Options every farm task shares. Results are kept: the chord needs them.
FARM_TASK = {"bind": True, "acks_late": True, "ignore_result": False}
#: Transient storage errors: retried with exponential backoff, then the output fails.
MAX_RETRIES = 4


def _context(task) -> TaskContext:
    farm = task.app.farm
    worker = task.request.hostname or ""
    return TaskContext(
        store=farm.store,
        heartbeats=farm.stores.heartbeats,
        storage=RetryingStorage(farm.storage, farm.settings.storage_retry_window),
        settings=farm.settings,
        notifier=farm.notifier,
        worker=worker,
        gpu=_gpu_worker(farm, worker) if _delivered_from(task).startswith("gpu") else None,
    )


def _delivered_from(task) -> str:
    info = task.request.delivery_info or {}
    return info.get("routing_key") or info.get("exchange") or ""


def _gpu_worker(farm, hostname: str) -> WorkerCaps:
    """This gpu worker as it announced itself (its NVENC encoders, if its test encode
    passed); while its announcement is missing, one that decodes on its GPU only."""
    announced = farm.stores.workers.caps_of(hostname)
    return announced or WorkerCaps(hostname, ("gpu",), 1, frozenset(), False, True)


def _backoff(retries: int) -> int:
    return min(2 ** (retries + 1), 60)


@shared_task(name=START_JOB, **FARM_TASK)
def start_job(self, job_id: str) -> int:
    """Probe the job's inputs and fan its outputs out as a chord; returns the fan-out."""
    ctx = _context(self)
    try:
        specs = transcode.prepare_job(ctx, job_id)
    except StorageUnavailable as err:
        if self.request.retries >= MAX_RETRIES:
            _fail_all(ctx, job_id, err)
            return 0
        raise self.retry(
            exc=err, countdown=_backoff(self.request.retries), max_retries=MAX_RETRIES
        ) from None
    job = ctx.store.get(job_id)
    if not specs or job is None:
        return 0
    workers = self.app.farm.stores.workers.caps()
    header = [
        output_signature(self.app, job_id, s.index, _route(self.app, job, s.index, workers))
        for s in specs
    ]
    body = self.app.signature(FINALIZE_JOB, args=[job_id], immutable=True).set(
        queue="cpu", priority=celery_priority(10)
    )
    chord(header)(body)
    return len(specs)


def _route(app, job: JobRecord, index: int, workers) -> Route:
    route = route_output(job, job.specs[index], workers, app.farm.settings.gpu_policy)
    log.info("job %s output %d → %s (%s)", job.job_id, index, route.queue, route.reason)
    return route


def requeue_output(app, job: JobRecord, index: int) -> None:
    """Send one output of ``job`` again (the watchdog took it from a silent worker), routed
    as ``start_job`` routes it: same kind of queue for today's workers, same priority."""
    route = _route(app, job, index, app.farm.stores.workers.caps())
    task_id = uuid.uuid4().hex
    # Recorded first: the old message, wherever it is, no longer runs the output.
    app.farm.store.set_dispatch(job.job_id, index, task_id)
    output_signature(app, job.job_id, index, route).apply_async(task_id=task_id)


def output_signature(app, job_id: str, index: int, route: Route):
    """The message that runs one output (chord header, or a watchdog requeue)."""
    limit = app.farm.settings.task_time_limit
    return app.signature(TRANSCODE_OUTPUT, args=[job_id, index]).set(
        queue=route.queue,
        priority=route.priority,
        time_limit=limit + 60,
        soft_time_limit=limit,
    )


def _fail_all(ctx: TaskContext, job_id: str, err: TranscodeError) -> None:
    job = ctx.store.get(job_id)
    for spec in job.specs if job else []:
        transcode.fail_output(ctx, job_id, spec.index, err)


@shared_task(name=TRANSCODE_OUTPUT, **FARM_TASK)
def transcode_output(self, job_id: str, index: int) -> dict:
    """Encode one output; returns its ``OutputDetail``."""
    ctx = _context(self)
    try:
        # A retry is the same delivery; a redelivery or a requeue is a new one.
        return transcode.transcode_output(
            ctx, job_id, index, new_delivery=self.request.retries == 0
        )
    except StorageUnavailable as err:
        if self.request.retries < MAX_RETRIES:
            raise self.retry(
                exc=err, countdown=_backoff(self.request.retries), max_retries=MAX_RETRIES
            ) from None
        return transcode.fail_output(ctx, job_id, index, err)
    except RedisError as exc:
        # Redis stayed away past MCFARM_REDIS_RETRY_WINDOW: writing a failure would fail too.
        # Hand the message back; if even that cannot reach Redis, it stays unacked and the
        # watchdog restores it (workers/lost_messages.py) once Redis is back.
        raise Reject(exc, requeue=True) from None
    except Exception as exc:  # a bug: still end the output, so the job cannot hang
        log.exception("job %s output %d crashed", job_id, index)
        err = TranscodeError(f"internal error: {type(exc).__name__}: {exc}")
        return transcode.fail_output(ctx, job_id, index, err)


@shared_task(name=FINALIZE_JOB, **FARM_TASK)
def finalize_job(self, job_id: str) -> str | None:
    """Chord callback: the job's final state from the job store (safe to run twice)."""
    ctx = _context(self)
    job = ctx.store.get(job_id)
    # Backs up packaging in case the worker that ended a group's last rendition died.
    for group in job.groups if job else []:
        transcode.package(ctx, job_id, group.index)
    return transcode.finalize(ctx.store, job_id, ctx.notifier)
