"""The watchdog: outputs whose worker stopped beating are put back on the queue.

A worker that dies with its machine leaves its task unacknowledged; Redis would redeliver it
only after the (hours-long) visibility timeout. Every running output beats in the job store,
so any worker can notice a silent one within ``heartbeat_timeout`` and requeue it. The late
redelivery that may follow is a no-op: the output is terminal by then. A run that was only
frozen and wakes up has lost its heartbeat to the new run, and cannot overwrite the result
(a terminal output detail is final). Messages with no heartbeat to watch (a retry waiting
for its countdown, a reserved task) are the business of ``workers.lost_messages``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared import metrics
from shared.clock import now_us
from shared.heartbeats import Heartbeats
from shared.jobrecord import JobRecord
from shared.jobstore import JobStore
from shared.units import Unit

log = logging.getLogger(__name__)

#: ``requeue(job, unit)`` sends a new message for one unit (output, or part) of ``job``.
Requeue = Callable[[JobRecord, Unit], None]


def sweep(
    store: JobStore,
    beats: Heartbeats,
    requeue: Requeue,
    *,
    timeout_s: int,
    now: int | None = None,
) -> list[tuple[str, int]]:
    """Requeue every running output whose heartbeat is older than ``timeout_s``.

    An output taken away goes through the requeue outbox (``Heartbeats.take_back``), and
    leaves it only once its message is sent: a send that fails (Redis away longer than
    ``MCFARM_REDIS_RETRY_WINDOW``) is tried again by the next sweep, by any worker.

    Returns:
        The units that were requeued.
    """
    now = now_us() if now is None else now
    for unit in beats.stale(now - timeout_s * 1_000_000):
        # Unconditional: the silent run loses the unit, so it cannot beat for it again.
        beats.unbeat(unit.job_id, unit.index, part=unit.part)
        job = store.get(unit.job_id)
        # Atomic, so a unit that ended just now stays ended and is not run again.
        if job is not None and not job.terminal and beats.take_back(*unit):
            log.warning("%s: its worker stopped beating; requeued", unit.member)
    requeued = []
    for unit in beats.taken_back():
        job = store.get(unit.job_id)
        if job is not None and not job.terminal:
            requeue(job, unit)
            requeued.append(unit)
            metrics.REQUEUES.inc()
        beats.sent_back(*unit)
    return requeued


def expire_jobs(store: JobStore, max_runtime_s: int, now: int | None = None) -> list[str]:
    """End in ``Error`` (``JobTimeout``) every unfinished job older than ``max_runtime_s``.

    Its running outputs notice at their next progress tick and stop FFmpeg; the others are
    skipped when their task comes. Returns the ids of the jobs it ended.
    """
    now = now_us() if now is None else now
    cutoff = now - max_runtime_s * 1_000_000
    message = f"The job ran longer than its limit of {max_runtime_s} s (MCFARM_JOB_MAX_RUNTIME)."
    ended = []
    for job_id in store.unfinished_before(cutoff):
        if store.transition(
            job_id,
            "Error",
            allowed_from={"Inited", "Running"},
            code="JobTimeout",
            message=message,
            finish_us=now,
        ):
            log.error("job %s: %s", job_id, message)
            ended.append(job_id)
            if (job := store.get(job_id)) is not None:
                metrics.job_ended(job)
    return ended


def sweep_if_leader(
    store: JobStore,
    beats: Heartbeats,
    requeue: Requeue,
    *,
    worker: str = "",
    timeout_s: int,
    interval_s: float,
    max_runtime_s: int = 0,
    also: Callable[[], object] | None = None,
) -> list[str]:
    """Run the watchdog unless another worker did within ``interval_s`` (a Redis lock).

    Args:
        also: more watchdog work for the leader (the lost broker messages).

    Returns:
        The jobs it ended for running too long (their events are the caller's to send).
    """
    if not beats.lead(worker, interval_s):
        return []
    sweep(store, beats, requeue, timeout_s=timeout_s)
    if also is not None:
        also()
    return expire_jobs(store, max_runtime_s) if max_runtime_s else []


class Run:
    """One run of an output, as the heartbeat knows it (what ``heartbeat`` yields)."""

    def __init__(self, beats: Heartbeats, unit: Unit, run_id: str):
        self.beats, self.unit, self.run_id = beats, unit, run_id

    def owns_output(self) -> bool:
        """False once the watchdog gave the unit to another run (e.g. check before an
        upload: a run that was frozen and woke up late has nothing left to write)."""
        return self.beats.owner(*self.unit) == self.run_id


@contextmanager
def heartbeat(
    beats: Heartbeats, job_id: str, index: int, timeout_s: int, worker: str = "", part: str = ""
) -> Iterator[Run]:
    """Beat for one output while the block runs (a few beats per timeout).

    The block's run owns the output's heartbeat. When the watchdog took the output away
    (this process was frozen or cut off longer than ``timeout_s``), the beats stop counting
    and the block ends without touching the heartbeat of the run that replaced it.
    """
    stopped, unit = threading.Event(), Unit(job_id, index, part)
    run_id = beats.start_beating(job_id, index, worker, part)

    def run() -> None:
        while not stopped.wait(max(timeout_s / 4, 0.5)):
            try:
                if not beats.beat(job_id, index, worker, run=run_id, part=part):
                    log.warning(
                        "%s was requeued while this worker was silent; another run owns it now",
                        unit.member,
                    )
                    return
            except Exception:  # Redis away for a moment: the next beat may get through
                log.warning("heartbeat of %s failed", unit.member, exc_info=True)

    thread = threading.Thread(target=run, name=f"beat-{unit.member}", daemon=True)
    thread.start()
    try:
        yield Run(beats, unit, run_id)
    finally:
        stopped.set()
        thread.join()
    # Only on success: after an error the heartbeat is left to go stale, and the watchdog
    # requeues the output if nothing ended it (Redis was away when the error was written).
    beats.unbeat(job_id, index, run=run_id, part=part)
