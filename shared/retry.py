"""Transient storage errors are waited out, with backoff, for a bounded time.

An S3 server that restarts, a network blip or a 503 must cost a job time, not the job; an
outage longer than ``MCFARM_STORAGE_RETRY_WINDOW`` must end it with a clear code, not hang
it. Workers wrap their storage in ``RetryingStorage``: every operation is retried on
``StorageUnavailable`` with exponential backoff until the window is spent, then fails with
``StorageGaveUp`` (permanent: the task does not retry it again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from shared.errors import StorageUnavailable
from shared.storage import Identity, Storage, StorageRef

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 8.0


class StorageGaveUp(StorageUnavailable):
    """Storage stayed unreachable for the whole retry window: the output fails."""

    code = "StorageUnavailable"
    permanent = True


def backoff_delays(first: float = FIRST_DELAY_S, cap: float = MAX_DELAY_S) -> Iterator[float]:
    """0.5, 1, 2, 4, 8, 8, … seconds."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, cap)


def retry_transient(
    operation: Callable[[], T],
    *,
    window_s: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``operation``, retrying ``StorageUnavailable`` with backoff for ``window_s``.

    Args:
        operation: the call to make (no arguments).
        window_s: how long to keep trying after the first failure; 0 means no retry.
        what: names the operation in logs and in the final message.
        sleep, clock: injectable for tests.

    Raises:
        StorageGaveUp: still failing when the next wait would end past the window.
        Any other error of ``operation`` at once (permanent errors are never retried).
    """
    deadline = None
    for delay in backoff_delays():
        try:
            return operation()
        except StorageGaveUp:
            raise
        except StorageUnavailable as err:
            now = clock()
            deadline = now + window_s if deadline is None else deadline
            if now + delay > deadline:
                raise StorageGaveUp(
                    f"{what}: storage unreachable for longer than {window_s:g} s "
                    f"(MCFARM_STORAGE_RETRY_WINDOW): {err.message}"
                ) from None
            log.warning("%s: %s; retrying in %.1f s", what, err.message, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # backoff_delays never ends


class RetryingStorage:
    """A ``Storage`` whose every operation is ``retry_transient``-wrapped.

    Args:
        inner: the backend.
        window_s: ``MCFARM_STORAGE_RETRY_WINDOW``.
    """

    def __init__(self, inner: Storage, window_s: float) -> None:
        self.inner = inner
        self.window_s = window_s
        self.remote_objects = inner.remote_objects

    def _retry(self, name: str, ref: StorageRef, operation: Callable[[], T]) -> T:
        return retry_transient(operation, window_s=self.window_s, what=f"{name} {ref}")

    def exists(self, ref: StorageRef) -> bool:
        return self._retry("look up", ref, lambda: self.inner.exists(ref))

    def size(self, ref: StorageRef) -> int | None:
        return self._retry("measure", ref, lambda: self.inner.size(ref))

    def identity(self, ref: StorageRef) -> Identity | None:
        return self._retry("look up", ref, lambda: self.inner.identity(ref))

    def download(self, ref: StorageRef, dest: Path) -> None:
        self._retry("download", ref, lambda: self.inner.download(ref, dest))

    def read_range(self, ref: StorageRef, start: int, stop: int) -> Iterator[bytes]:
        return self._retry("read", ref, lambda: self.inner.read_range(ref, start, stop))

    def upload(self, src: Path, ref: StorageRef) -> None:
        self._retry("upload", ref, lambda: self.inner.upload(src, ref))

    def delete(self, ref: StorageRef) -> None:
        self._retry("delete", ref, lambda: self.inner.delete(ref))

    def ensure_bucket(self, bucket: str) -> None:
        ref = StorageRef("object", bucket=bucket)
        self._retry("create bucket", ref, lambda: self.inner.ensure_bucket(bucket))

    def public_url(self, ref: StorageRef) -> str:
        return self.inner.public_url(ref)

    def local_path(self, ref: StorageRef) -> Path | None:
        return self.inner.local_path(ref)
