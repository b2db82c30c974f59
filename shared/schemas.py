"""marshmallow schemas for the job ``Config`` of SubmitMediaConvertJob (reference §2).

Both output styles are accepted: top-level ``Outputs`` (each with its own ``OutputFile``) and
``OutputGroups`` (``GroupConfig.OutputFileBase`` + each output's ``OutputFileName``).
``Config``, ``OverrideParams`` and ``Features`` may arrive as JSON strings or as objects.
Every key mcfarm does not act on is refused, naming its path.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from shared.containers import PLAYLIST_EXTENSIONS
from shared.errors import InvalidJob
from shared.templates import describe_errors
from shared.watermarks import MAX_WATERMARKS, WatermarkSchema

MEDIA_TYPES = ("OSS", "ExternalURL")
GROUP_TYPES = ("File", "Hls", "Dash")
HLS_STREAM_TYPES = ("video", "audio", "hybrid")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2}(?:\.\d{1,3})?)$")
_SECONDS = re.compile(r"^\d{1,5}(?:\.\d{1,3})?$")
MAX_CLIP_SECONDS = 86399.999


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class JsonObject(fields.Field):
    """An object, or a JSON string holding one (the SDK types these as strings)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                value = json.loads(value)
            except json.JSONDecodeError as err:
                raise ValidationError(
                    f"is not valid JSON ({err.msg} at column {err.colno})"
                ) from None
        if not isinstance(value, Mapping):
            raise ValidationError("must be a JSON object")
        return dict(value)


def parse_clip_time(text: Any) -> float:
    """``hh:mm:ss[.SSS]`` or ``sssss[.SSS]`` → seconds (Features.Clip.TimeSpan).

    Raises:
        ValidationError: for any other form, or a time past 23:59:59.999.
    """
    raw = str(text).strip()
    clock = _CLOCK.match(raw)
    if clock:
        hours, minutes, seconds = int(clock[1]), int(clock[2]), float(clock[3])
        if minutes > 59 or seconds >= 60:
            raise ValidationError(f"{raw!r} is not a valid time")
        value = hours * 3600 + minutes * 60 + seconds
    elif _SECONDS.match(raw):
        value = float(raw)
    else:
        raise ValidationError(f"{raw!r}: use hh:mm:ss[.SSS] or seconds[.SSS]")
    if value > MAX_CLIP_SECONDS:
        raise ValidationError(f"{raw!r} is past 23:59:59.999")
    return value


class ClipTime(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        return parse_clip_time(value)


class TimeSpanSchema(_Strict):
    Seek = ClipTime()
    Duration = ClipTime()
    End = ClipTime()

    @validates_schema
    def _order(self, data, **kwargs):
        if "End" in data and data["End"] <= data.get("Seek", 0.0):
            raise ValidationError("End must be after Seek", "End")
        if "Duration" in data and data["Duration"] <= 0:
            raise ValidationError("Duration must be positive", "Duration")


class _Refused(fields.Field):
    """A key of the reference that mcfarm refuses, with the reason."""

    def __init__(self, reason: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.reason = reason

    def _deserialize(self, value, attr, data, **kwargs):
        raise ValidationError(self.reason)


class ClipSchema(_Strict):
    TimeSpan = fields.Nested(TimeSpanSchema, required=True)
    ConfigToClipFirstPart = _Refused(
        "not supported: it orders clipping and concatenation, and an mcfarm output reads "
        "one input (no concatenation)"
    )


class FeaturesSchema(_Strict):
    Clip = fields.Nested(ClipSchema)
    #: Ours: ask for GPU or CPU encoding (MCFARM_GPU_POLICY never wins over it).
    Hardware = fields.String(validate=validate.OneOf(("gpu", "cpu")))
    Metadata = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 64)),
        values=fields.String(validate=validate.Length(max=512)),
        validate=validate.Length(max=4, error="at most 4 metadata pairs"),
    )
    #: See ``shared.watermarks``; templates are merged in at planning.
    Watermarks = fields.List(
        fields.Nested(WatermarkSchema),
        validate=validate.Length(max=MAX_WATERMARKS, error="at most 4 watermarks"),
    )


class FeaturesField(JsonObject):
    """``Features``: JSON string or object, validated against what mcfarm supports."""

    def _deserialize(self, value, attr, data, **kwargs):
        obj = super()._deserialize(value, attr, data, **kwargs)
        try:
            return _FEATURES.load(obj)
        except ValidationError as err:
            raise ValidationError(describe_errors(err.messages)) from None


_FEATURES = FeaturesSchema()


class MediaObjectSchema(_Strict):
    Type = fields.String(
        load_default="OSS",
        validate=validate.OneOf(MEDIA_TYPES, error="Type {input!r} is not supported (use OSS)"),
    )
    Media = fields.String(required=True, validate=validate.Length(1, 2048))


class InputSchema(_Strict):
    Name = fields.String(validate=validate.Length(max=128))
    InputFile = fields.Nested(MediaObjectSchema, required=True)


class _OutputBase(_Strict):
    Name = fields.String(validate=validate.Length(max=128))
    TemplateId = fields.String(required=True, validate=validate.Length(1, 64))
    OverrideParams = JsonObject(load_default=dict)
    Features = FeaturesField(load_default=dict)
    Priority = fields.Integer(load_default=6, validate=validate.Range(1, 10))
    #: Which input (by ``Inputs[].Name``) this output reads; the first input by default.
    InputRef = fields.String()


class OutputSchema(_OutputBase):
    OutputFile = fields.Nested(MediaObjectSchema, required=True)


class HlsGroupConfigSchema(_Strict):
    """How a rendition appears in the HLS master playlist (ICE ``HlsGroupConfig``)."""

    Type = fields.String(load_default="hybrid")
    AudioGroup = fields.String(load_default="audio", validate=validate.Length(1, 64))
    Group = fields.String(validate=validate.Length(1, 64))
    Name = fields.String(validate=validate.Length(1, 128))
    Language = fields.String(
        validate=validate.Regexp(
            r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", error="not an RFC 5646 tag"
        )
    )
    IsDefault = fields.String(validate=validate.OneOf(("true", "false")))
    AutoSelect = fields.String(validate=validate.OneOf(("true", "false")))
    Forced = fields.String(validate=validate.OneOf(("true", "false")))
    #: The SUBTITLES group a video or hybrid variant names (``workers.subtitles``).
    SubtitleGroup = fields.String(validate=validate.Length(1, 64))

    @validates_schema
    def _type(self, data, **kwargs):
        if data["Type"] == "subtitle":
            raise ValidationError("subtitle renditions are not supported yet", "Type")
        if data["Type"] not in HLS_STREAM_TYPES:
            raise ValidationError(f"use one of {', '.join(HLS_STREAM_TYPES)}", "Type")
        if data["Type"] == "audio" and "Name" not in data:
            raise ValidationError("an audio rendition needs a Name", "Name")


class GroupOutputSchema(_OutputBase):
    OutputFileName = fields.String(required=True, validate=validate.Length(1, 1024))
    HlsGroupConfig = fields.Nested(HlsGroupConfigSchema)


class GroupConfigSchema(_Strict):
    Type = fields.String(load_default="File")
    OutputFileBase = fields.Nested(MediaObjectSchema, required=True)
    ManifestName = fields.String(validate=validate.Length(1, 128))

    @validates_schema
    def _type(self, data, **kwargs):
        if data["Type"] not in GROUP_TYPES:
            raise ValidationError(
                f"unknown output group type {data['Type']!r} (use File, Hls or Dash)", "Type"
            )
        name = data.get("ManifestName")
        if name is None:
            return
        if data["Type"] == "File":
            raise ValidationError("applies only to Hls and Dash groups", "ManifestName")
        if any(c in name for c in "/\\\0") or name in (".", ".."):
            raise ValidationError("a manifest name is a file name, without a path", "ManifestName")

    @post_load
    def _manifest(self, data, **kwargs):
        # "master.m3u8" and "master" name the same manifest; the extension follows the type.
        if data["Type"] != "File":
            name = data.get("ManifestName") or ("master" if data["Type"] == "Hls" else "manifest")
            for ext in PLAYLIST_EXTENSIONS.values():
                name = name.removesuffix(ext)
            data["ManifestName"] = name
        return data


class OutputGroupSchema(_Strict):
    Name = fields.String(validate=validate.Length(max=128))
    GroupConfig = fields.Nested(GroupConfigSchema, required=True)
    Outputs = fields.List(
        fields.Nested(GroupOutputSchema), required=True, validate=validate.Length(min=1)
    )

    @validates_schema
    def _renditions(self, data, **kwargs):
        if "GroupConfig" not in data or "Outputs" not in data:
            return
        names: dict[str, int] = {}
        for i, output in enumerate(data["Outputs"]):
            stem = output["OutputFileName"]
            for ext in PLAYLIST_EXTENSIONS.values():
                stem = stem.removesuffix(ext)
            if stem in names:
                raise ValidationError(
                    {i: {"OutputFileName": [f"the same as Outputs[{names[stem]}].OutputFileName"]}},
                    "Outputs",
                )
            names[stem] = i
            if "HlsGroupConfig" in output and data["GroupConfig"]["Type"] != "Hls":
                raise ValidationError(
                    {i: {"HlsGroupConfig": ["applies only to Hls groups"]}}, "Outputs"
                )


class ConfigSchema(_Strict):
    JobName = fields.String(validate=lambda s: len(s.encode()) <= 64 or _fail("at most 64 bytes"))
    Inputs = fields.List(fields.Nested(InputSchema), required=True, validate=validate.Length(min=1))
    Outputs = fields.List(fields.Nested(OutputSchema), load_default=list)
    OutputGroups = fields.List(fields.Nested(OutputGroupSchema), load_default=list)

    def __init__(self, *, max_inputs: int = 16, max_outputs: int = 64, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_inputs = max_inputs
        self.max_outputs = max_outputs

    @validates_schema
    def _counts(self, data, **kwargs):
        count = len(data.get("Outputs", [])) + sum(
            len(g["Outputs"]) for g in data.get("OutputGroups", [])
        )
        if count == 0:
            raise ValidationError(
                "at least one output is needed in Outputs or OutputGroups", "Outputs"
            )
        if count > self.max_outputs:
            raise ValidationError(f"at most {self.max_outputs} outputs per job", "Outputs")
        if len(data["Inputs"]) > self.max_inputs:
            raise ValidationError(f"at most {self.max_inputs} inputs per job", "Inputs")
        names = [i["Name"] for i in data["Inputs"] if "Name" in i]
        if len(names) != len(set(names)):
            raise ValidationError("input names must be unique", "Inputs")


def _fail(message: str) -> bool:
    raise ValidationError(message)


def decode_config(raw: Any) -> dict[str, Any]:
    """The submitted ``Config`` as an object (it may be a JSON string).

    Raises:
        InvalidJob: when it is not JSON or not an object.
    """
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise InvalidJob(
                f'The specified parameter "Config" is not valid: not JSON ({err.msg} at line '
                f"{err.lineno} column {err.colno})."
            ) from None
    if not isinstance(raw, Mapping):
        raise InvalidJob('The specified parameter "Config" is not valid: expected a JSON object.')
    return dict(raw)


@functools.cache
def _config_schema(max_inputs: int, max_outputs: int) -> ConfigSchema:
    """One schema per limit pair, made once: building a schema (and its nested ones) cost
    more than the load itself on every submit. A schema holds no state of a load."""
    return ConfigSchema(max_inputs=max_inputs, max_outputs=max_outputs)


def load_config(raw: Any, *, max_inputs: int = 16, max_outputs: int = 64) -> dict[str, Any]:
    """Decode and validate a ``Config``; ``OverrideParams``/``Features`` become objects.

    Raises:
        InvalidJob: naming every offending field, e.g. ``Outputs[0].TemplateId``.
    """
    config = decode_config(raw)
    try:
        return _config_schema(max_inputs, max_outputs).load(config)
    except ValidationError as err:
        raise InvalidJob(
            f'The specified parameter "Config" is not valid: {describe_errors(err.messages)}.'
        ) from None
