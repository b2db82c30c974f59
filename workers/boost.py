"""Boost: one long output split into chunks that any worker encodes, then joined.

A job on a ``Speed=Boost`` pipeline, or one whose input is longer than
``MCFARM_BOOST_MIN_SECONDS``, has each splittable output (``workers.chunks.unsplittable``)
planned into chunks when it starts (``workers.boost_plan``, which also cuts the input into
the pieces the chunks read; too short an input runs whole). The output's own task then
sends its parts (``start_parts``), each a unit of its own
(``shared.units``) with the watchdog, delivery cap and priority an output has:

- every chunk (``c0``, ``c1``…) encodes exactly its frames, read from its piece of the
  input, into a scratch object
  (``.mcfarm-scratch/{job}/{output}/`` in the output's bucket) and checks its frame count:
  a wrong count is encoded again with a longer lead-in, then the output is encoded whole;
  a segmented rendition's chunks also force a keyframe at each of their segments' starts;
- the audio (``audio``) is encoded once, over the whole input;
- whoever ends the last of those sends the join (``join``), which copies chunks and audio
  into the output's container (or into a rendition's segments and playlist, numbered on
  across the joins, as a whole encode writes them), uploads it and ends the output; the
  scratch objects go with the output's end, whatever it is.

The argv of each step is ``workers.chunk_cmd``'s; where chunks start, ``workers.chunks``'.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared import metrics
from shared.clock import now_us, wire_time
from shared.containers import container
from shared.errors import TranscodeError
from shared.jobrecord import TERMINAL_OUTPUT_STATES, JobRecord
from shared.units import AUDIO, JOIN, Unit, chunk_number, chunk_part
from workers import adaptive
from workers.boost_plan import drop_pieces, part_ref, piece_for, piece_ref
from workers.chunk_cmd import (
    AUDIO_EXTENSION,
    CHUNK_EXTENSION,
    audio_args,
    chunk_args,
    concat_list,
    join_args,
    join_segments_args,
)
from workers.chunks import (
    Chunk,
)
from workers.context import TaskContext, run_recorded
from workers.gpu_cmd import video_path_for
from workers.probe import FRAME_COUNT, OWN_OUTPUT
from workers.segmenting import playlist_name
from workers.unit_run import (
    Body,
    OnEnd,
    Superseded,
    end_unit,
    prepare_encode,
    upload_file,
)
from workers.watchdog import Run

log = logging.getLogger(__name__)

#: A chunk whose frame count is wrong is encoded again with this much more lead-in.
RETRY_LEAD_S = 30.0
#: The code of a chunk that kept the wrong frame count: its output is encoded whole instead.
FRAME_COUNT_WRONG = "BoostFrameCount"


def _parts(plan: dict) -> list[str]:
    chunks = [chunk_part(n) for n in range(len(plan["chunks"]))]
    return [*chunks, AUDIO] if plan["audio"] else chunks


# --- starting the parts ----------------------------------------------------------------------


def start_parts(ctx: TaskContext, job: JobRecord, index: int, *, on_end: OnEnd) -> dict[str, Any]:
    """Run a split output: mark it ``Running`` and send each part once.

    A redelivered output message finds the parts sent already (a one-shot flag) and sends
    nothing more: each part's own message and the watchdog look after it from here. An
    output whose job ended first ends ``Skipped`` here (``on_end`` follows, as for a whole
    output).
    """
    detail = job.outputs.get(index, {})
    if detail.get("Status") in TERMINAL_OUTPUT_STATES:
        return detail
    if job.terminal:
        message = f"The job ended ({job.state}) before this started."
        return end_unit(ctx, Unit(job.job_id, index), on_end, Status="Skipped", Message=message)
    detail = ctx.store.set_output(job.job_id, index, Status="Running")
    ctx.store.transition(job.job_id, "Running", allowed_from={"Inited"})
    if ctx.store.claim(job.job_id, f"parts:{index}"):
        for part in _parts(job.plans[index]):
            ctx.store.set_output(job.job_id, index, part=part, Status="Scheduled")
            ctx.send_part(job, Unit(job.job_id, index, part))
    return detail


# --- the parts ------------------------------------------------------------------------------


def part_body(ctx: TaskContext, unit: Unit) -> Body:
    """What a part does once running (``workers.unit_run.run_unit``'s body)."""
    number = chunk_number(unit.part)
    if number is not None:
        return lambda job, workdir, run: _encode_chunk(ctx, job, unit, number, workdir, run)
    if unit.part == AUDIO:
        return lambda job, workdir, run: _encode_audio(ctx, job, unit, workdir, run)
    return lambda job, workdir, run: _join(ctx, job, unit, workdir, run)


def _name(part: str) -> str:
    """The file of a part, locally and in the scratch folder."""
    return f"{part}{AUDIO_EXTENSION if part == AUDIO else CHUNK_EXTENSION}"


def _encode_chunk(
    ctx: TaskContext, job: JobRecord, unit: Unit, number: int, workdir: Path, run: Run
) -> dict[str, Any]:
    """Encode one chunk from its piece of the input (or the whole input, when the input
    was not cut), check its frame count, and store it for the join.

    A wrong count is encoded again from the whole input with a longer lead-in (an open GOP
    whose first frames need more than the piece held); still wrong, the chunk fails with
    ``FRAME_COUNT_WRONG`` and the output is encoded whole.
    """
    chunk = Chunk.from_dict(job.plans[unit.index]["chunks"][number])
    spec = job.specs[unit.index]
    piece = piece_for(job, spec.input_index, chunk)
    first = (piece_ref(ctx, job, spec.input_index, piece), 0.0) if piece else (None, 0.0)
    dst = workdir / _name(unit.part)
    for n, (source, lead) in enumerate((first, (None, RETRY_LEAD_S))):
        (workdir / f"try{n}").mkdir()
        enc = prepare_encode(
            ctx, job, unit, workdir / f"try{n}", run, duration=chunk.duration, source=source
        )
        # A piece starts at the chunk's keyframe and keeps the source's timestamps.
        seek = 0.0 if source is not None else max(0.0, chunk.seek - lead)
        argv = chunk_args(
            enc.source,
            enc.info,
            enc.config,
            ctx.settings,
            chunk=dataclasses.replace(chunk, seek=seek),
            dst=str(dst),
            video_path=video_path_for(ctx.gpu, enc.info, enc.config),
        )
        enc.run(ctx, argv)
        frames = _frames(ctx, dst)
        if frames == chunk.frames or (source is None and chunk.seek == 0):
            break  # right, or read from the input's start: more lead-in cannot help
        log.warning(
            "%s: %d frames, not %d; again with more lead-in", unit.member, frames, chunk.frames
        )
        metrics.CHUNKS_AGAIN.inc()
    if frames != chunk.frames:
        raise TranscodeError(
            f"chunk {number} has {frames} frames where the source has {chunk.frames}",
            code=FRAME_COUNT_WRONG,
        )
    enc.check_owner()
    ctx.storage.upload(dst, part_ref(ctx, spec, job.job_id, dst.name))
    return {"Frames": frames, "InputBytes": Path(enc.source).stat().st_size, "Message": enc.note}


def _frames(ctx: TaskContext, path: Path) -> int:
    probe = ctx.prober(str(path), ctx.settings, OWN_OUTPUT, FRAME_COUNT)
    return int((probe.get("streams") or [{}])[0].get("nb_read_packets") or 0)


def _encode_audio(
    ctx: TaskContext, job: JobRecord, unit: Unit, workdir: Path, run: Run
) -> dict[str, Any]:
    enc = prepare_encode(ctx, job, unit, workdir, run)
    dst = workdir / _name(AUDIO)
    enc.run(ctx, audio_args(enc.source, enc.info, enc.config, ctx.settings, dst=str(dst)))
    enc.check_owner()
    ctx.storage.upload(dst, part_ref(ctx, job.specs[unit.index], job.job_id, dst.name))
    return {}


def _join(ctx: TaskContext, job: JobRecord, unit: Unit, workdir: Path, run: Run) -> dict:
    """Join the parts into the output and upload it; nothing to do unless every part
    succeeded (``part_ended`` ends the output from the parts' details then)."""
    plan, parts, spec = job.plans[unit.index], job.parts.get(unit.index, {}), job.specs[unit.index]
    names = _parts(plan)
    if any(parts.get(part, {}).get("Status") != "Success" for part in names):
        return {"Joined": False}
    for name in names:
        ctx.storage.download(part_ref(ctx, spec, job.job_id, _name(name)), workdir / _name(name))
    chunks = [Chunk.from_dict(c) for c in plan["chunks"]]
    listing = workdir / "chunks.txt"
    listing.write_text(concat_list(chunks, [_name(p) for p in names[: len(chunks)]]))
    audio = str(workdir / _name(AUDIO)) if plan["audio"] else None

    def check_owner() -> None:
        if not run.owns_output():
            raise Superseded(f"{unit.member} belongs to another run now")

    if spec.segmented:
        write = _segments_writer(ctx, job, unit, str(listing), audio)
        runs = adaptive.rendition_runs(job, spec, spec.config, True, audio is not None)
        result = adaptive.write_rendition(ctx, job, spec, workdir, runs, write, check_owner)
    else:
        result = _join_file(ctx, job, unit, str(listing), audio, workdir, check_owner)
    note = next((parts[p].get("Message") for p in names if parts[p].get("Message")), "")
    return {"Joined": True, "Note": note, "Result": result}


def _join_file(
    ctx: TaskContext,
    job: JobRecord,
    unit: Unit,
    listing: str,
    audio: str | None,
    workdir: Path,
    check_owner: Callable[[], None],
) -> dict[str, Any]:
    """Copy the chunks and the audio part into the output's file; upload it."""
    spec = job.specs[unit.index]
    dst = workdir / f"output{container(spec.config['Container']['Format']).extension}"
    argv = join_args(
        listing,
        audio,
        str(dst),
        spec.config,
        ctx.settings,
        video_offset=job.plans[spec.index]["video_offset"],
        features=spec.features,
    )
    run_recorded(ctx, unit, argv, timeout=ctx.settings.task_time_limit)
    return upload_file(ctx, spec, dst, check_owner)


def _segments_writer(
    ctx: TaskContext, job: JobRecord, unit: Unit, listing: str, audio: str | None
) -> adaptive.Write:
    """How the join writes each run of a segmented rendition: a copy of the chunks and/or
    the audio part into segments (``chunk_cmd.join_segments_args``)."""
    spec = job.specs[unit.index]
    group = next(g for g in job.groups if g.index == spec.group)
    offset = job.plans[spec.index]["video_offset"]

    def write(config: dict, out_dir: Path, stem: str) -> Path:
        def keeps(section: str) -> bool:
            return not config.get(section, {}).get("Remove")

        argv = join_segments_args(
            listing if keeps("Video") else None,
            audio if keeps("Audio") else None,
            spec.config,
            ctx.settings,
            out_dir=out_dir,
            stem=stem,
            segments=group.segments,
            video_offset=offset,
            features=spec.features,
        )
        run_recorded(ctx, unit, argv, timeout=ctx.settings.task_time_limit)
        return out_dir / playlist_name(stem, group.segments)

    return write


# --- after a part ------------------------------------------------------------------------------


def part_ended(output_ended: OnEnd) -> OnEnd:
    """What follows a part's end: the join once every other part ended, and after the join
    the output's end (``output_ended``), the scratch objects removed."""

    def ended(ctx: TaskContext, unit: Unit, detail: dict[str, Any]) -> dict[str, Any]:
        if unit.part != JOIN:
            return _after_part(ctx, unit, detail)
        job = ctx.store.get(unit.job_id)
        if job is None:
            return detail
        # Before the output ends, which may end the job: whoever sees it over finds its
        # scratch gone too, and its input's pieces when no other output reads them (two
        # outputs ending at once may each miss the other: ``output_ended`` looks again).
        _remove_scratch(ctx, job, unit.index)
        drop_pieces(ctx, job, job.specs[unit.index].input_index, ending=unit.index)
        return _end_output(ctx, job, unit, detail, output_ended)

    return ended


def _after_part(ctx: TaskContext, unit: Unit, detail: dict[str, Any]) -> dict[str, Any]:
    job = ctx.store.get(unit.job_id)
    if job is None or unit.index not in job.plans:
        return detail
    parts = job.parts.get(unit.index, {})
    done = all(
        parts.get(p, {}).get("Status") in TERMINAL_OUTPUT_STATES
        for p in _parts(job.plans[unit.index])
    )
    if done and ctx.store.claim(job.job_id, f"join:{unit.index}"):
        ctx.store.set_output(job.job_id, unit.index, part=JOIN, Status="Scheduled")
        ctx.send_part(job, Unit(job.job_id, unit.index, JOIN))
    return detail


def _end_output(
    ctx: TaskContext, job: JobRecord, unit: Unit, join: dict[str, Any], output_ended: OnEnd
) -> dict[str, Any]:
    """End the split output from its join's and its parts' details."""
    output = Unit(job.job_id, unit.index)
    finish = wire_time(now_us())
    if join.get("Joined"):
        detail = ctx.store.set_output(
            job.job_id,
            unit.index,
            Status="Success",
            Code="",
            Message=join.get("Note", ""),
            Result=join["Result"],
            FinishTime=finish,
        )
        return output_ended(ctx, output, detail)
    parts = job.parts.get(unit.index, {})
    ended = [parts.get(p, {}) for p in _parts(job.plans[unit.index])] + [join]
    failed = next((d for d in ended if d.get("Status") == "Failed"), None)
    if failed is not None and failed.get("Code") == FRAME_COUNT_WRONG and not job.terminal:
        return _fall_back(ctx, job, unit.index, failed)
    if failed is not None:
        changes = {
            "Status": "Failed",
            "Code": failed.get("Code", ""),
            "Message": failed.get("Message", ""),
        }
    else:
        changes = {"Status": "Skipped", "Message": join.get("Message") or "The job ended first."}
    detail = ctx.store.set_output(job.job_id, unit.index, FinishTime=finish, **changes)
    return output_ended(ctx, output, detail)


def _fall_back(ctx: TaskContext, job: JobRecord, index: int, failed: dict) -> dict[str, Any]:
    """Encode the output whole after all: a chunk could not be made frame-exact."""
    log.warning("job %s output %d: %s; encoding it whole", job.job_id, index, failed.get("Message"))
    ctx.store.set_plan(job.job_id, index, None)
    boost = {"Split": False, "Reason": f"a chunk kept a wrong frame count: {failed.get('Message')}"}
    detail = ctx.store.set_output(job.job_id, index, Status="Scheduled", Boost=boost)
    ctx.send_part(job, Unit(job.job_id, index))
    return detail


def _remove_scratch(ctx: TaskContext, job: JobRecord, index: int) -> None:
    """Delete an output's scratch parts; storage away past its retries leaves them (and a
    warning), never the output unended."""
    plan = job.plans.get(index)
    try:
        for part in _parts(plan) if plan else []:
            ctx.storage.delete(part_ref(ctx, job.specs[index], job.job_id, _name(part)))
    except TranscodeError as err:
        log.warning("%s: scratch parts of output %d left behind: %s", job.job_id, index, err)
