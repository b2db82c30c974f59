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
from workers.geometry import fps_filter_rate, gop_frames, num, scale_size, seconds
from workers.probe import LOCAL_INPUT, ProbeInfo

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
VIDEO_ENCODERS = {"H.264": "libx264", "H.265": "libx265"}
AUDIO_ENCODERS = {"aac": "aac", "mp3": "libmp3lame"}
#: ICE reference §2.2 MediaConvertVideo.Crf: "If Codec is set to H.264, the default value
#: is 23. If Codec is set to H.265, the default value is 26."
DEFAULT_CRF = {"H.264": 23, "H.265": 26}
#: 8-bit 4:2:0 plays everywhere; libx264 would otherwise keep a 4:4:4 or 10-bit source's
#: format and pick a profile that phones and browsers cannot decode.
DEFAULT_PIX_FMT = "yuv420p"
#: ICE reference §2.2 MediaConvertVideo.Bufsize: "Default value: 6000" (Kbps).
DEFAULT_BUFSIZE_KBIT = 6000
#: ICE reference §2.2 MediaConvertAudio: Bitrate "Default value: 128" (Kbps), Samplerate
#: "Default value: 44100", Channels "Default value: 2".
DEFAULT_AUDIO_KBPS = 128
DEFAULT_SAMPLE_RATE = 44100
DEFAULT_CHANNELS = 2


class VideoPath(Protocol):
    """Where an encoded video stream is decoded, filtered and encoded.

    ``encode_streams`` decides *what* happens (frame rate, size, encoder options, as for
    the CPU); a path decides *where*. ``CPU_VIDEO`` does it all on the CPU;
    ``workers.gpu_cmd`` has the NVDEC/CUDA/NVENC one.
    """

    def input_options(self) -> dict[str, Any]:
        """Extra input options (e.g. ``-hwaccel``)."""

    def filter(self, stream, rate: float | None, size: tuple[int, int] | None):
        """``stream`` through an fps filter (``rate``) and a scaler (``size``), where given."""

    def options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The video output options to use instead of the CPU encoder's ``options``."""


class CpuVideo:
    """The default ``VideoPath``: software decoding, filters and encoders."""

    def input_options(self) -> dict[str, Any]:
        return {}

    def filter(self, stream, rate: float | None, size: tuple[int, int] | None):
        if rate:
            stream = stream.filter("fps", num(rate))
        if size is None:
            return stream
        # setsar=1: the scaled size already shows the display shape; a kept non-square SAR
        # would stretch it again in players.
        return stream.filter("scale", *size).filter("setsar", 1)

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
    inp, probe: ProbeInfo, video: Mapping[str, Any], path: VideoPath, window: Window | None
):
    # V (capital): the first video stream that is not cover art, as parse_probe picks it
    # (https://ffmpeg.org/ffmpeg.html#Stream-specifiers-1).
    stream = inp["V:0"]
    if video.get("Codec") == "copy":
        return stream
    if window is not None:
        # https://ffmpeg.org/ffmpeg-filters.html#trim, #setpts_002c-asetpts
        stream = stream.filter("trim", start=f"{window.start:.6f}", end=f"{window.end:.6f}")
        stream = stream.filter("setpts", "PTS-STARTPTS")
    return path.filter(stream, fps_filter_rate(probe, video), scale_size(probe, video))


# --- encoder options --------------------------------------------------------------------


def _target_kbps(probe: ProbeInfo, video: Mapping[str, Any]) -> int | None:
    kbps = video.get("Bitrate")
    if kbps == -1:  # keep the source bitrate
        bps = probe.video.bit_rate if probe.video else None
        return round(bps / 1000) if bps else None
    return kbps


def _rate_control(probe: ProbeInfo, video: Mapping[str, Any], mode: str | None) -> dict:
    """-b:v / -crf / VBV options for TransMode onepass, fixCRF or CBR."""
    kbps = _target_kbps(probe, video)
    mode = mode or ("onepass" if "Bitrate" in video else "fixCRF")
    if kbps is None:  # Bitrate -1 on a source that does not state its bitrate
        mode = "fixCRF"
    if mode == "CBR":
        # CBR = a VBV whose min, average and max rates are equal
        # (https://trac.ffmpeg.org/wiki/Encode/H.264#CBRConstantBitRate).
        bufsize = video.get("Bufsize", kbps)
        return {
            "b:v": f"{kbps}k",
            "bufsize": f"{bufsize}k",
            "maxrate": f"{kbps}k",
            "minrate": f"{kbps}k",
        }
    if mode == "onepass":
        args = {"b:v": f"{kbps}k"}
    else:
        args = {"crf": num(video.get("Crf", DEFAULT_CRF[video.get("Codec", "H.264")]))}
    if "Maxrate" in video:
        # A cap needs a VBV buffer; without one x264/x265 ignore -maxrate.
        bufsize = video.get("Bufsize", DEFAULT_BUFSIZE_KBIT)
        args |= {"maxrate": f"{video['Maxrate']}k", "bufsize": f"{bufsize}k"}
    return args


def _is_hevc(probe: ProbeInfo, codec: str) -> bool:
    source = probe.video.codec if probe.video else ""
    return codec == "H.265" or (codec == "copy" and source == "hevc")


def _encoder_options(probe: ProbeInfo, config: Mapping[str, Any]) -> dict:
    video = config.get("Video", {})
    codec = video.get("Codec", "H.264")
    args = {"c:v": VIDEO_ENCODERS[codec], "pix_fmt": video.get("PixFmt", DEFAULT_PIX_FMT)}
    # Every decoded frame is encoded once, at its own timestamp: FFmpeg's default for MP4
    # (cfr) duplicates the first frame when video starts after audio (a 21 ms offset gave
    # one frame too many, every later frame a slot late) and drops or repeats frames of a
    # variable-rate source. A/V sync is kept by timestamps (the MP4 edit list). vfr, not
    # passthrough: two frames stamped alike (a broken source) cannot both be muxed.
    # A frame rate that must change goes through the fps filter (geometry.fps_filter_rate).
    # https://ffmpeg.org/ffmpeg.html#Advanced-Video-options (-fps_mode)
    args["fps_mode:v"] = "vfr"
    args |= _rate_control(probe, video, config.get("TransConfig", {}).get("TransMode"))
    optional = {"g": gop_frames(probe, video), "preset": video.get("Preset")}
    args |= {key: value for key, value in optional.items() if value is not None}
    if "Profile" in video:
        args["profile:v"] = video["Profile"]
    if codec == "H.265":
        args["x265-params"] = "log-level=error"  # x265 logs its own banner at info level
    return args


def _video_options(probe: ProbeInfo, config: Mapping[str, Any]) -> dict:
    codec = config.get("Video", {}).get("Codec", "H.264")
    args = {"c:v": "copy"} if codec == "copy" else _encoder_options(probe, config)
    return args | hvc1_tag(config, _is_hevc(probe, codec))


def hvc1_tag(config: Mapping[str, Any], hevc: bool) -> dict[str, str]:
    """The video tag option of an output whose video is HEVC (``hevc``): ``hvc1`` in ISO
    BMFF (MP4, fMP4 segments), where Apple players refuse FFmpeg's default ``hev1``."""
    return {"tag:v": "hvc1"} if hevc and container(config["Container"]["Format"]).iso_bmff else {}


def _audio_options(probe: ProbeInfo, config: Mapping[str, Any]) -> dict:
    audio = config.get("Audio", {})
    codec = audio.get("Codec", container(config["Container"]["Format"]).default_audio_codec)
    if codec == "copy":
        return {"c:a": "copy"}
    args = {
        "c:a": AUDIO_ENCODERS[codec],
        "b:a": f"{audio.get('Bitrate', DEFAULT_AUDIO_KBPS)}k",
        "ar": audio.get("Samplerate", DEFAULT_SAMPLE_RATE),
    }
    channels = audio.get("Channels", DEFAULT_CHANNELS)
    source_channels = probe.audio.channels if probe.audio else None
    if channels == 0 and codec == "mp3" and (source_channels or 0) > 2:
        channels = 2  # "keep the source" cannot work: LAME encodes at most 2 channels
    if channels:
        args["ac"] = channels
    if "Profile" in audio:
        args["profile:a"] = audio["Profile"]
    return args


# --- streams, clip, metadata -------------------------------------------------------------


def _keeps_video(probe: ProbeInfo, config: Mapping[str, Any]) -> bool:
    if not container(config["Container"]["Format"]).has_video:
        return False
    return probe.video is not None and not config.get("Video", {}).get("Remove")


def _keeps_audio(probe: ProbeInfo, config: Mapping[str, Any]) -> bool:
    return probe.audio is not None and not config.get("Audio", {}).get("Remove")


def _streams_and_options(
    inp, probe: ProbeInfo, config: Mapping[str, Any], path: VideoPath, window: Window | None
) -> tuple[list, dict]:
    """The mapped streams (video first) and their encoder options."""
    streams: list = []
    options: dict[str, Any] = {}
    if _keeps_video(probe, config):
        streams.append(_video_stream(inp, probe, config.get("Video", {}), path, window))
        options |= path.options(_video_options(probe, config))
    if _keeps_audio(probe, config):
        streams.append(inp["a:0"])
        options |= _audio_options(probe, config)
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
) -> tuple[list, dict[str, Any]]:
    """The streams an output of ``config`` maps, and every output option but the muxer's.

    Shared by ``build_ffmpeg_args`` (one file) and ``workers.segmenting`` (HLS/DASH), so
    both encode alike: input ``-ss`` and output ``-t`` of a clip, fps and scale filters,
    codecs, rate control, GOP, preset, profile, pixel format.

    Args:
        src: the input: a local file, read with the ``LOCAL_INPUT`` options.
        probe: ``parse_probe`` of the input.
        config: a normalized TemplateConfig.
        features: see ``build_ffmpeg_args``.
        video_path: where the video is decoded, filtered and encoded (``CPU_VIDEO``).
        window: only these frames (a Boost chunk), instead of a ``Clip``.

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
    streams, options = encode_streams(src, probe, config, features=features, video_path=video_path)
    box = container(config["Container"]["Format"])
    options |= {"format": box.muxer, **box.muxer_options}
    return compile_args(streams, dst, options, settings, features=features)
