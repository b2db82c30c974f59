"""What a job's tasks do, as plain functions (no Celery here; tests call them directly).

- ``prepare_job``: the job starts; each input it uses is staged and probed once (the probe
  is cached on the job), and its outputs become ``Scheduled``.
- ``transcode_output``: one output, under its heartbeat: stage the input (``workers.inputs``:
  read in place or fetched), the cached probe, the source checks, the argv (on this
  worker's CPU or GPU path), FFmpeg, ffprobe of the result, upload; an Hls/Dash rendition
  goes through ``workers.adaptive`` instead, and its group is packaged when it is the last.
- ``finalize``: once every output is terminal, the job's final state, exactly once.

Each takes a ``workers.context.TaskContext``: the stores, storage, settings and the runner.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from shared.clock import now_us, wire_time
from shared.containers import container
from shared.errors import JobCancelled, TranscodeError
from shared.events import Notifier
from shared.job_events import emit_group_complete, emit_job_complete, emit_output_complete
from shared.jobstore import TERMINAL_OUTPUT_STATES, JobRecord, JobStore
from shared.jobview import final_outcome
from shared.planning import OutputSpec
from shared.storage import parse_storage_url
from workers import adaptive
from workers.context import Encode, TaskContext
from workers.ffmpeg_cmd import build_ffmpeg_args, output_duration
from workers.filemeta import out_file_meta, output_result
from workers.gpu_cmd import video_path_for
from workers.inputs import Stager
from workers.probe import OWN_OUTPUT, parse_probe
from workers.source_checks import apply_source_checks, check_input_limits
from workers.watchdog import Run, heartbeat

log = logging.getLogger(__name__)


def stage_input(ctx: TaskContext, media: str, input_index: int, workdir: Path) -> Path:
    """The input as a local file FFmpeg may read (``workers.inputs``)."""
    field = f"Inputs[{input_index}].InputFile.Media"
    ref = parse_storage_url(media, settings=ctx.settings, field=field)
    return Stager(ctx.storage, ctx.settings, workdir, field).stage(ref)


def probe_input(
    ctx: TaskContext, job: JobRecord, input_index: int, media: str, staged: Path | None = None
) -> dict[str, Any]:
    """The ffprobe JSON of one input, probed at most once per job.

    Args:
        staged: the input already staged by the caller; else it is staged for the probe.

    Raises:
        InputContentBad: nothing to transcode in it; InvalidJob: it is over the limits.
    """
    cached = ctx.store.cached_probe(job.job_id, input_index)
    if cached is not None:
        return cached
    if staged is not None:
        probe = ctx.prober(str(staged), ctx.settings)
    else:
        with tempfile.TemporaryDirectory(prefix="mcfarm-probe-", dir=ctx.settings.work_dir) as d:
            probe = ctx.prober(str(stage_input(ctx, media, input_index, Path(d))), ctx.settings)
    check_input_limits(parse_probe(probe), ctx.settings)
    ctx.store.cache_probe(job.job_id, input_index, probe)
    return probe


def prepare_job(ctx: TaskContext, job_id: str) -> list[OutputSpec]:
    """Start a job: probe its inputs and schedule its outputs.

    Returns:
        The outputs to run; empty when the job is over (already started, cancelled, or
        every output failed on a bad input, in which case the job is finalized here).

    Raises:
        StorageUnavailable: when an input could not be read for a passing reason.
    """
    job = ctx.store.get(job_id)
    if job is None or job.state != "Inited" or not ctx.store.claim(job_id, "started"):
        return []
    ctx.store.transition(job_id, "Running", allowed_from={"Inited"})
    failures: dict[int, TranscodeError] = {}
    for index in sorted({s.input_index for s in job.specs}):
        media = next(s.input_media for s in job.specs if s.input_index == index)
        try:
            probe_input(ctx, job, index, media)
        except TranscodeError as err:
            if not err.permanent:
                ctx.store.unclaim(job_id, "started")
                ctx.store.transition(job_id, "Inited", allowed_from={"Running"})
                raise
            failures[index] = err
    for spec in job.specs:
        if spec.input_index not in failures:
            ctx.store.set_output(job_id, spec.index, Status="Scheduled")
    for spec in job.specs:
        if spec.input_index in failures:
            fail_output(ctx, job_id, spec.index, failures[spec.input_index])
    return [s for s in job.specs if s.input_index not in failures]


class Superseded(Exception):
    """This run lost its output: the watchdog gave it to another run while this one was
    silent (its worker frozen or cut off), so it must stop and write nothing."""


def _prepare(ctx: TaskContext, job: JobRecord, spec: OutputSpec, workdir: Path, run: Run) -> Encode:
    source = stage_input(ctx, spec.input_media, spec.input_index, workdir)
    info = parse_probe(probe_input(ctx, job, spec.input_index, spec.input_media, source))
    checked = apply_source_checks(spec.config, info)

    def check_owner() -> None:
        if not run.owns_output():
            raise Superseded(f"job {job.job_id} output {spec.index} belongs to another run now")

    def progress(fraction: float) -> None:
        check_owner()  # a run that woke up late stops FFmpeg at its next tick
        ctx.store.set_progress(job.job_id, spec.index, int(fraction * 100))
        # A cancel (or the job's time limit) shows up here within a progress tick;
        # raising stops FFmpeg.
        if ctx.store.state(job.job_id) in ("Cancelled", "Error"):
            raise JobCancelled("The job ended while this output was encoding.")

    return Encode(
        source=str(source),
        info=info,
        config=checked.config,
        note=checked.note,
        duration=output_duration(info, spec.features),
        progress=progress,
        check_owner=check_owner,
    )


def _encode(
    ctx: TaskContext, job: JobRecord, spec: OutputSpec, workdir: Path, run: Run
) -> tuple[dict[str, Any], str]:
    """Encode and upload one output; returns its ``Result`` and a note for its detail."""
    enc = _prepare(ctx, job, spec, workdir, run)
    if spec.segmented:
        return adaptive.encode_rendition(ctx, job, spec, workdir, enc), enc.note
    out_ref = parse_storage_url(spec.output_media, settings=ctx.settings, for_output=True)
    dst = workdir / f"output{container(enc.config['Container']['Format']).extension}"
    argv = build_ffmpeg_args(
        enc.source,
        str(dst),
        enc.info,
        enc.config,
        ctx.settings,
        features=spec.features,
        video_path=video_path_for(ctx.gpu, enc.info, enc.config),
    )
    enc.run(ctx, argv)
    out_probe = ctx.prober(str(dst), ctx.settings, OWN_OUTPUT)
    enc.check_owner()
    ctx.storage.upload(dst, out_ref)
    url = ctx.storage.public_url(out_ref)
    meta = out_file_meta(
        out_probe,
        file_name=Path(out_ref.key or out_ref.path).name,
        file_url=url,
        file_size=dst.stat().st_size,
    )
    return output_result(spec.output_media, url, meta), enc.note


def transcode_output(
    ctx: TaskContext, job_id: str, index: int, *, new_delivery: bool = True
) -> dict[str, Any]:
    """Run one output to a terminal status and return its ``OutputDetail``.

    Permanent errors end the output ``Failed`` with their code; transient ones
    (``StorageUnavailable``) propagate so the task can retry. Each output may be delivered
    at most ``settings.max_deliveries`` times (``new_delivery`` counts one), so an input
    that kills its worker cannot loop forever. A cancelled job's output ends ``Skipped``
    and leaves no file behind.
    """
    job = ctx.store.get(job_id)
    if job is None:
        return {"Status": "Skipped", "Code": "ResourceNotFound", "Message": f"job {job_id} is gone"}
    detail = job.outputs.get(index, {})
    if detail.get("Status") in TERMINAL_OUTPUT_STATES:
        # A redelivered or late task: the first run's result stands.
        return detail
    if job.terminal:
        return _skip(ctx, job_id, index, f"The job ended ({job.state}) before this output started.")
    if new_delivery and ctx.store.count_delivery(job_id, index) > ctx.settings.max_deliveries:
        err = TranscodeError(
            f"gave up after {ctx.settings.max_deliveries} deliveries: the worker running this "
            "output was lost each time (crash, out of memory or restart)",
            code="WorkerLost",
        )
        return fail_output(ctx, job_id, index, err)
    ctx.store.set_output(job_id, index, Status="Running")
    ctx.store.mark_started(job_id, index, ctx.worker)
    ctx.store.transition(job_id, "Running", allowed_from={"Inited"})
    return _run_output(ctx, job, index)


def _run_output(ctx: TaskContext, job: JobRecord, index: int) -> dict[str, Any]:
    spec = job.specs[index]
    workdir = Path(
        tempfile.mkdtemp(prefix=f"mcfarm-{job.job_id}-{index}-", dir=ctx.settings.work_dir)
    )
    try:
        with heartbeat(
            ctx.heartbeats, job.job_id, index, ctx.settings.heartbeat_timeout, ctx.worker
        ) as run:
            result, note = _encode(ctx, job, spec, workdir, run)
    except Superseded as late:
        # Nothing to write: the run that replaced this one reports the output.
        log.warning("%s; this late run stops without writing", late)
        current = ctx.store.get(job.job_id)
        return current.outputs.get(index, {}) if current else {}
    except JobCancelled:
        return _skip(
            ctx,
            job.job_id,
            index,
            "The job ended (cancelled or out of time) while this output was encoding.",
        )
    except TranscodeError as err:
        if not err.permanent:
            ctx.store.set_output(job.job_id, index, Status="Scheduled")
            raise
        return fail_output(ctx, job.job_id, index, err)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if ctx.store.state(job.job_id) in ("Cancelled", "Error"):
        # The cancel landed during the upload: leave nothing of a cancelled job behind.
        _delete_output(ctx, job.job_id, spec)
        return _skip(
            ctx,
            job.job_id,
            index,
            "The job ended (cancelled or out of time) while this output was uploading.",
        )
    ctx.store.set_progress(job.job_id, index, 100)
    detail = ctx.store.set_output(
        job.job_id,
        index,
        Status="Success",
        Code="",
        Message=note,
        FinishTime=wire_time(now_us()),
        Result=result,
    )
    return _finish(ctx, job.job_id, index, detail)


def _delete_output(ctx: TaskContext, job_id: str, spec: OutputSpec) -> None:
    if spec.segmented:
        adaptive.delete_rendition(ctx, job_id, spec)
    else:
        ctx.storage.delete(
            parse_storage_url(spec.output_media, settings=ctx.settings, for_output=True)
        )


def _skip(ctx: TaskContext, job_id: str, index: int, message: str) -> dict[str, Any]:
    return ctx.store.set_output(
        job_id, index, Status="Skipped", Message=message, FinishTime=wire_time(now_us())
    )


def _finish(ctx: TaskContext, job_id: str, index: int, detail: dict[str, Any]) -> dict[str, Any]:
    """After an output ended: its event, then the job's end if it was the last one.

    Every output tries to finalize: a watchdog-requeued output is outside the chord, and
    the chord callback then only backs this up.
    """
    job = ctx.store.get(job_id)
    if job is not None and ctx.notifier is not None:
        emit_output_complete(ctx.notifier, ctx.store, job, index)
    if job is not None and job.specs[index].segmented:
        package(ctx, job_id, job.specs[index].group)
    finalize(ctx.store, job_id, ctx.notifier)
    return detail


def package(ctx: TaskContext, job_id: str, group: int) -> None:
    """Package an Hls/Dash group if it is due, then announce it."""
    job = ctx.store.get(job_id)
    if (
        job is not None
        and adaptive.package_when_ready(ctx, job, group) is not None
        and ctx.notifier
    ):
        emit_group_complete(ctx.notifier, ctx.store, ctx.store.get(job_id), group)


def fail_output(ctx: TaskContext, job_id: str, index: int, err: TranscodeError) -> dict[str, Any]:
    """End an output ``Failed`` with the error's code and message."""
    log.error("job %s output %d failed: %s", job_id, index, err)
    detail = ctx.store.set_output(
        job_id,
        index,
        Status="Failed",
        Code=err.code,
        Message=err.message,
        FinishTime=wire_time(now_us()),
    )
    return _finish(ctx, job_id, index, detail)


def finalize(store: JobStore, job_id: str, notifier: Notifier | None = None) -> str | None:
    """Write the job's final state once every output is terminal; safe to call twice.

    Returns:
        The final state, or None while some output is still pending.
    """
    job = store.get(job_id)
    if job is None:
        return None
    if job.terminal:
        return job.state
    outcome = final_outcome(job)
    if outcome is None:
        return None
    state, code, message = outcome
    if (
        store.transition(
            job_id,
            state,
            allowed_from={"Inited", "Running"},
            code=code,
            message=message,
            finish_us=now_us(),
        )
        and notifier is not None
    ):
        emit_job_complete(notifier, store, store.get(job_id))
    return state
