"""Job operations shared by the REST views and the ICE RPC endpoint.

Views parse and render; everything a job operation *does* lives here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from api.job_cache import JobViews, Shown
from api.turns import Turns
from shared import metrics
from shared.clock import new_job_id, now_us
from shared.config import Settings
from shared.dispatch import Dispatcher
from shared.errors import ApiError, InputMissing, invalid_parameter, require_found
from shared.events import Notifier
from shared.job_events import emit_job_complete
from shared.jobrecord import JOB_STATES, JobQuery, JobRecord
from shared.pipelines import Pipeline, held_answer
from shared.planning import OutputSpec, plan_groups, plan_outputs
from shared.schemas import decode_config, load_config
from shared.storage import Storage, StorageRef, check_http_input, parse_storage_url
from shared.stores import Stores
from shared.watermarks import watermark_media

#: Submit-doc aliases accepted by list filters (DESIGN "States").
STATE_ALIASES = {"Success": "Complete", "Failed": "Error"}
#: What ListMediaConvertJobs' ``Status`` may be: a state or one of its aliases.
STATE_FILTERS = (*JOB_STATES, *STATE_ALIASES)
#: ListMediaConvertJobs' ``OrderBy``; the first is the default.
JOB_ORDERS = ("CreateTimeDesc", "CreateTimeAsc")


@dataclass
class Farm:
    """What the API talks to: settings, the stores, storage, the queue, the notifier; what
    this process remembers of jobs while it cannot change (``api.job_cache``), and its
    threads' turns (``api.turns``)."""

    settings: Settings
    stores: Stores
    storage: Storage
    dispatcher: Dispatcher
    views: JobViews = dataclasses.field(default_factory=JobViews)
    turns: Turns = dataclasses.field(default_factory=lambda: Turns(0))

    @property
    def notifier(self) -> Notifier:
        return self.dispatcher.notifier(self.settings, self.stores.events)


def _fingerprint(doc: dict[str, Any]) -> str:
    material = {k: doc.get(k, "") for k in ("Config", "UserData", "PipelineId")}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _check_inputs(farm: Farm, specs: list[OutputSpec]) -> None:
    """Refuse at submit an input object (or watermark image) that does not exist (cheap:
    one HEAD each). Asking the network (DNS, remote storage) is done out of turn."""
    fields = {m: "Watermarks[].InputFile.Media" for s in specs for m in watermark_media(s.features)}
    fields |= {s.input_media: "InputFile.Media" for s in specs}
    refs = {media: parse_storage_url(media, settings=farm.settings) for media in fields}
    remote = any(
        ref.kind == "http" or (ref.kind == "object" and farm.storage.remote_objects)
        for ref in refs.values()
    )
    with farm.turns.stepped_out() if remote else contextlib.nullcontext():
        _check_refs(farm, refs, fields)


def _check_refs(farm: Farm, refs: dict[str, StorageRef], fields: dict[str, str]) -> None:
    for media, field in sorted(fields.items()):
        ref = refs[media]
        if ref.kind == "http":
            check_http_input(
                media,
                allow_private=farm.settings.allow_private_inputs,
                trusted=farm.settings.trusted_input_hosts,
                field=field,
            )
        elif farm.storage.size(ref) is None:
            raise InputMissing(f'The resource operated "{media}" cannot be found.')


def _plan(farm: Farm, owner: str, config: Any) -> tuple[list[OutputSpec], list]:
    """The outputs and groups of a submitted Config, templates resolved (raises InvalidJob)."""
    loaded = load_config(
        config, max_inputs=farm.settings.max_inputs, max_outputs=farm.settings.max_outputs
    )
    templates = farm.stores.templates
    specs = plan_outputs(
        loaded, templates.resolver(owner), farm.settings, templates.watermark_resolver(owner)
    )
    return specs, plan_groups(loaded, specs)


def submit_job(
    farm: Farm,
    owner: str,
    *,
    config: Any,
    request_id: str,
    client_token: str = "",
    user_data: str = "",
    pipeline_id: str = "",
) -> tuple[JobRecord, bool]:
    """Validate, persist, then enqueue a job.

    Returns:
        ``(job, created)``; ``created`` is False for a retry with the same ``ClientToken``.

    Raises:
        InvalidJob: 400 for anything that can never run, naming the field.
        ApiError: ``IdempotentParameterMismatch`` for a reused token with other parameters.
    """
    specs, groups = _plan(farm, owner, config)
    doc = {
        "Config": decode_config(config),
        "ClientToken": client_token,
        "UserData": user_data,
        "PipelineId": pipeline_id,
        "RequestId": request_id,
    }
    fingerprint = _fingerprint(doc)
    pipelines = farm.stores.pipelines
    pipeline = pipelines.require(owner, pipeline_id) if pipeline_id else pipelines.default(owner)
    doc.update(
        PipelineId=pipeline.pipeline_id,
        PipelinePriority=pipeline.priority,
        PipelineSpeed=pipeline.speed,
        QueueSlot=farm.stores.fair_share.slot(owner),
    )
    if client_token and (existing := _by_token(farm, owner, client_token, fingerprint)):
        return existing, False
    _check_inputs(farm, specs)
    new_id = new_job_id()
    # The record as written (Inited), not read back: the answer shows the job as submitted,
    # not as a fast worker may already have moved it. On a paused pipeline the job is held
    # in the same transaction.
    job, held = farm.stores.jobs.create_record(
        job_id=new_id,
        owner=owner,
        doc=doc,
        specs=specs,
        client_token=client_token,
        fingerprint=fingerprint,
        groups=groups,
        then=_hold(farm, owner, pipeline, new_id, specs),
    )
    if job.job_id != new_id:  # another submit with this token won the race
        return _by_token(farm, owner, client_token, fingerprint, restart=False) or job, False
    _start_or_release(farm, pipeline, job, held)
    return job, True


def _hold(farm: Farm, owner: str, pipeline: Pipeline, job_id: str, specs: list[OutputSpec]):
    """What holds a new job on its pipeline inside its create, if the pipeline is paused."""
    if pipeline.status != "Paused":
        return None
    top = max(s.priority for s in specs)
    return functools.partial(
        farm.stores.pipelines.queue_hold,
        owner=owner,
        pipeline_id=pipeline.pipeline_id,
        job_id=job_id,
        priority=top,
    )


def _start_or_release(farm: Farm, pipeline: Pipeline, job: JobRecord, held: Any) -> None:
    """Start a new job, or leave it held; count it submitted."""
    metrics.job_submitted(job)
    if held is None:
        farm.dispatcher.start_job(job)
    elif not held_answer(held, pipeline.pipeline_id):
        # The pipeline was activated between reading it and holding the job: release it all.
        release_pipeline(farm, job.owner, pipeline.pipeline_id)


def release_pipeline(farm: Farm, owner: str, pipeline_id: str) -> list[str]:
    """Start every job held on an (now Active) pipeline, highest priority first.

    The jobs run at the pipeline's priority as it is now: it may have changed while they
    were held.
    """
    released = farm.stores.pipelines.release(owner, pipeline_id)
    priority = farm.stores.pipelines.require(owner, pipeline_id).priority
    for job_id in released:
        job = farm.stores.jobs.set_pipeline_priority(job_id, priority)
        if job is not None:
            farm.dispatcher.start_job(job)
    return released


def _by_token(
    farm: Farm, owner: str, token: str, fingerprint: str, *, restart: bool = True
) -> JobRecord | None:
    """The owner's job of ``token``, if any; with ``restart``, one found ``Inited`` on an
    active pipeline (a retry of a submit that died before enqueueing) is started again.
    Not right after this submit's own create: that job is started by its submit, once."""
    if not token:
        return None
    job = farm.stores.jobs.by_token(owner, token)
    if job is None:
        return None
    if farm.stores.jobs.fingerprint(job.job_id) != fingerprint:
        raise ApiError(
            f'The ClientToken "{token}" was already used with different parameters.',
            code="IdempotentParameterMismatch",
        )
    pipeline = farm.stores.pipelines.get(owner, job.doc.get("PipelineId", ""))
    if restart and job.state == "Inited" and pipeline is not None and pipeline.status == "Active":
        # The first submit may have died between persisting and enqueueing; start_job
        # runs once per job whatever the number of messages.
        farm.dispatcher.start_job(job)
    return job


def get_job(farm: Farm, owner: str, job_id: str) -> JobRecord:
    """The owner's job, or 404 ``ResourceNotFound`` (also for another owner's job)."""
    return require_found(
        farm.stores.jobs.get(job_id) if job_id else None, "job", job_id, owner=owner
    )


def show_job(farm: Farm, owner: str, job_id: str) -> Shown:
    """``get_job`` for GetMediaConvertJob, rendered: a settled job from this process's
    memory."""
    found = farm.views.get(farm.stores.jobs, job_id) if job_id else None
    return require_found(found, "job", job_id, owner=owner)


def encode_page_token(cursor: str | None) -> str:
    return base64.urlsafe_b64encode(cursor.encode()).decode() if cursor else ""


def decode_page_token(token: str, name: str) -> str | None:
    """The cursor a ``NextPageToken`` carries; None for ``""`` (the first page).

    Raises:
        ApiError: ``InvalidParameter`` naming ``name`` for a token this server did not issue.
    """
    if not token:
        return None
    try:
        cursor = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_parameter(name, "It is not a token this server returned.") from None
    if ":" not in cursor:
        raise invalid_parameter(name, "It is not a token this server returned.")
    return cursor


def list_jobs(farm: Farm, owner: str, query: JobQuery) -> tuple[list[JobRecord], str]:
    """One page of the owner's jobs and the token of the next page ("" at the end)."""
    ids, cursor = farm.stores.jobs.list_ids(owner, query)
    return farm.stores.jobs.get_listed(ids), encode_page_token(cursor)


def list_job_rows(farm: Farm, owner: str, query: JobQuery) -> tuple[list[dict[str, Any]], str]:
    """``list_jobs`` for ListMediaConvertJobs: the page's list documents, each rendered once
    per state it is listed in (``api.job_cache``)."""
    ids, cursor = farm.stores.jobs.list_ids(owner, query)
    return farm.views.list_rows(farm.stores.jobs, ids), encode_page_token(cursor)


def find_job(farm: Farm, owner: str, job_id: str, query: JobQuery) -> JobRecord | None:
    """The owner's job ``job_id`` if ``query`` admits it (a list searching by JobId)."""
    job = farm.stores.jobs.get(job_id) if job_id else None
    return job if job is not None and job.owner == owner and query.admits(job) else None


def cancel_job(farm: Farm, owner: str, job_id: str) -> JobRecord:
    """Cancel an Inited or Running job; its running FFmpeg stops at its next progress tick.

    Cancelling a cancelled job returns it unchanged; a finished job cannot be cancelled.
    """
    job = get_job(farm, owner, job_id)
    if job.state == "Cancelled":
        return job
    done = farm.stores.jobs.transition(
        job_id,
        "Cancelled",
        allowed_from={"Inited", "Running"},
        code="",
        message="The job was cancelled.",
        finish_us=now_us(),
    )
    if not done:
        job = get_job(farm, owner, job_id)
        if job.state == "Cancelled":
            return job
        raise ApiError(
            f'The job "{job_id}" is already {job.state}; only Inited or Running jobs can be cancelled.',
            code="InvalidParameter.JobFinished",
        )
    farm.stores.pipelines.unhold(owner, job.doc.get("PipelineId", ""), job_id)
    job = farm.stores.jobs.get(job_id)
    metrics.job_ended(job)
    emit_job_complete(farm.notifier, farm.stores.jobs, job)
    return job
