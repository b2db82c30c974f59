"""Boost, when a job starts: which outputs split, their chunks, and the input's pieces.

``plan_outputs`` decides, for every output of a Boost job (``workers.chunks.boost_wanted``),
whether it is split and why not (``Boost`` in its detail), plans its chunks from the input's
frame times (``workers.chunks.plan_chunks``), and cuts the input once into the pieces its
chunks read (``workers.chunk_cmd.piece_args``): each chunk task then fetches a piece of
about its own length instead of the whole input. Outputs of one input that read the same
span share a piece. A piece that cannot be cut leaves its chunks reading the whole input.

Everything a split output keeps in storage lives under ``SCRATCH`` (``scratch_ref``): its
parts until the join, and its input's pieces until every output of that input ended
(``drop_pieces``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from shared.errors import TranscodeError
from shared.jobrecord import TERMINAL_OUTPUT_STATES, JobRecord
from shared.planning import OutputSpec
from shared.storage import StorageRef, parse_storage_url
from workers import adaptive
from workers.chunk_cmd import piece_args
from workers.chunks import (
    Chunk,
    boost_wanted,
    chunk_length,
    frame_times,
    plan_chunks,
    unsplittable,
)
from workers.context import TaskContext
from workers.geometry import fps_filter_rate
from workers.probe import FRAME_TIMES, LOCAL_INPUT, parse_probe
from workers.segmenting import segment_seconds
from workers.subtitles import boost_reason
from workers.unit_run import stage_input

log = logging.getLogger(__name__)

#: The prefix of a split output's files in storage, waiting for their join.
SCRATCH = ".mcfarm-scratch"


def scratch_ref(ctx: TaskContext, media: str, rel: str) -> StorageRef:
    """``rel`` under ``SCRATCH`` near ``media`` (an output's URL): at the root of its bucket
    (one prefix for a lifecycle rule to sweep), or beside a local output file."""
    out = parse_storage_url(media, settings=ctx.settings, for_output=True)
    key = f"{SCRATCH}/{rel}"
    if out.kind == "object":
        return StorageRef("object", bucket=out.bucket, key=key)
    return StorageRef("file", path=str(Path(out.path).parent / key))


def part_ref(ctx: TaskContext, spec: OutputSpec, job_id: str, name: str) -> StorageRef:
    """Where a part of a split output waits for the join."""
    return scratch_ref(ctx, spec.output_media, f"{job_id}/{spec.index}/{name}")


def piece_ref(
    ctx: TaskContext, job: JobRecord, input_index: int, name: str, home: int | None = None
) -> StorageRef:
    """Where a piece of input ``input_index`` is kept: near the output ``home`` (by default
    the one its record names)."""
    home = job.pieces[input_index]["home"] if home is None else home
    media = job.specs[home].output_media
    return scratch_ref(ctx, media, f"{job.job_id}/in{input_index}/{name}")


def plan_outputs(ctx: TaskContext, job: JobRecord, specs: Sequence[OutputSpec]) -> None:
    """Plan the chunks of every output of ``job`` that Boost splits, and cut their inputs'
    pieces; say why the others run whole (``Boost`` in their detail)."""
    split = [spec for spec in specs if _splits(ctx, job, spec)]
    with tempfile.TemporaryDirectory(prefix="mcfarm-plan-", dir=ctx.settings.work_dir) as d:
        for input_index in sorted({spec.input_index for spec in split}):
            ours = [spec for spec in split if spec.input_index == input_index]
            folder = Path(d) / f"in{input_index}"
            folder.mkdir()
            source = stage_input(ctx, ours[0].input_media, input_index, folder)
            probe = ctx.prober(str(source), ctx.settings, LOCAL_INPUT, FRAME_TIMES)
            chunks = [c for spec in ours for c in _plan(ctx, job, spec, frame_times(probe))]
            _cut_pieces(ctx, job, ours[0].index, input_index, source, chunks, folder)


def _splits(ctx: TaskContext, job: JobRecord, spec: OutputSpec) -> bool:
    """Whether Boost splits ``spec``; when it is wanted but cannot, say why."""
    probe = ctx.store.cached_probe(job.job_id, spec.input_index) or {}
    duration = parse_probe(probe).duration if probe else None
    if not boost_wanted(job.pipeline_speed, duration, ctx.settings.boost_min_seconds):
        return False
    why = unsplittable(spec.config, spec.features)
    if why is None and fps_filter_rate(parse_probe(probe), spec.config.get("Video", {})):
        why = "its frame rate is converted (Video.Fps, or a source above 60 fps)"
    if why is None:
        why = boost_reason(job.specs, spec, parse_probe(probe))
    if why is None and (duration or 0) < 2 * _length(ctx, spec):
        why = "the input is shorter than two chunks"
    if why is not None:
        ctx.store.set_output(job.job_id, spec.index, Boost={"Split": False, "Reason": why})
    return why is None


def _segment(spec: OutputSpec) -> int | None:
    return segment_seconds(spec.config) if spec.segmented else None


def _length(ctx: TaskContext, spec: OutputSpec) -> int:
    return chunk_length(ctx.settings.boost_chunk_seconds, _segment(spec))


def _plan(ctx: TaskContext, job: JobRecord, spec: OutputSpec, times) -> list[Chunk]:
    """Plan one output's chunks and record them; returns them."""
    probe = ctx.store.cached_probe(job.job_id, spec.input_index) or {}
    chunks = plan_chunks(times, ctx.settings.boost_chunk_seconds, _segment(spec))
    plan = {
        "chunks": [c.to_dict() for c in chunks],
        "video_offset": _video_offset(probe),
        "audio": _needs_audio(job, spec, probe),
    }
    ctx.store.set_plan(job.job_id, spec.index, plan)
    boost = {"Split": True, "Chunks": len(chunks), "ChunkSeconds": _length(ctx, spec)}
    ctx.store.set_output(job.job_id, spec.index, Boost=boost)
    return chunks


def _cut_pieces(
    ctx: TaskContext,
    job: JobRecord,
    home: int,
    input_index: int,
    source: Path,
    chunks: list[Chunk],
    folder: Path,
) -> None:
    """Cut ``source`` into the pieces ``chunks`` read and store them; record them (with
    ``home``, the output that locates them) unless one cannot be cut."""
    wanted = {chunk.piece: chunk for chunk in chunks if chunk.piece is not None}
    cut: list[StorageRef] = []
    for name, chunk in wanted.items():
        try:
            ctx.runner(
                piece_args(str(source), chunk, str(folder / name), ctx.settings),
                timeout=ctx.settings.task_time_limit,
            )
        except TranscodeError as err:
            log.warning("job %s input %d: not cut (%s); read whole", job.job_id, input_index, err)
            for ref in cut:
                ctx.storage.delete(ref)
            return
        cut.append(piece_ref(ctx, job, input_index, name, home))
        ctx.storage.upload(folder / name, cut[-1])
        (folder / name).unlink()
    ctx.store.set_pieces(job.job_id, input_index, {"home": home, "names": sorted(wanted)})


def drop_pieces(
    ctx: TaskContext, job: JobRecord, input_index: int, ending: int | None = None
) -> None:
    """Remove the pieces of ``input_index`` once every output of that input ended (or is
    ``ending``: about to, with nothing of it left to read them)."""
    pieces = job.pieces.get(input_index)
    if not pieces or not pieces["names"]:
        return
    outputs = [s.index for s in job.specs if s.input_index == input_index and s.index != ending]
    if all(job.outputs.get(i, {}).get("Status") in TERMINAL_OUTPUT_STATES for i in outputs):
        for name in pieces["names"]:
            ctx.storage.delete(piece_ref(ctx, job, input_index, name))


def _start_times(probe: dict) -> dict[int, float]:
    return {
        int(s.get("index", -1)): float(s["start_time"])
        for s in probe.get("streams") or []
        if s.get("start_time") not in (None, "N/A")
    }


def _video_offset(probe: dict) -> float:
    """How long after its audio the source's video starts (seconds; 0 without audio)."""
    info, starts = parse_probe(probe), _start_times(probe)
    if info.video is None or info.audio is None:
        return 0.0
    return round(starts.get(info.video.index, 0.0) - starts.get(info.audio.index, 0.0), 6)


def _needs_audio(job: JobRecord, spec: OutputSpec, probe: dict) -> bool:
    """Whether the output has an audio part: it keeps the source's audio (for a DASH
    rendition: it is the one that writes the group's audio Representation)."""
    audio = parse_probe(probe).audio is not None
    if not spec.segmented:
        return audio and not spec.config.get("Audio", {}).get("Remove")
    runs = adaptive.rendition_runs(job, spec, spec.config, True, audio)
    return audio and any(not config.get("Audio", {}).get("Remove") for _, config in runs)


def piece_for(job: JobRecord, input_index: int, chunk: Chunk) -> str | None:
    """The piece ``chunk`` of an output of input ``input_index`` reads, or None (whole)."""
    pieces = job.pieces.get(input_index) or {}
    return chunk.piece if chunk.piece in pieces.get("names", []) else None
