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
    return transaction_replies(client, body, *watch)[0]


def transaction_replies(
    client: redis.Redis, body: Callable[[redis.client.Pipeline], _T], *watch: str
) -> tuple[_T, list]:
    """``transaction``, with the replies of the queued commands (``[]`` when none ran)."""
    with client.pipeline() as pipe:
        while True:
            try:
                if watch:
                    pipe.watch(*watch)
                result = body(pipe)
                replies = pipe.execute() if pipe.explicit_transaction else []
                return result, replies
            except redis.WatchError:
                pipe.reset()
