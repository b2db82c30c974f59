"""TemplateConfig keys of the muxing side: ``MuxConfig.Segment.ForceSegTime`` and ``Subtitles``.

``shared.templates`` puts these fields in its schema and calls ``check_mux`` from its
cross-key check; the argv builders read the normalized values back with
``force_seg_times`` and ``subtitle_codec``.

- ``ForceSegTime`` (reference §2.2 MediaConvertSegment): points in time, in seconds of the
  output, where a segmented rendition is cut on top of the ``Duration`` grid. Up to 10
  points, each with at most 3 decimals, ascending, after 0. Normalized to the same
  comma-separated text, each point written shortest (``" 1, 2.50 ,4"`` → ``"1,2.5,4"``).
- ``Subtitles`` (reference §2.2 MediaConvertJobOverwiteParams, placed at the top of the
  TemplateConfig by §2.3): ``[{"Codec": "VTT"}]`` chooses the codec the input's subtitle
  stream is written in; ``[]`` writes none. Codecs are normalized to FFmpeg's encoder names
  (``webvtt``, ``mov_text``); each container takes those of ``Container.subtitle_codecs``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.containers import Container, Kind, names

#: Reference §2.2 MediaConvertSegment.ForceSegTime: "You can specify up to 10 points".
MAX_FORCE_SEG_POINTS = 10
#: "This parameter supports up to three decimal places."
_POINT = re.compile(r"^\d+(?:\.\d{1,3})?$")
#: ``Subtitles[].Codec`` aliases (case-insensitive) → FFmpeg's encoder.
SUBTITLE_CODECS: Mapping[str, str] = {
    "vtt": "webvtt",
    "webvtt": "webvtt",
    "mov_text": "mov_text",
    "movtext": "mov_text",
    "tx3g": "mov_text",
}
#: How error messages name a normalized codec (the name ICE documents where it has one).
SUBTITLE_CODEC_NAMES: Mapping[str, str] = {"webvtt": "VTT", "mov_text": "mov_text"}


def _seconds_text(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


class ForceSegTimes(fields.Field):
    """``ForceSegTime``: a string of points such as ``"1,2,4.5"`` (a single JSON number is
    one point); see the module docstring for the rules."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError("must be a string of points in seconds such as '1,2,4'")
        parts = [part.strip() for part in str(value).split(",")]
        if parts == [""]:
            raise ValidationError("lists no point in time")
        bad = next((part for part in parts if not _POINT.match(part)), None)
        if bad is not None:
            raise ValidationError(f"{bad!r} is not a number of seconds with at most 3 decimals")
        if len(parts) > MAX_FORCE_SEG_POINTS:
            raise ValidationError(
                f"takes at most {MAX_FORCE_SEG_POINTS} points in time, not {len(parts)}"
            )
        points = [float(part) for part in parts]
        if points[0] <= 0:
            raise ValidationError("points must come after 0 s (the first segment starts there)")
        if any(b <= a for a, b in zip(points, points[1:], strict=False)):
            raise ValidationError("points must be in ascending order, each after the one before")
        return ",".join(_seconds_text(point) for point in points)


def force_seg_times(config: Mapping[str, Any]) -> tuple[float, ...]:
    """The ``ForceSegTime`` points of a normalized TemplateConfig, in seconds (none: ``()``)."""
    text = config.get("MuxConfig", {}).get("Segment", {}).get("ForceSegTime")
    return tuple(float(part) for part in text.split(",")) if text else ()


class SubtitleCodec(fields.String):
    """A ``Subtitles[].Codec``, matched case-insensitively against ``SUBTITLE_CODECS``."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return SUBTITLE_CODECS[text.strip().lower()]
        except KeyError:
            raise ValidationError(
                f"subtitle codec {text!r} is not supported (use VTT or mov_text)"
            ) from None


class SubtitleSchema(Schema):
    """One ``Subtitles`` entry (``MediaConvertJobOverwiteParamsSubtitles``)."""

    class Meta:
        unknown = RAISE

    Codec = SubtitleCodec()


def subtitles_field() -> fields.List:
    """The ``Subtitles`` field of a TemplateConfig: no entry, or one."""
    return fields.List(
        fields.Nested(SubtitleSchema),
        validate=validate.Length(
            max=1, error="mcfarm writes one subtitle stream (the input's first text one)"
        ),
    )


def subtitle_codec(box: Container, config: Mapping[str, Any], group_type: str) -> str | None:
    """The encoder of the subtitle stream an output of ``config`` writes in a group of
    ``group_type`` (``File``, ``Hls``, ``Dash``), or None when it writes none: ``Subtitles``
    is ``[]``, or the container holds no subtitles there."""
    entries = config.get("Subtitles")
    codecs = box.subtitles_in(group_type)
    if entries == [] or not codecs:
        return None
    return (entries or [{}])[0].get("Codec", codecs[0])


def _check_force_seg_time(box: Container, data: Mapping[str, Any]) -> None:
    if not data.get("MuxConfig", {}).get("Segment", {}).get("ForceSegTime"):
        return
    if box.kind is not Kind.SEGMENTED:
        reason = f"applies to {', '.join(names(Kind.SEGMENTED))} only, not {box.name}"
    elif data.get("Video", {}).get("Codec") == "copy":
        reason = "needs the video encoded: a copied video can only be cut at its own keyframes"
    else:
        return
    raise ValidationError({"Segment": {"ForceSegTime": [reason]}}, "MuxConfig")


def _check_subtitles(box: Container, entries: list[Mapping[str, Any]]) -> None:
    if entries and not box.subtitle_codecs:
        raise ValidationError(f"the {box.name.upper()} container holds no subtitles", "Subtitles")
    for i, entry in enumerate(entries):
        if "Codec" in entry and entry["Codec"] not in box.subtitle_codecs:
            wanted = " or ".join(SUBTITLE_CODEC_NAMES[c] for c in box.subtitle_codecs)
            name = SUBTITLE_CODEC_NAMES[entry["Codec"]]
            reason = f"the {box.name.upper()} container takes {wanted} subtitles, not {name}"
            raise ValidationError({i: {"Codec": [reason]}}, "Subtitles")


def check_mux(box: Container, data: Mapping[str, Any]) -> None:
    """Refuse ``ForceSegTime`` and ``Subtitles`` that the container ``box`` cannot honour.

    Raises:
        ValidationError: keyed by the offending field (``MuxConfig.Segment.ForceSegTime``,
            ``Subtitles`` or ``Subtitles[i].Codec``).
    """
    _check_force_seg_time(box, data)
    _check_subtitles(box, data.get("Subtitles") or [])
