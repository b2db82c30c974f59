"""How much work waits in the broker, and how much workers hold: read for ``/metrics``.

kombu's Redis transport keeps each queue as several lists, one per priority step
(``cpu.3`` for the highest, ``cpu.3:1`` … ``cpu.3:9`` after it: ``priority_steps`` and
``sep`` in ``shared.celery_config``), and every kind of queue has its fair-share slots
(``shared.fair_share``); a plain ``LLEN cpu`` sees none of those. A message a worker took
and has not acknowledged (running, or reserved for its next task) is in kombu's ``unacked``
hash, keyed by delivery tag, as ``[message, exchange, routing_key]``.
"""

from __future__ import annotations

import json

import redis

from shared.fair_share import slot_queues
from shared.routing import KINDS

#: kombu's Redis transport: its priority steps, the separator of a step's list name, and
#: the hash of unacknowledged messages (its defaults, which ``celery_config`` keeps).
PRIORITY_STEPS = range(10)
PRIORITY_SEP = ":"
UNACKED = "unacked"


def queue_lists(kind: str) -> list[str]:
    """Every Redis list a message for a ``kind`` worker may wait in."""
    lists = []
    for queue in (kind, *slot_queues(kind)):
        lists += [queue if not step else f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS]
    return lists


def kind_of(routing_key: str) -> str:
    """``cpu`` for ``cpu``, ``cpu.3`` or ``cpu.3:2``."""
    return routing_key.split(PRIORITY_SEP)[0].split(".")[0]


class QueueDepth:
    """Reads the broker's lists (``waiting``) and unacknowledged messages (``reserved``)."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def waiting(self) -> dict[str, int]:
        """Messages waiting for a worker, per kind of queue."""
        with self.redis.pipeline(transaction=False) as pipe:
            for kind in KINDS:
                for name in queue_lists(kind):
                    pipe.llen(name)
            lengths = iter(pipe.execute())
        return {kind: sum(next(lengths) for _ in queue_lists(kind)) for kind in KINDS}

    def reserved(self) -> dict[str, int]:
        """Messages taken by a worker and not yet acknowledged, per kind of queue."""
        counts = dict.fromkeys(KINDS, 0)
        for raw in self.redis.hvals(UNACKED):
            try:
                kind = kind_of(str(json.loads(raw)[2]))
            except (ValueError, IndexError, TypeError):
                continue
            if kind in counts:
                counts[kind] += 1
        return counts
