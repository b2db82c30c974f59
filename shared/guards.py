"""What the API remembers about requests, in Redis: signature nonces and request counts.

Both are shared by every API process. Key names are in ``shared.keys``.
"""

from __future__ import annotations

import redis

from shared import keys


class NonceStore:
    """Signature nonces already used (``api.signature.NonceCache``).

    ``SET … NX EX`` is atomic, so two API workers racing on one nonce cannot both win. Redis
    errors propagate: the API answers them with 503.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def use(self, key_id: str, nonce: str, ttl_s: int) -> bool:
        """Record ``nonce`` for ``ttl_s`` seconds; True when it was not seen before."""
        return bool(self.redis.set(keys.nonce(key_id, nonce), 1, nx=True, ex=max(1, ttl_s)))


class RateCounter:
    """Requests per access key in fixed one-second windows (``api.throttle.check_rate``)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def count(self, key_id: str, second: int) -> int:
        """Count one request of ``key_id`` in the window ``second``; the count so far."""
        key = keys.rate(key_id, second)
        with self.redis.pipeline() as pipe:
            count, _ = pipe.incr(key).expire(key, 2).execute()
        return int(count)
