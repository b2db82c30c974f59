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
    return spec.to_dict()


@blp.get("/v1/openapi.json")
def openapi():
    doc = current_app.extensions.get("mcfarm.openapi")
    if doc is None:
        doc = current_app.extensions["mcfarm.openapi"] = build_spec()
    return doc
