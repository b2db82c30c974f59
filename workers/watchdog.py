"""The watchdog: outputs whose worker stopped beating are put back on the queue.

A worker that dies with its machine leaves its task unacknowledged; Redis would redeliver it
only after the (hours-long) visibility timeout. Every running output beats in the job store,
so any worker can notice a silent one within ``heartbeat_timeout`` and requeue it. The late
redelivery that may follow is a no-op: the output is terminal by then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared.clock import now_us
from shared.jobstore import PREFIX, JobStore

log = logging.getLogger(__name__)

LOCK_KEY = f"{PREFIX}watchdog-lock"

Requeue = Callable[[str, int, int], None]


def sweep(
    store: JobStore, requeue: Requeue, *, timeout_s: int, now: int | None = None
) -> list[tuple[str, int]]:
    """Requeue every running output whose heartbeat is older than ``timeout_s``.

    Args:
        requeue: called as ``requeue(job_id, index, priority)`` for each output put back.

    Returns:
        The ``(job_id, index)`` pairs that were requeued.
    """
    now = now_us() if now is None else now
    requeued = []
    for job_id, index in store.stale(now - timeout_s * 1_000_000):
        store.unbeat(job_id, index)
        job = store.get(job_id)
        if job is None or job.terminal or job.outputs.get(index, {}).get("Status") != "Running":
            continue
        log.warning("job %s output %d: its worker stopped beating; requeued", job_id, index)
        store.set_output(job_id, index, Status="Scheduled")
        requeue(job_id, index, job.specs[index].priority)
        requeued.append((job_id, index))
    return requeued


def expire_jobs(store: JobStore, max_runtime_s: int, now: int | None = None) -> list[str]:
    """End in ``Error`` (``JobTimeout``) every unfinished job older than ``max_runtime_s``.

    Its running outputs notice at their next progress tick and stop FFmpeg; the others are
    skipped when their task comes. Returns the ids of the jobs it ended.
    """
    now = now_us() if now is None else now
    cutoff = now - max_runtime_s * 1_000_000
    ended = []
    for state in ("Running", "Inited"):
        for key in store.redis.scan_iter(match=f"{PREFIX}idx:*:state:{state}", count=100):
            for member in store.redis.zrangebylex(key, "-", f"({cutoff:020d}:"):
                job_id = member.split(":", 1)[1]
                message = f"The job ran longer than its limit of {max_runtime_s} s (MCFARM_JOB_MAX_RUNTIME)."
                if store.transition(
                    job_id,
                    "Error",
                    allowed_from={state},
                    code="JobTimeout",
                    message=message,
                    finish_us=now,
                ):
                    log.error("job %s: %s", job_id, message)
                    ended.append(job_id)
    return ended


def sweep_if_leader(
    store: JobStore, requeue: Requeue, *, timeout_s: int, interval_s: float, max_runtime_s: int = 0
) -> list[str]:
    """Run the watchdog unless another worker did within ``interval_s`` (a Redis lock).

    Returns:
        The jobs it ended for running too long (their events are the caller's to send).
    """
    if not store.redis.set(LOCK_KEY, "1", nx=True, px=int(interval_s * 1000)):
        return []
    sweep(store, requeue, timeout_s=timeout_s)
    return expire_jobs(store, max_runtime_s) if max_runtime_s else []


@contextmanager
def heartbeat(
    store: JobStore, job_id: str, index: int, timeout_s: int, worker: str = ""
) -> Iterator[None]:
    """Beat for one output while the block runs (a few beats per timeout)."""
    stopped = threading.Event()

    def run() -> None:
        while not stopped.wait(max(timeout_s / 4, 0.5)):
            try:
                store.beat(job_id, index, worker)
            except Exception:  # Redis away for a moment: the next beat may get through
                log.warning("heartbeat of job %s output %d failed", job_id, index, exc_info=True)

    store.beat(job_id, index, worker)
    thread = threading.Thread(target=run, name=f"beat-{job_id}-{index}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join()
        store.unbeat(job_id, index)
