"""What a job's tasks do, as plain functions (no Celery here; tests call them directly).

- ``prepare_job``: the job starts; each input it uses is staged and probed once (the probe
  is cached on the job), its outputs become ``Scheduled``, and the long ones of a Boost job
  are planned into chunks (``workers.boost``).
- ``transcode_output``: one output, run by ``workers.unit_run``: stage the input (read in
  place or from the worker's input cache), the cached probe, the source checks, the argv
  (on this worker's CPU or GPU path), FFmpeg, ffprobe of the result, upload; an Hls/Dash
  rendition goes through ``workers.adaptive`` instead, and its group is packaged when it is
  the last. A split output's parts are sent instead (``workers.boost``).
- ``transcode_part``: one part of a split output: a chunk, its audio, or the join.

How outputs end, and the job with the last one, is ``workers.endings``. Each function takes
a ``workers.context.TaskContext``: the stores, storage, settings and the runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.containers import container
from shared.errors import JobCancelled, TranscodeError
from shared.jobrecord import JobRecord
from shared.planning import OutputSpec
from shared.storage import parse_storage_url
from shared.units import Unit
from workers import adaptive, boost, boost_plan
from workers.context import TaskContext
from workers.endings import fail_output, finish_output
from workers.ffmpeg_cmd import build_passes
from workers.gpu_cmd import video_path_for
from workers.unit_run import (
    end_unit,
    failed,
    prepare_encode,
    probe_input,
    run_unit,
    upload_file,
)
from workers.watchdog import Run


def prepare_job(ctx: TaskContext, job_id: str) -> list[OutputSpec]:
    """Start a job: probe its inputs, schedule its outputs, plan its Boost outputs.

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
    runnable = [s for s in job.specs if s.input_index not in failures]
    for spec in runnable:
        ctx.store.set_output(job_id, spec.index, Status="Scheduled")
    boost_plan.plan_outputs(ctx, job, runnable)
    for spec in job.specs:
        if spec.input_index in failures:
            fail_output(ctx, job_id, spec.index, failures[spec.input_index])
    return runnable


def _encode(ctx: TaskContext, job: JobRecord, workdir: Path, run: Run, index: int) -> dict:
    """Encode and upload one output; returns the fields of its ``Success`` detail."""
    spec = job.specs[index]
    enc = prepare_encode(ctx, job, Unit(job.job_id, index), workdir, run)
    if spec.segmented:
        return {
            "Message": enc.note,
            "Result": adaptive.encode_rendition(ctx, job, spec, workdir, enc),
        }
    dst = workdir / f"output{container(enc.config['Container']['Format']).extension}"
    passes = build_passes(
        enc.source,
        str(dst),
        enc.info,
        enc.config,
        ctx.settings,
        stats=str(workdir / "passlog"),
        features=spec.features,
        video_path=video_path_for(ctx.gpu, enc.info, enc.config),
    )
    for number, argv in enumerate(passes):
        enc.run(ctx, argv, share=(number / len(passes), (number + 1) / len(passes)))
    return {"Message": enc.note, "Result": upload_file(ctx, spec, dst, enc.check_owner)}


def _uploaded(ctx: TaskContext, job: JobRecord, workdir: Path, run: Run, index: int) -> dict:
    """``_encode``, and what a cancel that landed during the upload leaves: nothing."""
    changes = _encode(ctx, job, workdir, run, index)
    if ctx.store.state(job.job_id) in ("Cancelled", "Error"):
        delete_output(ctx, job.job_id, job.specs[index])
        raise JobCancelled("The job ended while this output was uploading.")
    return changes


def output_ended(ctx: TaskContext, unit: Unit, detail: dict[str, Any]) -> dict[str, Any]:
    """After an output ended (whole or joined): its input's Boost pieces once no output
    reads them, its progress, event, group and job."""
    job = ctx.store.get(unit.job_id)
    if job is not None and job.pieces:
        boost_plan.drop_pieces(ctx, job, job.specs[unit.index].input_index)
    if detail.get("Status") == "Skipped":
        return detail  # its job ended first: no event, nothing left to finish
    if detail.get("Status") == "Success":
        ctx.store.set_progress(unit.job_id, unit.index, 100)
    return finish_output(ctx, unit.job_id, unit.index, detail)


def transcode_output(
    ctx: TaskContext, job_id: str, index: int, *, new_delivery: bool = True
) -> dict[str, Any]:
    """Run one output to a terminal status and return its ``OutputDetail``
    (``workers.unit_run.run_unit``); a split output starts its parts instead."""
    job = ctx.store.get(job_id)
    if job is not None and index in job.plans:
        return boost.start_parts(ctx, job, index, on_end=output_ended)

    def body(job: JobRecord, workdir: Path, run: Run) -> dict[str, Any]:
        return _uploaded(ctx, job, workdir, run, index)

    return run_unit(ctx, Unit(job_id, index), body, on_end=output_ended, new_delivery=new_delivery)


def run(ctx: TaskContext, unit: Unit, *, new_delivery: bool = True) -> dict[str, Any]:
    """Run any unit: a whole output, or a part of a split one."""
    if unit.part:
        return transcode_part(ctx, *unit, new_delivery=new_delivery)
    return transcode_output(ctx, *unit[:2], new_delivery=new_delivery)


def fail_unit(ctx: TaskContext, unit: Unit, err: TranscodeError) -> dict[str, Any]:
    """End a unit ``Failed`` on ``err`` (a crash, or storage away past its retries)."""
    on_end = boost.part_ended(output_ended) if unit.part else output_ended
    return end_unit(ctx, unit, on_end, **failed(err))


def transcode_part(
    ctx: TaskContext, job_id: str, index: int, part: str, *, new_delivery: bool = True
) -> dict[str, Any]:
    """Run one part of a split output (a chunk, its audio or the join) to a terminal status."""
    unit = Unit(job_id, index, part)
    return run_unit(
        ctx,
        unit,
        boost.part_body(ctx, unit),
        on_end=boost.part_ended(output_ended),
        new_delivery=new_delivery,
    )


def delete_output(ctx: TaskContext, job_id: str, spec: OutputSpec) -> None:
    """Remove an output's files (its job was cancelled while it uploaded)."""
    if spec.segmented:
        adaptive.delete_rendition(ctx, job_id, spec)
    else:
        ctx.storage.delete(
            parse_storage_url(spec.output_media, settings=ctx.settings, for_output=True)
        )
