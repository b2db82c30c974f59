"""Hls and Dash output groups: one rendition per task, then one manifest per group.

A rendition is encoded into segments plus its own playlist (``<stem>.m3u8``) or MPD
(``<stem>.mpd``), uploaded media first and playlist last (so nobody sees a playlist that
names a missing segment), and measured; the measures go into the job store. When the last
rendition of a group ends, the group is packaged: the master playlist or the combined MPD
is written from those measures. Packaging is idempotent (it writes the same manifest
again), so whoever sees the group complete first may do it, and the chord callback does it
too in case that worker died.

A DASH Representation carries one stream, so a DASH rendition is encoded video-only, and
the group's first rendition that keeps audio also encodes one audio part (``<stem>-audio``)
that every video Representation shares.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any

from shared.clock import now_us, wire_time
from shared.errors import TranscodeError
from shared.jobrecord import TERMINAL_OUTPUT_STATES, JobRecord
from shared.planning import GroupSpec, OutputSpec
from shared.storage import parse_storage_url
from shared.templates import without
from workers.context import Encode, TaskContext
from workers.filemeta import out_file_meta, output_result
from workers.forced_segments import settle_mpd_file
from workers.manifests import (
    Rendition,
    codecs_string,
    master_playlist,
    measure_playlist,
    merge_mpd,
    rendition_from_output,
)
from workers.probe import OWN_OUTPUT
from workers.segmenting import playlist_name, rendition_files, segment_args
from workers.subtitles import SubtitleTrack, carries_subtitles, stamp_vtt_segments, track_for

log = logging.getLogger(__name__)


def _split(media: str) -> tuple[str, str]:
    """``oss://b/out/v/720p.m3u8`` → (``oss://b/out/v/``, ``720p``)."""
    folder, _, name = media.rpartition("/")
    return folder + "/", PurePosixPath(name).stem


def _relative(media: str, group: GroupSpec) -> str:
    return media.removeprefix(group.base_media.rstrip("/") + "/")


def _upload(ctx: TaskContext, folder_media: str, files: list[Path]) -> int:
    """Upload ``files`` (in order: media first, playlist last) into ``folder_media``."""
    for path in files:
        ctx.storage.upload(
            path,
            parse_storage_url(folder_media + path.name, settings=ctx.settings, for_output=True),
        )
    return sum(path.stat().st_size for path in files)


#: Writes one run of a rendition: (its config, a new local folder, its stem) → the path of
#: the playlist (or MPD) it wrote there beside its segments.
Write = Callable[[dict, Path, str], Path]


def rendition_runs(
    job: JobRecord, spec: OutputSpec, config: dict, video: bool, audio: bool
) -> list[tuple[str, dict]]:
    """(stem, config) of each run a rendition writes: one, or for DASH one per stream.

    A DASH Representation carries one stream: the video run is video-only, and the group's
    first rendition that keeps audio also writes the audio (``<stem>-audio``).

    Args:
        config: the rendition's TemplateConfig; video, audio: whether its source has them.
    """
    group = next(g for g in job.groups if g.index == spec.group)
    stem = _split(spec.output_media)[1]
    if group.type != "Dash":
        return [(stem, config)]
    video = video and not config.get("Video", {}).get("Remove")
    audio = audio and not config.get("Audio", {}).get("Remove")
    members = [
        s
        for s in job.specs
        if s.group == spec.group and not s.config.get("Audio", {}).get("Remove")
    ]
    owns_audio = audio and members and members[0].index == spec.index
    runs = [(stem, without(config, "Audio") if audio else config)] if video else []
    if owns_audio or (audio and not video):
        runs.append(
            (f"{stem}-audio" if video else stem, without(config, "Video") if video else config)
        )
    return runs


def encode_rendition(
    ctx: TaskContext, job: JobRecord, spec: OutputSpec, workdir: Path, enc: Encode
) -> dict[str, Any]:
    """Encode, upload and measure one rendition; returns its ``Result``.

    The group's subtitle carrier (``workers.subtitles.carries_subtitles``) also writes the
    input's subtitles as a WebVTT rendition.
    """
    group = next(g for g in job.groups if g.index == spec.group)
    carry = carries_subtitles(job.specs, spec) and enc.info.subtitle is not None

    def write(config: dict, out_dir: Path, stem: str) -> Path:
        argv = segment_args(
            enc.source,
            enc.info,
            config,
            ctx.settings,
            out_dir=out_dir,
            stem=stem,
            features=spec.features,
            segments=group.segments,
            subtitles=carry,
        )
        enc.run(ctx, argv)
        playlist = out_dir / playlist_name(stem, group.segments)
        if group.segments == "dash":
            settle_mpd_file(playlist)
        if carry and group.segments == "ts":
            stamp_vtt_segments(out_dir, stem)
        return playlist

    runs = rendition_runs(
        job, spec, enc.config, enc.info.video is not None, enc.info.audio is not None
    )
    track = track_for(_relative(spec.output_media, group), enc.info.subtitle) if carry else None
    return write_rendition(ctx, job, spec, workdir, runs, write, enc.check_owner, subtitles=track)


def write_rendition(
    ctx: TaskContext,
    job: JobRecord,
    spec: OutputSpec,
    workdir: Path,
    runs: list[tuple[str, dict]],
    write: Write,
    check_owner: Callable[[], None],
    *,
    subtitles: SubtitleTrack | None = None,
) -> dict[str, Any]:
    """Write each of a rendition's ``runs`` (``rendition_runs``) with ``write``, then
    upload and measure it; returns its ``Result``. ``check_owner`` raises when this run
    lost the rendition (``workers.unit_run``): nothing is uploaded then. ``subtitles``: the
    subtitle rendition its run writes too, recorded for the master playlist."""
    group = next(g for g in job.groups if g.index == spec.group)
    folder_media = _split(spec.output_media)[0]
    measures: dict[str, Any] = {"files": [], "parts": []}
    total, main = 0, None
    for i, (part_stem, config) in enumerate(runs):
        out_dir = workdir / f"part{i}"
        out_dir.mkdir()
        playlist = write(config, out_dir, part_stem)
        files = rendition_files(playlist.parent)
        probe = ctx.prober(str(playlist), ctx.settings, OWN_OUTPUT)
        check_owner()
        total += _upload(ctx, folder_media, files)
        measures["files"] += [f.name for f in files]
        _measure(measures, group, spec, playlist, files, probe)
        main = main or (playlist, probe)
    if subtitles is not None and PurePosixPath(subtitles.playlist).name in measures["files"]:
        measures["subtitles"] = asdict(subtitles)
    url = ctx.storage.public_url(
        parse_storage_url(spec.output_media, settings=ctx.settings, for_output=True)
    )
    meta = out_file_meta(main[1], file_name=main[0].name, file_url=url, file_size=total)
    ctx.store.set_rendition(job.job_id, spec.index, measures)
    return output_result(spec.output_media, url, meta)


def _measure(
    measures: dict,
    group: GroupSpec,
    spec: OutputSpec,
    playlist: Path,
    files: list[Path],
    probe: dict,
):
    sizes = {f.name: f.stat().st_size for f in files}
    if group.type == "Hls":
        measured = measure_playlist(playlist.read_text(), sizes)
        rendition = rendition_from_output(
            _relative(spec.output_media, group), spec.hls, measured, probe
        )
        measures["rendition"] = asdict(rendition)
        measures["peak_bps"] = measured.peak_bps
        return
    folder = _relative(spec.output_media, group).rpartition("/")[0]
    duration = float(probe.get("format", {}).get("duration") or 0)
    media_bytes = sum(size for name, size in sizes.items() if not name.endswith(".mpd"))
    bandwidth = int(media_bytes * 8 / duration) if duration else 0
    measures["parts"].append(
        {
            "prefix": folder + "/" if folder else "",
            "mpd": playlist.read_text(),
            "attributes": {"codecs": codecs_string(probe), "bandwidth": str(bandwidth)},
        }
    )
    measures["peak_bps"] = max(measures.get("peak_bps", 0), bandwidth)


def delete_rendition(ctx: TaskContext, job_id: str, spec: OutputSpec) -> None:
    """Remove every uploaded file of a rendition (its job was cancelled mid-upload)."""
    job = ctx.store.get(job_id)
    folder_media, _ = _split(spec.output_media)
    for name in (job.renditions.get(spec.index, {}) if job else {}).get("files", []):
        ctx.storage.delete(
            parse_storage_url(folder_media + name, settings=ctx.settings, for_output=True)
        )


# --- packaging ------------------------------------------------------------------------------


def package_when_ready(
    ctx: TaskContext, job: JobRecord, group_index: int | None
) -> dict[str, Any] | None:
    """Package ``group_index`` if all its renditions ended and it is not packaged yet."""
    group = next((g for g in job.groups if g.index == group_index), None)
    if group is None or job.group_states.get(group.index, {}).get("Status") in (
        "Success",
        "Failed",
        "Skipped",
    ):
        return None
    members = [s for s in job.specs if s.group == group.index]
    details = [job.outputs.get(s.index, {}) for s in members]
    if any(d.get("Status") not in TERMINAL_OUTPUT_STATES for d in details):
        return None
    ended = {"FinishTime": wire_time(now_us())}
    failed = next((d for d in details if d.get("Status") in ("Failed", "Skipped")), None)
    if job.state == "Cancelled" or (failed and failed.get("Status") == "Skipped"):
        return ctx.store.set_group(job.job_id, group.index, Status="Skipped", **ended)
    if failed:
        message = f"rendition {failed.get('Name')} failed: {failed.get('Message', '')}"
        return ctx.store.set_group(
            job.job_id,
            group.index,
            Status="Failed",
            Code=failed.get("Code", ""),
            Message=message,
            **ended,
        )
    try:
        result = _write_manifest(ctx, job, group, members)
    except TranscodeError as err:
        if not err.permanent:
            raise
        return ctx.store.set_group(
            job.job_id,
            group.index,
            Status="Failed",
            Code=err.code,
            Message=f"packaging failed: {err.message}",
            **ended,
        )
    return ctx.store.set_group(job.job_id, group.index, Status="Success", Result=result, **ended)


def _manifest_text(job: JobRecord, group: GroupSpec, members: list[OutputSpec]) -> str:
    measures = [job.renditions[s.index] for s in members]
    if group.type == "Hls":
        renditions = [Rendition(**m["rendition"]) for m in measures]
        tracks = [SubtitleTrack(**m["subtitles"]) for m in measures if m.get("subtitles")]
        return master_playlist(renditions, fmp4=group.segments == "fmp4", subtitles=tracks)
    parts = [p for m in measures for p in m["parts"]]
    return merge_mpd(
        [(p["prefix"], p["mpd"]) for p in parts], attributes=[p["attributes"] for p in parts]
    )


def _write_manifest(
    ctx: TaskContext, job: JobRecord, group: GroupSpec, members: list[OutputSpec]
) -> dict[str, Any]:
    text = _manifest_text(job, group, members)
    workdir = Path(
        tempfile.mkdtemp(prefix=f"mcfarm-{job.job_id}-g{group.index}-", dir=ctx.settings.work_dir)
    )
    try:
        path = workdir / PurePosixPath(group.manifest_media).name
        path.write_text(text)
        ref = parse_storage_url(group.manifest_media, settings=ctx.settings, for_output=True)
        ctx.storage.upload(path, ref)
        url = ctx.storage.public_url(ref)
        meta = _manifest_meta(job, group, members, path, url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return output_result(group.manifest_media, url, meta)


def _manifest_meta(
    job: JobRecord, group: GroupSpec, members: list[OutputSpec], path: Path, url: str
) -> dict:
    """The manifest's ``OutFileMeta``: its own file, and the streams of its top rendition."""
    top = max(members, key=lambda s: job.renditions[s.index].get("peak_bps", 0))
    meta = dict(job.outputs[top.index]["Result"]["OutFileMeta"])
    meta["FileBasicInfo"] = {
        **meta["FileBasicInfo"],
        "FileName": path.name,
        "FileSize": str(path.stat().st_size),
        "FileUrl": url,
        "FormatName": "hls" if group.type == "Hls" else "dash",
        "Bitrate": f"{job.renditions[top.index].get('peak_bps', 0) / 1000:.3f}",
    }
    return meta
