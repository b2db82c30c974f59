"""The ICE actions: one function per action, shared by the RPC endpoint and REST views.

Each takes the ``Farm``, the caller's account and its ``Params`` and returns the response
body without ``RequestId`` (the view adds it). Each reads every parameter it uses through
``Params`` (the edge), so the stores it calls get typed, checked values. Shapes follow the
SDK models of reference §1: lists as bare arrays, ``Config`` as an object, times
``yyyy-MM-ddTHH:mm:ssZ``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api import services
from api.params import MAX_NAME, Params, required, unflatten
from shared.catalog import (
    KNOWN_TYPES,
    SUBTYPE_NORMAL,
    TYPE_TRANSCODE,
    get_system_template,
    list_system_templates,
)
from shared.errors import invalid_parameter, require_found
from shared.jobrecord import JobQuery
from shared.jobview import job_document
from shared.pipelines import DEFAULT_PRIORITY, SPEEDS, STATUSES
from shared.template_store import ORDERS, TRANSCODE_SUBTYPE_NAMES, TemplateQuery
from shared.templates import validate_template_config
from shared.watermarks import TEMPLATE_KINDS, validate_watermark_template

Action = Callable[["services.Farm", "Call"], dict[str, Any]]
ACTIONS: dict[str, Action] = {}


@dataclass(frozen=True)
class Call:
    """Who calls, with what."""

    owner: str
    params: Params
    request_id: str


def action(name: str) -> Callable[[Action], Action]:
    def register(func: Action) -> Action:
        ACTIONS[name] = func
        return func

    return register


def _ok() -> dict[str, Any]:
    return {"Success": True}


# --- jobs -----------------------------------------------------------------------------


def _config(params: Params) -> Any:
    if "Config" in params:
        return params.raw("Config")
    return required(unflatten(params.values, "Config"), "Config")


def _job_id(params: Params) -> str:
    return params.str("JobId", max_len=64, required=True)


@action("SubmitMediaConvertJob")
def submit_media_convert_job(farm, call: Call) -> dict[str, Any]:
    p = call.params
    job, _ = services.submit_job(
        farm,
        call.owner,
        config=_config(p),
        request_id=call.request_id,
        client_token=p.str("ClientToken", max_len=64),
        user_data=p.str("UserData", max_len=1024),
        pipeline_id=p.str("PipelineId", max_len=64),
    )
    return {"Job": job_document(job)}


@action("GetMediaConvertJob")
def get_media_convert_job(farm, call: Call) -> dict[str, Any]:
    return {"Job": services.show_job(farm, call.owner, _job_id(call.params)).document}


def job_query(p: Params) -> JobQuery:
    """What ListMediaConvertJobs' parameters ask for (the console's job list reads them too).

    ``PipelineId`` is ours: the ICE action has no such filter, and the SDK never sends it.
    """
    status = p.choice("Status", services.STATE_FILTERS)
    state = services.STATE_ALIASES.get(status, status) if status else None
    order = p.choice("OrderBy", services.JOB_ORDERS, services.JOB_ORDERS[0])
    since, until = p.wire_time("StartOfCreateTime"), p.wire_time("EndOfCreateTime")
    if since is not None and until is not None and since > until:
        raise invalid_parameter("EndOfCreateTime", "It is before StartOfCreateTime.")
    return JobQuery(
        state=state,
        after=services.decode_page_token(p.str("NextPageToken", max_len=256), "NextPageToken"),
        limit=p.int("PageSize", 20, lo=1, hi=100),
        newest_first=order == services.JOB_ORDERS[0],
        since_us=since,
        # EndOfCreateTime names a whole second: every job created within it is listed.
        until_us=None if until is None else until + 999_999,
        pipeline_id=p.str("PipelineId", max_len=64) or None,
    )


@action("ListMediaConvertJobs")
def list_media_convert_jobs(farm, call: Call) -> dict[str, Any]:
    """One page of the caller's jobs (``REST GET /v1/jobs`` runs this too)."""
    p = call.params
    query = job_query(p)
    if "JobId" in p:
        return _list_one(farm, call.owner, p.str("JobId", max_len=64), query)
    rows, token = services.list_job_rows(farm, call.owner, query)
    return {"Jobs": rows, "NextPageToken": token}


def _list_one(farm, owner: str, job_id: str, query: JobQuery) -> dict[str, Any]:
    job = services.find_job(farm, owner, job_id, query)
    return {"Jobs": [job_document(job, detail=False)] if job else [], "NextPageToken": ""}


@action("CancelMediaConvertJob")
def cancel_media_convert_job(farm, call: Call) -> dict[str, Any]:
    job = services.cancel_job(farm, call.owner, _job_id(call.params))
    return {"Job": job_document(job), "Success": True}


# --- pipelines ------------------------------------------------------------------------


def _pipeline_id(params: Params) -> str:
    return params.str("PipelineId", max_len=64, required=True)


def _priority(params: Params, default: int | None = None) -> int | None:
    return params.int("Priority", default, lo=1, hi=10)


@action("CreatePipeline")
def create_pipeline(farm, call: Call) -> dict[str, Any]:
    p = call.params
    pipeline = farm.stores.pipelines.create(
        call.owner,
        p.name(required=True),
        p.choice("Speed", SPEEDS, ignore_case=True, required=True),
        _priority(p, DEFAULT_PRIORITY),
    )
    return {"Pipeline": pipeline.to_wire()}


@action("GetPipeline")
def get_pipeline(farm, call: Call) -> dict[str, Any]:
    return {
        "Pipeline": farm.stores.pipelines.require(call.owner, _pipeline_id(call.params)).to_wire()
    }


@action("ListPipelines")
def list_pipelines(farm, call: Call) -> dict[str, Any]:
    speed = call.params.choice("Speed", SPEEDS, ignore_case=True)
    return {
        "PipelineList": [p.to_wire() for p in farm.stores.pipelines.list(call.owner, speed=speed)]
    }


@action("UpdatePipeline")
def update_pipeline(farm, call: Call) -> dict[str, Any]:
    p = call.params
    pipeline_id = _pipeline_id(p)
    _, activated = farm.stores.pipelines.update(
        call.owner,
        pipeline_id,
        name=p.name(),
        priority=_priority(p),
        status=p.choice("Status", STATUSES, ignore_case=True),
    )
    if activated:
        services.release_pipeline(farm, call.owner, pipeline_id)
    return _ok()


@action("DeletePipeline")
def delete_pipeline(farm, call: Call) -> dict[str, Any]:
    farm.stores.pipelines.delete(call.owner, _pipeline_id(call.params))
    return _ok()


# --- templates ------------------------------------------------------------------------


def _template_id(params: Params) -> str:
    return params.str("TemplateId", max_len=64, required=True)


def _template_type(params: Params) -> int:
    """``Type``: required, one of the known template types (1, 4 and 5 have templates here)."""
    return params.int("Type", lo=KNOWN_TYPES.start, hi=KNOWN_TYPES.stop - 1, required=True)


def _subtype(params: Params, default: int | None = None) -> int | None:
    return params.int("Subtype", default, lo=1, hi=max(TRANSCODE_SUBTYPE_NAMES))


def _template_config(
    params: Params, *, required: bool, template_type: int = TYPE_TRANSCODE
) -> dict[str, Any] | None:
    """``TemplateConfig`` checked and normalized for its type: ``validate_template_config``
    (Type 1) or ``validate_watermark_template`` (Types 4 and 5).

    Raises:
        ApiError: missing, not JSON, or not an object.
        InvalidJob: anything mcfarm cannot encode or draw (a 400 naming the field).
    """
    config = params.json_object("TemplateConfig", required=required)
    if config is None:
        return None
    if template_type in TEMPLATE_KINDS:
        return validate_watermark_template(template_type, config)
    return validate_template_config(config, "TemplateConfig")


@action("CreateCustomTemplate")
def create_custom_template(farm, call: Call) -> dict[str, Any]:
    p = call.params
    type_ = _template_type(p)
    if type_ != TYPE_TRANSCODE and type_ not in TEMPLATE_KINDS:
        raise invalid_parameter(
            "Type", "mcfarm supports transcoding (1) and watermark (4, 5) templates."
        )
    if type_ != TYPE_TRANSCODE and "Subtype" in p:
        raise invalid_parameter("Subtype", "A watermark template has no subtype.")
    tpl = farm.stores.templates.create(
        call.owner,
        p.name(required=True),
        _template_config(p, required=True, template_type=type_),
        subtype=_subtype(p, SUBTYPE_NORMAL) if type_ == TYPE_TRANSCODE else 0,
        template_type=type_,
    )
    return {"CustomTemplate": tpl.to_wire()}


@action("GetCustomTemplate")
def get_custom_template(farm, call: Call) -> dict[str, Any]:
    """A template by ``TemplateId``, or (without one) the default of ``Type``/``Subtype``."""
    p = call.params
    if "TemplateId" in p or "Type" not in p:
        template_id = _template_id(p)
        tpl = farm.stores.templates.get(call.owner, template_id)
        return {"CustomTemplate": require_found(tpl, "template", template_id).to_wire()}
    type_, subtype = _template_type(p), _subtype(p)
    stored = type_ == TYPE_TRANSCODE or type_ in TEMPLATE_KINDS
    tpl = farm.stores.templates.get_default(call.owner, subtype, type_) if stored else None
    return {"CustomTemplate": require_found(tpl, "template", f"default of Type {type_}").to_wire()}


@action("ListCustomTemplates")
def list_custom_templates(farm, call: Call) -> dict[str, Any]:
    p = call.params
    type_ = _template_type(p)
    query = TemplateQuery(
        type=type_,
        subtype=_subtype(p),
        template_id=p.str("TemplateId", max_len=64) or None,
        name=p.str("Name", max_len=MAX_NAME) or None,
        order=p.choice("OrderBy", ORDERS, ORDERS[0]),
        page_number=p.int("PageNumber", 1, lo=1, hi=10**9),
        page_size=p.int("PageSize", 10, lo=1, hi=100),
    )
    # Transcoding (1) and watermark (4, 5) templates are stored: any other type lists nothing.
    stored = type_ == TYPE_TRANSCODE or type_ in TEMPLATE_KINDS
    items, total = farm.stores.templates.list(call.owner, query) if stored else ([], 0)
    return {"CustomTemplateList": [t.to_wire() for t in items], "Total": total}


@action("UpdateCustomTemplate")
def update_custom_template(farm, call: Call) -> dict[str, Any]:
    p = call.params
    template_id, name = _template_id(p), p.name()
    # Its config is checked as its type's: a watermark template stays one.
    type_ = farm.stores.templates.require(call.owner, template_id).type
    farm.stores.templates.update(
        call.owner,
        template_id,
        name=name,
        config=_template_config(p, required=False, template_type=type_),
    )
    return _ok()


@action("DeleteCustomTemplate")
def delete_custom_template(farm, call: Call) -> dict[str, Any]:
    farm.stores.templates.delete(call.owner, _template_id(call.params))
    return _ok()


@action("SetDefaultCustomTemplate")
def set_default_custom_template(farm, call: Call) -> dict[str, Any]:
    farm.stores.templates.set_default(call.owner, _template_id(call.params))
    return _ok()


@action("GetSystemTemplate")
def get_system_template_action(farm, call: Call) -> dict[str, Any]:
    template_id = _template_id(call.params)
    tpl = require_found(get_system_template(template_id), "template", template_id)
    return {"SystemTemplate": tpl.to_wire()}


@action("ListSystemTemplates")
def list_system_templates_action(farm, call: Call) -> dict[str, Any]:
    p = call.params
    items, total = list_system_templates(
        types=p.str("Type", max_len=64, required=True),
        subtype=p.str("Subtype", max_len=16) or None,
        template_id=p.str("TemplateId", max_len=64) or None,
        name=p.str("Name", max_len=MAX_NAME) or None,
        status=p.str("Status", "Normal", max_len=16),
        page_number=p.int("PageNumber", 1, lo=1),
        page_size=p.int("PageSize", 20, lo=1, hi=100),
    )
    return {"SystemTemplateList": [t.to_wire() for t in items], "Total": total}


# --- event callbacks ----------------------------------------------------------------------


@action("SetEventCallback")
def set_event_callback_action(farm, call: Call) -> dict[str, Any]:
    from api.callbacks import set_event_callback

    set_event_callback(farm, call.owner, {k: str(v) for k, v in call.params.values.items()})
    return _ok()


@action("GetEventCallback")
def get_event_callback_action(farm, call: Call) -> dict[str, Any]:
    from api.callbacks import get_event_callback

    return get_event_callback(farm, call.owner)


# --- the farm ---------------------------------------------------------------------------


def _task(unit) -> dict[str, Any]:
    """A running unit as ``/v1/workers`` shows it; ``Part`` for a chunk of a Boost output."""
    return {
        "JobId": unit.job_id,
        "Output": unit.index,
        **({"Part": unit.part} if unit.part else {}),
    }


@action("ListWorkers")
def list_workers(farm, call: Call) -> dict[str, Any]:
    """Ours: the live workers, what they can do and what they run (the caller's jobs by id)."""
    running = farm.stores.heartbeats.running_on()
    workers = []
    for info in sorted(farm.stores.workers.alive(), key=lambda w: w["hostname"]):
        tasks = running.get(info["hostname"], [])
        mine = [
            unit
            for unit in tasks
            if (job := farm.stores.jobs.get(unit.job_id)) and job.owner == call.owner
        ]
        workers.append(
            {
                "Hostname": info["hostname"],
                "Node": info.get("node", ""),
                "Queues": info.get("queues", []),
                "Concurrency": info.get("concurrency", 0),
                "FFmpegVersion": info.get("ffmpeg", ""),
                "Encoders": info.get("encoders", []),
                "Gpu": info.get("gpu"),
                "Error": info.get("error", ""),
                "RunningTasks": len(tasks),
                "Tasks": [_task(unit) for unit in mine],
            }
        )
    return {"Workers": workers}
