"""Redis clients that ride out a Redis restart instead of failing the work in flight.

A restarted redis-server (an upgrade, a failover, a crash with AOF on) is gone for a few
seconds. redis-py's clients made with ``from_url`` do not retry at all by default, so every
job store write in flight failed: a running output crashed with ``ConnectionError`` and an
API call answered 503. These clients retry connection errors and timeouts with backoff for
up to ``MCFARM_REDIS_RETRY_WINDOW`` seconds, then raise as before.

The window is a time, not a count of tries: redis-py nests its retries (each try of a
command retries its reconnect), so a count would multiply; a deadline does not.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

from shared.redis_url import parse_redis_url

T = TypeVar("T")

#: Errors worth a retry: the server is away (refused, reset, still loading its AOF) or slow.
#: ``OSError`` because redis-py's reconnect raises the socket's own error (refused, reset)
#: to the retry, and converts it to ``ConnectionError`` only after.
TRANSIENT = (ConnectionError, TimeoutError, socket.timeout, OSError)
#: Backoff between tries: 0.1, 0.2, 0.4, 0.8, then 1 s.
BACKOFF = ExponentialBackoff(cap=1.0, base=0.05)


class RetryWindow(Retry):
    """A redis-py ``Retry`` that keeps trying until ``window_s`` passed since the first failure.

    Args:
        window_s: how long to keep trying; 0 means a single try.
        sleep, clock: injectable for tests.
    """

    def __init__(
        self,
        window_s: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(BACKOFF, -1, TRANSIENT)
        self.window_s = window_s
        self._sleep, self._clock = sleep, clock

    def call_with_retry(self, do: Callable[[], T], fail: Callable[[Exception], Any]) -> T:
        deadline, failures = None, 0
        while True:
            try:
                return do()
            except self._supported_errors as error:
                failures += 1
                fail(error)
                now = self._clock()
                deadline = now + self.window_s if deadline is None else deadline
                if now >= deadline:
                    raise
                self._sleep(min(BACKOFF.compute(failures), deadline - now))


def connect(url: str, window_s: float) -> redis.Redis:
    """A client for ``url`` (string replies) that waits out a restart of up to ``window_s``.

    For a Sentinel set (``shared.redis_url``) the client talks to the master the sentinels
    name, and asks them again when its connection fails: a failover is one more restart
    to wait out.
    """
    target = parse_redis_url(url)
    options: dict[str, Any] = {
        "decode_responses": True,
        "health_check_interval": 30,
        # A vanished host (no reset, no refusal) must not hang a worker forever.
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "retry": RetryWindow(window_s),
        "retry_on_error": list(TRANSIENT),
    }
    if not target.sentinel:
        return redis.Redis.from_url(url, **options)
    sentinels = Sentinel(list(target.sentinels), socket_connect_timeout=5, socket_timeout=5)
    return sentinels.master_for(target.master, db=target.db, password=target.password, **options)


def ping_once(client: redis.Redis) -> bool:
    """PING on a fresh connection without retries: a health check answers at once."""
    pool = client.connection_pool
    params = {
        k: v for k, v in pool.connection_kwargs.items() if k not in ("retry", "retry_on_error")
    }
    conn = pool.connection_class(**params)
    try:
        conn.send_command("PING")
        return conn.read_response() in ("PONG", b"PONG", True)
    finally:
        conn.disconnect()


def publish_retry_policy(window_s: float) -> dict[str, float]:
    """Celery's ``task_publish_retry_policy`` that keeps sending for about ``window_s``.

    Intervals 0, 0.5, 1, 1.5, 2, 2, … s (kombu's ``interval_start/step/max``): enough
    tries that their sum reaches the window.
    """
    start, step, cap = 0.0, 0.5, 2.0
    tries, waited, interval = 0, 0.0, start
    while waited < window_s:
        waited += interval
        interval = min(interval + step, cap)
        tries += 1
    return {
        "max_retries": tries,
        "interval_start": start,
        "interval_step": step,
        "interval_max": cap,
    }
