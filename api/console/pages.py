"""The console's pages: sign-in, the job list, a job's detail, the submit form, and the
cancel and resubmit buttons. Each view is thin: it reads the form, calls the same services
as the API (``api.services``, ``api.actions.job_query``) and renders what
``api.console.present`` computes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flask import flash, g, redirect, render_template, request, session, url_for

from api import services
from api.actions import job_query
from api.auth import check_key, check_ram
from api.console import blp, page
from api.console.present import (
    FORM_FIELDS,
    LIVE_STATES,
    error_field,
    ffmpeg_runs,
    file_preview,
    group_preview,
    output_figures,
    progress,
    scrub,
)
from api.console.session import CSRF_FIELD, check_csrf, sign_in, signed_in
from api.params import Params
from shared.clock import now_us, wire_time
from shared.errors import McfarmError
from shared.examples import example_jobs
from shared.jobview import group_details, output_detail

#: The list's filters: ListMediaConvertJobs' parameters.
LIST_FILTERS = ("Status", "JobId", "PipelineId", "NextPageToken")


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/"):
        return url_for("console.jobs")
    return parts.path + (f"?{parts.query}" if parts.query else "")


@blp.route("/sign-in", methods=["GET", "POST"])
@page("The console's sign-in form")
def sign_in_page():
    error, status = "", 200
    if request.method == "POST":
        check_csrf(request.form.get(CSRF_FIELD))
        farm = g.farm
        try:
            key = check_key(
                farm.settings.access_keys,
                request.form.get("key_id", "").strip(),
                request.form.get("secret", ""),
            )
        except McfarmError:
            g.failure_delay.wait()  # the API's delay on a wrong secret, here too
            error, status = "Unknown access key ID, or a wrong secret.", 401
        else:
            sign_in(key)
            return redirect(_safe_next(request.args.get("next")))
    if signed_in(g.farm.settings.access_keys) is not None and request.method == "GET":
        return redirect(url_for("console.jobs"))
    return render_template("console/sign_in.html", error=error), status


@blp.post("/sign-out")
@page("Sign out of the console")
def sign_out():
    session.clear()
    return redirect(url_for("console.sign_in_page"))


@blp.get("/")
@page("The console's front page: the job list")
def index():
    return redirect(url_for("console.jobs"))


@blp.get("/jobs")
@page("The console's job list")
def jobs():
    check_ram(g.key, "ListMediaConvertJobs")
    filters = {k: request.args[k].strip() for k in LIST_FILTERS if request.args.get(k, "").strip()}
    records, token, error = [], "", ""
    try:
        query = job_query(Params(filters))
        if "JobId" in filters:
            found = services.find_job(g.farm, g.owner, filters["JobId"], query)
            records = [found] if found else []
        else:
            records, token = services.list_jobs(g.farm, g.owner, query)
    except McfarmError as err:
        error = f"{err.code}: {err.message}"
    now = now_us()
    return render_template(
        "console/jobs.html",
        rows=[(rec, progress(rec, now)) for rec in records],
        filters=filters,
        base={k: v for k, v in filters.items() if k != "NextPageToken"},
        next_token=token,
        error=error,
        states=services.STATE_FILTERS,
        pipelines=g.farm.stores.pipelines.list(g.owner),
        wire_time=wire_time,
        live=any(rec.state in LIVE_STATES for rec in records),
    )


@blp.get("/jobs/progress")
@page("Live progress of the listed jobs (JSON, polled by the pages)")
def jobs_progress():
    check_ram(g.key, "GetMediaConvertJob")
    ids = [i for i in request.args.get("ids", "").split(",") if i][:100]
    now = now_us()
    found = g.farm.stores.jobs.get_many(ids)
    return {"Jobs": {rec.job_id: progress(rec, now) for rec in found if rec.owner == g.owner}}


@blp.get("/jobs/<job_id>")
@page("The console's job detail")
def job(job_id: str):
    check_ram(g.key, "GetMediaConvertJob")
    rec = services.get_job(g.farm, g.owner, job_id)
    now = now_us()
    outputs = [
        {
            "spec": spec,
            "detail": scrub(output_detail(rec, spec.index)),
            "figures": output_figures(rec, spec.index, now),
            "runs": ffmpeg_runs(rec, spec.index),
            "preview": file_preview(rec, spec),
            "group": rec.doc["Config"]["OutputGroups"][spec.group]["Name"]
            if spec.group is not None
            else "",
        }
        for spec in rec.specs
    ]
    details = group_details(rec)
    packages = [
        {
            "group": group,
            "detail": scrub(details[group.index]),
            "preview": group_preview(rec, group),
        }
        for group in rec.groups
    ]
    return render_template(
        "console/job.html",
        rec=rec,
        live=progress(rec, now),
        outputs=outputs,
        packages=packages,
        config=json.dumps(rec.doc["Config"], indent=2, ensure_ascii=False),
        has_preview=any(item["preview"] for item in (*outputs, *packages)),
        wire_time=wire_time,
    )


@blp.post("/jobs/<job_id>/cancel")
@page("Cancel a job from the console")
def cancel(job_id: str):
    check_ram(g.key, "CancelMediaConvertJob")
    try:
        services.cancel_job(g.farm, g.owner, job_id)
        flash("The job was cancelled.")
    except McfarmError as err:
        if err.http_status == 404:
            raise
        flash(f"{err.code}: {err.message}", "error")
    return redirect(url_for("console.job", job_id=job_id))


@blp.post("/jobs/<job_id>/resubmit")
@page("Submit a finished job's Config again, as a new job")
def resubmit(job_id: str):
    check_ram(g.key, "SubmitMediaConvertJob")
    rec = services.get_job(g.farm, g.owner, job_id)
    try:
        new, _ = services.submit_job(
            g.farm,
            g.owner,
            config=rec.doc["Config"],
            request_id=g.request_id,
            user_data=rec.doc.get("UserData", ""),
            pipeline_id=rec.doc.get("PipelineId", ""),
        )
    except McfarmError as err:
        flash(f"{err.code}: {err.message}", "error")
        return redirect(url_for("console.job", job_id=job_id))
    flash(f"Submitted again as {new.job_id}.")
    return redirect(url_for("console.job", job_id=new.job_id))


@blp.route("/submit", methods=["GET", "POST"])
@page("The console's submit form")
def submit():
    check_ram(g.key, "SubmitMediaConvertJob")
    form: dict[str, str] = {name: "" for name in FORM_FIELDS}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {name: request.form.get(name, "") for name in FORM_FIELDS}
        try:
            return redirect(url_for("console.job", job_id=_submit(form)))
        except McfarmError as err:
            errors[error_field(err.message)] = f"{err.code}: {err.message}"
    examples = {
        name: {"Config": json.dumps(doc["Config"], indent=2), "UserData": doc.get("UserData", "")}
        for name, doc in example_jobs().items()
    }
    return render_template(
        "console/submit.html",
        form=form,
        errors=errors,
        examples=examples,
        pipelines=g.farm.stores.pipelines.list(g.owner),
    ), (400 if errors else 200)


def _submit(form: dict[str, Any]) -> str:
    """Submit the form's job; its id. Raises what the API would answer, naming the field."""
    params = Params(form)
    job, _ = services.submit_job(
        g.farm,
        g.owner,
        config=params.raw("Config", required=True),
        request_id=g.request_id,
        user_data=params.str("UserData", max_len=1024),
        pipeline_id=params.str("PipelineId", max_len=64),
    )
    return job.job_id
