"""The ICE actions: one function per action, shared by the RPC endpoint and REST views.

Each takes the ``Farm``, the caller's account and its ``Params`` and returns the response
body without ``RequestId`` (the view adds it). Shapes follow the SDK models of reference §1:
lists as bare arrays, ``Config`` as an object, times ``yyyy-MM-ddTHH:mm:ssZ``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api import services
from api.params import Params, unflatten
from shared.catalog import get_system_template, list_system_templates
from shared.clock import parse_wire_time
from shared.errors import invalid_parameter, missing_parameter, resource_not_found
from shared.jobview import job_document

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
    flattened = unflatten(params.values, "Config")
    if flattened is None:
        raise missing_parameter("Config")
    return flattened


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
    job = services.get_job(
        farm, call.owner, call.params.str("JobId", max_len=64) or _missing("JobId")
    )
    return {"Job": job_document(job)}


def _missing(name: str) -> str:
    raise missing_parameter(name)


def _time(p: Params, name: str) -> int | None:
    text = p.str(name, max_len=32)
    if not text:
        return None
    try:
        return parse_wire_time(text)
    except ValueError:
        raise invalid_parameter(name, "Use yyyy-MM-ddTHH:mm:ssZ.") from None


@action("ListMediaConvertJobs")
def list_media_convert_jobs(farm, call: Call) -> dict[str, Any]:
    p = call.params
    state = services.normalize_state(p.str("Status", max_len=32), "Status")
    order = p.str("OrderBy", "CreateTimeDesc", choices=("CreateTimeDesc", "CreateTimeAsc"))
    since, until = _time(p, "StartOfCreateTime"), _time(p, "EndOfCreateTime")
    if since is not None and until is not None and since > until:
        raise invalid_parameter("EndOfCreateTime", "It is before StartOfCreateTime.")
    if "JobId" in p:
        return _list_one(farm, call.owner, p.str("JobId", max_len=64), state, since, until)
    jobs, token = services.list_jobs(
        farm,
        call.owner,
        state=state,
        page_size=p.int("PageSize", 20, lo=1, hi=100),
        page_token=p.str("NextPageToken", max_len=256),
        newest_first=order == "CreateTimeDesc",
        since_us=since,
        until_us=None if until is None else until + 999_999,
    )
    return {"Jobs": [job_document(j, detail=False) for j in jobs], "NextPageToken": token}


def _list_one(farm, owner, job_id, state, since, until) -> dict[str, Any]:
    job = farm.store.get(job_id)
    keep = (
        job is not None
        and job.owner == owner
        and (state is None or job.state == state)
        and (since is None or job.create_us >= since)
        and (until is None or job.create_us <= until + 999_999)
    )
    return {"Jobs": [job_document(job, detail=False)] if keep else [], "NextPageToken": ""}


@action("CancelMediaConvertJob")
def cancel_media_convert_job(farm, call: Call) -> dict[str, Any]:
    job = services.cancel_job(
        farm, call.owner, call.params.str("JobId", max_len=64) or _missing("JobId")
    )
    return {"Job": job_document(job), "Success": True}


# --- pipelines ------------------------------------------------------------------------


@action("CreatePipeline")
def create_pipeline(farm, call: Call) -> dict[str, Any]:
    p = call.params
    pipeline = farm.pipelines.create(
        call.owner,
        p.str("Name", max_len=256) or _missing("Name"),
        p.str("Speed", max_len=32) or _missing("Speed"),
        p.int("Priority", 6, lo=1, hi=10),
    )
    return {"Pipeline": pipeline.to_wire()}


@action("GetPipeline")
def get_pipeline(farm, call: Call) -> dict[str, Any]:
    pipeline_id = call.params.str("PipelineId", max_len=64) or _missing("PipelineId")
    return {"Pipeline": farm.pipelines.require(call.owner, pipeline_id).to_wire()}


@action("ListPipelines")
def list_pipelines(farm, call: Call) -> dict[str, Any]:
    speed = call.params.str("Speed", max_len=32) or None
    return {"PipelineList": [p.to_wire() for p in farm.pipelines.list(call.owner, speed=speed)]}


@action("UpdatePipeline")
def update_pipeline(farm, call: Call) -> dict[str, Any]:
    p = call.params
    pipeline_id = p.str("PipelineId", max_len=64) or _missing("PipelineId")
    _, activated = farm.pipelines.update(
        call.owner,
        pipeline_id,
        name=p.str("Name", max_len=256) or None,
        priority=p.int("Priority", None, lo=1, hi=10),
        status=p.str("Status", max_len=16) or None,
    )
    if activated:
        services.release_pipeline(farm, call.owner, pipeline_id)
    return _ok()


@action("DeletePipeline")
def delete_pipeline(farm, call: Call) -> dict[str, Any]:
    farm.pipelines.delete(
        call.owner, call.params.str("PipelineId", max_len=64) or _missing("PipelineId")
    )
    return _ok()


# --- templates ------------------------------------------------------------------------


def _template_config(p: Params, required: bool) -> dict[str, Any] | None:
    return p.json_object("TemplateConfig", required=required)


@action("CreateCustomTemplate")
def create_custom_template(farm, call: Call) -> dict[str, Any]:
    p = call.params
    tpl = farm.templates.create(
        call.owner,
        p.str("Name", max_len=256) or _missing("Name"),
        _template_config(p, required=True),
        subtype=p.int("Subtype", 1, lo=1, hi=5),
        type_=p.int("Type", None) if "Type" in p else _missing("Type"),
    )
    return {"CustomTemplate": tpl.to_wire()}


@action("GetCustomTemplate")
def get_custom_template(farm, call: Call) -> dict[str, Any]:
    p = call.params
    if "TemplateId" in p:
        tpl = farm.templates.get(call.owner, p.str("TemplateId", max_len=64))
        ident = p.str("TemplateId")
    else:
        type_ = p.int("Type", None) if "Type" in p else _missing("TemplateId")
        tpl = farm.templates.get_default(call.owner, type_, p.int("Subtype", None))
        ident = f"default of Type {type_}"
    if tpl is None:
        raise resource_not_found("template", ident)
    return {"CustomTemplate": tpl.to_wire()}


@action("ListCustomTemplates")
def list_custom_templates(farm, call: Call) -> dict[str, Any]:
    p = call.params
    items, total = farm.templates.list(
        call.owner,
        type_=p.int("Type", None) if "Type" in p else _missing("Type"),
        subtype=p.int("Subtype", None),
        template_id=p.str("TemplateId", max_len=64) or None,
        name=p.str("Name", max_len=256) or None,
        order=p.str("OrderBy", "CreationTime:Desc", max_len=32),
        page_number=p.int("PageNumber", 1, lo=1),
        page_size=p.int("PageSize", 10, lo=1, hi=100),
    )
    return {"CustomTemplateList": [t.to_wire() for t in items], "Total": total}


@action("UpdateCustomTemplate")
def update_custom_template(farm, call: Call) -> dict[str, Any]:
    p = call.params
    farm.templates.update(
        call.owner,
        p.str("TemplateId", max_len=64) or _missing("TemplateId"),
        name=p.str("Name", max_len=256) or None,
        config=_template_config(p, required=False),
    )
    return _ok()


@action("DeleteCustomTemplate")
def delete_custom_template(farm, call: Call) -> dict[str, Any]:
    farm.templates.delete(
        call.owner, call.params.str("TemplateId", max_len=64) or _missing("TemplateId")
    )
    return _ok()


@action("SetDefaultCustomTemplate")
def set_default_custom_template(farm, call: Call) -> dict[str, Any]:
    farm.templates.set_default(
        call.owner, call.params.str("TemplateId", max_len=64) or _missing("TemplateId")
    )
    return _ok()


@action("GetSystemTemplate")
def get_system_template_action(farm, call: Call) -> dict[str, Any]:
    template_id = call.params.str("TemplateId", max_len=64) or _missing("TemplateId")
    tpl = get_system_template(template_id)
    if tpl is None:
        raise resource_not_found("template", template_id)
    return {"SystemTemplate": tpl.to_wire()}


@action("ListSystemTemplates")
def list_system_templates_action(farm, call: Call) -> dict[str, Any]:
    p = call.params
    items, total = list_system_templates(
        types=p.str("Type", max_len=64) or _missing("Type"),
        subtype=p.str("Subtype", max_len=16) or None,
        template_id=p.str("TemplateId", max_len=64) or None,
        name=p.str("Name", max_len=256) or None,
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


@action("ListWorkers")
def list_workers(farm, call: Call) -> dict[str, Any]:
    """Ours: the live workers, what they can do and what they run (the caller's jobs by id)."""
    running = farm.stores.heartbeats.running_on()
    workers = []
    for info in sorted(farm.stores.workers.alive(), key=lambda w: w["hostname"]):
        tasks = running.get(info["hostname"], [])
        mine = [
            (job_id, index)
            for job_id, index in tasks
            if (job := farm.store.get(job_id)) and job.owner == call.owner
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
                "Tasks": [{"JobId": job_id, "Output": index} for job_id, index in mine],
            }
        )
    return {"Workers": workers}
