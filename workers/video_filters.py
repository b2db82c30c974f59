"""The video filters around the scaler (pure): deinterlacing and ``Crop`` before it, the
``AdjDarMethod`` crop or pad and ``Pad`` after it, and the interlaced encode of
``ScanMode``.

``workers.ffmpeg_cmd`` applies ``source_filters``, then the ``VideoPath``'s fps and scale
(to ``geometry.scale_size``, which already counts the crop and the fit), then
``frame_filters``. The GPU path takes none of these: an output that needs them is encoded on
the CPU path (``needs_cpu_filters``).

References: https://ffmpeg.org/ffmpeg-filters.html#bwdif, #crop, #pad-1,
https://trac.ffmpeg.org/wiki/Scaling, https://ffmpeg.org/ffmpeg-codecs.html#Options-37.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.errors import InvalidJob
from workers.geometry import adj_dar_fit, output_dimensions
from workers.probe import ProbeInfo

#: One filter: its name, positional and keyword arguments (``stream.filter(name, *a, **k)``).
Filter = tuple[str, tuple[Any, ...], dict[str, Any]]


def scan_decision(probe: ProbeInfo, video: Mapping[str, Any]) -> str:
    """``deinterlace``, ``interlaced`` (field-coded output) or ``progressive``.

    ``ScanMode`` empty follows the source (an interlaced source stays interlaced where the
    codec can code fields, H.264; other codecs get it deinterlaced); ``auto`` deinterlaces
    interlaced sources only; ``progressive`` and ``interlaced`` must match the source.

    Raises:
        InvalidJob: ``progressive`` or ``interlaced`` asked of a source that is not.
    """
    source = probe.video is not None and probe.video.interlaced
    mode = video.get("ScanMode")
    if mode in ("progressive", "interlaced") and source != (mode == "interlaced"):
        found = "interlaced" if source else "progressive"
        raise InvalidJob(
            f'The specified parameter "Video.ScanMode" is not valid: it is {mode} but the '
            f"source is {found} (use auto to deinterlace, or leave it empty to follow the source)."
        )
    if not source:
        return "progressive"
    if mode == "auto" or (mode is None and video.get("Codec", "H.264") != "H.264"):
        return "deinterlace"
    return "interlaced"


def source_filters(probe: ProbeInfo, video: Mapping[str, Any]) -> list[Filter]:
    """Deinterlacing (bwdif, one frame per frame) and ``Crop``, before the fps and scale."""
    filters: list[Filter] = []
    if scan_decision(probe, video) == "deinterlace":
        # The parity the stream states: frames decoded from a field-coded stream do not
        # all carry it, and bwdif's "auto" then weaves the wrong fields.
        parity = "tff" if probe.video.top_field_first else "bff"
        filters.append(("bwdif", (), {"mode": "send_frame", "parity": parity, "deint": "all"}))
    crop = video.get("Crop")
    if isinstance(crop, Mapping):
        _check_inside(probe, crop)
        filters.append(("crop", (crop["W"], crop["H"], crop["L"], crop["T"]), {}))
    return filters


def _check_inside(probe: ProbeInfo, crop: Mapping[str, int]) -> None:
    width, height = probe.video.frame_size() if probe.video else (0, 0)
    if width and height and (crop["L"] + crop["W"] > width or crop["T"] + crop["H"] > height):
        raise InvalidJob(
            f'The specified parameter "Video.Crop" is not valid: {crop["W"]}x{crop["H"]} at '
            f"({crop['L']},{crop['T']}) is outside the {width}x{height} source."
        )


def frame_filters(
    probe: ProbeInfo, video: Mapping[str, Any], trans: Mapping[str, Any]
) -> list[Filter]:
    """After the scaler: the centred crop or pad of ``AdjDarMethod``, then ``Pad``."""
    filters: list[Filter] = []
    fit = adj_dar_fit(probe, video, trans)
    if fit is not None:
        method, (width, height), _ = fit
        if method == "crop":
            filters.append(("crop", (width, height), {}))  # centred by default
        else:
            filters.append(("pad", (width, height, "(ow-iw)/2", "(oh-ih)/2"), {"color": "black"}))
    pad = video.get("Pad")
    if isinstance(pad, Mapping):
        _check_holds(probe, video, pad)
        filters.append(("pad", (pad["W"], pad["H"], pad["L"], pad["T"]), {"color": "black"}))
    return filters


def _check_holds(probe: ProbeInfo, video: Mapping[str, Any], pad: Mapping[str, int]) -> None:
    size = output_dimensions(probe, video)
    if size and (size[0] + pad["L"] > pad["W"] or size[1] + pad["T"] > pad["H"]):
        raise InvalidJob(
            f'The specified parameter "Video.Pad" is not valid: the {size[0]}x{size[1]} '
            f"picture at ({pad['L']},{pad['T']}) does not fit in {pad['W']}x{pad['H']}."
        )


def interlace_options(probe: ProbeInfo, video: Mapping[str, Any]) -> dict[str, Any]:
    """The encoder options of a field-coded (interlaced) H.264 output, else none."""
    if scan_decision(probe, video) != "interlaced":
        return {}
    first = "tt" if probe.video.top_field_first else "bb"
    return {"flags:v": "+ildct+ilme", "top": 1 if first == "tt" else 0, "field_order": first}


def scale_interlaced(probe: ProbeInfo, video: Mapping[str, Any]) -> bool:
    """Whether the scaler must scale each field on its own (an interlaced output)."""
    return scan_decision(probe, video) == "interlaced"


def needs_cpu_filters(probe: ProbeInfo, config: Mapping[str, Any]) -> bool:
    """Whether an output's video needs filters only the CPU path has."""
    video, trans = config.get("Video", {}), config.get("TransConfig", {})
    return bool(
        "Crop" in video
        or "Pad" in video
        or scan_decision(probe, video) != "progressive"
        or trans.get("AdjDarMethod") in ("crop", "pad")
    )
