"""TemplateConfig: validation of what mcfarm can encode, and the OverrideParams merge.

A transcoding ``TemplateConfig`` and an output's ``OverrideParams`` are the same document
(reference §2.3): ``Container``, ``Video``, ``Audio``, ``TransConfig``, ``MuxConfig``,
``Subtitles`` (the last two checked by ``shared.template_mux``).
``merged_config`` deep-merges the override over the template and validates the result
against exactly the keys and values the FFmpeg argv builder supports, so anything it cannot
honour is refused at submit time instead of being silently ignored.

The validated document is *normalized*: container and audio codec names lowercase, video
codec ``H.264``/``H.265``/``copy``, numbers as ``int``/``float``, flags as ``bool``, and
``Gop`` as an ``int`` (frames) or a ``str`` such as ``"2s"`` (seconds).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import orjson
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.containers import CONTAINERS, NOT_YET, Kind, container, names
from shared.errors import InvalidJob
from shared.template_audio import (
    AAC_PROFILES,
    ALL_CHANNELS,
    CODEC_ALIASES,
    SAMPLE_RATES,
    VolumeSchema,
    check_audio,
)
from shared.template_mux import ForceSegTimes, check_mux, subtitles_field
from shared.template_video import ADJ_DAR_METHODS, SCAN_MODES, Choice, Rect, check_video

_VIDEO_CODECS = {
    "h.264": "H.264",
    "h264": "H.264",
    "h.265": "H.265",
    "h265": "H.265",
    "hevc": "H.265",
    "av1": "AV1",
    "gif": "GIF",
    "webp": "WEBP",
    "copy": "copy",
}
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
H264_PROFILES = ("baseline", "main", "high")
H265_PROFILES = ("main",)
PIX_FMTS = ("yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12", "yuv420p10le")
TRANS_MODES = ("onepass", "twopass", "fixCRF", "CBR")
_GOP_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s\s*$")


class _Codec(fields.String):
    """A codec name matched case-insensitively against a table of aliases."""

    def __init__(self, table: Mapping[str, str], **kwargs: Any):
        super().__init__(**kwargs)
        self.table = table

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.table[text.strip().lower()]
        except KeyError:
            supported = ", ".join(sorted(set(self.table.values())))
            raise ValidationError(f"codec {text!r} is not supported (use {supported})") from None


class _Gop(fields.Field):
    """Frames as a number, or seconds as a string ending in ``s``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("must be a frame count or a duration such as '2s'")
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
            frames = int(float(value))
            if not 1 <= frames <= 100000:
                raise ValidationError("frame count must be between 1 and 100000")
            return frames
        match = _GOP_SECONDS.match(value) if isinstance(value, str) else None
        if not match or not 0 < float(match.group(1)) <= 100000:
            raise ValidationError("must be a frame count or a duration such as '2s'")
        return f"{float(match.group(1)):g}s"


class _Section(Schema):
    class Meta:
        unknown = RAISE


def _even(name: str):
    def check(value: int) -> None:
        if value % 2:
            raise ValidationError(f"{name} must be an even number")

    return check


def _bitrate(value: int) -> None:
    if value != -1 and not 10 <= value <= 50000:
        raise ValidationError("must be -1 (keep the source bitrate) or 10-50000 Kbps")


class ContainerSchema(_Section):
    Format = fields.String(required=True)

    @validates_schema
    def _format(self, data, **kwargs):
        fmt = data["Format"].lower()
        if fmt in NOT_YET:
            raise ValidationError(f"container {fmt!r} is not supported yet", "Format")
        if fmt not in CONTAINERS:
            raise ValidationError(
                f"unknown container {fmt!r} (use {', '.join(CONTAINERS)})", "Format"
            )


class VideoSchema(_Section):
    Codec = _Codec(_VIDEO_CODECS)
    Width = fields.Integer(validate=[validate.Range(128, 4096), _even("Width")])
    Height = fields.Integer(validate=[validate.Range(128, 4096), _even("Height")])
    LongShortMode = fields.Boolean()
    Bitrate = fields.Integer(validate=_bitrate)
    Maxrate = fields.Integer(validate=validate.Range(10, 50000))
    Bufsize = fields.Integer(validate=validate.Range(1000, 128000))
    Crf = fields.Float(validate=validate.Range(0, 51))
    Fps = fields.Float(validate=validate.Range(0, 60, min_inclusive=False))
    Gop = _Gop()
    Preset = fields.String(validate=validate.OneOf(X264_PRESETS))
    Profile = fields.String(validate=validate.OneOf(H264_PROFILES + H265_PROFILES))
    PixFmt = fields.String(validate=validate.OneOf(PIX_FMTS))
    Remove = fields.Boolean()
    Crop = Rect(border=True)
    Pad = Rect()
    ScanMode = Choice(SCAN_MODES)
    MaxFps = fields.Float(validate=validate.Range(0, 60, min_inclusive=False))
    Qscale = fields.Integer(validate=validate.Range(0, 51))
    AbrMax = fields.Integer(validate=validate.Range(10, 50000))


class AudioSchema(_Section):
    """``Audio``; the rules between its keys are ``shared.template_audio.check_audio``'s."""

    Codec = _Codec(CODEC_ALIASES)
    Bitrate = fields.Integer(validate=validate.Range(8, 1000))
    Samplerate = fields.Integer(validate=validate.OneOf(SAMPLE_RATES))
    Channels = fields.Integer(validate=validate.OneOf(ALL_CHANNELS))
    Profile = fields.String(validate=validate.OneOf(AAC_PROFILES))
    Remove = fields.Boolean()
    Volume = fields.Nested(VolumeSchema)


class TransConfigSchema(_Section):
    TransMode = fields.String(
        validate=validate.OneOf(
            TRANS_MODES,
            error="TransMode {input!r} is not supported (use onepass, twopass, fixCRF or CBR)",
        )
    )
    AdjDarMethod = Choice(ADJ_DAR_METHODS)
    # Source checks (reference §2.3): above the source, cap to it (IsCheck…) or fail (…Fail).
    IsCheckReso = fields.Boolean()
    IsCheckResoFail = fields.Boolean()
    IsCheckVideoBitrate = fields.Boolean()
    IsCheckVideoBitrateFail = fields.Boolean()
    IsCheckAudioBitrate = fields.Boolean()
    IsCheckAudioBitrateFail = fields.Boolean()


class SegmentSchema(_Section):
    Duration = fields.Integer(validate=validate.Range(1, 60))
    ForceSegTime = ForceSegTimes()


class MuxConfigSchema(_Section):
    """``Segment`` applies to segmented (HLS/DASH) containers only."""

    Segment = fields.Nested(SegmentSchema)


class TemplateConfigSchema(_Section):
    Container = fields.Nested(ContainerSchema, required=True)
    Video = fields.Nested(VideoSchema)
    Audio = fields.Nested(AudioSchema)
    TransConfig = fields.Nested(TransConfigSchema)
    MuxConfig = fields.Nested(MuxConfigSchema)
    Subtitles = subtitles_field()

    @validates_schema
    def _consistent(self, data, **kwargs):
        box = container(data["Container"]["Format"].lower())
        video, audio = data.get("Video", {}), data.get("Audio", {})
        _check_streams(box, video, audio)
        _check_codecs(box, video, audio)
        check_audio(box, audio)
        check_mux(box, data)
        _check_encoding(box, data, video)
        check_video(box, data, video)


def _check_streams(box, video: Mapping[str, Any], audio: Mapping[str, Any]) -> None:
    if not box.has_video and video and not video.get("Remove"):
        raise ValidationError(
            f"an audio-only container ({box.name}) takes no Video settings", "Video"
        )
    if box.kind is Kind.IMAGE and audio and not audio.get("Remove"):
        raise ValidationError(f"an image container ({box.name}) holds no audio", "Audio")
    if box.kind is Kind.AUDIO and audio.get("Remove"):
        raise ValidationError(f"an audio-only container ({box.name}) needs its audio", "Audio")
    if video.get("Remove") and audio.get("Remove"):
        raise ValidationError("removing both video and audio leaves nothing to write", "Video")


def _check_codecs(box, video: Mapping[str, Any], audio: Mapping[str, Any]) -> None:
    if box.has_video and video.get("Codec", box.default_video_codec) not in box.video_codecs:
        raise ValidationError(
            f"the {box.name.upper()} container cannot carry {video['Codec']}", "Video"
        )
    for name, section in (("Video", video), ("Audio", audio)):
        if section.get("Codec") == "copy" and set(section) - {"Codec", "Remove"}:
            raise ValidationError(
                f"a copied {name.lower()} stream takes no encoding settings", name
            )
    if (
        video.get("Profile")
        and video.get("Codec", "H.264") == "H.265"
        and video["Profile"] not in H265_PROFILES
    ):
        raise ValidationError("H.265 takes only the main profile", "Video")


def _check_encoding(box, data: Mapping[str, Any], video: Mapping[str, Any]) -> None:
    mode = data.get("TransConfig", {}).get("TransMode")
    if data.get("MuxConfig", {}).get("Segment") and box.kind is not Kind.SEGMENTED:
        segmented = ", ".join(names(Kind.SEGMENTED))
        raise ValidationError(f"Segment applies to {segmented} only", "MuxConfig")
    if mode == "CBR" and "Bitrate" not in video:
        raise ValidationError("TransMode CBR needs Video.Bitrate", "TransConfig")
    if (
        mode == "onepass"
        and "Bitrate" not in video
        and not video.get("Remove")
        and box.has_video
        and video.get("Codec") != "copy"
    ):
        raise ValidationError("TransMode onepass needs Video.Bitrate", "TransConfig")


def without(config: Mapping[str, Any], section: str) -> dict[str, Any]:
    """A copy of a normalized TemplateConfig whose ``Video`` or ``Audio`` is removed."""
    trimmed = json_copy(config)
    trimmed[section] = {**trimmed.get(section, {}), "Remove": True}
    return trimmed


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` over ``base``: objects key by key, everything else replaced.

    A ``null`` in the override removes the key (JSON merge-patch, RFC 7396), so an override
    can drop e.g. a template's ``Video.Width`` and keep the source size.
    """
    merged = json_copy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = json_copy(value)
    return merged


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-like data: mappings become dicts, lists and tuples lists, anything
    else is shared (immutable scalars). What ``copy.deepcopy`` gives for a config, at a
    fraction of its cost on every submit."""
    if isinstance(value, Mapping):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_copy(item) for item in value]
    return value


def _flatten_errors(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, Mapping):
        out: list[str] = []
        for key, value in messages.items():
            if key == "_schema":
                path = prefix
            elif isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten_errors(value, path))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        text = "; ".join(
            "not supported by mcfarm" if m == "Unknown field." else m.rstrip(".") for m in messages
        )
        return [f"{prefix}: {text}" if prefix else text]
    return [f"{prefix}: {messages}"]


def describe_errors(messages: Any) -> str:
    """Turn marshmallow's nested error dict into one readable line, field paths first."""
    return "; ".join(_flatten_errors(messages))


@functools.cache
def _template_config_schema() -> TemplateConfigSchema:
    """Made once (see ``shared.schemas._config_schema``)."""
    return TemplateConfigSchema()


def validate_template_config(config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate and normalize a (merged) TemplateConfig.

    Args:
        config: the document to check.
        where: the request field it came from, named in the error (e.g. ``Outputs[0]``).

    Returns:
        The normalized document (a new one each call: the caller may change it).

    Raises:
        InvalidJob: naming every unsupported key or bad value.
    """
    if not isinstance(config, Mapping):
        raise InvalidJob(f'The specified parameter "{where}" is not valid: expected an object.')
    try:
        return orjson.loads(_normalized(orjson.dumps(config, option=orjson.OPT_SORT_KEYS)))
    except ValidationError as err:
        raise InvalidJob(
            f'The specified parameter "{where}" is not valid: {describe_errors(err.messages)}.'
        ) from None


@functools.lru_cache(maxsize=1024)
def _normalized(canonical: bytes) -> bytes:
    """A valid TemplateConfig's normalized form, both as JSON (raises ``ValidationError``).

    Pure, so remembered by the document's canonical JSON: a farm's jobs name the same few
    templates again and again, and validating one is most of a submit's CPU.
    """
    loaded = _template_config_schema().load(orjson.loads(canonical))
    loaded["Container"]["Format"] = loaded["Container"]["Format"].lower()
    box = container(loaded["Container"]["Format"])
    if box.default_video_codec != "H.264" and not loaded.get("Video", {}).get("Remove"):
        # The argv builders read an absent Codec as H.264: name an image container's own.
        loaded.setdefault("Video", {}).setdefault("Codec", box.default_video_codec)
    return orjson.dumps(loaded)


def merged_config(
    template: Mapping[str, Any], override: Mapping[str, Any] | None, where: str
) -> dict[str, Any]:
    """Deep-merge ``override`` over ``template`` and validate the result."""
    return validate_template_config(deep_merge(template, override or {}), where)
