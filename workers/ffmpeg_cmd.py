"""FFmpeg command lines: a normalized TemplateConfig and a ProbeInfo in, an argv out.

Everything here is pure, so every preset gets an exact-argv unit test. This is the only
module that imports ``ffmpeg`` (ffmpeg-python 0.2.0), and it only *compiles* commands;
``workers.ffmpeg_run`` runs them.

Two quirks of ffmpeg-python 0.2.0 shape the argv: output options come out sorted by name
(after ``-f``), and an option cannot repeat, so ``-metadata`` pairs are inserted by hand in
front of the output name.

References: https://ffmpeg.org/ffmpeg.html, https://ffmpeg.org/ffmpeg-filters.html,
https://ffmpeg.org/ffmpeg-formats.html, https://trac.ffmpeg.org/wiki/Encode/H.264.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import ffmpeg

from shared.containers import container
from shared.errors import InputContentBad, InvalidJob
from shared.templates import without
from workers.audio_cmd import audio_options, audio_stream
from workers.geometry import fps_filter_rate, num, scale_size, seconds
from workers.probe import LOCAL_INPUT, ProbeInfo
from workers.subtitles import with_subtitles
from workers.video_codecs import encoder_options, gif_palette, is_two_pass, pass_options
from workers.video_filters import frame_filters, scale_interlaced, source_filters
from workers.watermark import apply_watermarks

GLOBAL_ARGS = (
    "-hide_banner",
    # FFmpeg otherwise reads keystrokes from stdin and stops when run in the background.
    "-nostdin",
    # The output path belongs to this task alone; a leftover from a killed attempt goes.
    "-y",
    # Errors only, so the last stderr line says why a run failed.
    "-loglevel",
    "error",
    # key=value progress blocks on stdout, parsed by workers.ffmpeg_run.
    "-progress",
    "pipe:1",
    # The human stats line would only fill stderr (-progress replaces it).
    "-nostats",
)


class VideoPath(Protocol):
    """Where an encoded video stream is decoded, filtered and encoded.

    ``encode_streams`` decides *what* happens (frame rate, size, encoder options, as for
    the CPU); a path decides *where*. ``CPU_VIDEO`` does it all on the CPU;
    ``workers.gpu_cmd`` has the NVDEC/CUDA/NVENC one.
    """

    def input_options(self) -> dict[str, Any]:
        """Extra input options (e.g. ``-hwaccel``)."""

    def filter(
        self, stream, rate: float | None, size: tuple[int, int] | None, interlaced: bool = False
    ):
        """``stream`` through an fps filter (``rate``) and a scaler (``size``), where given;
        ``interlaced`` scales each field alone (only the CPU path is asked to)."""

    def options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The video output options to use instead of the CPU encoder's ``options``."""


class CpuVideo:
    """The default ``VideoPath``: software decoding, filters and encoders."""

    def input_options(self) -> dict[str, Any]:
        return {}

    def filter(
        self, stream, rate: float | None, size: tuple[int, int] | None, interlaced: bool = False
    ):
        if rate:
            stream = stream.filter("fps", num(rate))
        if size is None:
            return stream
        # setsar=1: the scaled size already shows the display shape; a kept non-square SAR
        # would stretch it again in players. interl=1 keeps the two fields of a frame apart.
        extra = {"interl": 1} if interlaced else {}
        return stream.filter("scale", *size, **extra).filter("setsar", 1)

    def options(self, options: dict[str, Any]) -> dict[str, Any]:
        return options


CPU_VIDEO = CpuVideo()


@dataclass(frozen=True)
class Window:
    """Encode only some of the input's frames: one Boost chunk (``workers.chunks.Chunk``).

    The input seeks coarsely to ``seek`` (seconds from the file's start, a keyframe a whole
    GOP before the chunk), FFmpeg keeps the source's timestamps (``-copyts``), and a trim on
    the decoded frames keeps exactly those between ``start`` and ``end`` (the source's own
    timestamps, in seconds, each halfway between two frames); the chunk then starts at 0.
    """

    seek: float
    start: float
    end: float


def _video_stream(
    inp, probe: ProbeInfo, config: Mapping[str, Any], path: VideoPath, window: Window | None
):
    # V (capital): the first video stream that is not cover art, as parse_probe picks it
    # (https://ffmpeg.org/ffmpeg.html#Stream-specifiers-1).
    stream = inp["V:0"]
    video, trans = config.get("Video", {}), config.get("TransConfig", {})
    if video.get("Codec") == "copy":
        return stream
    if window is not None:
        # https://ffmpeg.org/ffmpeg-filters.html#trim, #setpts_002c-asetpts
        stream = stream.filter("trim", start=f"{window.start:.6f}", end=f"{window.end:.6f}")
        stream = stream.filter("setpts", "PTS-STARTPTS")
    stream = _filtered(stream, source_filters(probe, video))
    rate, size = fps_filter_rate(probe, video), scale_size(probe, video, trans)
    if scale_interlaced(probe, video):
        stream = path.filter(stream, rate, size, interlaced=True)
    else:
        stream = path.filter(stream, rate, size)
    stream = _filtered(stream, frame_filters(probe, video, trans))
    stream = apply_watermarks(stream, probe, config)  # before a GIF's palette: it sees them
    if video.get("Codec") == "GIF":
        stream = gif_palette(stream)
    return stream


def _filtered(stream, filters):
    for name, args, kwargs in filters:
        stream = stream.filter(name, *args, **kwargs)
    return stream


# --- encoder options --------------------------------------------------------------------


def _is_hevc(probe: ProbeInfo, codec: str) -> bool:
    source = probe.video.codec if probe.video else ""
    return codec == "H.265" or (codec == "copy" and source == "hevc")


def _video_options(probe: ProbeInfo, config: Mapping[str, Any]) -> dict:
    codec = config.get("Video", {}).get("Codec", "H.264")
    args = {"c:v": "copy"} if codec == "copy" else encoder_options(probe, config)
    return args | hvc1_tag(config, _is_hevc(probe, codec))


def hvc1_tag(config: Mapping[str, Any], hevc: bool) -> dict[str, str]:
    """The video tag option of an output whose video is HEVC (``hevc``): ``hvc1`` in ISO
    BMFF (MP4, fMP4 segments), where Apple players refuse FFmpeg's default ``hev1``."""
    return {"tag:v": "hvc1"} if hevc and container(config["Container"]["Format"]).iso_bmff else {}


# --- streams, clip, metadata -------------------------------------------------------------


def _keeps_video(probe: ProbeInfo, config: Mapping[str, Any]) -> bool:
    if not container(config["Container"]["Format"]).has_video:
        return False
    return probe.video is not None and not config.get("Video", {}).get("Remove")


def _keeps_audio(probe: ProbeInfo, config: Mapping[str, Any]) -> bool:
    if not container(config["Container"]["Format"]).audio_codecs:
        return False  # an animated image
    return probe.audio is not None and not config.get("Audio", {}).get("Remove")


def _streams_and_options(
    inp, probe: ProbeInfo, config: Mapping[str, Any], path: VideoPath, window: Window | None
) -> tuple[list, dict]:
    """The mapped streams (video first) and their encoder options."""
    streams: list = []
    options: dict[str, Any] = {}
    if _keeps_video(probe, config):
        streams.append(_video_stream(inp, probe, config, path, window))
        options |= path.options(_video_options(probe, config))
    if _keeps_audio(probe, config):
        streams.append(audio_stream(inp["a:0"], probe, config))
        options |= audio_options(probe, config)
    if not streams:
        fmt = config["Container"]["Format"]
        raise InputContentBad(f"the input has no stream that this {fmt} output can keep")
    return streams, options


def _clip_span(features: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    """(seek, length) in seconds from ``Clip.TimeSpan``; End becomes a length after Seek."""
    span = ((features or {}).get("Clip") or {}).get("TimeSpan") or {}
    seek = span.get("Seek") or None
    if "Duration" in span:
        return seek, span["Duration"]
    if "End" not in span:
        return seek, None
    length = span["End"] - (seek or 0)
    if length <= 0:
        raise InvalidJob("Clip.TimeSpan.End must come after Clip.TimeSpan.Seek")
    return seek, length


def output_duration(probe: ProbeInfo, features: Mapping[str, Any] | None = None) -> float | None:
    """The expected output length in seconds (for progress), the clip taken into account.

    Returns:
        Seconds, or None when neither the source nor the clip says.
    """
    seek, length = _clip_span(features)
    if probe.duration is None:
        return length
    remaining = max(probe.duration - (seek or 0), 0.0)
    return min(remaining, length) if length is not None else remaining


def _with_metadata(argv: list[str], metadata: Mapping[str, str]) -> list[str]:
    """Insert ``-metadata k=v`` pairs before the output name (the last argument)."""
    pairs = [arg for key, value in metadata.items() for arg in ("-metadata", f"{key}={value}")]
    return argv[:-1] + pairs + argv[-1:]


def encode_streams(
    src: str,
    probe: ProbeInfo,
    config: Mapping[str, Any],
    *,
    features: Mapping[str, Any] | None = None,
    video_path: VideoPath = CPU_VIDEO,
    window: Window | None = None,
    subtitles: bool = False,
) -> tuple[list, dict[str, Any]]:
    """The streams an output of ``config`` maps, and every output option but the muxer's.

    Shared by ``build_ffmpeg_args`` (one file) and ``workers.segmenting`` (HLS/DASH), so
    both encode alike: input ``-ss`` and output ``-t`` of a clip, fps and scale filters,
    codecs, rate control, GOP, preset, profile, pixel format, and the audio's filters
    (``Audio.Volume``) and options (``workers.audio_cmd``).

    Args:
        src: the input: a local file, read with the ``LOCAL_INPUT`` options.
        probe: ``parse_probe`` of the input.
        config: a normalized TemplateConfig.
        features: see ``build_ffmpeg_args``.
        video_path: where the video is decoded, filtered and encoded (``CPU_VIDEO``).
        window: only these frames (a Boost chunk), instead of a ``Clip``.
        subtitles: map the input's text subtitles too (``workers.subtitles``), not in a chunk.

    Returns:
        ``(streams, options)``: ffmpeg-python streams, video first, and output options
        keyed like ffmpeg-python kwargs (``"c:v"``, ``"g"``, ``"t"``…), without ``format``.

    Raises:
        InputContentBad: the input has none of the streams the output keeps.
        InvalidJob: a clip whose End is not after its Seek.
    """
    seek, length = _clip_span(features) if window is None else (window.seek, None)
    input_options: dict[str, Any] = dict(LOCAL_INPUT)
    input_options |= video_path.input_options()
    if seek:
        # As an input option -ss seeks by the index, then decodes to the exact frame
        # (https://trac.ffmpeg.org/wiki/Seeking).
        input_options["ss"] = seconds(seek)
    if seek and window is not None:
        # A chunk's seek lands on the keyframe it wants, a hair before the position: keep
        # every decoded frame from there (the trim picks the chunk's own), where the exact
        # seek would drop that keyframe's picture, the chunk's first when it starts on it.
        input_options["noaccurate_seek"] = None
    inp = ffmpeg.input(src, **input_options)
    streams, options = _streams_and_options(inp, probe, config, video_path, window)
    if subtitles and window is None:
        streams, options = with_subtitles(inp, probe, config, streams, options)
    if window is not None:
        # The frames keep the source's timestamps, which the trim reads.
        options["copyts"] = None
    if length is not None:
        # -t, not -to: after an input -ss the output timeline starts at 0, so -to End
        # would cut at End - Seek into the source (https://ffmpeg.org/ffmpeg.html#Main-options).
        options["t"] = seconds(length)
    return streams, options


def compile_args(
    streams: list,
    dst: str,
    options: Mapping[str, Any],
    settings,
    *,
    features: Mapping[str, Any] | None = None,
) -> list[str]:
    """Compile ``streams`` and ``options`` (see ``encode_streams``) into an argv writing ``dst``.

    Returns:
        ``[settings.ffmpeg_bin, *GLOBAL_ARGS, …, dst]``, with ``features["Metadata"]`` as
        ``-metadata`` pairs in front of ``dst``.
    """
    argv = ffmpeg.output(*streams, dst, **options).compile(cmd=[settings.ffmpeg_bin, *GLOBAL_ARGS])
    return _with_metadata(argv, (features or {}).get("Metadata") or {})


def build_ffmpeg_args(
    src: str,
    dst: str,
    probe: ProbeInfo,
    config: Mapping[str, Any],
    settings,
    *,
    features: Mapping[str, Any] | None = None,
    video_path: VideoPath = CPU_VIDEO,
) -> list[str]:
    """The FFmpeg argv that transcodes ``src`` into ``dst`` as ``config`` says.

    Args:
        src: the input: a local file (``workers.inputs`` stages remote ones).
        dst: the output path (its container comes from ``config``, not its extension).
        probe: ``parse_probe`` of the input.
        config: a TemplateConfig normalized by ``shared.templates.validate_template_config``.
        settings: ``shared.config.Settings`` (``ffmpeg_bin``).
        features: optional ``{"Clip": {"TimeSpan": {"Seek", "Duration", "End"}},
            "Metadata": {key: value}}``, seconds as numbers.
        video_path: where the video is decoded, filtered and encoded: ``CPU_VIDEO``, or a
            GPU path (``workers.gpu_cmd.video_path_for``).

    Returns:
        ``[settings.ffmpeg_bin, *GLOBAL_ARGS, <input>, <filters/maps>, <options>, dst]``.

    Raises:
        InputContentBad: the input has none of the streams the output keeps (e.g. an MP3
            output from a silent video).
        InvalidJob: a clip whose End is not after its Seek.
    """
    streams, options = encode_streams(
        src, probe, config, features=features, video_path=video_path, subtitles=True
    )
    box = container(config["Container"]["Format"])
    options |= {"format": box.muxer, **box.muxer_options}
    return compile_args(streams, dst, options, settings, features=features)


def build_passes(
    src: str,
    dst: str,
    probe: ProbeInfo,
    config: Mapping[str, Any],
    settings,
    *,
    stats: str,
    features: Mapping[str, Any] | None = None,
    video_path: VideoPath = CPU_VIDEO,
) -> list[list[str]]:
    """The argvs of an output, in order: ``build_ffmpeg_args``'s one, or for ``TransMode``
    twopass a first pass (video only, to the null muxer, writing statistics at ``stats``)
    and the second (reading them)."""
    argv = build_ffmpeg_args(
        src, dst, probe, config, settings, features=features, video_path=video_path
    )
    if not is_two_pass(config) or not _keeps_video(probe, config):
        return [argv]
    streams, options = encode_streams(
        src, probe, without(config, "Audio"), features=features, video_path=video_path
    )
    first = compile_args(
        streams, "-", pass_options(options, 1, stats) | {"format": "null"}, settings
    )
    streams, options = encode_streams(
        src, probe, config, features=features, video_path=video_path, subtitles=True
    )
    box = container(config["Container"]["Format"])
    options = pass_options(options, 2, stats) | {"format": box.muxer, **box.muxer_options}
    return [first, compile_args(streams, dst, options, settings, features=features)]
