"""Watermark filters of an output's argv (pure): drawtext for text, overlay for images.

``apply_watermarks`` reads the output's watermarks from its config, where the worker folds
them in once their images are staged (``workers.watermark_files``): each is a
``Features.Watermarks`` entry as ``shared.watermarks.plan_watermarks`` resolved it, and an
image one carries ``IMAGE_PATH``, the local file. Geometry is resolved against the encoded
frame (``workers.geometry.frame_dimensions``): a ratio ``X``/``Width`` of its width, ``Y``/
``Height`` of its height. Watermarks are drawn in order, each over the ones before; every
argv builder (a whole output, a Boost chunk, a segmented rendition) draws them alike.

References: https://ffmpeg.org/ffmpeg-filters.html#drawtext-1,
https://ffmpeg.org/ffmpeg-filters.html#overlay-1, https://ffmpeg.org/ffmpeg-filters.html#trim.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import ffmpeg

from shared.errors import InputContentBad
from shared.fonts import font_file
from workers.geometry import frame_dimensions, num
from workers.probe import LOCAL_INPUT, ProbeInfo

#: The config key holding the staged watermarks (``workers.watermark_files``).
WATERMARKS = "Watermarks"
#: An image watermark's staged file.
IMAGE_PATH = "ImagePath"
#: ``Adaptive`` text: ``FontSize`` is for an output whose short edge has this many pixels,
#: and scales with it (mcfarm's reading of ICE's "adapts to the output resolution").
ADAPTIVE_REFERENCE_EDGE = 720


def pixels(value: int | float, extent: int) -> int:
    """Pixels (an ``int``) as they are; a ratio (a ``float``) of ``extent``, rounded."""
    return value if isinstance(value, int) else math.floor(value * extent + 0.5)


def font_size(mark: Mapping[str, Any], size: tuple[int, int]) -> int:
    """``FontSize``, scaled by the frame's short edge over ``ADAPTIVE_REFERENCE_EDGE``
    when ``Adaptive``."""
    if not mark["Adaptive"]:
        return mark["FontSize"]
    return max(1, math.floor(mark["FontSize"] * min(size) / ADAPTIVE_REFERENCE_EDGE + 0.5))


def _text(stream, mark: Mapping[str, Any], size: tuple[int, int]):
    alpha = mark["FontAlpha"]
    args: dict[str, Any] = {
        "fontfile": font_file(mark["FontName"], mark["Content"]),
        "text": mark["Content"],
        # The text is drawn as written: no %{…} expansion (a '%' would otherwise need escaping).
        "expansion": "none",
        "fontsize": font_size(mark, size),
        "fontcolor": mark["FontColor"] if alpha == 1 else f"{mark['FontColor']}@{num(alpha)}",
        # x, y: the top-left of the text's box (its tallest glyph's top).
        "x": pixels(mark.get("X", 0), size[0]),
        "y": pixels(mark.get("Y", 0), size[1]),
    }
    if mark["BorderWidth"]:
        args |= {"borderw": mark["BorderWidth"], "bordercolor": mark["BorderColor"]}
    return stream.filter("drawtext", **args)


def _image(stream, mark: Mapping[str, Any], size: tuple[int, int]):
    # A still picture: the first frame only (an animated one would restart in every Boost
    # chunk); overlay repeats it to the end (eof_action=repeat).
    image = ffmpeg.input(mark[IMAGE_PATH], **LOCAL_INPUT).filter("trim", end_frame=1)
    width = pixels(mark["Width"], size[0]) if "Width" in mark else -1
    height = pixels(mark["Height"], size[1]) if "Height" in mark else -1
    if (width, height) != (-1, -1):
        # -1: the other side keeps the image's aspect ratio.
        image = image.filter("scale", width, height)
    x, y = pixels(mark.get("X", 0), size[0]), pixels(mark.get("Y", 0), size[1])
    # format=auto: blend in the frames' own format (a 4:4:4 output stays 4:4:4); the image's
    # alpha is its transparency.
    return ffmpeg.overlay(stream, image, x=x, y=y, format="auto")


def apply_watermarks(stream, probe: ProbeInfo, config: Mapping[str, Any]):
    """``stream`` (the output's filtered video) with the config's watermarks drawn on it.

    Raises:
        InputContentBad: there are watermarks, and the source's size is unknown.
    """
    marks = config.get(WATERMARKS) or []
    if not marks:
        return stream
    video, trans = config.get("Video", {}), config.get("TransConfig", {})
    size = frame_dimensions(probe, video, trans)
    if size is None:
        raise InputContentBad("the source states no picture size to place watermarks on")
    for mark in marks:
        stream = _text(stream, mark, size) if mark["Type"] == "Text" else _image(stream, mark, size)
    return stream
