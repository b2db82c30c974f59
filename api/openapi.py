"""The OpenAPI 3 document of the REST API (``GET /v1/openapi.json``).

Requests are described by the marshmallow schemas that load them (``api/jobs.py``,
``api/rest_schemas.py``), answers by the JSON schemas of ``api/openapi_models.py``; every
operation lists every status it can answer with, errors included, and
tests/e2e/test_api_fuzz.py fuzzes a real farm against the document.

The ICE RPC endpoint (``POST /``) is not in it: Alibaba's ICE API reference describes it, and
an ACS3 request signature is not something OpenAPI can express.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app
from marshmallow import Schema

from api import openapi_models as m
from api import rest_schemas as rs
from api.jobs import ListJobsSchema, SubmitJobSchema
from shared.schemas import ConfigSchema
from shared.templates import TemplateConfigSchema

blp = Blueprint("openapi", __name__)

DESCRIPTION = """\
Media transcoding jobs, pipelines, templates and event callbacks, with the same documents
as the ICE API (the ICE RPC endpoint is POST /, described by Alibaba's ICE API reference).

Every call but the probes and this document needs HTTP Basic credentials: an access key id
and its secret. Every answer carries an `x-acs-request-id` header; every error is a JSON
`{RequestId, HostId, Code, Message}` document. When the farm limits requests per key
(MCFARM_RATE_LIMIT), a call over the limit gets 400 `Throttling.User` with an
`x-acs-retry-after` header (milliseconds), as ICE answers it.
"""

#: Why each error status can happen, for the document's readers.
_WHY = {
    400: "Bad parameters (MissingParameter, InvalidParameter…) or Throttling.User",
    401: "Missing or wrong HTTP Basic credentials",
    403: "The key may not perform this action (Forbidden.RAM), or the resource's state "
    "forbids it (OperationDenied.*)",
    404: "No such resource for this account (ResourceNotFound)",
    413: "The request body is larger than MCFARM_MAX_REQUEST_BYTES",
    503: "Redis or the object storage is unreachable just now; retry later",
}


@dataclass(frozen=True)
class Operation:
    """One REST operation: how it is called and every status it can answer with."""

    path: str
    method: str
    summary: str
    answers: dict[int, dict[str, Any]]
    action: str | None = None
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    public: bool = False
    #: 404 is possible without a path parameter too (e.g. an unknown PipelineId in a body).
    not_found: bool = False
    #: A body that works, for readers (and schemathesis's examples phase).
    example: dict[str, Any] | None = None
    #: PATCH bodies may be left out: no body changes nothing.
    body_required: bool = True

    def error_statuses(self) -> list[int]:
        if self.public:
            return [503]
        statuses = [400, 401, 403, 503]
        if self.not_found or "{" in self.path:
            statuses.append(404)
        if self.body is not None:
            statuses.append(413)
        return sorted(statuses)


OPERATIONS = [
    Operation(
        "/healthz", "get", "Redis is reachable", {200: m.obj({"Status": m.STRING})}, public=True
    ),
    Operation(
        "/readyz",
        "get",
        "At least one worker is alive",
        {200: m.obj({"Status": m.STRING, "Workers": m.array(m.STRING)})},
        public=True,
    ),
    Operation("/v1/openapi.json", "get", "This document", {200: {"type": "object"}}, public=True),
    Operation(
        "/v1/jobs",
        "post",
        "Submit a job; it is Inited at once",
        {202: m.JOB_ANSWER, 200: m.JOB_ANSWER},
        "SubmitMediaConvertJob",
        body=SubmitJobSchema,
        not_found=True,
        example=m.JOB_EXAMPLE,
    ),
    Operation(
        "/v1/jobs",
        "get",
        "List jobs, newest first, token-paged",
        {200: m.answer(Jobs=m.array(m.ref("Job")), NextPageToken=m.STRING)},
        "ListMediaConvertJobs",
        query=ListJobsSchema,
    ),
    Operation(
        "/v1/jobs/{job_id}",
        "get",
        "A job with its output details",
        {200: m.JOB_ANSWER},
        "GetMediaConvertJob",
    ),
    Operation(
        "/v1/jobs/{job_id}/cancel",
        "post",
        "Cancel an Inited or Running job",
        {200: m.answer(Job=m.ref("Job"), Success=m.BOOLEAN)},
        "CancelMediaConvertJob",
    ),
    Operation(
        "/v1/pipelines",
        "get",
        "List pipelines",
        {200: m.answer(PipelineList=m.array(m.ref("Pipeline")))},
        "ListPipelines",
        query=rs.ListPipelinesQuery,
    ),
    Operation(
        "/v1/pipelines",
        "post",
        "Create a pipeline",
        {201: m.PIPELINE_ANSWER},
        "CreatePipeline",
        body=rs.CreatePipelineBody,
        example={"Name": "urgent", "Speed": "Standard", "Priority": 8},
    ),
    Operation(
        "/v1/pipelines/{pipeline_id}", "get", "A pipeline", {200: m.PIPELINE_ANSWER}, "GetPipeline"
    ),
    Operation(
        "/v1/pipelines/{pipeline_id}",
        "patch",
        "Rename, reprioritize, pause or resume; answers the pipeline",
        {200: m.PIPELINE_ANSWER},
        "UpdatePipeline",
        body=rs.UpdatePipelineBody,
        example={"Status": "Paused"},
        body_required=False,
    ),
    Operation(
        "/v1/pipelines/{pipeline_id}",
        "delete",
        "Delete an empty pipeline (not the default one)",
        {200: m.SUCCESS},
        "DeletePipeline",
    ),
    Operation(
        "/v1/templates",
        "get",
        "List custom templates",
        {200: m.answer(CustomTemplateList=m.array(m.ref("CustomTemplate")), Total=m.INTEGER)},
        "ListCustomTemplates",
        query=rs.ListTemplatesQuery,
    ),
    Operation(
        "/v1/templates",
        "post",
        "Create a custom template",
        {201: m.TEMPLATE_ANSWER},
        "CreateCustomTemplate",
        body=rs.CreateTemplateBody,
        example={"Name": "mp4-360p", "TemplateConfig": m.TEMPLATE_CONFIG_EXAMPLE},
    ),
    Operation(
        "/v1/templates/{template_id}",
        "get",
        "A custom template",
        {200: m.TEMPLATE_ANSWER},
        "GetCustomTemplate",
    ),
    Operation(
        "/v1/templates/{template_id}",
        "patch",
        "Rename it or change its TemplateConfig; answers the template",
        {200: m.TEMPLATE_ANSWER},
        "UpdateCustomTemplate",
        body=rs.UpdateTemplateBody,
        example={"Name": "mp4-360p-small"},
        body_required=False,
    ),
    Operation(
        "/v1/templates/{template_id}",
        "delete",
        "Delete a custom template",
        {200: m.SUCCESS},
        "DeleteCustomTemplate",
    ),
    Operation(
        "/v1/templates/{template_id}/default",
        "post",
        "Make it its type's default",
        {200: m.SUCCESS},
        "SetDefaultCustomTemplate",
    ),
    Operation(
        "/v1/system-templates",
        "get",
        "List system templates",
        {200: m.answer(SystemTemplateList=m.array(m.ref("SystemTemplate")), Total=m.INTEGER)},
        "ListSystemTemplates",
        query=rs.ListSystemTemplatesQuery,
    ),
    Operation(
        "/v1/system-templates/{template_id}",
        "get",
        "A system template",
        {200: m.answer(SystemTemplate=m.ref("SystemTemplate"))},
        "GetSystemTemplate",
    ),
    Operation(
        "/v1/workers",
        "get",
        "Live workers: capabilities and the caller's running outputs",
        {200: m.answer(Workers=m.array(m.ref("Worker")))},
        "ListWorkers",
    ),
    Operation(
        "/v1/event-callback",
        "get",
        "The account's event callback",
        {200: m.EVENT_CALLBACK},
        "GetEventCallback",
    ),
    Operation(
        "/v1/event-callback",
        "put",
        "Set the account's event callback (replaces it whole)",
        {200: m.SUCCESS},
        "SetEventCallback",
        body=rs.SetEventCallbackBody,
        example={
            "CallbackURL": "https://example.com/mcfarm/events",
            "EventTypeList": "MediaConvertComplete",
            "AuthSwitch": "on",
            "AuthKey": "Secret42key",
        },
    ),
    Operation(
        "/v1/events/dead",
        "get",
        "Callbacks given up on, newest first",
        {200: m.answer(DeadLetters=m.array(m.ref("DeadLetter")))},
        query=rs.DeadLettersQuery,
    ),
    Operation(
        "/v1/events/dead/{delivery_id}/replay",
        "post",
        "Deliver a dead-lettered callback again",
        {202: m.answer(DeliveryId=m.STRING, State={"type": "string", "enum": ["pending"]})},
    ),
]


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _responses(op: Operation) -> dict[str, Any]:
    headers = {"x-acs-request-id": {"$ref": "#/components/headers/RequestId"}}
    if op.path == "/v1/jobs" and op.method == "post":
        headers["Location"] = {"$ref": "#/components/headers/Location"}
    responses: dict[str, Any] = {
        str(status): {
            "description": HTTPStatus(status).phrase,
            "headers": headers,
            "content": _json(schema),
        }
        for status, schema in op.answers.items()
    }
    for status in op.error_statuses():
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    return responses


def _components(spec: APISpec) -> None:
    spec.components.security_scheme("basic", {"type": "http", "scheme": "basic"})
    spec.components.schema("Config", schema=ConfigSchema)
    spec.components.schema("TemplateConfig", schema=TemplateConfigSchema)
    for name, schema in m.COMPONENTS.items():
        spec.components.schema(name, schema)
    spec.components.header(
        "RequestId", {"description": "This call's RequestId", "required": True, "schema": m.STRING}
    )
    spec.components.header(
        "Location", {"description": "The job's URL", "required": True, "schema": m.STRING}
    )
    spec.components.header(
        "RetryAfter",
        {
            "description": "With Throttling.User: milliseconds to wait before retrying",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        },
    )
    for status, why in _WHY.items():
        headers = {"x-acs-request-id": {"$ref": "#/components/headers/RequestId"}}
        if status == 400:
            headers["x-acs-retry-after"] = {"$ref": "#/components/headers/RetryAfter"}
        spec.components.response(
            f"Error{status}",
            {"description": why, "headers": headers, "content": _json(m.ref("Error"))},
        )


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "operationId": re.sub(r"\W+", "_", f"{op.method}{op.path}").strip("_"),
        "responses": _responses(op),
        "security": [] if op.public else [{"basic": []}],
    }
    if op.action:
        doc["description"] = f"The ICE action {op.action}: the same parameters and answer."
    params = [
        {"in": "path", "name": part.strip("{}"), "required": True, "schema": m.STRING}
        for part in op.path.split("/")
        if part.startswith("{")
    ]
    if op.query is not None:
        params.append({"in": "query", "schema": op.query})
    if params:
        doc["parameters"] = params
    if op.body is not None:
        content = _json(op.body)
        if op.example is not None:
            content["application/json"]["example"] = op.example
        doc["requestBody"] = {"required": op.body_required, "content": content}
    return doc


def build_spec() -> dict:
    spec = APISpec(
        title="mcfarm REST API",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
    )
    _components(spec)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@blp.get("/v1/openapi.json")
def openapi():
    doc = current_app.extensions.get("mcfarm.openapi")
    if doc is None:
        doc = current_app.extensions["mcfarm.openapi"] = build_spec()
    return doc
