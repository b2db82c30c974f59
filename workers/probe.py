"""ffprobe: run it on a local file and parse its JSON into ``ProbeInfo``.

``parse_probe`` is pure and tested on canned JSON; ``run_probe`` is the only function here
that starts a process, with the input options of ``LOCAL_INPUT`` (an input the worker staged:
only the ``file`` protocol and the media demuxers of ``INPUT_DEMUXERS``, no playlists, lists
or scripts) or ``OWN_OUTPUT`` (what the farm wrote itself). It never uses ffmpeg-python's
``probe(timeout=)``, which 0.2.0 turns into ffprobe's ``-timeout`` option (a socket timeout,
not a deadline). An output's ICE ``OutFileMeta`` is ``workers.filemeta``'s.

ffprobe reference: https://ffmpeg.org/ffprobe.html
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import InputContentBad, InputMissing, TranscodeError
from workers.probe_subtitles import SubtitleInfo, first_text_subtitle

#: ffprobe's "could not open" messages that mean the object is not there at all.
_MISSING_MARKERS = ("No such file or directory",)
#: Demuxers that read any text as "video": FFmpeg's ANSI-art reader takes ``.txt`` files.
_TEXT_FORMATS = frozenset({"tty"})
#: ``[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d6d443d1c0] `` in front of a log line.
_LOG_CONTEXT = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream that is not cover art.

    Attributes:
        index: the stream's index in the input (``-map 0:<index>``).
        codec: ffprobe's short codec name, e.g. ``h264``.
        width: coded width in pixels (0 when ffprobe does not know).
        height: coded height in pixels (0 when ffprobe does not know).
        fps: average frame rate, falling back to ``r_frame_rate``; None when unknown.
        sar: sample aspect ratio ``"num:den"``; ``"1:1"`` when unknown.
        rotation: clockwise display rotation in degrees, 0-359 (the legacy ``rotate`` tag).
        bit_rate: bits per second, None when the container does not say.
        pix_fmt: e.g. ``yuv420p``; None when unknown.
        field_order: ffprobe's ``field_order``: ``progressive``, ``tt``, ``bb``, ``tb``, ``bt``
            (interlaced, top or bottom field first), or None when it does not say.
    """

    index: int
    codec: str
    width: int
    height: int
    fps: float | None
    sar: str
    rotation: int
    bit_rate: int | None
    pix_fmt: str | None
    field_order: str | None = None

    @property
    def interlaced(self) -> bool:
        """Whether the stream says it is interlaced (fields, not frames)."""
        return self.field_order in ("tt", "bb", "tb", "bt")

    @property
    def top_field_first(self) -> bool:
        return self.field_order in ("tt", "tb")

    def display_size(self) -> tuple[float, float]:
        """Width and height as shown: SAR applied, then swapped for a 90/270 rotation.

        FFmpeg auto-rotates by default (``-autorotate``), so this is also the frame size
        that the filter graph sees, up to the SAR.
        """
        num, den = (int(part) for part in self.sar.split(":"))
        width, height = self.width * num / den, float(self.height)
        return (height, width) if self.rotation in (90, 270) else (width, height)

    def frame_size(self) -> tuple[int, int]:
        """Coded width and height after FFmpeg's auto-rotation (SAR not applied)."""
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream.

    Attributes:
        index: the stream's index in the input.
        codec: ffprobe's short codec name, e.g. ``aac``.
        sample_rate: in Hz, None when unknown.
        channels: channel count, None when unknown.
        bit_rate: bits per second, None when unknown.
    """

    index: int
    codec: str
    sample_rate: int | None
    channels: int | None
    bit_rate: int | None


@dataclass(frozen=True)
class ProbeInfo:
    """What the argv builder needs to know about an input.

    Attributes:
        format_name: ffprobe's demuxer names, e.g. ``mov,mp4,m4a,3gp,3g2,mj2``.
        duration: seconds; the container's, else the longest stream's; None when unknown.
        size: bytes, None when unknown (e.g. a live URL).
        bit_rate: the container's bits per second, None when unknown.
        video: the first video stream, None when there is none.
        audio: the first audio stream, None when there is none.
        subtitle: the first text subtitle stream, None when there is none.
    """

    format_name: str
    duration: float | None
    size: int | None
    bit_rate: int | None
    video: VideoInfo | None
    audio: AudioInfo | None
    subtitle: SubtitleInfo | None = None


# --- small converters -----------------------------------------------------------------


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _rate(value: Any) -> float | None:
    """``"30000/1001"`` → 29.97…; ``"0/0"``, ``"N/A"`` or nothing → None."""
    if not isinstance(value, str):
        return None
    num, _, den = value.partition("/")
    numerator, denominator = _float(num), _float(den or "1")
    if not numerator or not denominator:
        return None
    rate = numerator / denominator
    return rate if rate > 0 else None


def _decimal(value: float | None) -> str:
    """Up to three decimals, trailing zeros dropped: ``29.97``, ``25``; None → ``""``."""
    if value is None:
        return ""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _text(value: Any) -> str:
    """ffprobe's value as a string; missing or ``N/A`` → ``""``."""
    return "" if value is None or value == "N/A" else str(value)


def _kbps(value: Any) -> str:
    """Bits per second → kilobits per second, as ICE reports bitrates (``"888.563"``)."""
    bps = _float(value)
    return _decimal(bps / 1000) if bps is not None else ""


def _sar(value: Any) -> str:
    num, _, den = str(value).partition(":")
    if (_int(num) or 0) > 0 and (_int(den) or 0) > 0:
        return f"{int(num)}:{int(den)}"
    return "1:1"  # "0:1" and "N/A" both mean "not stated", i.e. square pixels.


def _rotation(stream: Mapping[str, Any]) -> int:
    """Clockwise degrees from the display matrix, else from the legacy ``rotate`` tag."""
    for side_data in stream.get("side_data_list") or ():
        degrees = _float(side_data.get("rotation"))
        if degrees is not None:
            # ffprobe prints the matrix angle counter-clockwise: a phone's portrait
            # video says -90 here and rotate=90 in the tag.
            return round(-degrees) % 360
    degrees = _float((stream.get("tags") or {}).get("rotate"))
    return round(degrees) % 360 if degrees is not None else 0


# --- parse_probe ------------------------------------------------------------------------


def _is_cover_art(stream: Mapping[str, Any]) -> bool:
    return bool((stream.get("disposition") or {}).get("attached_pic"))


def _streams(probe_json: Mapping[str, Any], kind: str) -> Iterator[Mapping[str, Any]]:
    """The streams of ``kind`` (``video``/``audio``), cover art left out."""
    for stream in probe_json.get("streams") or ():
        if stream.get("codec_type") == kind and not _is_cover_art(stream):
            yield stream


def _video_info(stream: Mapping[str, Any]) -> VideoInfo:
    fps = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
    return VideoInfo(
        index=_int(stream.get("index")) or 0,
        codec=_text(stream.get("codec_name")),
        width=_int(stream.get("width")) or 0,
        height=_int(stream.get("height")) or 0,
        fps=fps,
        sar=_sar(stream.get("sample_aspect_ratio")),
        rotation=_rotation(stream),
        bit_rate=_int(stream.get("bit_rate")),
        pix_fmt=_text(stream.get("pix_fmt")) or None,
        field_order=_text(stream.get("field_order")) or None,
    )


def _audio_info(stream: Mapping[str, Any]) -> AudioInfo:
    return AudioInfo(
        index=_int(stream.get("index")) or 0,
        codec=_text(stream.get("codec_name")),
        sample_rate=_int(stream.get("sample_rate")),
        channels=_int(stream.get("channels")),
        bit_rate=_int(stream.get("bit_rate")),
    )


def _duration(probe_json: Mapping[str, Any]) -> float | None:
    duration = _float((probe_json.get("format") or {}).get("duration"))
    if duration is not None:
        return duration
    per_stream = [_float(s.get("duration")) for s in probe_json.get("streams") or ()]
    return max((d for d in per_stream if d is not None), default=None)


def _refuse_text(probe_json: Mapping[str, Any]) -> None:
    if (probe_json.get("format") or {}).get("format_name") in _TEXT_FORMATS:
        raise InputContentBad("the input is a text file, not audio or video")


def parse_probe(probe_json: Mapping[str, Any]) -> ProbeInfo:
    """Turn ``ffprobe -print_format json -show_format -show_streams`` output into ProbeInfo.

    Args:
        probe_json: the decoded JSON.

    Returns:
        The parsed summary; the first video stream that is not cover art
        (``disposition.attached_pic``) and the first audio stream.

    Raises:
        InputContentBad: when there is neither a video nor an audio stream, or ffprobe
            read a text file as ANSI art.
    """
    _refuse_text(probe_json)
    video = next(_streams(probe_json, "video"), None)
    audio = next(_streams(probe_json, "audio"), None)
    if video is None and audio is None:
        raise InputContentBad("the input has no audio or video stream")
    fmt = probe_json.get("format") or {}
    return ProbeInfo(
        format_name=_text(fmt.get("format_name")),
        duration=_duration(probe_json),
        size=_int(fmt.get("size")),
        bit_rate=_int(fmt.get("bit_rate")),
        video=_video_info(video) if video is not None else None,
        audio=_audio_info(audio) if audio is not None else None,
        subtitle=first_text_subtitle(probe_json),
    )


# --- run_probe --------------------------------------------------------------------------


#: The demuxers FFmpeg may use on an input: media containers and elementary streams.
#: Left out on purpose: playlists and file lists (hls, dash, concat, imf, webm_dash_manifest:
#: they open other files; ``workers.inputs`` joins HLS inputs itself), image sequences
#: (image2 globs file names), scripts (avisynth, vapoursynth), lavfi, network session
#: descriptions (sdp, rtsp, rtp) and tty (text read as video).
INPUT_DEMUXERS = ",".join(
    (
        "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpegts,mpeg,mpegvideo,flv,avi,asf,mxf,gxf,nut",
        "dv,ivf,obu,wtv,rm,h264,hevc,m4v,vc1,yuv4mpegpipe,gif,apng,mjpeg",
        "png_pipe,jpeg_pipe,webp_pipe,bmp_pipe,tiff_pipe",
        "mp3,aac,ac3,eac3,dts,truehd,mlp,wav,w64,aiff,caf,flac,ogg,amr,amrnb,amrwb,wv,ape,au",
    )
)

#: Input options of every FFmpeg and ffprobe run: inputs are local files (workers.inputs
#: fetched them), read by a media demuxer
#: (https://ffmpeg.org/ffmpeg-protocols.html#Protocol-Options,
#: https://ffmpeg.org/ffmpeg-formats.html#Format-Options).
LOCAL_INPUT = {"format_whitelist": INPUT_DEMUXERS, "protocol_whitelist": "file"}
#: For what the farm wrote itself (a rendition's playlist and its segments, in one folder).
OWN_OUTPUT = {"protocol_whitelist": "file"}
#: What ``parse_probe`` reads: the container and every stream.
STREAMS = ("-show_format", "-show_streams")
#: The first video stream's packets (timestamps and keyframe flags), its time base and the
#: file's start: what a Boost chunk plan is made from (``workers.chunks.frame_times``).
#: Packets only: nothing is decoded, so it reads a two-hour file in seconds.
#: How many packets (frames) a file's first video stream has: a Boost chunk's check.
FRAME_COUNT = (
    "-select_streams",
    "V:0",
    "-count_packets",
    "-show_entries",
    "stream=nb_read_packets",
)
FRAME_TIMES = (
    *("-select_streams", "V:0"),
    *("-show_entries", "packet=pts,dts,flags:stream=time_base:format=start_time"),
)


def probe_argv(
    src: str,
    settings,
    options: Mapping[str, str] = LOCAL_INPUT,
    show: Sequence[str] = STREAMS,
) -> list[str]:
    """The ffprobe command line for the local file ``src``.

    Args:
        options: input options; ``LOCAL_INPUT`` for inputs, ``OWN_OUTPUT`` for outputs.
        show: what to print: ``STREAMS`` or ``FRAME_TIMES``.

    Returns:
        The argv, ready for ``subprocess``.
    """
    head = [settings.ffprobe_bin, "-v", "error"]
    for name, value in options.items():
        head += [f"-{name}", value]
    return [*head, "-print_format", "json", *show, src]


def _stderr_reason(stderr: str, src: str, lines: int = 2) -> str:
    """The last lines of ffprobe's stderr, minus log prefixes and the (local) input name."""
    cleaned = []
    for line in stderr.splitlines():
        line = _LOG_CONTEXT.sub("", line.strip())
        line = line.removeprefix(f"{src}: ")
        if line:
            cleaned.append(line)
    return "; ".join(cleaned[-lines:]) or "no error message"


def _failure(returncode: int, stderr: str, src: str) -> TranscodeError:
    if "Format not on whitelist" in stderr:
        return InputContentBad(
            "the input is not a media file the farm reads (playlists, file lists, scripts, "
            "image sequences and text are refused)"
        )
    reason = _stderr_reason(stderr, src)
    if any(marker in stderr for marker in _MISSING_MARKERS):
        return InputMissing(f"the input does not exist: {reason}")
    return InputContentBad(f"ffprobe cannot read the input (exit {returncode}): {reason}")


def run_probe(
    src: str,
    settings,
    options: Mapping[str, str] = LOCAL_INPUT,
    show: Sequence[str] = STREAMS,
) -> dict:
    """Run ffprobe on ``src`` and return its decoded JSON.

    Args:
        src: a local file.
        settings: ``shared.config.Settings`` (``ffprobe_bin``, ``probe_timeout``).
        options: ``LOCAL_INPUT`` (an input) or ``OWN_OUTPUT`` (what the farm wrote).
        show: what to print (``STREAMS``, or ``FRAME_TIMES`` for a chunk plan).

    Returns:
        The JSON document (feed it to ``parse_probe`` / ``out_file_meta``).

    Raises:
        InputMissing: ffprobe says the file does not exist (or the server says 404).
        InputContentBad: ffprobe fails on it (truncated, empty or non-media file…) or reads
            it as text, its output is not JSON, or it runs past ``settings.probe_timeout``
            (then it is killed).
        OSError: ``settings.ffprobe_bin`` cannot be started (a deployment problem).
    """
    argv = probe_argv(src, settings, options, show)
    with subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=settings.probe_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise InputContentBad(
                f"ffprobe timed out after {settings.probe_timeout} s reading the input"
            ) from None
        except BaseException:
            proc.kill()  # e.g. SoftTimeLimitExceeded; Popen.__exit__ then waits.
            raise
    text = stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise _failure(proc.returncode, text, src)
    try:
        probe_json = json.loads(stdout)
    except ValueError:
        raise InputContentBad("ffprobe printed something that is not JSON") from None
    _refuse_text(probe_json)
    return probe_json


# --- out_file_meta ----------------------------------------------------------------------
