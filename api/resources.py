"""REST resources over the ICE actions: cancel, pipelines, custom and system templates.

Bodies and queries use the ICE parameter names (``Name``, ``Speed``, ``Priority``,
``TemplateConfig``…) and answers are the ICE response documents, so both APIs agree.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, request
from marshmallow import Schema

from api.actions import ACTIONS, Call
from api.params import Params
from api.rest_schemas import (
    CreatePipelineBody,
    CreateTemplateBody,
    ListPipelinesQuery,
    ListSystemTemplatesQuery,
    ListTemplatesQuery,
    UpdatePipelineBody,
    UpdateTemplateBody,
    load,
)
from shared.errors import ApiError

blp = Blueprint("resources", __name__, url_prefix="/v1")


def run(action: str, params: dict[str, Any]) -> dict[str, Any]:
    farm = current_app.extensions["mcfarm"]
    body = ACTIONS[action](
        farm, Call(owner=g.owner, params=Params(params), request_id=g.request_id)
    )
    return {"RequestId": g.request_id, **body}


def _body(schema: Schema) -> dict[str, Any]:
    """The JSON object body, loaded with ``schema``; no body at all reads as ``{}``."""
    body: Any = {}
    if request.get_data():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError("The request body must be a JSON object.", code="InvalidParameter")
    return load(schema, body)


def _query(schema: Schema, **defaults: Any) -> dict[str, Any]:
    return {**defaults, **load(schema, request.args.to_dict())}


@blp.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    return run("CancelMediaConvertJob", {"JobId": job_id})


@blp.get("/pipelines")
def list_pipelines():
    return run("ListPipelines", _query(ListPipelinesQuery()))


@blp.post("/pipelines")
def create_pipeline():
    return run("CreatePipeline", _body(CreatePipelineBody())), 201


@blp.get("/pipelines/<pipeline_id>")
def get_pipeline(pipeline_id: str):
    return run("GetPipeline", {"PipelineId": pipeline_id})


@blp.patch("/pipelines/<pipeline_id>")
def update_pipeline(pipeline_id: str):
    run("UpdatePipeline", {**_body(UpdatePipelineBody()), "PipelineId": pipeline_id})
    return run("GetPipeline", {"PipelineId": pipeline_id})


@blp.delete("/pipelines/<pipeline_id>")
def delete_pipeline(pipeline_id: str):
    return run("DeletePipeline", {"PipelineId": pipeline_id})


@blp.get("/templates")
def list_templates():
    return run("ListCustomTemplates", _query(ListTemplatesQuery(), Type=1))


@blp.post("/templates")
def create_template():
    return run("CreateCustomTemplate", {"Type": 1, **_body(CreateTemplateBody())}), 201


@blp.get("/templates/<template_id>")
def get_template(template_id: str):
    return run("GetCustomTemplate", {"TemplateId": template_id})


@blp.patch("/templates/<template_id>")
def update_template(template_id: str):
    run("UpdateCustomTemplate", {**_body(UpdateTemplateBody()), "TemplateId": template_id})
    return run("GetCustomTemplate", {"TemplateId": template_id})


@blp.delete("/templates/<template_id>")
def delete_template(template_id: str):
    return run("DeleteCustomTemplate", {"TemplateId": template_id})


@blp.post("/templates/<template_id>/default")
def set_default_template(template_id: str):
    return run("SetDefaultCustomTemplate", {"TemplateId": template_id})


@blp.get("/workers")
def list_workers():
    return run("ListWorkers", {})


@blp.get("/system-templates")
def list_system_templates():
    return run("ListSystemTemplates", _query(ListSystemTemplatesQuery(), Type="1"))


@blp.get("/system-templates/<template_id>")
def get_system_template(template_id: str):
    return run("GetSystemTemplate", {"TemplateId": template_id})


#: The ICE action each REST endpoint performs, for the keys' allowed-action lists.
REST_ACTIONS = {
    ("jobs.jobs", "POST"): "SubmitMediaConvertJob",
    ("jobs.jobs", "GET"): "ListMediaConvertJobs",
    ("jobs.job", "GET"): "GetMediaConvertJob",
    ("resources.cancel_job", "POST"): "CancelMediaConvertJob",
    ("resources.list_pipelines", "GET"): "ListPipelines",
    ("resources.create_pipeline", "POST"): "CreatePipeline",
    ("resources.get_pipeline", "GET"): "GetPipeline",
    ("resources.update_pipeline", "PATCH"): "UpdatePipeline",
    ("resources.delete_pipeline", "DELETE"): "DeletePipeline",
    ("resources.list_templates", "GET"): "ListCustomTemplates",
    ("resources.create_template", "POST"): "CreateCustomTemplate",
    ("resources.get_template", "GET"): "GetCustomTemplate",
    ("resources.update_template", "PATCH"): "UpdateCustomTemplate",
    ("resources.delete_template", "DELETE"): "DeleteCustomTemplate",
    ("resources.set_default_template", "POST"): "SetDefaultCustomTemplate",
    ("resources.list_system_templates", "GET"): "ListSystemTemplates",
    ("resources.get_system_template", "GET"): "GetSystemTemplate",
    ("resources.list_workers", "GET"): "ListWorkers",
    ("callbacks.event_callback", "GET"): "GetEventCallback",
    ("callbacks.event_callback", "PUT"): "SetEventCallback",
    # Dead letters have no ICE action: reading them is reading the callback setup,
    # replaying them is changing it.
    ("callbacks.dead_letters", "GET"): "GetEventCallback",
    ("callbacks.replay", "POST"): "SetEventCallback",
}


def check_ram(endpoint: str | None, method: str) -> None:
    """403 ``Forbidden.RAM`` when the caller's key may not perform this endpoint's action."""
    action = REST_ACTIONS.get((endpoint or "", method))
    if action and not g.key.allows(action):
        raise ApiError(
            f"User not authorized to operate on the specified resource (ice:{action}).",
            code="Forbidden.RAM",
            http_status=403,
        )
