"""REST: ``/v1/jobs`` — submit, get and list jobs, with ICE field names in every body."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, g, request, url_for
from flask.views import MethodView
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from api.rest_schemas import STATE_FILTERS, load
from api.services import get_job, list_jobs, normalize_state, submit_job
from shared.errors import ApiError
from shared.jobview import job_document

blp = Blueprint("jobs", __name__, url_prefix="/v1/jobs")


class UserDataField(fields.Field):
    """``UserData`` is a string on the wire; an object is accepted and stored as JSON."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        if not isinstance(value, str):
            raise ValidationError("must be a string or an object")
        return value


class SubmitJobSchema(Schema):
    """Body of ``POST /v1/jobs``."""

    class Meta:
        unknown = RAISE

    Config = fields.Raw(
        required=True,
        metadata={
            "description": "The job Config: an object, or the same object as JSON text",
            "anyOf": [{"$ref": "#/components/schemas/Config"}, {"type": "string"}],
        },
    )
    ClientToken = fields.String(load_default="", validate=validate.Length(max=64))
    UserData = UserDataField(
        load_default="",
        validate=validate.Length(max=1024),
        metadata={
            "description": "Free text; an object is stored as its JSON text (at most 1024 characters)",
            "anyOf": [{"type": "string"}, {"type": "object"}],
        },
    )
    PipelineId = fields.String(load_default="", validate=validate.Length(max=64))


class ListJobsSchema(Schema):
    """Query of ``GET /v1/jobs``."""

    class Meta:
        unknown = RAISE

    state = fields.String(load_default="", validate=validate.OneOf(STATE_FILTERS))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    next_page_token = fields.String(load_default="")
    order = fields.String(load_default="desc", validate=validate.OneOf(("asc", "desc")))


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError("The request body is not valid JSON.", code="InvalidParameter")
    if not isinstance(body, dict):
        raise ApiError("The request body must be a JSON object.", code="InvalidParameter")
    return body


class JobCollection(MethodView):
    def post(self):
        body = load(SubmitJobSchema(), _json_body())
        job, created = submit_job(
            current_app.extensions["mcfarm"],
            g.owner,
            config=body["Config"],
            request_id=g.request_id,
            client_token=body["ClientToken"],
            user_data=body["UserData"],
            pipeline_id=body["PipelineId"],
        )
        headers = {"Location": url_for("jobs.job", job_id=job.job_id)}
        return (
            {"RequestId": g.request_id, "Job": job_document(job)},
            202 if created else 200,
            headers,
        )

    def get(self):
        query = load(ListJobsSchema(), request.args.to_dict())
        jobs, token = list_jobs(
            current_app.extensions["mcfarm"],
            g.owner,
            state=normalize_state(query["state"], "state"),
            page_size=query["page_size"],
            page_token=query["next_page_token"],
            newest_first=query["order"] == "desc",
        )
        return {
            "RequestId": g.request_id,
            "Jobs": [job_document(j, detail=False) for j in jobs],
            "NextPageToken": token,
        }


class JobItem(MethodView):
    def get(self, job_id: str):
        job = get_job(current_app.extensions["mcfarm"], g.owner, job_id)
        return {"RequestId": g.request_id, "Job": job_document(job)}


blp.add_url_rule("", view_func=JobCollection.as_view("jobs"))
blp.add_url_rule("/<job_id>", view_func=JobItem.as_view("job"))
