"""FFmpeg command lines of a split (Boost) output: its chunks, its audio, and the join (pure).

- A chunk encodes exactly its frames (``ffmpeg_cmd.Window``), video only, with the output's
  own encoder settings, into NUT: a container that keeps the encoder's time base exactly
  and carries any codec, so nothing is rounded between the chunk and the join. Every chunk
  is a stream of its own, starting on an IDR (closed GOPs), with rate control that holds
  across joins (``join_rate_control``).
- A chunk reads its own piece of the input (``piece_args``): a stream copy of the span it
  decodes, cut once when the job starts, so no chunk task fetches the whole input.
- The audio is encoded once, over the whole input (per-chunk AAC would leave a gap of
  encoder priming at every join), into MP4 (``AUDIO_EXTENSION``).
- The join reads the chunks with the concat demuxer, each for exactly the source time it
  spans (its ``duration``: the next chunk starts where the source's next frame does), and
  copies them and the audio into the output's container. The video is offset against the
  audio as in the source (a TS whose audio starts first keeps that lead, in the MP4 edit
  list), so sync comes from timestamps, never from added or dropped frames.

References: https://ffmpeg.org/ffmpeg-formats.html#concat-1, https://ffmpeg.org/ffmpeg-formats.html#nut,
https://code.videolan.org/videolan/x264 (``--stitchable``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ffmpeg

from shared.containers import Kind, container
from shared.templates import without
from workers.chunks import Chunk
from workers.ffmpeg_cmd import (
    CPU_VIDEO,
    VideoPath,
    Window,
    compile_args,
    encode_streams,
    hvc1_tag,
)
from workers.geometry import seconds
from workers.probe import LOCAL_INPUT, ProbeInfo
from workers.segmenting import keyframe_options, muxer_options, playlist_name, segment_seconds

#: Chunks are written as NUT (``-f nut``), named with this extension.
CHUNK_EXTENSION = ".nut"
#: The audio part is written as MP4: its edit list keeps the encoder's priming out of the
#: decoded audio, and a stream copy into the output keeps it out too (NUT drops that: an
#: AAC part in NUT came out 34 ms longer than its source, in MP4 within one AAC frame).
AUDIO_EXTENSION = ".m4a"


def chunk_args(
    src: str,
    probe: ProbeInfo,
    config: Mapping[str, Any],
    settings,
    *,
    chunk: Chunk,
    dst: str,
    video_path: VideoPath = CPU_VIDEO,
) -> list[str]:
    """The argv that encodes one chunk's frames of ``src`` into ``dst`` (NUT, video only).

    Args:
        src, probe, config, settings: as for ``ffmpeg_cmd.build_ffmpeg_args``.
        chunk: which frames (``workers.chunks.plan_chunks``).
        video_path: ``CPU_VIDEO`` or a GPU path, as for a whole output.
    """
    window = Window(chunk.seek, chunk.start, chunk.end)
    streams, options = encode_streams(
        src, probe, without(config, "Audio"), video_path=video_path, window=window
    )
    options.pop("tag:v", None)  # the join tags HEVC for its container
    if container(config["Container"]["Format"]).kind is Kind.SEGMENTED:
        seconds = segment_seconds(config)
        options |= keyframe_options(probe, config, options, seconds, at=chunk.keyframes)
    options |= join_rate_control(options)
    return compile_args(streams, dst, {**options, "format": "nut"}, settings)


#: How full a chunk's VBV buffer is when it starts and (x265) when it ends: x264's default
#: start, the same at every join.
VBV_AT_JOIN = 0.9


def join_rate_control(options: Mapping[str, Any]) -> dict[str, str]:
    """The encoder options that keep rate control consistent across the joins of chunks
    encoded with ``options``.

    x264 runs ``stitchable`` (every chunk's stream starts with the same headers, so they
    concatenate into one). With a VBV buffer (a ``Maxrate`` or CBR), each chunk starts with
    it ``VBV_AT_JOIN`` full, and x265 also ends each chunk that full (``vbv-end``), so the
    buffer a decoder holds at a join is the one the next chunk was encoded for. x264 has no
    end target: its chunks share the start fullness only.
    """
    vbv = "bufsize" in options
    if options.get("c:v") == "libx264":
        params = ["stitchable=1", *([f"vbv-init={VBV_AT_JOIN}"] if vbv else [])]
        return {"x264-params": ":".join(params)}
    if options.get("c:v") == "libx265" and vbv:
        params = [options.get("x265-params"), f"vbv-init={VBV_AT_JOIN}", f"vbv-end={VBV_AT_JOIN}"]
        return {"x265-params": ":".join(p for p in params if p)}
    return {}


def piece_args(src: str, chunk: Chunk, dst: str, settings) -> list[str]:
    """The argv that copies the piece of ``src`` a chunk reads into ``dst`` (NUT, its video
    only): from the keyframe it seeks to, ``chunk.reads`` seconds, every packet as it is
    and at its own timestamps (none shifted), so the chunk's trim finds its frames where
    they were.

    The input is cut once, when the job starts; each chunk task then fetches its piece
    instead of the whole input.
    """
    options: dict[str, Any] = dict(LOCAL_INPUT)
    if chunk.seek:
        options["ss"] = seconds(chunk.seek)
    if chunk.reads:
        options["t"] = seconds(chunk.reads)
    video = ffmpeg.input(src, **options)["V:0"]
    # A source whose B-frames start decoding before 0 (an MP4 from x264) would otherwise
    # have every timestamp shifted later by that much, and the trim would miss its frames.
    copy = {"c": "copy", "copyts": None, "avoid_negative_ts": "disabled", "format": "nut"}
    return compile_args([video], dst, copy, settings)


def audio_args(
    src: str, probe: ProbeInfo, config: Mapping[str, Any], settings, *, dst: str
) -> list[str]:
    """The argv that encodes the output's audio over the whole input into ``dst`` (MP4),
    through the same filters (``Audio.Volume``) as a whole output's."""
    streams, options = encode_streams(src, probe, without(config, "Video"))
    # MP4 holds no PCM; MOV does, with the same edit list (the name stays .m4a: the
    # join probes what it reads).
    muxer = "mov" if options.get("c:a") == "pcm_s16le" else "mp4"
    return compile_args(streams, dst, {**options, "format": muxer}, settings)


def concat_list(chunks: Sequence[Chunk], names: Sequence[str]) -> str:
    """The concat demuxer's list: each chunk file, for exactly the source time it spans."""
    lines = []
    for chunk, name in zip(chunks, names, strict=True):
        lines += [f"file '{name}'", f"duration {chunk.duration:.6f}"]
    return "\n".join(lines) + "\n"


def _copied_video_tag(config: Mapping[str, Any]) -> dict[str, str]:
    """The tag of the chunks' video copied into the output: ``hvc1`` for HEVC in ISO BMFF
    (``ffmpeg_cmd.hvc1_tag``), ``avc1`` for H.264 there, whose NUT tag (``H264``) the dash
    muxer's MP4 refuses."""
    if config.get("Video", {}).get("Codec") == "H.265":
        return hvc1_tag(config, True)
    return {"tag:v": "avc1"} if container(config["Container"]["Format"]).iso_bmff else {}


def _joined_streams(listing: str | None, audio: str | None, video_offset: float) -> list:
    """The chunks' video (``listing``, a ``concat_list`` file) and the audio part, each
    offset as in the source: ``video_offset`` is how long after the audio the video starts
    (seconds; negative when it starts first)."""
    streams = []
    if listing is not None:
        lead = {"itsoffset": seconds(video_offset)} if video_offset > 0 else {}
        # The list names our own chunk files, beside it
        # (https://ffmpeg.org/ffmpeg-formats.html#Options).
        video = ffmpeg.input(listing, f="concat", safe=0, protocol_whitelist="file", **lead)
        streams.append(video["v:0"])
    if audio is not None:
        late = {"itsoffset": seconds(-video_offset)} if video_offset < 0 else {}
        streams.append(ffmpeg.input(audio, protocol_whitelist="file", **late)["a:0"])
    return streams


def join_args(
    listing: str,
    audio: str | None,
    dst: str,
    config: Mapping[str, Any],
    settings,
    *,
    video_offset: float = 0.0,
    features: Mapping[str, Any] | None = None,
) -> list[str]:
    """The argv that copies the chunks (``listing``, a ``concat_list`` file) and the audio
    part into the output's container at ``dst``.

    Args:
        audio: the audio part, or None when the output has no audio.
        video_offset: how long after the audio the video starts in the source (seconds;
            negative when it starts first).
        features: the output's ``Metadata``, written as for a whole output.
    """
    streams = _joined_streams(listing, audio, video_offset)
    box = container(config["Container"]["Format"])
    options: dict[str, Any] = {"c": "copy", "format": box.muxer, **box.muxer_options}
    options |= _copied_video_tag(config)
    return compile_args(streams, dst, options, settings, features=features)


def join_segments_args(
    listing: str | None,
    audio: str | None,
    config: Mapping[str, Any],
    settings,
    *,
    out_dir: Path,
    stem: str,
    segments: str,
    video_offset: float = 0.0,
    features: Mapping[str, Any] | None = None,
) -> list[str]:
    """The argv that copies the chunks and/or the audio part into one segmented rendition
    in ``out_dir``, as ``segmenting.segment_args`` would have encoded it: the chunks'
    forced keyframes are where its segments start.

    Args:
        listing, audio: as for ``join_args``; either may be None (a DASH Representation
            carries one stream).
        out_dir, stem, segments: as for ``segmenting.segment_args``.
    """
    streams = _joined_streams(listing, audio, video_offset)
    options = {"c": "copy", **muxer_options(segments, out_dir, stem, segment_seconds(config))}
    options |= _copied_video_tag(config) if listing is not None else {}
    dst = str(out_dir / playlist_name(stem, segments))
    return compile_args(streams, dst, options, settings, features=features)
