"""Celery configuration shared by producers and workers, and sending tasks by name.

The API enqueues work without importing worker code (DESIGN "Layout"): it sends
``workers.start_job`` by name through a client-only Celery app built from the same
configuration as the workers' app.
"""

from __future__ import annotations

import hashlib
from typing import Any

from celery import Celery
from kombu import Queue
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from shared.config import Settings
from shared.errors import ServiceUnavailable
from shared.redis_conn import connect, publish_retry_policy

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


#: Every account queue in use; a worker consumes those of its kinds (``cpu.*``, ``gpu.*``).
ACCOUNT_QUEUES_KEY = "mcfarm:account-queues"


def account_queue(kind: str, account: str) -> str:
    """``cpu.a3f…``: an account's queue of one kind (a hash: account names are free text)."""
    return f"{kind}.{hashlib.sha1(account.encode()).hexdigest()[:12]}"


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting, in one place (STYLE 6)."""
    return {
        "broker_url": settings.redis_url,
        # kombu's Redis transport, fixed so that a Redis restart cannot stop a worker.
        "broker_transport": "shared.broker:Transport",
        "result_backend": settings.redis_url,
        "broker_connection_retry_on_startup": True,
        # A send while Redis restarts waits for it (MCFARM_REDIS_RETRY_WINDOW) instead of
        # failing: an API submit, a chord's fan-out, a watchdog requeue.
        "task_publish_retry_policy": publish_retry_policy(settings.redis_retry_window),
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
            # Round robin over queues, and every account has its own queues (account_queue):
            # BRPOP lists keys priority-first, then queues in rotation, so the highest
            # priority still wins and, within one priority, accounts take turns.
            "queue_order_strategy": "round_robin",
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
        self.redis = connect(settings.redis_url, settings.redis_retry_window)

    def _send(self, name: str, args: list, priority: int) -> None:
        try:
            self.app.send_task(name, args=args, queue="cpu", priority=celery_priority(priority))
        except (OperationalError, RedisError) as err:
            raise ServiceUnavailable(f"The job queue is not reachable: {err}") from None

    def start_job(self, job_id: str, priority: int = 6, account: str = "") -> None:
        """Enqueue the task that probes a job's inputs and fans out its outputs."""
        queue = self.account_queue("cpu", account) if account else "cpu"
        try:
            self.app.send_task(
                START_JOB, args=[job_id], queue=queue, priority=celery_priority(priority)
            )
        except (OperationalError, RedisError) as err:
            raise ServiceUnavailable(f"The job queue is not reachable: {err}") from None

    def account_queue(self, kind: str, account: str) -> str:
        """The account's own queue, announced to every worker the first time it is used."""
        queue = account_queue(kind, account)
        try:
            if self.redis.sadd(ACCOUNT_QUEUES_KEY, queue):
                # Live workers start consuming it now; workers that start later read the set.
                self.app.control.add_consumer(queue, reply=False)
        except (OperationalError, RedisError) as err:
            raise ServiceUnavailable(f"The job queue is not reachable: {err}") from None
        return queue

    def deliver_event(self, delivery_id: str) -> None:
        """Enqueue the delivery of one stored event callback, ahead of any transcode."""
        self._send(DELIVER_EVENT, [delivery_id], 10)
