"""Per-key request rate limit, and the delay of failed authentications.

The rate limit is ICE's ``Throttling.User`` with ``x-acs-retry-after``: a fixed one-second
window per access key, counted in Redis so every API process shares it. The SDK turns the
``x-acs-retry-after`` header (milliseconds) into a ``ThrottlingException`` and, when the
caller enabled retries, waits that long (reference Appendix B, item 7).

A request whose signature or credentials fail counts against no key (it proved none), so
the rate limit cannot stop a flood of forged ones; ``FailureDelay`` slows such a flood down.
"""

from __future__ import annotations

import threading
import time

from api.turns import Turns
from shared.errors import ApiError
from shared.guards import RateCounter


class Throttled(ApiError):
    """Too many requests from one key in this second."""

    code = "Throttling.User"
    http_status = 400

    def __init__(self, retry_after_ms: int):
        super().__init__("Request was denied due to user flow control.")
        self.retry_after_ms = retry_after_ms


def check_rate(counter: RateCounter, key_id: str, limit: int, now: float | None = None) -> None:
    """Count one request of ``key_id``; raise ``Throttled`` past ``limit`` per second (0: off)."""
    if limit <= 0:
        return
    now = time.time() if now is None else now
    second = int(now)
    if counter.count(key_id, second) > limit:
        raise Throttled(max(1, int((second + 1 - now) * 1000)))


class FailureDelay:
    """Answer failed authentications late, in a bounded number of threads at a time.

    Rejecting a forged signature is cheap, but a client that sends the next one as soon as
    the last is answered (a flood from N threads) would still keep every core busy and good
    requests queued behind it. Held back ``delay_s`` in a sleeping thread, each flooding
    thread sends at most ``1 / delay_s`` requests a second and costs next to no CPU; a
    legitimate caller with a wrong secret notices nothing. At most ``max_waiting`` requests
    of this process wait at once: beyond that the answer goes out at once, so that a flood
    from many connections cannot hold every thread (good requests need some of them).
    """

    @classmethod
    def for_threads(cls, delay_s: float, threads: int, turns: Turns | None = None) -> FailureDelay:
        """A delay for a process of ``threads`` threads that keeps up to 4 of them free."""
        return cls(delay_s, threads - min(4, (threads + 1) // 2), turns)

    def __init__(self, delay_s: float, max_waiting: int, turns: Turns | None = None):
        self.delay_s = delay_s
        self._slots = threading.BoundedSemaphore(max(0, max_waiting))
        #: The process's turns (``api.turns``): a waiting thread sleeps out of its turn.
        self._turns = turns or Turns(0)

    def wait(self) -> None:
        if self.delay_s <= 0 or not self._slots.acquire(blocking=False):
            return
        try:
            with self._turns.stepped_out():
                time.sleep(self.delay_s)
        finally:
            self._slots.release()
