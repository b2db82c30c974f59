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


def _source(
    probe: ProbeInfo, video: Mapping[str, Any]
) -> tuple[tuple[float, float], tuple[int, int]]:
    """The source as the scaler sees it, ``Crop`` applied: (display size, frame size)."""
    crop = video.get("Crop")
    if not isinstance(crop, Mapping):
        return probe.video.display_size(), probe.video.frame_size()
    num_, den = (int(part) for part in probe.video.sar.split(":"))
    return (crop["W"] * num_ / den, float(crop["H"])), (crop["W"], crop["H"])


def output_dimensions(probe: ProbeInfo, video_config: Mapping[str, Any]) -> tuple[int, int] | None:
    """The encoded video's width and height, always even (before any ``Pad``).

    Both Width and Height → exactly those; one → the other keeps the source's display aspect
    ratio (SAR applied, rotation followed, ``Crop`` applied), rounded to the nearest even
    number; neither → the display size rounded down to even.

    Args:
        probe: the input.
        video_config: the normalized ``Video`` section.

    Returns:
        ``(width, height)``; None when there is no video to encode (no video stream,
        ``copy``, ``Remove``) or the source size is unknown and only one side is given.
    """
    if probe.video is None or video_config.get("Codec") == "copy" or video_config.get("Remove"):
        return None
    (src_w, src_h), _ = _source(probe, video_config)
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


def adj_dar_fit(
    probe: ProbeInfo, video: Mapping[str, Any], trans: Mapping[str, Any]
) -> tuple[str, tuple[int, int], tuple[int, int]] | None:
    """``TransConfig.AdjDarMethod`` ``crop`` or ``pad`` of a source of another shape.

    Returns:
        ``(method, (width, height) asked, (width, height) to scale to)``: scaled to cover the
        box (then cropped to it) or to fit in it (then padded), keeping the display aspect
        ratio; None for ``none``/``rescale`` (stretched to the box) or an unknown size.
    """
    method = trans.get("AdjDarMethod")
    box = output_dimensions(probe, video)
    if (
        method not in ("crop", "pad")
        or box is None
        or not (video.get("Width") and video.get("Height"))
    ):
        return None
    (src_w, src_h), _ = _source(probe, video)
    if not (src_w and src_h):
        return None
    pick = max if method == "crop" else min
    factor = pick(box[0] / src_w, box[1] / src_h)
    scaled = (_even(src_w * factor), _even(src_h * factor))
    if method == "crop":
        scaled = (max(scaled[0], box[0]), max(scaled[1], box[1]))
    else:
        scaled = (min(scaled[0], box[0]), min(scaled[1], box[1]))
    return method, box, scaled


def frame_dimensions(
    probe: ProbeInfo, video: Mapping[str, Any], trans: Mapping[str, Any] | None = None
) -> tuple[int, int] | None:
    """The encoded frame's size: ``output_dimensions``, or the ``Pad`` canvas."""
    pad = video.get("Pad")
    if isinstance(pad, Mapping) and output_dimensions(probe, video) is not None:
        return pad["W"], pad["H"]
    return output_dimensions(probe, video)


def scale_size(
    probe: ProbeInfo, video: Mapping[str, Any], trans: Mapping[str, Any] | None = None
) -> tuple[int, int] | None:
    """The size to scale to (a side may be -2), or None when the frames keep their size."""
    fit = adj_dar_fit(probe, video, trans or {})
    size = fit[2] if fit else output_dimensions(probe, video)
    if size is None:
        width, height = _target_box((0, 0), video)
        if not (width or height):
            return None
        # -2: FFmpeg derives the other side from the aspect ratio, kept even
        # (https://ffmpeg.org/ffmpeg-filters.html#scale-1).
        return width or -2, height or -2
    if size == _source(probe, video)[1] and probe.video.sar == "1:1":
        return None
    return size


def fps_filter_rate(probe: ProbeInfo, video: Mapping[str, Any]) -> float | None:
    """The rate of the fps filter: ``Video.Fps``, else the source's capped at ``MaxFps`` (and
    at 60); ``MaxFps`` caps ``Fps`` too. None when the source's rate stands."""
    cap = min(video.get("MaxFps", MAX_AUTO_FPS), MAX_AUTO_FPS)
    if "Fps" in video:
        return min(video["Fps"], video.get("MaxFps", video["Fps"]))
    source = probe.video.fps if probe.video else None
    return cap if source and source > cap + 1e-6 else None


def output_fps(probe: ProbeInfo, video: Mapping[str, Any]) -> float:
    """The encoded frame rate: ``Video.Fps``, else the source's (at most 60), else 25."""
    source = probe.video.fps if probe.video else None
    return fps_filter_rate(probe, video) or source or DEFAULT_FPS


def gop_frames(probe: ProbeInfo, video: Mapping[str, Any]) -> int | None:
    gop = video.get("Gop")
    if isinstance(gop, str):  # "2s": seconds → frames at the output rate.
        return max(1, round(float(gop.removesuffix("s")) * output_fps(probe, video)))
    return gop
