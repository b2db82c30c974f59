"""Optimistic Redis transactions: WATCH, read, MULTI, write, retry on interference."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis

_T = TypeVar("_T")


def transaction(
    client: redis.Redis, body: Callable[[redis.client.Pipeline], _T], *watch: str
) -> _T:
    """Run ``body`` under ``WATCH watch…`` until it commits without interference.

    ``body`` reads with the pipe in immediate mode, calls ``pipe.multi()``, queues its writes
    and returns; it may return (or raise) before ``multi()`` to write nothing. When another
    client changes a watched key in between, the whole body runs again.
    """
    with client.pipeline() as pipe:
        while True:
            try:
                if watch:
                    pipe.watch(*watch)
                result = body(pipe)
                if pipe.explicit_transaction:
                    pipe.execute()
                return result
            except redis.WatchError:
                pipe.reset()
