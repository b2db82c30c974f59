"""marshmallow schemas of the REST bodies and queries, and ``load`` with ICE errors.

A view's ``@Operation`` (``api/operations.py``) names its schemas: the view gets its body
and query loaded with exactly those, and ``api/openapi.py`` documents the same ones, so the
document cannot drift from what the API accepts. Bodies are JSON: numbers are numbers
(``strict``), and unknown names are refused (``RAISE``). Queries arrive as text, so their
integers are parsed. Every name is the ICE parameter's.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from api.params import MAX_NAME
from api.services import JOB_ORDERS, STATE_FILTERS
from shared.catalog import KNOWN_TYPES
from shared.errors import invalid_parameter, missing_parameter
from shared.pipelines import DEFAULT_PRIORITY, SPEEDS, STATUSES
from shared.schemas import JsonObject
from shared.template_store import ORDERS, TRANSCODE_SUBTYPE_NAMES
from shared.templates import describe_errors

_NAME = [validate.Length(1, MAX_NAME), validate.Regexp(r"\S", error="It must not be blank.")]
_PRIORITY = validate.Range(1, 10)
_SUBTYPES = validate.Range(1, max(TRANSCODE_SUBTYPE_NAMES))
_PAGE_NUMBER = validate.Range(1, 10**9)
_PAGE_SIZE = validate.Range(1, 100)
#: Comma-separated numbers from 1 to 11 (template types) and from 1 to 99 (subtypes).
_TYPE_LIST = validate.Regexp(r"^(?:1[01]|[1-9])(?:,(?:1[01]|[1-9]))*$")
_SUBTYPE_LIST = validate.Regexp(r"^[1-9][0-9]?(?:,[1-9][0-9]?)*$")


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def load(schema: Schema, data: Any) -> dict[str, Any]:
    """``schema.load(data)``; a refusal becomes ``MissingParameter``/``InvalidParameter``.

    Raises:
        ApiError: 400 naming the first offending field.
    """
    try:
        return schema.load(data)
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"_schema": err.messages}
        missing = [k for k, v in messages.items() if v == ["Missing data for required field."]]
        wrong = {k: v for k, v in messages.items() if k not in missing}
        # A value that is wrong is named before one that is absent: fixing it is the
        # caller's first step either way, and it is the more surprising of the two.
        if wrong:
            raise invalid_parameter(str(next(iter(wrong))), describe_errors(wrong)) from None
        raise missing_parameter(missing[0]) from None


class TemplateConfigField(JsonObject):
    """``TemplateConfig``: an object, or the same object as JSON text (as ICE sends it)."""


_TEMPLATE_CONFIG_DOC = {
    "description": "The TemplateConfig: an object, or the same object as JSON text",
    "anyOf": [{"$ref": "#/components/schemas/TemplateConfig"}, {"type": "string"}],
}


# --- jobs --------------------------------------------------------------------------------

_WIRE_TIME = validate.Regexp(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
    error="Use yyyy-MM-ddTHH:mm:ssZ.",
)
_STATUS = validate.OneOf(("", *STATE_FILTERS))
_TOKEN = validate.Length(max=256)
#: The names ``GET /v1/jobs`` took before it took ICE's, and the ICE name each stands for.
_OLD_LIST_NAMES = {
    "state": "Status",
    "page_size": "PageSize",
    "next_page_token": "NextPageToken",
    "order": "OrderBy",
}
_OLD_ORDERS = dict(zip(("desc", "asc"), JOB_ORDERS, strict=True))


def _deprecated(name: str) -> dict[str, Any]:
    return {"deprecated": True, "description": f"Deprecated: the old name of {name}"}


class ListJobsQuery(_Strict):
    """Query of ``GET /v1/jobs``: the parameters of ListMediaConvertJobs.

    The old snake_case names are still accepted (documented as deprecated); giving both
    names of one parameter is an ``InvalidParameter`` naming the old one.
    """

    Status = fields.String(validate=_STATUS, metadata={"description": "Jobs in this state"})
    PageSize = fields.Integer(validate=_PAGE_SIZE, metadata={"default": 20})
    NextPageToken = fields.String(
        validate=_TOKEN, metadata={"description": "The NextPageToken of the previous page"}
    )
    OrderBy = fields.String(
        validate=validate.OneOf(JOB_ORDERS), metadata={"default": JOB_ORDERS[0]}
    )
    StartOfCreateTime = fields.String(
        validate=_WIRE_TIME, metadata={"description": "Jobs created at or after this time"}
    )
    EndOfCreateTime = fields.String(
        validate=_WIRE_TIME, metadata={"description": "Jobs created at or before this time"}
    )
    JobId = fields.String(
        validate=validate.Length(max=64), metadata={"description": "Only this job"}
    )
    PipelineId = fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "Only the jobs submitted to this pipeline (ours)"},
    )
    state = fields.String(validate=_STATUS, metadata=_deprecated("Status"))
    page_size = fields.Integer(validate=_PAGE_SIZE, metadata=_deprecated("PageSize"))
    next_page_token = fields.String(validate=_TOKEN, metadata=_deprecated("NextPageToken"))
    order = fields.String(
        validate=validate.OneOf(tuple(_OLD_ORDERS)),
        metadata=_deprecated("OrderBy (asc: CreateTimeAsc, desc: CreateTimeDesc)"),
    )

    @post_load
    def _ice_names(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Rename the old names to the ICE ones."""
        for old, name in _OLD_LIST_NAMES.items():
            if old not in data:
                continue
            if name in data:
                raise ValidationError(f"Give {name} or {old}, not both.", field_name=old)
            value = data.pop(old)
            data[name] = _OLD_ORDERS[value] if old == "order" else value
        return data


# --- pipelines ---------------------------------------------------------------------------


class CreatePipelineBody(_Strict):
    Name = fields.String(required=True, validate=_NAME)
    Speed = fields.String(required=True, validate=validate.OneOf(SPEEDS))
    Priority = fields.Integer(
        strict=True, validate=_PRIORITY, metadata={"default": DEFAULT_PRIORITY}
    )


class UpdatePipelineBody(_Strict):
    Name = fields.String(validate=_NAME)
    Priority = fields.Integer(strict=True, validate=_PRIORITY)
    Status = fields.String(validate=validate.OneOf(STATUSES))


class ListPipelinesQuery(_Strict):
    Speed = fields.String(validate=validate.OneOf(SPEEDS))


# --- custom and system templates ---------------------------------------------------------


class CreateTemplateBody(_Strict):
    Name = fields.String(required=True, validate=_NAME)
    TemplateConfig = TemplateConfigField(required=True, metadata=_TEMPLATE_CONFIG_DOC)
    Type = fields.Integer(
        strict=True,
        load_default=1,
        validate=validate.OneOf(
            [1, 4, 5], error="mcfarm supports transcoding (1) and watermark (4, 5) templates."
        ),
    )
    Subtype = fields.Integer(strict=True, validate=_SUBTYPES, metadata={"default": 1})


class UpdateTemplateBody(_Strict):
    Name = fields.String(validate=_NAME)
    TemplateConfig = TemplateConfigField(metadata=_TEMPLATE_CONFIG_DOC)


class ListTemplatesQuery(_Strict):
    Type = fields.Integer(
        load_default=1, validate=validate.Range(KNOWN_TYPES.start, KNOWN_TYPES.stop - 1)
    )
    Subtype = fields.Integer(validate=_SUBTYPES)
    TemplateId = fields.String(validate=validate.Length(max=64))
    Name = fields.String(validate=validate.Length(max=MAX_NAME))
    OrderBy = fields.String(validate=validate.OneOf(ORDERS))
    PageNumber = fields.Integer(validate=_PAGE_NUMBER)
    PageSize = fields.Integer(validate=_PAGE_SIZE)


class ListSystemTemplatesQuery(_Strict):
    Type = fields.String(
        load_default="1",
        validate=[validate.Length(max=64), _TYPE_LIST],
        metadata={"description": "Comma-separated template types (1: transcoding)"},
    )
    Subtype = fields.String(
        validate=[validate.Length(max=16), _SUBTYPE_LIST],
        metadata={"description": "Comma-separated subtypes"},
    )
    TemplateId = fields.String(validate=validate.Length(max=64))
    Name = fields.String(validate=validate.Length(max=MAX_NAME))
    Status = fields.String(validate=validate.OneOf(("Normal", "Invisible", "All")))
    PageNumber = fields.Integer(validate=_PAGE_NUMBER)
    PageSize = fields.Integer(validate=_PAGE_SIZE)


# --- event callbacks --------------------------------------------------------------------


class EventTypeListField(fields.Field):
    """``EventTypeList``: comma-separated names, or (ours) a list of names."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ",".join(value)
        raise ValidationError("It must be a string or a list of strings.")


class SetEventCallbackBody(_Strict):
    CallbackType = fields.String(validate=validate.OneOf(("HTTP",)), metadata={"default": "HTTP"})
    CallbackURL = fields.String(
        required=True,
        validate=[validate.Length(1, 256), validate.Regexp(r"^[hH][tT][tT][pP][sS]?://")],
        metadata={"description": "An http(s) URL whose host resolves to a public address"},
    )
    CallbackQueueName = fields.String(validate=validate.Length(max=256))
    EventTypeList = EventTypeListField(
        metadata={
            "description": "Event names, comma-separated or as a list; empty means all",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        }
    )
    AuthSwitch = fields.String(validate=validate.OneOf(("on", "off")), metadata={"default": "off"})
    AuthKey = fields.String(
        validate=validate.Regexp(r"^[A-Za-z0-9]{0,32}$"),
        metadata={
            "description": "Needed with AuthSwitch on: upper and lower case letters and digits"
        },
    )


class DeadLettersQuery(_Strict):
    limit = fields.Integer(validate=validate.Range(1, 1000), metadata={"default": 100})
