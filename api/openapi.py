"""The OpenAPI 3 document of the REST API (``GET /v1/openapi.json``), generated.

``build_spec`` walks the app's url_map and writes one operation per route and method from
the view's ``@Operation`` declaration (``api/operations.py``): requests are described by
the marshmallow schemas the view loads with, answers by the JSON schemas of
``api/openapi_models.py``, and every operation lists every status it can answer with,
errors included. tests/e2e/test_api_fuzz.py fuzzes a real farm against the document.

The ICE RPC endpoint (``POST /``) is declared ``documented=False``: Alibaba's ICE API
reference describes it, and an ACS3 request signature is not something OpenAPI can express.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app

from api import openapi_models as m
from api.operations import Operation, declared_operations
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


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _responses(path: str, op: Operation) -> dict[str, Any]:
    headers = {"x-acs-request-id": {"$ref": "#/components/headers/RequestId"}}
    for name in op.headers:
        headers[name] = {"$ref": f"#/components/headers/{name}"}
    responses: dict[str, Any] = {
        str(status): {
            "description": HTTPStatus(status).phrase,
            "headers": headers,
            "content": _json(schema),
        }
        for status, schema in op.answers.items()
    }
    for status in op.error_statuses(path):
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


def _operation(path: str, method: str, op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": op.summary,
        "operationId": re.sub(r"\W+", "_", f"{method}{path}").strip("_"),
        "responses": _responses(path, op),
        "security": [] if op.public else [{"basic": []}],
    }
    if op.description or op.action:
        doc["description"] = (
            op.description or f"The ICE action {op.action}: the same parameters and answer."
        )
    params = [
        {"in": "path", "name": part.strip("{}"), "required": True, "schema": m.STRING}
        for part in path.split("/")
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


def build_spec(app: Flask | None = None) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s routes, from their ``@Operation`` declarations.

    Args:
        app: the app to describe; None describes the routes every ``create_app`` app has,
            without building one (no Redis, no settings).
    """
    spec = APISpec(
        title="mcfarm REST API",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
    )
    _components(spec)
    paths: dict[str, dict[str, Any]] = {}
    for path, method, op in declared_operations(app or _routes_only()):
        if op.documented:
            paths.setdefault(path, {})[method] = _operation(path, method, op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _routes_only() -> Flask:
    """A bare app with the API's blueprints: routes and their declarations, nothing else."""
    from api import register_blueprints  # api/__init__.py imports this module

    app = Flask("mcfarm-routes", static_folder=None)
    register_blueprints(app)
    return app


@blp.get("/v1/openapi.json")
@Operation("This document", {200: {"type": "object"}}, public=True)
def openapi():
    doc = current_app.extensions.get("mcfarm.openapi")
    if doc is None:
        doc = current_app.extensions["mcfarm.openapi"] = build_spec(current_app)
    return doc
