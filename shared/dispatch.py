"""Sending farm tasks by name, and the names themselves.

The API enqueues work without importing worker code (DESIGN "Layout"): it sends
``workers.start_job`` by name through a client-only Celery app built from the same
configuration as the workers' app (``shared.celery_config``).
"""

from __future__ import annotations

from celery import Celery
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from shared.celery_config import celery_config
from shared.config import Settings
from shared.errors import ServiceUnavailable
from shared.events import EventStore, Notifier
from shared.jobrecord import JobRecord
from shared.routing import celery_priority, route_start

START_JOB = "workers.start_job"
TRANSCODE_OUTPUT = "workers.transcode_output"
#: One part of an output split for Boost: a chunk, its audio or the join (``shared.units``).
TRANSCODE_PART = "workers.transcode_part"
FINALIZE_JOB = "workers.finalize_job"
DELIVER_EVENT = "workers.deliver_event"
#: Event deliveries go ahead of any transcode (they are short and someone waits for them).
DELIVER_EVENT_PRIORITY = celery_priority(10)


class Dispatcher:
    """Sends farm tasks by name; knows nothing of their code."""

    def __init__(self, app: Celery):
        self.app = app

    @classmethod
    def client(cls, settings: Settings) -> Dispatcher:
        """A dispatcher on a client-only app (the API's): it sends, never runs, tasks."""
        app = Celery("mcfarm-client", set_as_current=False)
        app.conf.update(celery_config(settings))
        return cls(app)

    def _send(self, name: str, args: list, queue: str, priority: int) -> None:
        try:
            # Nobody waits for these results: without ignore_result every send also
            # subscribed to the result's channel on Redis (three more round trips).
            self.app.send_task(name, args=args, queue=queue, priority=priority, ignore_result=True)
        except (OperationalError, RedisError) as err:
            raise ServiceUnavailable(f"The job queue is not reachable: {err}") from None

    def start_job(self, job: JobRecord) -> None:
        """Enqueue the task that probes a job's inputs and fans out its outputs."""
        route = route_start(job)
        self._send(START_JOB, [job.job_id], route.queue, route.priority)

    def notifier(self, settings: Settings, events: EventStore) -> Notifier:
        """A notifier whose deliveries (``workers.deliver_event``) this dispatcher queues."""
        return Notifier(events, self.deliver_event, allow_private=settings.allow_private_callbacks)

    def deliver_event(self, delivery_id: str) -> None:
        """Enqueue the delivery of one stored event callback."""
        self._send(DELIVER_EVENT, [delivery_id], "cpu", DELIVER_EVENT_PRIORITY)
