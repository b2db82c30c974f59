"""The ``Video`` keys of a TemplateConfig beyond size, rate and codec: geometry (``Crop``,
``Pad``, ``TransConfig.AdjDarMethod``), scan (``ScanMode``), ``MaxFps``, ``Qscale`` and
``AbrMax``, and the rules that tie them to each other and to the codec (reference §2.2
MediaConvertVideo / MediaConvertTransConfig). ``shared.templates`` uses these fields and
runs ``check_video`` on every document.

Normalized forms: a rectangle is ``{"W", "H", "L", "T"}`` in pixels; ``Crop: "border"`` stays
the string until a worker measures the borders (``workers.crop``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields

#: ``TransConfig.AdjDarMethod``: how a source of another shape fits Width × Height.
ADJ_DAR_METHODS = ("none", "rescale", "crop", "pad")
SCAN_MODES = ("auto", "progressive", "interlaced")
BORDER = "border"
#: Codecs whose rate is steered by TransMode (reference: "only valid for H.264, H.265, AV1").
RATE_CODECS = ("H.264", "H.265", "AV1")
#: Image codecs: an animated GIF or WebP, their own container, no rate control.
IMAGE_CODECS = ("GIF", "WEBP")
_RECT = re.compile(r"^\s*(\d{1,4})\s*:\s*(\d{1,4})\s*:\s*(\d{1,4})\s*:\s*(\d{1,4})\s*$")


def parse_rect(text: str, name: str) -> dict[str, int]:
    """``"1920:800:0:140"`` → ``{"W": 1920, "H": 800, "L": 0, "T": 140}``.

    Raises:
        ValidationError: not four whole numbers, or an odd or too small size.
    """
    match = _RECT.match(text) if isinstance(text, str) else None
    if not match:
        raise ValidationError(
            f"{name} must be width:height:left:top in pixels, e.g. 1920:800:0:140"
        )
    width, height, left, top = (int(part) for part in match.groups())
    if not (16 <= width <= 4096 and 16 <= height <= 4096):
        raise ValidationError(f"{name} width and height must be between 16 and 4096")
    if width % 2 or height % 2:
        raise ValidationError(f"{name} width and height must be even numbers")
    return {"W": width, "H": height, "L": left, "T": top}


class Rect(fields.Field):
    """``W:H:L:T`` (``Pad``), and for ``Crop`` also ``border``."""

    def __init__(self, *, border: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.border = border

    def _deserialize(self, value, attr, data, **kwargs):
        if self.border and isinstance(value, str) and value.strip().lower() == BORDER:
            return BORDER
        if isinstance(value, Mapping) and set(value) == {"W", "H", "L", "T"}:
            value = self._serialize(value, attr, data)  # normalized once already
        return parse_rect(value, attr or "it")

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, dict):
            return f"{value['W']}:{value['H']}:{value['L']}:{value['T']}"
        return value


class Choice(fields.String):
    """A string matched case-insensitively against ``choices``, kept as spelled there."""

    def __init__(self, choices: tuple[str, ...], **kwargs: Any):
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        found = next((c for c in self.choices if c.lower() == text.lower()), None)
        if found is None:
            raise ValidationError(f"must be one of {', '.join(self.choices)}")
        return found


def check_video(box, data: Mapping[str, Any], video: Mapping[str, Any]) -> None:
    """The rules between the Video keys, TransConfig, the codec and the container ``box``.

    Raises:
        ValidationError: naming the section, with the reason.
    """
    trans = data.get("TransConfig", {})
    codec, mode = video.get("Codec", box.default_video_codec), trans.get("TransMode")
    _check_geometry(video, trans)
    _check_codec_keys(codec, video, mode)
    if mode == "twopass" and box.segments:
        raise ValidationError(
            f"TransMode twopass is for file outputs (mp4, flv): a {box.name} rendition is "
            "encoded in one pass, use onepass",
            "TransConfig",
        )
    if video.get("ScanMode") == "interlaced" and codec != "H.264":
        raise ValidationError("ScanMode interlaced needs H.264 (field-coded output)", "Video")
    if "Qscale" in video:
        if codec != "H.264":
            raise ValidationError("Qscale applies to H.264 only", "Video")
        if mode not in (None, "fixCRF") or "Crf" in video or "Bitrate" in video:
            raise ValidationError(
                "Qscale is a constant quantizer: it takes no Bitrate, Crf or TransMode "
                "other than fixCRF",
                "Video",
            )
    if "AbrMax" in video and "Maxrate" in video:
        raise ValidationError("AbrMax and Maxrate both cap the bitrate: give one", "Video")
    if mode and codec in IMAGE_CODECS:
        raise ValidationError(f"{codec} has no rate control: leave TransMode out", "TransConfig")
    if mode == "twopass" and "Bitrate" not in video:
        raise ValidationError("TransMode twopass needs Video.Bitrate", "TransConfig")
    if mode == "twopass" and codec == "AV1":
        raise ValidationError(
            "TransMode twopass is not available for AV1 here (SVT-AV1 in this FFmpeg build "
            "encodes in one pass): use onepass or fixCRF",
            "TransConfig",
        )


#: What an image codec and AV1 cannot take, and why.
_IMAGE_KEYS = ("Bitrate", "Maxrate", "Bufsize", "Crf", "Qscale", "AbrMax", "Preset", "Profile")
_IMAGE_KEYS += ("PixFmt", "Gop", "ScanMode")
_AV1_KEYS = ("Maxrate", "Bufsize", "AbrMax", "Profile")


def _check_codec_keys(codec: str, video: Mapping[str, Any], mode: str | None) -> None:
    given = [key for key in (_IMAGE_KEYS if codec in IMAGE_CODECS else _AV1_KEYS) if key in video]
    if codec in IMAGE_CODECS and given:
        raise ValidationError(
            f"{codec} is an animated image without rate control or profiles: it takes no "
            f"{', '.join(given)}",
            "Video",
        )
    if codec == "AV1" and given:
        raise ValidationError(
            f"AV1 (SVT-AV1 in this FFmpeg build) takes no {', '.join(given)}: use Bitrate "
            "(onepass) or Crf",
            "Video",
        )
    if codec == "AV1" and mode == "CBR":
        raise ValidationError("TransMode CBR is not available for AV1 here", "TransConfig")
    if codec == "AV1" and video.get("PixFmt", "yuv420p") not in ("yuv420p", "yuv420p10le"):
        raise ValidationError("AV1 takes PixFmt yuv420p or yuv420p10le", "Video")


def _check_geometry(video: Mapping[str, Any], trans: Mapping[str, Any]) -> None:
    method = trans.get("AdjDarMethod")
    if method and not (video.get("Width") and video.get("Height")):
        raise ValidationError("AdjDarMethod needs both Video.Width and Video.Height", "TransConfig")
    if "Crop" in video and method not in (None, "none"):
        raise ValidationError("Crop and AdjDarMethod both reshape the frame: give one", "Video")
    if "Pad" not in video:
        return
    if method not in (None, "none") or trans.get("IsCheckReso") or trans.get("IsCheckResoFail"):
        raise ValidationError(
            "Pad takes no AdjDarMethod, IsCheckReso or IsCheckResoFail (reference)", "Video"
        )
    pad, width, height = video["Pad"], video.get("Width"), video.get("Height")
    if video.get("LongShortMode"):
        return  # which side is the width follows the source: checked when it is known
    if (width and width + pad["L"] > pad["W"]) or (height and height + pad["T"] > pad["H"]):
        raise ValidationError(
            "Pad must hold the picture: Width + left ≤ pad width and Height + top ≤ pad height",
            "Video",
        )
