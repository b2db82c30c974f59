"""Watermarks: an output's ``Features.Watermarks`` and the watermark templates (Types 4, 5).

An entry (reference §2.2 ``MediaConvertJobFeatureWatermarks``, at most 4 per output) is
either

- ``Text``: ``Content`` drawn in ``FontName`` (``shared.fonts``), ``FontSize`` (5–119,
  scaled with the output's short edge over 720 lines when ``Adaptive``), ``FontColor`` and
  ``BorderColor`` (a name of ``COLOR_NAMES`` or ``#RRGGBB``/``0xRRGGBB``), ``FontAlpha``
  (0–1], ``BorderWidth`` (pixels); or
- ``Image``: a still picture (PNG alpha kept; the first frame of an animated one) named by
  ``InputFile`` ``{Type, Media}``. The ICE model names no field for the image: mcfarm takes
  MPS's name, and the worker fetches it like any input (same URL rules, SSRF checks, size
  limit). ``Width``/``Height`` scale it (one alone keeps its aspect ratio; neither keeps its
  own size).

``X``/``Y`` (both kinds) are the offset of the watermark's top-left corner from the output's
top-left corner; ``X``/``Y``/``Width``/``Height`` are pixels (an integer: 0–4096 for an
offset, 8–4096 for a size) or a ratio of the output's width (``X``, ``Width``) or height
(``Y``, ``Height``): a decimal in (0, 1), truncated to 4 decimals.

``TemplateId`` names a watermark template (``CreateCustomTemplate`` Type 4, image, or 5,
text); the entry's own keys override the template's, key by key. A template's
``TemplateConfig`` holds the same keys as an entry (less ``TemplateId``), its ``Content``
or ``InputFile`` optional. MPS/IMS template names (``Dx``, ``Dy``, ``ReferPos``, ``File``,
``Timeline``) are refused with the key to use instead.

Checked twice: the keys' values when the job is submitted (``WatermarkSchema``, inside
``shared.schemas.FeaturesSchema``), then, at planning, the template merged and the whole
watermark checked for its kind (``plan_watermarks``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from shared.catalog import TYPE_IMAGE_WATERMARK, TYPE_TEXT_WATERMARK
from shared.containers import container
from shared.errors import InvalidJob
from shared.fonts import DEFAULT_FONT, FONTS, canonical_font
from shared.storage import parse_storage_url
from shared.templates import describe_errors

MAX_WATERMARKS = 4
#: CreateCustomTemplate ``Type`` → the kind of watermark its template holds.
TEMPLATE_KINDS: Mapping[int, str] = {TYPE_IMAGE_WATERMARK: "Image", TYPE_TEXT_WATERMARK: "Text"}
TEXT_KEYS = (
    "Content",
    "FontName",
    "FontSize",
    "FontColor",
    "FontAlpha",
    "BorderColor",
    "BorderWidth",
    "Adaptive",
)
IMAGE_KEYS = ("InputFile", "Width", "Height")
#: ICE's defaults (reference §2.2), filled in at planning.
TEXT_DEFAULTS: Mapping[str, Any] = {
    "FontName": DEFAULT_FONT,
    "FontSize": 16,
    "FontColor": "black",
    "FontAlpha": 1.0,
    "BorderColor": "black",
    "BorderWidth": 0,
    "Adaptive": False,
}
#: Colour names accepted besides ``#RRGGBB``: each is one of FFmpeg's (``ffmpeg -colors``).
COLOR_NAMES = frozenset(
    [
        "black",
        "white",
        "red",
        "green",
        "blue",
        "yellow",
        "cyan",
        "magenta",
        "gray",
        "orange",
        "purple",
        "pink",
        "brown",
        "silver",
        "gold",
        "navy",
    ]
)
_HEX = re.compile(r"^(?:#|0x)([0-9a-fA-F]{6})$")
_PIXELS = re.compile(r"^[0-9]+$")
_RATIO = re.compile(r"^[0-9]*\.[0-9]+$")
#: MPS/IMS watermark template keys that mcfarm does not take, and what to use instead.
_OTHER_NAMES = {
    "Dx": "use X, the offset from the left edge",
    "Dy": "use Y, the offset from the top edge",
    "ReferPos": "X and Y are offsets from the top-left corner",
    "File": "use InputFile",
    "Timeline": "a watermark shows for the whole output",
}

#: TemplateId → (template Type, its TemplateConfig), or None when unknown to the caller.
WatermarkResolver = Callable[[str], tuple[int, Mapping[str, Any]] | None]


# --- values -------------------------------------------------------------------------------


class Geometry(fields.Field):
    """Pixels (an integer) or a ratio of the output's ``edge`` (a decimal in (0, 1))."""

    def __init__(self, edge: str, lowest: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.edge, self.lowest = edge, lowest

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value).strip() if isinstance(value, int | float | str) else ""
        if isinstance(value, bool) or not (_PIXELS.match(text) or _RATIO.match(text)):
            raise ValidationError(
                f"{value!r}: use pixels (an integer) or a ratio of the output {self.edge} "
                "(a decimal between 0 and 1)"
            )
        if _PIXELS.match(text):
            if not self.lowest <= int(text) <= 4096:
                raise ValidationError(f"{text} pixels is outside {self.lowest}-4096")
            return int(text)
        ratio = Decimal(text).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
        if not 0 < ratio < 1:
            raise ValidationError(
                f"{text}: a ratio of the output {self.edge} is between 0.0001 and 0.9999 "
                "(pixels are written as an integer)"
            )
        return float(ratio)


class Whole(fields.Field):
    """A whole number (JSON number or numeric string) in ``[lo, hi]``."""

    def __init__(self, lo: int, hi: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.lo, self.hi = lo, hi

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value).strip() if isinstance(value, int | str) else ""
        if (
            isinstance(value, bool)
            or not _PIXELS.match(text)
            or not self.lo <= int(text) <= self.hi
        ):
            raise ValidationError(f"{value!r}: use a whole number from {self.lo} to {self.hi}")
        return int(text)


class Alpha(fields.Field):
    """An opacity in (0, 1]."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            alpha = float(value) if not isinstance(value, bool) else -1.0
        except (TypeError, ValueError):
            alpha = -1.0
        if not 0 < alpha <= 1:
            raise ValidationError(f"{value!r}: use an opacity above 0 and at most 1")
        return alpha


class Flag(fields.Field):
    """``"true"``/``"false"`` (any case), as ICE sends them, or a JSON boolean."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValidationError(f"{value!r}: use true or false")


class Color(fields.Field):
    """A colour name of ``COLOR_NAMES`` or ``#RRGGBB``/``0xRRGGBB`` → FFmpeg's spelling."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = value.strip() if isinstance(value, str) else ""
        if text.lower() in COLOR_NAMES:
            return text.lower()
        if text.lower() == "grey":
            return "gray"
        match = _HEX.match(text)
        if match is None:
            names = ", ".join(sorted(COLOR_NAMES))
            raise ValidationError(f"{value!r}: use #RRGGBB or one of {names}")
        return "0x" + match.group(1).upper()


class FontName(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        name = canonical_font(value) if isinstance(value, str) else None
        if name is None:
            raise ValidationError(f"{value!r} is not installed (use one of {', '.join(FONTS)})")
        return name


class Kind(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        kind = value.strip().capitalize() if isinstance(value, str) else ""
        if kind not in TEMPLATE_KINDS.values():
            raise ValidationError(f"{value!r}: use Text or Image")
        return kind


# --- schemas --------------------------------------------------------------------------------


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class ImageFileSchema(_Strict):
    """The image's ``InputFile``, as an input's (``shared.schemas.MediaObjectSchema``)."""

    Type = fields.String(
        load_default="OSS",
        validate=validate.OneOf(("OSS", "ExternalURL"), error="{input!r}: use OSS"),
    )
    Media = fields.String(required=True, validate=validate.Length(1, 2048))


class WatermarkSchema(_Strict):
    """One ``Features.Watermarks`` entry, or a watermark template's ``TemplateConfig``."""

    Type = Kind()
    TemplateId = fields.String(validate=validate.Length(1, 64))
    X = Geometry("width", 0)
    Y = Geometry("height", 0)
    Width = Geometry("width", 8)
    Height = Geometry("height", 8)
    InputFile = fields.Nested(ImageFileSchema)
    Content = fields.String(
        validate=[validate.Length(1, 1024), validate.Regexp(r"^[^\x00]*$", error="has a NUL")]
    )
    FontName = FontName()
    FontSize = Whole(5, 119)  # ICE: (4, 120)
    FontColor = Color()
    FontAlpha = Alpha()
    BorderColor = Color()
    BorderWidth = Whole(0, 4096)
    Adaptive = Flag()

    @pre_load
    def _other_names(self, data, **kwargs):
        if isinstance(data, Mapping):
            found = {k: [f"not supported by mcfarm ({why})"] for k, why in _OTHER_NAMES.items()}
            found = {k: v for k, v in found.items() if k in data}
            if found:
                raise ValidationError(found)
        return data


_SCHEMA = WatermarkSchema()


# --- templates and planning -------------------------------------------------------------------


def _a(kind: str) -> str:
    return "an" if kind == "Image" else "a"


def _invalid(where: str, reason: str) -> InvalidJob:
    return InvalidJob(f'The specified parameter "{where}" is not valid: {reason}.')


def _check_keys(mark: Mapping[str, Any], kind: str, where: str, *, complete: bool) -> None:
    """Refuse keys of the other kind; with ``complete``, a missing Content/InputFile."""
    other, own = (IMAGE_KEYS, "Content") if kind == "Text" else (TEXT_KEYS, "InputFile")
    for key in other:
        if key in mark:
            size = "; size text with FontSize" if key in ("Width", "Height") else ""
            wrong = "image" if kind == "Text" else "text"
            raise _invalid(f"{where}.{key}", f"applies to {wrong} watermarks only{size}")
    if complete and own not in mark:
        raise _invalid(f"{where}.{own}", f"{_a(kind)} {kind.lower()} watermark needs it")


def validate_watermark_template(
    template_type: int, config: Mapping[str, Any], where: str = "TemplateConfig"
) -> dict[str, Any]:
    """Check and normalize the ``TemplateConfig`` of a Type 4 (image) or 5 (text) template.

    Raises:
        InvalidJob: naming the key, for a bad value, a key of the other kind, a
            ``TemplateId`` or a ``Type`` that is not the template's.
    """
    kind = TEMPLATE_KINDS[template_type]
    try:
        loaded = _SCHEMA.load(config)
    except ValidationError as err:
        raise _invalid(where, describe_errors(err.messages)) from None
    if "TemplateId" in loaded:
        raise _invalid(f"{where}.TemplateId", "a watermark template cannot name another one")
    if loaded.get("Type", kind) != kind:
        raise _invalid(f"{where}.Type", f"a Type {template_type} template holds {kind} watermarks")
    _check_keys(loaded, kind, where, complete=False)
    return loaded


def _kind(mark: Mapping[str, Any], from_template: str | None, where: str) -> str:
    given = mark.get("Type")
    if from_template and given and given != from_template:
        template = f"{_a(from_template)} {from_template.lower()} watermark template"
        raise _invalid(f"{where}.Type", f"its TemplateId names {template}")
    kind = given or from_template
    kind = kind or ("Image" if "InputFile" in mark else "Text" if "Content" in mark else None)
    if kind is None:
        raise _invalid(
            f"{where}.Type", "Text or Image is needed (no TemplateId, Content or InputFile)"
        )
    return kind


def resolve_watermark(
    mark: Mapping[str, Any], resolve: WatermarkResolver | None, where: str, settings
) -> dict[str, Any]:
    """One validated entry with its template merged under it, checked whole for its kind,
    ICE's text defaults filled in and ``Type`` set.

    Raises:
        InvalidJob: an unknown template (``ResourceNotFound``), a key of the other kind, a
            missing ``Content``/``InputFile``, a bad image URL.
    """
    base: Mapping[str, Any] = {}
    from_template = None
    if "TemplateId" in mark:
        found = resolve(mark["TemplateId"]) if resolve else None
        if found is None or found[0] not in TEMPLATE_KINDS:
            raise InvalidJob(
                f'The resource operated "{where}.TemplateId" ({mark["TemplateId"]}) cannot be '
                "found as a watermark template (Type 4 or 5).",
                code="InvalidParameter.ResourceNotFound",
            )
        from_template, base = TEMPLATE_KINDS[found[0]], found[1]
    merged = {**base, **{k: v for k, v in mark.items() if k != "TemplateId"}}
    kind = _kind(merged, from_template, where)
    _check_keys(merged, kind, where, complete=True)
    if kind == "Image":
        field = f"{where}.InputFile.Media"
        parse_storage_url(merged["InputFile"]["Media"], settings=settings, field=field)
        return {**merged, "Type": kind}
    return {**TEXT_DEFAULTS, **merged, "Type": kind}


def _check_drawable(config: Mapping[str, Any], where: str) -> None:
    video = config.get("Video", {})
    if not container(config["Container"]["Format"]).has_video or video.get("Remove"):
        raise _invalid(where, "the output has no video to draw on")
    if video.get("Codec") == "copy":
        raise _invalid(where, "the output copies its video (Video.Codec copy): nothing is drawn")


def plan_watermarks(
    features: Mapping[str, Any],
    config: Mapping[str, Any],
    resolve: WatermarkResolver | None,
    where: str,
    settings,
) -> dict[str, Any]:
    """``features`` with every watermark resolved (``resolve_watermark``).

    Args:
        config: the output's merged, normalized TemplateConfig: it must encode video.
        where: the output's field path, e.g. ``Outputs[0]``.
    """
    marks = features.get("Watermarks")
    if not marks:
        return dict(features)
    path = f"{where}.Features.Watermarks"
    _check_drawable(config, path)
    resolved = [
        resolve_watermark(m, resolve, f"{path}[{i}]", settings) for i, m in enumerate(marks)
    ]
    return {**features, "Watermarks": resolved}


def watermark_media(features: Mapping[str, Any]) -> list[str]:
    """The image URLs of a planned output's watermarks."""
    marks = features.get("Watermarks") or []
    return [m["InputFile"]["Media"] for m in marks if m.get("Type") == "Image"]
