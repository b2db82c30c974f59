"""Per-key request rate limit: ICE's ``Throttling.User`` with ``x-acs-retry-after``.

A fixed one-second window per access key, counted in Redis so every API process shares it.
The SDK turns the ``x-acs-retry-after`` header (milliseconds) into a ``ThrottlingException``
and, when the caller enabled retries, waits that long (reference Appendix B, item 7).
"""

from __future__ import annotations

import time

import redis

from shared.errors import ApiError
from shared.jobstore import PREFIX


class Throttled(ApiError):
    """Too many requests from one key in this second."""

    code = "Throttling.User"
    http_status = 400

    def __init__(self, retry_after_ms: int):
        super().__init__("Request was denied due to user flow control.")
        self.retry_after_ms = retry_after_ms


def check_rate(client: redis.Redis, key_id: str, limit: int, now: float | None = None) -> None:
    """Count one request of ``key_id``; raise ``Throttled`` past ``limit`` per second (0: off)."""
    if limit <= 0:
        return
    now = time.time() if now is None else now
    second = int(now)
    key = f"{PREFIX}rate:{key_id}:{second}"
    with client.pipeline() as pipe:
        count, _ = pipe.incr(key).expire(key, 2).execute()
    if count > limit:
        raise Throttled(max(1, int((second + 1 - now) * 1000)))
