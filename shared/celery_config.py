"""Every Celery setting, in one place (STYLE 6), for the workers' app and the API's client.

Queues: ``cpu`` and ``gpu`` for the farm's own short tasks (a job's finalize, event
deliveries), and the fair-share slots ``cpu.0`` … ``gpu.15`` for jobs' work
(``shared.fair_share``). A worker started with ``-Q cpu`` consumes ``cpu`` and every
``cpu.N`` (``workers.celery_app``).
"""

from __future__ import annotations

from typing import Any

from kombu import Queue

from shared.config import Settings
from shared.fair_share import slot_queues
from shared.queue_depth import PRIORITY_SEP, PRIORITY_STEPS
from shared.redis_conn import publish_retry_policy
from shared.redis_url import parse_redis_url
from shared.routing import KINDS, celery_priority


def queues() -> list[Queue]:
    """Every queue: each kind, then its fair-share slots."""
    return [Queue(name) for kind in KINDS for name in (kind, *slot_queues(kind))]


def celery_config(settings: Settings) -> dict[str, Any]:
    """The settings of every Celery app of the farm."""
    redis = parse_redis_url(settings.redis_url)
    return {
        "broker_url": redis.celery_url(),
        # kombu's Redis transport, fixed so that a Redis restart cannot stop a worker.
        "broker_transport": f"shared.broker:{'SentinelTransport' if redis.sentinel else 'Transport'}",
        "result_backend": redis.celery_url(),
        "broker_connection_retry_on_startup": True,
        # A send while Redis restarts waits for it (MCFARM_REDIS_RETRY_WINDOW) instead of
        # failing: an API submit, a chord's fan-out, a watchdog requeue.
        "task_publish_retry_policy": publish_retry_policy(settings.redis_retry_window),
        # JSON only: tasks carry ids and small documents, never pickled objects.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_queues": queues(),
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
            "priority_steps": list(PRIORITY_STEPS),
            "sep": PRIORITY_SEP,
            # Round robin over queues, and every account has its own slot (fair_share):
            # BRPOP lists keys priority-first, then queues in rotation, so the highest
            # priority still wins and, within one priority, accounts take turns.
            "queue_order_strategy": "round_robin",
            **redis.transport_options(),
        },
        "result_backend_transport_options": {
            "visibility_timeout": settings.task_time_limit + 3600,
            **redis.transport_options(),
        },
        "result_expires": 7 * 24 * 3600,
        "task_track_started": True,
        # Events let Flower show tasks as they run.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
    }
