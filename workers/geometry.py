"""The output video's geometry and timing: size, frame rate and GOP, from the probe and config.

Pure functions shared by the argv builders (``workers.ffmpeg_cmd``, ``workers.segmenting``,
``workers.gpu_cmd``) and the source checks (``workers.source_checks``).

References: https://ffmpeg.org/ffmpeg-filters.html#scale-1, https://ffmpeg.org/ffmpeg-filters.html#fps-1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from workers.probe import ProbeInfo

#: Only for a source that states no frame rate (an image sequence, a broken header).
DEFAULT_FPS = 25.0
#: Sources above this rate are brought down to it unless the config names an Fps.
MAX_AUTO_FPS = 60.0


# --- numbers --------------------------------------------------------------------------


def num(value: float) -> str:
    """``23.0`` → ``"23"``, ``29.97`` → ``"29.97"``."""
    return f"{value:g}"


def seconds(value: float) -> str:
    """Seconds with millisecond precision and no trailing zeros: ``90.5``, ``3600.125``."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _even(value: float) -> int:
    """The nearest even integer (halves go up), at least 2: most encoders need even sizes."""
    return max(2, math.floor(value / 2 + 0.5) * 2)


def _even_down(value: float) -> int:
    return max(2, int(value) // 2 * 2)


# --- size and frame rate ----------------------------------------------------------------


def _target_box(source: tuple[float, float], video: Mapping[str, Any]) -> tuple[Any, Any]:
    """(width, height) asked for, with LongShortMode's long/short edges oriented like the source."""
    width, height = video.get("Width"), video.get("Height")
    if video.get("LongShortMode") and source[1] > source[0]:
        return height, width
    return width, height


def output_dimensions(probe: ProbeInfo, video_config: Mapping[str, Any]) -> tuple[int, int] | None:
    """The encoded video's width and height, always even.

    Both Width and Height → exactly those; one → the other keeps the source's display aspect
    ratio (SAR applied, rotation followed), rounded to the nearest even number; neither →
    the display size rounded down to even.

    Args:
        probe: the input.
        video_config: the normalized ``Video`` section.

    Returns:
        ``(width, height)``; None when there is no video to encode (no video stream,
        ``copy``, ``Remove``) or the source size is unknown and only one side is given.
    """
    if probe.video is None or video_config.get("Codec") == "copy" or video_config.get("Remove"):
        return None
    src_w, src_h = probe.video.display_size()
    width, height = _target_box((src_w, src_h), video_config)
    if width and height:
        return width, height
    if not (src_w and src_h):
        return None
    if width:
        return width, _even(src_h * width / src_w)
    if height:
        return _even(src_w * height / src_h), height
    return _even_down(src_w), _even_down(src_h)


def scale_size(probe: ProbeInfo, video: Mapping[str, Any]) -> tuple[int, int] | None:
    """The size to scale to (a side may be -2), or None when the frames keep their size."""
    size = output_dimensions(probe, video)
    if size is None:
        width, height = _target_box((0, 0), video)
        if not (width or height):
            return None
        # -2: FFmpeg derives the other side from the aspect ratio, kept even
        # (https://ffmpeg.org/ffmpeg-filters.html#scale-1).
        return width or -2, height or -2
    if size == probe.video.frame_size() and probe.video.sar == "1:1":
        return None
    return size


def fps_filter_rate(probe: ProbeInfo, video: Mapping[str, Any]) -> float | None:
    if "Fps" in video:
        return video["Fps"]
    source = probe.video.fps if probe.video else None
    return MAX_AUTO_FPS if source and source > MAX_AUTO_FPS else None


def output_fps(probe: ProbeInfo, video: Mapping[str, Any]) -> float:
    """The encoded frame rate: ``Video.Fps``, else the source's (at most 60), else 25."""
    source = probe.video.fps if probe.video else None
    return fps_filter_rate(probe, video) or source or DEFAULT_FPS


def gop_frames(probe: ProbeInfo, video: Mapping[str, Any]) -> int | None:
    gop = video.get("Gop")
    if isinstance(gop, str):  # "2s": seconds → frames at the output rate.
        return max(1, round(float(gop.removesuffix("s")) * output_fps(probe, video)))
    return gop
