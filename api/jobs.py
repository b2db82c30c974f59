"""REST: ``/v1/jobs`` — submit, get and list jobs, with ICE field names in every body.

Listing and getting run the ICE actions (ListMediaConvertJobs, GetMediaConvertJob), so both
APIs answer the same; submitting calls ``submit_job`` itself, for its 202-or-200 answer.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, g, url_for
from flask.views import MethodView
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from api import openapi_models as m
from api.operations import Operation, perform
from api.rest_schemas import ListJobsQuery
from api.services import submit_job
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


class JobCollection(MethodView):
    @Operation(
        "Submit a job; it is Inited at once",
        {202: m.JOB_ANSWER, 200: m.JOB_ANSWER},
        action="SubmitMediaConvertJob",
        body=SubmitJobSchema,
        not_found=True,  # an unknown PipelineId
        example=m.JOB_EXAMPLE,
        headers=("Location",),
    )
    def post(self, body: dict[str, Any]):
        """202 with the new job, or 200 with the job a reused ``ClientToken`` made."""
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

    @Operation(
        "List jobs, newest first, token-paged",
        {200: m.answer(Jobs=m.array(m.ref("Job")), NextPageToken=m.STRING)},
        action="ListMediaConvertJobs",
        query=ListJobsQuery,
    )
    def get(self, query: dict[str, Any]):
        return perform(query)


class JobItem(MethodView):
    @Operation("A job with its output details", {200: m.JOB_ANSWER}, action="GetMediaConvertJob")
    def get(self, job_id: str):
        return perform({"JobId": job_id})


blp.add_url_rule("", view_func=JobCollection.as_view("jobs"))
blp.add_url_rule("/<job_id>", view_func=JobItem.as_view("job"))
