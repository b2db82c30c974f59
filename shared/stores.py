"""Every Redis store mcfarm has, over one client: the only place that builds them.

The API, the workers and the CLI's helpers take the stores from here; none of them reaches
into a store's Redis client.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import EventStore
from shared.fair_share import FairShare
from shared.guards import NonceStore, RateCounter
from shared.heartbeats import Heartbeats
from shared.jobstore import JobStore
from shared.pipelines import PipelineStore
from shared.queue_depth import QueueDepth
from shared.redis_conn import connect
from shared.template_store import TemplateStore
from shared.worker_registry import WorkerRegistry


@dataclass(frozen=True)
class Stores:
    jobs: JobStore
    heartbeats: Heartbeats
    pipelines: PipelineStore
    templates: TemplateStore
    events: EventStore
    workers: WorkerRegistry
    fair_share: FairShare
    nonces: NonceStore
    rates: RateCounter
    queues: QueueDepth

    @classmethod
    def connect(cls, url: str, retry_window_s: float = 20) -> Stores:
        """Stores on one client that waits out a Redis restart (``MCFARM_REDIS_RETRY_WINDOW``)."""
        client = connect(url, retry_window_s)
        return cls(
            jobs=JobStore(client),
            heartbeats=Heartbeats(client),
            pipelines=PipelineStore(client),
            templates=TemplateStore(client),
            events=EventStore(client),
            workers=WorkerRegistry(client),
            fair_share=FairShare(client),
            nonces=NonceStore(client),
            rates=RateCounter(client),
            queues=QueueDepth(client),
        )
