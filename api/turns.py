"""Turns: how many of an API process's threads run request code at once, in arrival order.

An API process has more threads than it has CPU for (``MCFARM_API_THREADS``): some are
there to sleep through a failed authentication's delay (``api.throttle.FailureDelay``).
Left to themselves, every thread with a request competes for the GIL, which favours none:
a request could lose that race many times in a row, and on 2 cores the slowest 1 % of Gets
took 3–4 times the median (``make bench-api``). With turns, at most ``count`` threads run
request code at once (``MCFARM_API_ACTIVE_THREADS``) and the others wait, first come first
served, without competing for anything.

A thread that waits for something slow inside a request (a failed authentication's delay,
remote storage, DNS) steps out of its turn (``stepped_out``) and lines up again after.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

#: The WSGI environ key holding when the request reached the app (``time.perf_counter``),
#: before its wait for a turn: the API's latency (metrics, access line) counts from it.
RECEIVED = "mcfarm.received"


class Turns:
    """At most ``count`` holders at once, admitted in arrival order; 0 admits everyone."""

    def __init__(self, count: int):
        self.count = count
        self._mutex = threading.Lock()
        self._free = count
        #: One locked lock per waiting thread, oldest first; releasing it hands that thread
        #: the turn (never counted free in between, so no newcomer takes it first).
        self._waiting: deque[threading.Lock] = deque()

    @property
    def waiting(self) -> int:
        """How many threads wait for a turn now."""
        return len(self._waiting)

    def take(self) -> None:
        """Wait for a turn."""
        if not self.count:
            return
        with self._mutex:
            if self._free:
                self._free -= 1
                return
            baton = threading.Lock()
            baton.acquire()
            self._waiting.append(baton)
        baton.acquire()

    def give(self) -> None:
        """End a turn: the oldest waiting thread's begins."""
        if not self.count:
            return
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._free += 1

    @contextmanager
    def stepped_out(self) -> Iterator[None]:
        """Give the turn up while waiting on something slow; take one again after."""
        self.give()
        try:
            yield
        finally:
            self.take()

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """``app`` (WSGI) called in a turn. The answer's body is read after the turn ends:
        a streamed one (a preview's bytes) waits on the client, not on the CPU."""

        def in_turn(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
            environ[RECEIVED] = time.perf_counter()
            self.take()
            try:
                return app(environ, start_response)
            finally:
                self.give()

        return in_turn
