"""JSON schemas of what the REST API answers, for the OpenAPI document (api/openapi.py).

They describe the documents the ICE actions return (``to_wire``, ``job_document``,
``summary``); tests/e2e/test_api_fuzz.py checks every answer of a real farm against them.
Objects list the fields that are always there as ``required`` and allow more, so a field
added later does not make old clients' validators fail.
"""

from __future__ import annotations

from typing import Any

from shared.jobrecord import JOB_STATES, OUTPUT_STATES
from shared.pipelines import SPEEDS, STATUSES

STRING: dict[str, Any] = {"type": "string"}
INTEGER: dict[str, Any] = {"type": "integer"}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
#: ``yyyy-MM-ddTHH:mm:ssZ`` (UTC), as ICE writes times.
TIME: dict[str, Any] = {
    "type": "string",
    "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
    "example": "2026-11-24T09:05:24Z",
}
ID: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{32}$"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None, **extra: Any) -> dict:
    """An object schema: ``required`` fields are always present, ``optional`` ones may be."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
        **extra,
    }


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


ERROR = obj(
    {"RequestId": STRING, "HostId": STRING, "Code": STRING, "Message": STRING},
    description="Every error, on both APIs: Code is the ICE error code, e.g. InvalidParameter, "
    "ResourceNotFound, Forbidden.RAM or Throttling.User.",
)


def _detail(states: list[str], **more: Any) -> dict[str, Any]:
    """An output's or a group's detail: its status among ``states`` and how it ended."""
    status = {"type": "string", "enum": states}
    common = {"Name": STRING, "TaskId": STRING, "Status": status, "Code": STRING}
    return obj(
        {**common, "Message": STRING, "CreateTime": TIME, **more},
        {"FinishTime": TIME, "Result": {"type": "object"}},
    )


_OUTPUT_DETAIL = _detail(list(OUTPUT_STATES))
_GROUP_DETAIL = _detail(
    ["Init", "Running", "Success", "Failed", "Skipped"], Outputs=array(_OUTPUT_DETAIL)
)
JOB = obj(
    {
        "JobId": ID,
        "ClientToken": STRING,
        "PipelineId": STRING,
        "UserData": STRING,
        "RequestId": STRING,
        "State": {"type": "string", "enum": list(JOB_STATES)},
        "Code": STRING,
        "Message": STRING,
        "CreateTime": TIME,
        "Config": ref("Config"),
    },
    {
        "FinishTime": TIME,
        "Percent": {"type": "integer", "minimum": 0, "maximum": 100},
        "EtaSeconds": {
            "type": "integer",
            "minimum": 0,
            "description": "Ours: the seconds a Running job has left at its encode speed so "
            "far; absent when not running or not yet known.",
        },
        "OutputDetails": array(_OUTPUT_DETAIL),
        "OutputGroupDetails": array(_GROUP_DETAIL),
    },
    description="A job with ICE field names (GetMediaConvertJob's Job). Lists leave out "
    "Percent, OutputDetails and OutputGroupDetails.",
)

PIPELINE = obj(
    {
        "PipelineId": ID,
        "Name": STRING,
        "Speed": {"type": "string", "enum": list(SPEEDS)},
        "Priority": {"type": "integer", "minimum": 1, "maximum": 10},
        "Status": {"type": "string", "enum": list(STATUSES)},
        "CreateTime": TIME,
        "ModifiedTime": TIME,
    }
)

_TEMPLATE_FIELDS = {
    "TemplateId": STRING,
    "TemplateName": STRING,
    "Type": INTEGER,
    "TypeName": STRING,
    "Subtype": INTEGER,
    "SubtypeName": STRING,
    "Status": STRING,
    "TemplateConfig": {**STRING, "description": "The TemplateConfig object as JSON text"},
}
CUSTOM_TEMPLATE = obj(
    {**_TEMPLATE_FIELDS, "IsDefault": BOOLEAN, "CreateTime": TIME, "ModifiedTime": TIME},
    {"FrontendHint": {"type": "object"}},
)
SYSTEM_TEMPLATE = obj(_TEMPLATE_FIELDS)

WORKER = obj(
    {
        "Hostname": STRING,
        "Node": STRING,
        "Queues": array(STRING),
        "Concurrency": INTEGER,
        "FFmpegVersion": STRING,
        "Encoders": array(STRING),
        "Gpu": {"type": "object", "nullable": True, "description": "GPU self-test (gpu workers)"},
        "Error": STRING,
        "RunningTasks": INTEGER,
        "Tasks": array(obj({"JobId": ID, "Output": INTEGER})),
    },
    description="A live worker; Tasks lists only the caller's own running outputs.",
)

_EVENT_CALLBACK_FIELDS = {
    "CallbackType": STRING,
    "CallbackURL": STRING,
    "CallbackQueueName": STRING,
    "EventTypeList": STRING,
    "AuthSwitch": {"type": "string", "enum": ["on", "off"]},
    "AuthKey": STRING,
}

DEAD_LETTER = obj(
    {
        "DeliveryId": STRING,
        "Owner": STRING,
        "URL": {**STRING, "description": "Without its query string"},
        "EventType": STRING,
        "JobId": STRING,
        "State": STRING,
        "CreateTime": TIME,
        "FailTime": {"anyOf": [TIME, {"type": "string", "maxLength": 0}]},
        "Attempts": INTEGER,
        "LastError": STRING,
        "Reason": STRING,
    }
)

TEMPLATE_CONFIG_EXAMPLE = {
    "Container": {"Format": "mp4"},
    "Video": {"Codec": "H.264", "Width": 640, "Bitrate": 800},
    "Audio": {"Codec": "aac", "Bitrate": 96},
}
JOB_EXAMPLE = {
    "Config": {
        "JobName": "demo",
        "Inputs": [
            {
                "Name": "input0",
                "InputFile": {"Type": "OSS", "Media": "oss://my-bucket/in/video.mp4"},
            }
        ],
        "Outputs": [
            {
                "Name": "mp4-360p",
                "TemplateId": "S00000001-200010",
                "OutputFile": {"Type": "OSS", "Media": "oss://my-bucket/out/video-360p.mp4"},
            }
        ],
    },
    "UserData": '{"order": 42}',
}

#: Reusable component schemas, by name.
COMPONENTS = {
    "Error": ERROR,
    "Job": JOB,
    "Pipeline": PIPELINE,
    "CustomTemplate": CUSTOM_TEMPLATE,
    "SystemTemplate": SYSTEM_TEMPLATE,
    "Worker": WORKER,
    "DeadLetter": DEAD_LETTER,
}


def answer(**fields: dict[str, Any]) -> dict[str, Any]:
    """A response document: ``RequestId`` and ``fields``, all always present."""
    return obj({"RequestId": STRING, **fields})


SUCCESS = answer(Success=BOOLEAN)
JOB_ANSWER = answer(Job=ref("Job"))
PIPELINE_ANSWER = answer(Pipeline=ref("Pipeline"))
TEMPLATE_ANSWER = answer(CustomTemplate=ref("CustomTemplate"))
EVENT_CALLBACK = answer(**_EVENT_CALLBACK_FIELDS)
