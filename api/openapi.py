"""The OpenAPI 3 document of the REST API, built from the schemas that validate requests."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app

from api.jobs import ListJobsSchema, SubmitJobSchema
from shared.schemas import ConfigSchema

blp = Blueprint("openapi", __name__)

_ERROR = {
    "type": "object",
    "properties": {k: {"type": "string"} for k in ("RequestId", "HostId", "Code", "Message")},
}
_JOB = {
    "type": "object",
    "description": "A job with ICE field names (GetMediaConvertJob's Job).",
    "properties": {
        "JobId": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "State": {
            "type": "string",
            "enum": ["Inited", "Running", "Complete", "Error", "Cancelled"],
        },
        "Percent": {"type": "integer", "minimum": 0, "maximum": 100},
        "Code": {"type": "string"},
        "Message": {"type": "string"},
        "CreateTime": {"type": "string", "example": "2026-11-24T09:05:24Z"},
        "FinishTime": {"type": "string"},
        "ClientToken": {"type": "string"},
        "PipelineId": {"type": "string"},
        "UserData": {"type": "string"},
        "RequestId": {"type": "string"},
        "Config": {"$ref": "#/components/schemas/Config"},
        "OutputDetails": {"type": "array", "items": {"type": "object"}},
        "OutputGroupDetails": {"type": "array", "items": {"type": "object"}},
    },
}


def _errors(*statuses: int) -> dict:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {str(s): {"description": "Error", **ref} for s in statuses}


def _job_body(description: str) -> dict:
    schema = {
        "type": "object",
        "properties": {
            "RequestId": {"type": "string"},
            "Job": {"$ref": "#/components/schemas/Job"},
        },
    }
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def build_spec() -> dict:
    spec = APISpec(
        title="mcfarm REST API",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Media transcoding jobs. The same job documents as the ICE API."},
    )
    spec.components.security_scheme("basic", {"type": "http", "scheme": "basic"})
    spec.components.schema("Config", schema=ConfigSchema)
    spec.components.schema("SubmitJob", schema=SubmitJobSchema)
    spec.components.schema("Error", _ERROR)
    spec.components.schema("Job", _JOB)
    list_body = {
        "type": "object",
        "properties": {
            "RequestId": {"type": "string"},
            "Jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
            "NextPageToken": {"type": "string"},
        },
    }
    spec.path(
        path="/v1/jobs",
        operations={
            "post": {
                "summary": "Submit a job; returns at once with the job Inited",
                "security": [{"basic": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": "SubmitJob"}},
                },
                "responses": {
                    "202": _job_body("Accepted"),
                    "200": _job_body("A retry with the same ClientToken: the original job"),
                    **_errors(400, 401, 413, 503),
                },
            },
            "get": {
                "summary": "List jobs, newest first, token-paged",
                "security": [{"basic": []}],
                "parameters": [{"in": "query", "schema": ListJobsSchema}],
                "responses": {
                    "200": {
                        "description": "A page",
                        "content": {"application/json": {"schema": list_body}},
                    },
                    **_errors(400, 401),
                },
            },
        },
    )
    spec.path(
        path="/v1/jobs/{job_id}",
        operations={
            "get": {
                "summary": "A job with its output details",
                "security": [{"basic": []}],
                "parameters": [
                    {"in": "path", "name": "job_id", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _job_body("The job"), **_errors(401, 404)},
            }
        },
    )
    for path, summary in (("/healthz", "Redis is reachable"), ("/readyz", "A worker is alive")):
        spec.path(
            path=path,
            operations={
                "get": {
                    "summary": summary,
                    "responses": {"200": {"description": "OK"}, **_errors(503)},
                }
            },
        )
    _resource_paths(spec)
    return spec.to_dict()


#: (path, method, ICE action, summary, has a JSON body) of the REST resources over ICE actions.
_RESOURCES = [
    (
        "/v1/jobs/{job_id}/cancel",
        "post",
        "CancelMediaConvertJob",
        "Cancel an Inited or Running job",
        False,
    ),
    ("/v1/pipelines", "get", "ListPipelines", "List pipelines (query: Speed)", False),
    ("/v1/pipelines", "post", "CreatePipeline", "Create a pipeline {Name, Speed, Priority}", True),
    ("/v1/pipelines/{pipeline_id}", "get", "GetPipeline", "A pipeline", False),
    (
        "/v1/pipelines/{pipeline_id}",
        "patch",
        "UpdatePipeline",
        "Rename, reprioritize, pause or resume",
        True,
    ),
    ("/v1/pipelines/{pipeline_id}", "delete", "DeletePipeline", "Delete an empty pipeline", False),
    (
        "/v1/templates",
        "get",
        "ListCustomTemplates",
        "List custom templates (ICE query names)",
        False,
    ),
    (
        "/v1/templates",
        "post",
        "CreateCustomTemplate",
        "Create {Name, TemplateConfig, Subtype}",
        True,
    ),
    ("/v1/templates/{template_id}", "get", "GetCustomTemplate", "A custom template", False),
    (
        "/v1/templates/{template_id}",
        "patch",
        "UpdateCustomTemplate",
        "Change {Name, TemplateConfig}",
        True,
    ),
    (
        "/v1/templates/{template_id}",
        "delete",
        "DeleteCustomTemplate",
        "Delete a custom template",
        False,
    ),
    (
        "/v1/templates/{template_id}/default",
        "post",
        "SetDefaultCustomTemplate",
        "Make it its type's default",
        False,
    ),
    ("/v1/system-templates", "get", "ListSystemTemplates", "List system templates", False),
    ("/v1/system-templates/{template_id}", "get", "GetSystemTemplate", "A system template", False),
    ("/v1/workers", "get", "ListWorkers", "Live workers: capabilities and running tasks", False),
    ("/v1/event-callback", "get", "GetEventCallback", "The account's event callback", False),
    (
        "/v1/event-callback",
        "put",
        "SetEventCallback",
        "Set {CallbackURL, EventTypeList, AuthSwitch, AuthKey}",
        True,
    ),
    ("/v1/events/dead", "get", None, "Callbacks given up on (query: limit)", False),
    (
        "/v1/events/dead/{delivery_id}/replay",
        "post",
        None,
        "Deliver a dead-lettered callback again",
        False,
    ),
]


def _resource_paths(spec: APISpec) -> None:
    operations: dict[str, dict] = {}
    for path, method, action, summary, has_body in _RESOURCES:
        op = {
            "summary": summary,
            "description": f"The ICE action {action}: same parameters and response."
            if action
            else summary,
            "security": [{"basic": []}],
            "parameters": [
                {
                    "in": "path",
                    "name": name.strip("{}"),
                    "required": True,
                    "schema": {"type": "string"},
                }
                for name in path.split("/")
                if name.startswith("{")
            ],
            "responses": {
                "200": {"description": "The ICE response document"},
                **_errors(400, 401, 403, 404),
            },
        }
        if has_body:
            op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        operations.setdefault(path, {})[method] = op
    for path, ops in operations.items():
        spec.path(path=path, operations=ops)


@blp.get("/v1/openapi.json")
def openapi():
    doc = current_app.extensions.get("mcfarm.openapi")
    if doc is None:
        doc = current_app.extensions["mcfarm.openapi"] = build_spec()
    return doc
