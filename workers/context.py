"""What a task's plain functions work with: ``TaskContext`` (collaborators) and ``Encode``
(one output's run), typed, so ``workers.transcode`` and ``workers.adaptive`` share them and
tests can inject recording fakes (STYLE 21).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared import metrics
from shared.config import Settings
from shared.errors import FfmpegFailed
from shared.events import Notifier
from shared.heartbeats import Heartbeats
from shared.jobrecord import JobRecord
from shared.jobstore import JobStore
from shared.routing import WorkerCaps
from shared.storage import Storage
from shared.units import Unit
from workers.ffmpeg_record import command_line, log_tail
from workers.ffmpeg_run import run_ffmpeg
from workers.probe import ProbeInfo, run_probe


class Runner(Protocol):
    """``workers.ffmpeg_run.run_ffmpeg``'s signature: run one FFmpeg argv to its end;
    returns its stderr tail (None from a runner that keeps none)."""

    def __call__(
        self,
        argv: list[str],
        *,
        timeout: float,
        duration: float | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> str | None: ...


class Prober(Protocol):
    """``workers.probe.run_probe``'s signature: ffprobe JSON of a local file."""

    def __call__(
        self,
        src: str,
        settings: Settings,
        options: Mapping[str, str] = ...,
        show: Sequence[str] = ...,
    ) -> dict[str, Any]: ...


@dataclass
class TaskContext:
    """The side-effecting collaborators of a task, injectable so tests can record calls.

    Attributes:
        gpu: this worker as it announced itself, when the task came from a ``gpu`` queue
            (``shared.routing.gpu_encode_on`` reads it); None on the CPU path.
        worker: the Celery worker running the task, shown by ``/v1/workers``.
    """

    store: JobStore
    heartbeats: Heartbeats
    storage: Storage
    settings: Settings
    notifier: Notifier | None = None
    worker: str = ""
    gpu: WorkerCaps | None = None
    runner: Runner = run_ffmpeg
    prober: Prober = run_probe
    #: Sends the message that runs one unit of a job (a Boost output's parts, its join, a
    #: fallback to a whole encode): the task layer's ``send_unit``.
    send_part: Callable[[JobRecord, Unit], None] | None = None


def run_recorded(ctx: TaskContext, unit: Unit, argv: list[str], **options: Any) -> str:
    """Run one FFmpeg argv of ``unit`` with ``ctx.runner`` and keep its command (secrets
    redacted) and stderr tail on the job, whether it succeeds or fails: the unit's last
    run is what the job console shows (``JobStore.set_ffmpeg``).

    Args:
        options: for the runner (``timeout``, ``duration``, ``on_progress``).

    Returns:
        FFmpeg's stderr tail ("" from a runner that keeps none).

    Raises:
        FfmpegFailed: as the runner raised it, once recorded.
    """
    try:
        tail = ctx.runner(argv, **options) or ""
    except FfmpegFailed as err:
        _record(ctx, unit, err.argv, err.stderr_tail)
        raise
    _record(ctx, unit, argv, tail)
    return tail


def _record(ctx: TaskContext, unit: Unit, argv: list[str], stderr: str) -> None:
    ctx.store.set_ffmpeg(
        unit.job_id, unit.index, unit.part, command_line(argv), log_tail(stderr or "")
    )


@dataclass(frozen=True)
class Encode:
    """What one output's FFmpeg runs read: its source, probe, checked config and clock.

    Attributes:
        source: the staged input, a local file.
        config: the output's TemplateConfig after the source checks (``IsCheckReso``…).
        note: what the source checks changed, for the output's ``Message``.
        duration: the expected output length in seconds (for progress), or None.
        progress: called with the fraction done; raises to stop FFmpeg (cancel, superseded).
        check_owner: raises ``Superseded`` when another run owns the output now; called
            before every upload.
        unit: the unit the runs belong to: whose FFmpeg record they write.
    """

    source: str
    info: ProbeInfo
    config: dict[str, Any]
    note: str
    duration: float | None
    progress: Callable[[float], None]
    check_owner: Callable[[], None]
    unit: Unit

    def run(
        self, ctx: TaskContext, argv: list[str], share: tuple[float, float] = (0.0, 1.0)
    ) -> None:
        """Run one FFmpeg argv of this output: the task's time limit, progress reported,
        its speed counted (``shared.metrics``), its command and log recorded
        (``run_recorded``).

        Args:
            share: the part of the output's progress this run is (a pass of two: its half).
        """
        began = time.monotonic()
        low, high = share
        run_recorded(
            ctx,
            self.unit,
            argv,
            timeout=ctx.settings.task_time_limit,
            duration=self.duration,
            on_progress=lambda fraction: self.progress(low + fraction * (high - low)),
        )
        metrics.ffmpeg_ran(argv, self.duration, time.monotonic() - began)
