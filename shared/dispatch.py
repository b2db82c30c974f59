"""Celery configuration shared by producers and workers, and sending tasks by name.

The API enqueues work without importing worker code (DESIGN "Layout"): it sends
``workers.start_job`` by name through a client-only Celery app built from the same
configuration as the workers' app.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from shared.config import Settings
from shared.errors import ServiceUnavailable

QUEUES = ("cpu", "gpu")
START_JOB = "workers.start_job"
TRANSCODE_OUTPUT = "workers.transcode_output"
FINALIZE_JOB = "workers.finalize_job"
DELIVER_EVENT = "workers.deliver_event"


def celery_priority(priority: int) -> int:
    """ICE priority 1–10 (higher first) → Redis transport priority 0–9 (0 first)."""
    return 10 - max(1, min(10, int(priority)))


def output_priority(output: int, pipeline: int = 6) -> int:
    """An output's effective priority: its own (1–10), shifted by its pipeline's (6 neutral)."""
    return max(1, min(10, int(output) + int(pipeline) - 6))


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting, in one place (STYLE 6)."""
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        # JSON only: tasks carry ids and small documents, never pickled objects.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_queues": [Queue(name) for name in QUEUES],
        "task_default_queue": "cpu",
        "task_routes": {"workers.*": {"queue": "cpu"}},
        # A task is acknowledged after it ran, so a worker lost mid-encode loses nothing;
        # safe only because every task is idempotent.
        "task_acks_late": True,
        # A child killed mid-task (OOM, segfault) puts its message back at once; the job
        # store caps deliveries per output (MCFARM_MAX_DELIVERIES), so this cannot loop.
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_priority": celery_priority(6),
        "broker_transport_options": {
            # Longer than the longest task, else Redis redelivers work still running.
            "visibility_timeout": settings.task_time_limit + 3600,
            # Real priorities on Redis (measured in DESIGN "Engine facts").
            "priority_steps": list(range(10)),
            "sep": ":",
            "queue_order_strategy": "priority",
        },
        "result_backend_transport_options": {"visibility_timeout": settings.task_time_limit + 3600},
        "result_expires": 7 * 24 * 3600,
        "task_track_started": True,
        # Events let Flower show tasks as they run.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
    }


class Dispatcher:
    """Sends farm tasks by name; knows nothing of their code."""

    def __init__(self, settings: Settings):
        self.app = Celery("mcfarm-client", set_as_current=False)
        self.app.conf.update(celery_config(settings))

    def _send(self, name: str, args: list, priority: int) -> None:
        try:
            self.app.send_task(name, args=args, queue="cpu", priority=celery_priority(priority))
        except (OperationalError, RedisError) as err:
            raise ServiceUnavailable(f"The job queue is not reachable: {err}") from None

    def start_job(self, job_id: str, priority: int = 6) -> None:
        """Enqueue the task that probes a job's inputs and fans out its outputs."""
        self._send(START_JOB, [job_id], priority)

    def deliver_event(self, delivery_id: str) -> None:
        """Enqueue the delivery of one stored event callback, ahead of any transcode."""
        self._send(DELIVER_EVENT, [delivery_id], 10)
