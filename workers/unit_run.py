"""Running one unit of work to a terminal status: a whole output, or a part of a split one.

``run_unit`` is the one state machine every unit goes through (``shared.units``):

- nothing to do when the job is gone, the unit already ended (a late redelivery), or the
  job ended first (the unit is ``Skipped``);
- each unit may be delivered at most ``MCFARM_MAX_DELIVERIES`` times, so an input that
  kills its worker ends ``Failed`` (``WorkerLost``) instead of looping;
- the unit runs under its heartbeat (``workers.watchdog``) in a work dir of its own; a run
  the watchdog gave away writes nothing (``Superseded``), a cancel ends it ``Skipped``, a
  permanent error ``Failed`` with its code, a transient one goes back to ``Scheduled`` and
  up to the task to retry;
- its end is written, then handed to the caller's ``on_end`` (an output's event and the
  job's end, or the next step of a split output).

Also here: what a unit reads, staged and probed once per job (``stage_input``,
``probe_input``), and what its FFmpeg runs read (``prepare_encode``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared import logs, metrics
from shared.clock import now_us, wire_time
from shared.errors import JobCancelled, TranscodeError
from shared.jobrecord import TERMINAL_OUTPUT_STATES, JobRecord
from shared.planning import OutputSpec
from shared.storage import StorageRef, parse_storage_url
from shared.units import Unit
from workers import analysis
from workers.context import Encode, TaskContext
from workers.ffmpeg_cmd import output_duration
from workers.filemeta import out_file_meta, output_result
from workers.inputs import Stager
from workers.probe import OWN_OUTPUT, parse_probe
from workers.source_checks import apply_source_checks, check_input_limits
from workers.watchdog import Run, heartbeat
from workers.watermark_files import stage_watermarks

log = logging.getLogger(__name__)

#: What a unit does once running: returns the fields of its ``Success`` detail.
Body = Callable[[JobRecord, Path, Run], dict[str, Any]]
#: What follows a unit's end: gets the detail as stored, returns what the task returns.
OnEnd = Callable[[TaskContext, Unit, dict[str, Any]], dict[str, Any]]


class Superseded(Exception):
    """This run lost its unit: the watchdog gave it to another run while this one was
    silent (its worker frozen or cut off), so it must stop and write nothing."""


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


def prepare_encode(
    ctx: TaskContext,
    job: JobRecord,
    unit: Unit,
    workdir: Path,
    run: Run,
    duration: float | None = None,
    source: StorageRef | None = None,
) -> Encode:
    """Stage and probe a unit's input and check its config against the source; its
    measurements and its watermarks (images staged: ``workers.watermark_files``) are folded
    into the config.

    Args:
        duration: the seconds its FFmpeg run encodes, for progress (a chunk's); by default
            the output's.
        source: what to read instead of the whole input: a piece of it (a Boost chunk's);
            the input's own probe still describes it.
    """
    spec = job.specs[unit.index]
    if source is None:
        staged = stage_input(ctx, spec.input_media, spec.input_index, workdir)
        probe = probe_input(ctx, job, spec.input_index, spec.input_media, staged)
    else:
        staged = Stager(ctx.storage, ctx.settings, workdir, "a piece of the input").stage(source)
        probe = probe_input(ctx, job, spec.input_index, spec.input_media)
    info = parse_probe(probe)
    checked = apply_source_checks(spec.config, info)
    whole = staged if source is None else None
    config = analysis.resolve(ctx, job, unit, info, checked.config, whole)
    config = stage_watermarks(ctx, spec, config, workdir)

    def check_owner() -> None:
        if not run.owns_output():
            raise Superseded(f"{unit.member} belongs to another run now")

    def progress(fraction: float) -> None:
        check_owner()  # a run that woke up late stops FFmpeg at its next tick
        ctx.store.set_progress(job.job_id, unit.index, int(fraction * 100), part=unit.part)
        # A cancel (or the job's time limit) shows up here within a progress tick;
        # raising stops FFmpeg.
        if ctx.store.state(job.job_id) in ("Cancelled", "Error"):
            raise JobCancelled("The job ended while this output was encoding.")

    return Encode(
        source=str(staged),
        info=info,
        config=config,
        note=checked.note,
        duration=duration if duration is not None else output_duration(info, spec.features),
        progress=progress,
        check_owner=check_owner,
        unit=unit,
    )


def end_unit(ctx: TaskContext, unit: Unit, on_end: OnEnd, **changes: Any) -> dict[str, Any]:
    """Write a unit's end (a terminal ``Status`` and its fields), then run ``on_end``."""
    detail = ctx.store.set_output(
        unit.job_id, unit.index, part=unit.part, FinishTime=wire_time(now_us()), **changes
    )
    if unit.kind == "chunk":
        metrics.CHUNKS.labels(detail.get("Status", "")).inc()
    return on_end(ctx, unit, detail)


def failed(err: TranscodeError) -> dict[str, Any]:
    """The detail fields of a unit that ended on ``err``."""
    return {"Status": "Failed", "Code": err.code, "Message": err.message}


def run_unit(
    ctx: TaskContext, unit: Unit, body: Body, *, on_end: OnEnd, new_delivery: bool = True
) -> dict[str, Any]:
    """Run ``unit`` to a terminal status (see the module docstring) and return its detail.

    Raises:
        TranscodeError: a transient one (``StorageUnavailable``): the task retries.
    """
    job = ctx.store.get(unit.job_id)
    if job is None:
        return {"Status": "Skipped", "Code": "ResourceNotFound", "Message": "the job is gone"}
    logs.bind_more(account=job.owner)
    detail = job.detail(unit)
    if detail.get("Status") in TERMINAL_OUTPUT_STATES:
        return detail  # a redelivered or late task: the first run's result stands
    if job.terminal:
        message = f"The job ended ({job.state}) before this started."
        return end_unit(ctx, unit, on_end, Status="Skipped", Message=message)
    delivery = ctx.store.count_delivery(*unit) if new_delivery else 0
    if delivery > ctx.settings.max_deliveries:
        err = TranscodeError(
            f"gave up after {ctx.settings.max_deliveries} deliveries: the worker running it "
            "was lost each time (crash, out of memory or restart)",
            code="WorkerLost",
        )
        return end_unit(ctx, unit, on_end, **failed(err))
    ctx.store.set_output(*unit[:2], part=unit.part, Status="Running", Worker=ctx.worker)
    log.info("%s running (delivery %d)", unit.member, delivery)
    began = now_us()
    if unit.kind in ("output", "chunk") and ctx.store.first_run(unit.job_id, began):
        metrics.job_began(job, began)
    if not unit.part:
        ctx.store.mark_started(unit.job_id, unit.index, ctx.worker)
    ctx.store.transition(unit.job_id, "Running", allowed_from={"Inited"})
    return _run(ctx, job, unit, body, on_end)


def _run(ctx: TaskContext, job: JobRecord, unit: Unit, body: Body, on_end: OnEnd) -> dict:
    prefix = f"mcfarm-{unit.member.replace(':', '-')}-"
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=ctx.settings.work_dir))
    beat = (ctx.heartbeats, unit.job_id, unit.index, ctx.settings.heartbeat_timeout, ctx.worker)
    try:
        with heartbeat(*beat, part=unit.part) as run:
            changes = body(job, workdir, run)
    except Superseded as late:
        # Nothing to write: the run that replaced this one reports the unit.
        log.warning("%s; this late run stops without writing", late)
        current = ctx.store.get(unit.job_id)
        return current.detail(unit) if current else {}
    except JobCancelled:
        message = "The job ended (cancelled or out of time) while this was running."
        return end_unit(ctx, unit, on_end, Status="Skipped", Message=message)
    except TranscodeError as err:
        if not err.permanent:
            ctx.store.set_output(*unit[:2], part=unit.part, Status="Scheduled")
            metrics.RETRIES.labels(unit.kind).inc()
            raise
        log.error("%s failed: %s", unit.member, err)
        return end_unit(ctx, unit, on_end, **failed(err))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return end_unit(ctx, unit, on_end, Status="Success", Code="", **changes)


def upload_file(
    ctx: TaskContext, spec: OutputSpec, dst: Path, check_owner: Callable[[], None]
) -> dict[str, Any]:
    """Upload a file output written at ``dst``, unless ``check_owner`` raises (this run
    lost the unit); returns its ``Result``, measured from the file."""
    out_probe = ctx.prober(str(dst), ctx.settings, OWN_OUTPUT)
    check_owner()
    out_ref = parse_storage_url(spec.output_media, settings=ctx.settings, for_output=True)
    ctx.storage.upload(dst, out_ref)
    url = ctx.storage.public_url(out_ref)
    name = Path(out_ref.key or out_ref.path).name
    meta = out_file_meta(out_probe, file_name=name, file_url=url, file_size=dst.stat().st_size)
    return output_result(spec.output_media, url, meta)
