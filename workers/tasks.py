"""Celery tasks: thin adapters from a message to the plain functions in ``transcode``.

Tasks carry ids only and read everything else from the job store. Expected failures are
*returned* as output details so the chord callback always runs (STYLE 18); the job record,
not the Celery result, is the truth.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from celery import chord, shared_task
from celery.exceptions import Reject
from redis.exceptions import RedisError

from shared import logs
from shared.dispatch import FINALIZE_JOB, START_JOB, TRANSCODE_OUTPUT, TRANSCODE_PART
from shared.errors import StorageUnavailable, TranscodeError
from shared.jobrecord import JobRecord
from shared.retry import RetryingStorage
from shared.routing import WorkerCaps, celery_priority, route_unit
from shared.units import Unit
from workers import transcode
from workers.context import TaskContext
from workers.endings import fail_output, finalize, package

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
        send_part=lambda job, unit: send_unit(task.app, job, unit),
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
    with logs.bind(job_id=job_id):
        return _start_job(self, job_id)


def _start_job(self, job_id: str) -> int:
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
    header = [unit_signature(self.app, job, Unit(job_id, s.index), workers) for s in specs]
    body = self.app.signature(FINALIZE_JOB, args=[job_id], immutable=True).set(
        queue="cpu", priority=celery_priority(10)
    )
    chord(header)(body)
    return len(specs)


def unit_signature(app, job: JobRecord, unit: Unit, workers: Sequence[WorkerCaps]):
    """The message that runs one unit (an output, or a part of a split one), routed by the
    one routing decision (``shared.routing.route_unit``)."""
    route = route_unit(job, unit, workers, app.farm.settings.gpu_policy)
    log.info("%s → %s (%s)", unit.member, route.queue, route.reason)
    name, args = (TRANSCODE_PART, list(unit)) if unit.part else (TRANSCODE_OUTPUT, list(unit[:2]))
    limit = app.farm.settings.task_time_limit
    return app.signature(name, args=args).set(
        queue=route.queue,
        priority=route.priority,
        time_limit=limit + 60,
        soft_time_limit=limit,
    )


def send_unit(app, job: JobRecord, unit: Unit) -> None:
    """Send a unit's message: a split output's parts and join, a requeue by the watchdog.

    The message's id is recorded first: an older message of the unit, wherever it is, no
    longer runs it (``workers.lost_messages``).
    """
    task_id = uuid.uuid4().hex
    app.farm.store.set_dispatch(job.job_id, unit.index, task_id, part=unit.part)
    signature = unit_signature(app, job, unit, app.farm.stores.workers.caps())
    signature.apply_async(task_id=task_id)


def _fail_all(ctx: TaskContext, job_id: str, err: TranscodeError) -> None:
    job = ctx.store.get(job_id)
    for spec in job.specs if job else []:
        fail_output(ctx, job_id, spec.index, err)


def _run_unit_task(task, unit: Unit) -> dict:
    """Run one unit as a task: retries of transient storage errors, Redis away, crashes."""
    with logs.bind(job_id=unit.job_id, output=unit.index, part=unit.part or None):
        return _run_unit(task, unit)


def _run_unit(task, unit: Unit) -> dict:
    ctx = _context(task)
    try:
        # A retry is the same delivery; a redelivery or a requeue is a new one.
        return transcode.run(ctx, unit, new_delivery=task.request.retries == 0)
    except StorageUnavailable as err:
        if task.request.retries < MAX_RETRIES:
            raise task.retry(
                exc=err, countdown=_backoff(task.request.retries), max_retries=MAX_RETRIES
            ) from None
        return transcode.fail_unit(ctx, unit, err)
    except RedisError as exc:
        # Redis stayed away past MCFARM_REDIS_RETRY_WINDOW: writing a failure would fail too.
        # Hand the message back; if even that cannot reach Redis, it stays unacked and the
        # watchdog restores it (workers/lost_messages.py) once Redis is back.
        raise Reject(exc, requeue=True) from None
    except Exception as exc:  # a bug: still end the unit, so the job cannot hang
        log.exception("%s crashed", unit.member)
        err = TranscodeError(f"internal error: {type(exc).__name__}: {exc}")
        return transcode.fail_unit(ctx, unit, err)


@shared_task(name=TRANSCODE_OUTPUT, **FARM_TASK)
def transcode_output(self, job_id: str, index: int) -> dict:
    """Encode one output; returns its ``OutputDetail``."""
    return _run_unit_task(self, Unit(job_id, index))


@shared_task(name=TRANSCODE_PART, **FARM_TASK)
def transcode_part(self, job_id: str, index: int, part: str) -> dict:
    """Encode one part of a split output (a chunk, its audio) or join them."""
    return _run_unit_task(self, Unit(job_id, index, part))


@shared_task(name=FINALIZE_JOB, **FARM_TASK)
def finalize_job(self, job_id: str) -> str | None:
    """Chord callback: the job's final state from the job store (safe to run twice)."""
    ctx = _context(self)
    job = ctx.store.get(job_id)
    # Backs up packaging in case the worker that ended a group's last rendition died.
    for group in job.groups if job else []:
        package(ctx, job_id, group.index)
    return finalize(ctx.store, job_id, ctx.notifier)
