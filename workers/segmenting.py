"""Adaptive-streaming renditions: the FFmpeg argv that encodes one rendition into segments.

A rendition is one encoding of the source (say ``video/720p``), written by one FFmpeg run
into one local folder; the caller uploads that folder under ``<base>/<dirname of name>/``.
With ``stem`` the last component of the rendition's name (``720p``), the folder holds:

* ``ts`` (``Container.Format`` ``m3u8``): ``720p.m3u8`` and ``720p-00000.ts``, ``-00001.ts``…
* ``fmp4`` (``hls-fmp4``, ``cmaf``): ``720p.m3u8``, ``720p-init.mp4`` and ``720p-00000.m4s``…
* ``dash`` (``mpd``; ``cmaf`` in a Dash group): ``720p.mpd``, ``720p-init.mp4`` and
  ``720p-00001.m4s``… (FFmpeg's dash muxer numbers segments from 1 and has no option to
  change that).
* with the input's subtitles (the Hls group's carrier, ``workers.subtitles``), also
  ``720p_vtt.m3u8`` and its WebVTT segments ``720p0.vtt``, ``720p1.vtt``…

Playlists name their segments by file name only, so the folder can move as a whole.

Players switch renditions at segment boundaries, so every rendition of a source must put
an IDR frame at the same instants: every ``D`` seconds, ``D`` being
``MuxConfig.Segment.Duration``, and at each ``ForceSegTime`` point
(``workers.forced_segments`` says how the two combine). A copied video stream
(``M3U8-COPY``) cannot be forced: its segments cut at the source's own keyframes, the first
one at least ``D`` s after the last cut, and copies of one source still align with each
other.

References: https://ffmpeg.org/ffmpeg-formats.html#hls-2,
https://ffmpeg.org/ffmpeg-formats.html#dash-2, https://ffmpeg.org/ffmpeg.html#Advanced-Video-options.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.containers import PLAYLIST_EXTENSIONS, container
from shared.errors import InvalidJob
from workers.ffmpeg_cmd import compile_args, encode_streams
from workers.forced_segments import forced_options
from workers.geometry import output_fps
from workers.probe import ProbeInfo
from workers.subtitles import hls_subtitle_options

#: ICE reference §2.2 MediaConvertSegment.Duration: "Default value: 10".
DEFAULT_SEGMENT_SECONDS = 10
#: File names end up in playlists and FFmpeg name templates (``%05d``, ``$Number$``), so a
#: stem keeps to letters, digits, ``_``, ``.`` and ``-``.
_STEM = re.compile(r"^[\w.-]+$")
_MANIFEST_SUFFIXES = tuple(PLAYLIST_EXTENSIONS.values())


def segment_seconds(config: Mapping[str, Any]) -> int:
    """``MuxConfig.Segment.Duration`` in seconds (10 when not given)."""
    segment = config.get("MuxConfig", {}).get("Segment", {})
    return segment.get("Duration", DEFAULT_SEGMENT_SECONDS)


def segment_kind(config: Mapping[str, Any], segments: str | None = None) -> str:
    """``ts``, ``fmp4`` or ``dash``: ``segments`` when given, else by ``Container.Format``."""
    if segments is not None:
        return segments
    fmt = config["Container"]["Format"]
    kind = container(fmt).segments
    if kind is None:
        raise InvalidJob(f"container {fmt!r} is not a segmented (HLS/DASH) format")
    return kind


def playlist_name(stem: str, kind: str) -> str:
    """The rendition's own playlist file: ``<stem>.mpd`` for DASH, else ``<stem>.m3u8``."""
    return f"{stem}.mpd" if kind == "dash" else f"{stem}.m3u8"


def _check_stem(stem: str) -> None:
    if not _STEM.match(stem) or stem in (".", ".."):
        raise InvalidJob(
            f"rendition file name {stem!r} must use only letters, digits, '_', '.' and '-'"
        )


# --- keyframes ----------------------------------------------------------------------------


def _gop(probe: ProbeInfo, config: Mapping[str, Any], asked: int | None, seconds: int) -> int:
    """Frames per GOP: one segment's worth, or the template's ``Gop`` when that is shorter."""
    per_segment = math.ceil(seconds * output_fps(probe, config.get("Video", {})) - 1e-6)
    return min(asked, per_segment) if asked else per_segment


def keyframe_options(
    probe: ProbeInfo,
    config: Mapping[str, Any],
    options: Mapping[str, Any],
    seconds: int,
    at: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Encoder options that put an IDR frame at every multiple of ``seconds``, and only there
    (or, given ``at``, at those times: the segment starts of a Boost chunk).

    shaka-streamer does the same (GOP = segment × fps, no scene-cut keyframes), and Apple's
    HLS authoring spec asks for keyframes aligned across variants
    (https://developer.apple.com/documentation/http-live-streaming/hls-authoring-specification-for-apple-devices).
    """
    encoder = options.get("c:v")
    if encoder not in ("libx264", "libx265"):  # no video, or a copy: nothing to force
        return {}
    # A keyframe on the first frame at or after each boundary n*D, whatever the rate, or at
    # each of the times listed (https://ffmpeg.org/ffmpeg.html#Advanced-Video-options).
    when = f"expr:gte(t,n_forced*{seconds})" if at is None else ",".join(f"{t:.6f}" for t in at)
    forced = {
        "force_key_frames": when,
        # The GOP cap is a segment long, so the encoder adds no keyframe of its own in between.
        "g": _gop(probe, config, options.get("g"), seconds),
        # Forced frames as IDR, not plain I frames: a segment must decode on its own
        # (https://ffmpeg.org/ffmpeg-codecs.html#libx264_002c-libx264rgb, forced-idr).
        "forced-idr": 1,
    }
    if encoder == "libx264":
        # -sc_threshold 0 turns off x264's scene-cut keyframes, which land at different
        # frames in different renditions (https://trac.ffmpeg.org/wiki/Encode/H.264).
        return forced | {"sc_threshold": 0}
    # x265: no scene-cut keyframes, and closed GOPs (its default open GOP lets frames after
    # a boundary refer to frames before it) (https://x265.readthedocs.io/en/master/cli.html).
    params = options.get("x265-params", "log-level=error")
    return forced | {"x265-params": f"{params}:scenecut=0:open-gop=0"}


# --- muxers -------------------------------------------------------------------------------


def _hls_options(out_dir: Path, stem: str, seconds: int, fmp4: bool) -> dict[str, Any]:
    """The hls muxer writing ``<stem>.m3u8`` and its segments into ``out_dir``.

    See https://ffmpeg.org/ffmpeg-formats.html#hls-2.
    """
    ext = "m4s" if fmp4 else "ts"
    options: dict[str, Any] = {
        "format": "hls",
        "hls_time": seconds,
        # VOD: every segment stays listed, and the playlist ends with #EXT-X-ENDLIST.
        "hls_playlist_type": "vod",
        "hls_list_size": 0,
        # Says that each segment starts with a keyframe (the forcing above guarantees it), so
        # players may start or switch at any segment (RFC 8216 4.3.5.1).
        "hls_flags": "independent_segments",
        "hls_segment_filename": str(out_dir / f"{stem}-%05d.{ext}"),
    }
    if fmp4:
        # The init segment is named relative to the playlist's folder (out_dir).
        options |= {"hls_segment_type": "fmp4", "hls_fmp4_init_filename": f"{stem}-init.mp4"}
    return options


def _dash_options(stem: str, seconds: int) -> dict[str, Any]:
    """The dash muxer writing one representation as ``<stem>.mpd``, init and segments.

    See https://ffmpeg.org/ffmpeg-formats.html#dash-2. The names are templates relative to
    the MPD's folder; ``$RepresentationID$`` is avoided because ``merge_mpd`` renumbers
    representations.
    """
    return {
        "format": "dash",
        "seg_duration": seconds,
        "single_file": 0,
        # SegmentTemplate with a SegmentTimeline: exact durations, no per-segment list.
        "use_template": 1,
        "use_timeline": 1,
        "init_seg_name": f"{stem}-init.mp4",
        "media_seg_name": f"{stem}-$Number%05d$.m4s",
    }


def muxer_options(kind: str, out_dir: Path, stem: str, seconds: int) -> dict[str, Any]:
    """The muxer and its options that write a ``kind`` rendition named ``stem`` into
    ``out_dir`` in segments of ``seconds``; 0 cuts at every keyframe (ForceSegTime,
    ``workers.forced_segments``)."""
    if kind == "dash":
        return _dash_options(stem, seconds)
    return _hls_options(out_dir, stem, seconds, fmp4=kind == "fmp4")


def segment_args(
    src: str,
    probe: ProbeInfo,
    config: Mapping[str, Any],
    settings,
    *,
    out_dir: Path,
    stem: str,
    features: Mapping[str, Any] | None = None,
    segments: str | None = None,
    subtitles: bool = False,
) -> list[str]:
    """The FFmpeg argv that encodes ``src`` into one segmented rendition in ``out_dir``.

    Video and audio are encoded as ``workers.ffmpeg_cmd.build_ffmpeg_args`` would (codec,
    even-sized scaling, rate control, fps, preset, profile, pixel format, copy, Remove),
    with keyframes forced onto segment boundaries: every ``Duration`` seconds and at the
    ``ForceSegTime`` points (``workers.forced_segments``).

    Args:
        src, probe, settings, features: as for ``build_ffmpeg_args``.
        config: a normalized TemplateConfig with a segmented ``Container.Format``.
        out_dir: the local folder for this rendition's files (it must exist).
        stem: the rendition's file stem, e.g. ``720p`` for the rendition ``video/720p``.
        segments: ``ts``, ``fmp4`` or ``dash`` (``GroupSpec.segments``); by default it
            follows ``Container.Format`` (``cmaf`` → ``fmp4``).
        subtitles: the rendition carries the input's subtitle stream as WebVTT
            (``workers.subtitles.carries_subtitles``; HLS only).

    Returns:
        The argv; its last argument is ``out_dir / playlist_name(stem, kind)``.

    Raises:
        InvalidJob: a stem that cannot be a file name in a playlist; a DASH rendition that
            keeps both video and audio (split it: ``Audio.Remove`` for the video
            renditions, ``Video.Remove`` for the audio ones); a clip whose End is not
            after its Seek.
        InputContentBad: the input has none of the streams the rendition keeps.
    """
    _check_stem(stem)
    kind = segment_kind(config, segments)
    seconds = segment_seconds(config)
    carry = subtitles and kind != "dash"
    streams, options = encode_streams(src, probe, config, features=features, subtitles=carry)
    if kind == "dash" and len(streams) > 1:
        raise InvalidJob(
            "a DASH rendition carries one stream: set Audio.Remove on video renditions "
            "and Video.Remove on audio renditions"
        )
    options |= keyframe_options(probe, config, options, seconds)
    forced = forced_options(probe, config, options, seconds)
    options |= forced | muxer_options(kind, out_dir, stem, 0 if forced else seconds)
    options |= hls_subtitle_options(options, out_dir, stem)
    dst = str(out_dir / playlist_name(stem, kind))
    return compile_args(streams, dst, options, settings, features=features)


def rendition_files(out_dir: Path) -> list[Path]:
    """Every file a rendition run left in ``out_dir``, in upload order.

    Media (init and segments) come first, sorted by name; the playlist (``.m3u8``/``.mpd``)
    comes last, so a reader never finds a playlist naming a segment not yet uploaded.
    """
    files = [path for path in out_dir.iterdir() if path.is_file()]
    return sorted(files, key=lambda path: (path.suffix in _MANIFEST_SUFFIXES, path.name))
