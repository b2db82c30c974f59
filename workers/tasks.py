"""Celery tasks: thin adapters from a message to the plain functions in ``transcode``.

Tasks carry ids only and read everything else from the job store. Expected failures are
*returned* as output details so the chord callback always runs (STYLE 18); the job record,
not the Celery result, is the truth.
"""

from __future__ import annotations

import logging

from celery import chord, shared_task
from celery.exceptions import Reject
from redis.exceptions import RedisError

from shared.dispatch import (
    FINALIZE_JOB,
    START_JOB,
    TRANSCODE_OUTPUT,
    account_queue,
    celery_priority,
    output_priority,
)
from shared.errors import StorageUnavailable, TranscodeError
from shared.retry import RetryingStorage
from shared.routing import WorkerCaps, choose_queue
from shared.worker_registry import WorkerRegistry
from workers import transcode

log = logging.getLogger(__name__)

#: Options every farm task shares. Results are kept: the chord needs them.
FARM_TASK = {"bind": True, "acks_late": True, "ignore_result": False}
#: Transient storage errors: retried with exponential backoff, then the output fails.
MAX_RETRIES = 4


def _tools(task) -> transcode.Tools:
    farm = task.app.farm
    return transcode.Tools(
        store=farm.store,
        storage=RetryingStorage(farm.storage, farm.settings.storage_retry_window),
        settings=farm.settings,
        notifier=farm.notifier,
        worker=task.request.hostname or "",
        hardware="gpu" if _delivered_from(task).startswith("gpu") else "cpu",
        encoders=task.app.farm.encoders if _delivered_from(task).startswith("gpu") else frozenset(),
    )


def _delivered_from(task) -> str:
    info = task.request.delivery_info or {}
    return info.get("routing_key") or info.get("exchange") or ""


def live_worker_caps(client) -> list[WorkerCaps]:
    """The registry's live workers as the routing decision reads them."""
    caps = []
    for info in WorkerRegistry(client).alive():
        gpu = info.get("gpu") or {}
        caps.append(
            WorkerCaps(
                hostname=info["hostname"],
                queues=tuple(info.get("queues", ())),
                concurrency=int(info.get("concurrency") or 0),
                encoders=frozenset(info.get("encoders", ())),
                gpu_encode=bool(gpu.get("encode")),
                gpu_decode=bool(gpu.get("decode")),
            )
        )
    return caps


def _backoff(retries: int) -> int:
    return min(2 ** (retries + 1), 60)


@shared_task(name=START_JOB, **FARM_TASK)
def start_job(self, job_id: str) -> int:
    """Probe the job's inputs and fan its outputs out as a chord; returns the fan-out."""
    tools = _tools(self)
    try:
        specs = transcode.prepare_job(tools, job_id)
    except StorageUnavailable as err:
        if self.request.retries >= MAX_RETRIES:
            _fail_all(tools, job_id, err)
            return 0
        raise self.retry(
            exc=err, countdown=_backoff(self.request.retries), max_retries=MAX_RETRIES
        ) from None
    if not specs:
        return 0
    job = tools.store.get(job_id)
    shift = job.doc.get("PipelinePriority", 6) if job else 6
    workers = live_worker_caps(tools.store.redis)
    header = []
    for s in specs:
        kind, reason = choose_queue(s.config, s.features, workers, tools.settings.gpu_policy)
        log.info("job %s output %d → %s (%s)", job_id, s.index, kind, reason)
        queue = account_queue(kind, job.owner) if job else kind
        header.append(
            output_signature(self.app, job_id, s.index, output_priority(s.priority, shift), queue)
        )
    body = self.app.signature(FINALIZE_JOB, args=[job_id], immutable=True).set(
        queue="cpu", priority=0
    )
    chord(header)(body)
    return len(specs)


def output_signature(app, job_id: str, index: int, priority: int, queue: str = "cpu"):
    """The message that runs one output (chord header, or a watchdog requeue)."""
    limit = app.farm.settings.task_time_limit
    return app.signature(TRANSCODE_OUTPUT, args=[job_id, index]).set(
        queue=queue,
        priority=celery_priority(priority),
        time_limit=limit + 60,
        soft_time_limit=limit,
    )


def _fail_all(tools: transcode.Tools, job_id: str, err: TranscodeError) -> None:
    job = tools.store.get(job_id)
    for spec in job.specs if job else []:
        transcode.fail_output(tools, job_id, spec.index, err)


@shared_task(name=TRANSCODE_OUTPUT, **FARM_TASK)
def transcode_output(self, job_id: str, index: int) -> dict:
    """Encode one output; returns its ``OutputDetail``."""
    tools = _tools(self)
    try:
        # A retry is the same delivery; a redelivery or a requeue is a new one.
        return transcode.transcode_output(
            tools, job_id, index, new_delivery=self.request.retries == 0
        )
    except StorageUnavailable as err:
        if self.request.retries < MAX_RETRIES:
            raise self.retry(
                exc=err, countdown=_backoff(self.request.retries), max_retries=MAX_RETRIES
            ) from None
        return transcode.fail_output(tools, job_id, index, err)
    except RedisError as exc:
        # Redis stayed away past MCFARM_REDIS_RETRY_WINDOW: writing a failure would fail too.
        # Hand the message back; if even that cannot reach Redis, it stays unacked and the
        # watchdog restores it (workers/lost_messages.py) once Redis is back.
        raise Reject(exc, requeue=True) from None
    except Exception as exc:  # a bug: still end the output, so the job cannot hang
        log.exception("job %s output %d crashed", job_id, index)
        err = TranscodeError(f"internal error: {type(exc).__name__}: {exc}")
        return transcode.fail_output(tools, job_id, index, err)


@shared_task(name=FINALIZE_JOB, **FARM_TASK)
def finalize_job(self, job_id: str) -> str | None:
    """Chord callback: the job's final state from the job store (safe to run twice)."""
    tools = _tools(self)
    job = tools.store.get(job_id)
    # Backs up packaging in case the worker that ended a group's last rendition died.
    for group in job.groups if job else []:
        transcode.package(tools, job_id, group.index)
    return transcode.finalize(tools.store, job_id, tools.notifier)
