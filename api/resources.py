"""REST resources over the ICE actions: cancel, pipelines, custom and system templates.

Bodies and queries use the ICE parameter names (``Name``, ``Speed``, ``Priority``,
``TemplateConfig``…) and answers are the ICE response documents, so both APIs agree: each
view runs the ICE action its ``@Operation`` declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from marshmallow import Schema

from api import openapi_models as m
from api.operations import Operation, perform
from api.rest_schemas import (
    CreatePipelineBody,
    CreateTemplateBody,
    ListPipelinesQuery,
    ListSystemTemplatesQuery,
    ListTemplatesQuery,
    UpdatePipelineBody,
    UpdateTemplateBody,
)

blp = Blueprint("resources", __name__, url_prefix="/v1")


@blp.post("/jobs/<job_id>/cancel")
@Operation(
    "Cancel an Inited or Running job",
    {200: m.answer(Job=m.ref("Job"), Success=m.BOOLEAN)},
    action="CancelMediaConvertJob",
)
def cancel_job(job_id: str):
    return perform({"JobId": job_id})


# --- pipelines and custom templates: one kind of collection -------------------------------


@dataclass(frozen=True)
class Collection:
    """A REST collection over one resource's ICE List/Create/Get/Update/Delete actions.

    ``/v1/{path}`` lists (GET) and creates (POST, 201); ``/v1/{path}/<id>`` reads (GET),
    changes (PATCH, answering the resource as it is now: the ICE update actions answer only
    ``Success``) and deletes (DELETE).

    Attributes:
        path: the URL segment, e.g. ``pipelines``.
        noun: the ICE actions' noun, e.g. ``Pipeline`` (``ListPipelines``, ``GetPipeline``…).
        id_name: the id's ICE parameter, e.g. ``PipelineId``.
        answer: the JSON schema of one resource's answer.
        listed: the list answer's field of the resources, e.g. ``PipelineList``.
        summaries: list, create, get, update and delete, in that order.
        examples: a body that works for create, and one for update.
    """

    path: str
    noun: str
    id_name: str
    answer: dict[str, Any]
    listed: dict[str, Any]
    query: type[Schema]
    bodies: tuple[type[Schema], type[Schema]]
    summaries: tuple[str, str, str, str, str]
    examples: tuple[dict[str, Any], dict[str, Any]]

    def register(self) -> None:
        """Add the collection's five endpoints to the blueprint."""
        one, ident = self.path.removesuffix("s"), f"<{self.id_name[:-2].lower()}_id>"
        create, update = self.bodies
        for rule, method, endpoint, operation, view in (
            ("", "GET", f"list_{self.path}", self._declare(0, query=self.query), self._all),
            ("", "POST", f"create_{one}", self._declare(1, body=create), self._new),
            (ident, "GET", f"get_{one}", self._declare(2), self._one),
            (ident, "PATCH", f"update_{one}", self._declare(3, body=update), self._change),
            (ident, "DELETE", f"delete_{one}", self._declare(4), self._one),
        ):
            url = f"/{self.path}/{rule}".rstrip("/")
            blp.add_url_rule(url, endpoint, operation(view), methods=[method])

    def _declare(self, n: int, **more: Any) -> Operation:
        """The declaration of the ``n``th endpoint: list, create, get, update, delete."""
        verb = ("List", "Create", "Get", "Update", "Delete")[n]
        answers = {
            0: {200: m.answer(**self.listed)},
            1: {201: self.answer},
            4: {200: m.SUCCESS},
        }.get(n, {200: self.answer})
        if n in (1, 3):  # a body: an example, and a PATCH may change nothing
            more |= {"example": self.examples[0 if n == 1 else 1], "body_required": n == 1}
        action = f"{verb}{self.noun}" + ("s" if n == 0 else "")
        return Operation(self.summaries[n], answers, action=action, **more)

    def _ident(self, path: dict[str, str]) -> dict[str, str]:
        return {self.id_name: next(iter(path.values()))}

    def _all(self, query: dict[str, Any]):
        return perform(query)

    def _new(self, body: dict[str, Any]):
        return perform(body), 201

    def _one(self, **path: str):
        return perform(self._ident(path))

    def _change(self, body: dict[str, Any], **path: str):
        ident = self._ident(path)
        perform({**body, **ident})
        return perform(ident, f"Get{self.noun}")


Collection(
    path="pipelines",
    noun="Pipeline",
    id_name="PipelineId",
    answer=m.PIPELINE_ANSWER,
    listed={"PipelineList": m.array(m.ref("Pipeline"))},
    query=ListPipelinesQuery,
    bodies=(CreatePipelineBody, UpdatePipelineBody),
    summaries=(
        "List pipelines",
        "Create a pipeline",
        "A pipeline",
        "Rename, reprioritize, pause or resume; answers the pipeline",
        "Delete an empty pipeline (not the default one)",
    ),
    examples=({"Name": "urgent", "Speed": "Standard", "Priority": 8}, {"Status": "Paused"}),
).register()
Collection(
    path="templates",
    noun="CustomTemplate",
    id_name="TemplateId",
    answer=m.TEMPLATE_ANSWER,
    listed={"CustomTemplateList": m.array(m.ref("CustomTemplate")), "Total": m.INTEGER},
    query=ListTemplatesQuery,
    bodies=(CreateTemplateBody, UpdateTemplateBody),
    summaries=(
        "List custom templates",
        "Create a custom template",
        "A custom template",
        "Rename it or change its TemplateConfig; answers the template",
        "Delete a custom template",
    ),
    examples=(
        {"Name": "mp4-360p", "TemplateConfig": m.TEMPLATE_CONFIG_EXAMPLE},
        {"Name": "mp4-360p-small"},
    ),
).register()


@blp.post("/templates/<template_id>/default")
@Operation("Make it its type's default", {200: m.SUCCESS}, action="SetDefaultCustomTemplate")
def set_default_template(template_id: str):
    return perform({"TemplateId": template_id})


# --- system templates and workers ----------------------------------------------------------


@blp.get("/system-templates")
@Operation(
    "List system templates",
    {200: m.answer(SystemTemplateList=m.array(m.ref("SystemTemplate")), Total=m.INTEGER)},
    action="ListSystemTemplates",
    query=ListSystemTemplatesQuery,
)
def list_system_templates(query: dict[str, Any]):
    return perform(query)


@blp.get("/system-templates/<template_id>")
@Operation(
    "A system template",
    {200: m.answer(SystemTemplate=m.ref("SystemTemplate"))},
    action="GetSystemTemplate",
)
def get_system_template(template_id: str):
    return perform({"TemplateId": template_id})


@blp.get("/workers")
@Operation(
    "Live workers: capabilities and the caller's running outputs",
    {200: m.answer(Workers=m.array(m.ref("Worker")))},
    action="ListWorkers",
)
def list_workers():
    return perform({})
