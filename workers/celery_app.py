"""The workers' Celery app: ``make_celery(settings)`` and what a worker needs at hand."""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import cached_property

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_after_setup,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from celery.worker import state as worker_state

from shared import logs, metrics
from shared.celery_config import celery_config
from shared.config import Settings
from shared.dispatch import Dispatcher
from shared.events import Notifier
from shared.fair_share import slot_queues
from shared.job_events import emit_job_complete
from shared.jobstore import JobStore
from shared.routing import KINDS
from shared.storage import Storage, make_storage
from shared.stores import Stores
from shared.worker_registry import WORKER_TTL_S
from workers.capabilities import WorkerNotCapable, check_worker, describe_worker
from workers.lost_messages import recover
from workers.metrics_server import serve_metrics
from workers.tasks import send_unit
from workers.watchdog import sweep_if_leader

log = logging.getLogger(__name__)


class FarmContext:
    """Settings and clients for task code; built lazily so Flower never opens S3."""

    def __init__(self, settings: Settings, app: Celery):
        self.settings = settings
        self.app = app

    @cached_property
    def stores(self) -> Stores:
        return Stores.connect(self.settings.redis_url, self.settings.redis_retry_window)

    @property
    def store(self) -> JobStore:
        return self.stores.jobs

    @cached_property
    def storage(self) -> Storage:
        return make_storage(self.settings)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        return Dispatcher(self.app)

    @cached_property
    def notifier(self) -> Notifier:
        return self.dispatcher.notifier(self.settings, self.stores.events)


def make_celery(settings: Settings) -> Celery:
    """Build the workers' app; ``app.farm`` holds the ``FarmContext`` tasks use."""
    app = Celery("mcfarm", set_as_current=True)
    app.conf.update(celery_config(settings))
    app.farm = FarmContext(settings, app)
    # Importing registers the shared tasks on this (current) app.
    import workers.notify  # noqa: F401
    import workers.tasks  # noqa: F401

    return app


@celeryd_after_setup.connect
def _consume_fair_share_slots(sender, instance, **kwargs) -> None:
    """A worker of a kind (``-Q cpu``) consumes that kind's every fair-share slot too, from
    its start: an account's first job waits for no announcement (``shared.fair_share``)."""
    queues = instance.app.amqp.queues
    for kind in KINDS:
        if kind in queues.consume_from:
            for name in slot_queues(kind):
                queues.select_add(name)


def held_task_ids() -> set[str]:
    """The ids of the tasks this worker process holds: running, reserved, or waiting for
    their countdown (Celery's own bookkeeping, read from the heartbeat thread)."""
    for _ in range(5):
        try:
            return set(worker_state.requests) | {r.id for r in worker_state.scheduled_requests}
        except RuntimeError:  # changed while we read it: read again
            continue
    return set(worker_state.requests)


class _Heartbeat(threading.Thread):
    """Refreshes this worker's registry keys and runs the watchdog until shutdown."""

    def __init__(self, app: Celery, hostname: str, info: dict):
        super().__init__(name="mcfarm-heartbeat", daemon=True)
        self.app, self.registry = app, app.farm.stores.workers
        self.hostname, self.info = hostname, info
        self.stopped = threading.Event()
        #: Since when every beat got through (None: the last one failed).
        self.healthy_since: float | None = None
        #: The leader's broker connection, to read kombu's ``unacked`` set (made on first use).
        self.broker = None

    def _recover_lost_messages(self, window_s: float) -> None:
        """Put back the messages no live worker holds (``workers.lost_messages``).

        Only after ``window_s`` of good beats: every live worker has then announced what it
        holds again, even after Redis was away for longer than those announcements last.
        """
        if self.healthy_since is None or time.monotonic() - self.healthy_since < window_s:
            return
        if self.broker is None:
            self.broker = self.app.connection_for_write()
        try:
            channel = self.broker.default_channel
            farm = self.app.farm
            recover(
                channel,
                farm.store,
                farm.stores.heartbeats,
                held=farm.stores.workers.held,
                grace_s=window_s,
                now_s=time.time(),
            )
        except Exception:
            self.broker.release()  # a fresh connection next time
            self.broker = None
            raise

    def run(self) -> None:
        timeout = self.app.farm.settings.heartbeat_timeout
        interval = min(WORKER_TTL_S / 3, max(timeout / 3, 1))
        # How long an announcement of held tasks lasts, and how old a message must be before
        # it counts as lost: three beats, so one late beat is no false alarm.
        window = 3 * interval
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                self.registry.beat(self.hostname, self.info)
                self.registry.hold(self.hostname, held_task_ids(), window)
                if self.healthy_since is None or time.monotonic() - started > interval:
                    # A beat that waited out a Redis restart starts the clock again too.
                    self.healthy_since = time.monotonic()
                farm = self.app.farm
                expired = sweep_if_leader(
                    farm.store,
                    farm.stores.heartbeats,
                    lambda job, unit: send_unit(self.app, job, unit),
                    worker=self.hostname,
                    timeout_s=timeout,
                    interval_s=interval,
                    max_runtime_s=farm.settings.job_max_runtime,
                    also=lambda: self._recover_lost_messages(window),
                )
                for job_id in expired:
                    emit_job_complete(farm.notifier, farm.store, farm.store.get(job_id))
            except Exception:  # Redis briefly away: keep trying, /readyz will say so.
                self.healthy_since = None
                log.warning("worker heartbeat failed", exc_info=True)
            self.stopped.wait(interval)


_heartbeats: dict[str, _Heartbeat] = {}


@worker_ready.connect
def _start_heartbeat(sender, **kwargs) -> None:
    app = sender.app
    if not hasattr(app, "farm"):
        return
    # The kinds it serves (cpu, gpu): every worker of a kind consumes all its slots.
    queues = sorted(q for q in app.amqp.queues.consume_from if q in KINDS)
    settings = app.farm.settings
    try:
        encoders = check_worker(settings, queues)
        info = describe_worker(
            settings, queues, getattr(sender.controller, "concurrency", 0), encoders
        )
    except WorkerNotCapable as err:  # mcfarm worker checked already; celery -A … may not have
        log.error("this worker cannot transcode: %s", err)
        info = {"queues": queues, "error": str(err)}
    beat = _Heartbeat(app, sender.hostname, info)
    _heartbeats[sender.hostname] = beat
    beat.start()
    serve_metrics(settings)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _json_logs(logger=None, **kwargs) -> None:
    """``MCFARM_LOG_FORMAT=json``: Celery's log handlers write JSON lines (``shared.logs``)."""
    if logger is not None and Settings.from_env().log_format == "json":
        logs.use_json(logger.handlers)


@worker_process_shutdown.connect
def _pool_process_ended(pid=None, **kwargs) -> None:
    metrics.process_ended(pid or os.getpid())


@worker_shutdown.connect
def _stop_heartbeat(sender, **kwargs) -> None:
    beat = _heartbeats.pop(getattr(sender, "hostname", ""), None)
    if beat:
        beat.stopped.set()
        beat.join(timeout=10)
        beat.registry.drop(beat.hostname)
        if beat.broker is not None:
            beat.broker.release()
