"""The actions parse every request value at the edge: the stores get typed, valid values.

The stores here are recording fakes: they note what an action handed them. A refused
request never reaches them, and what does reach them is already canonical (``Boost``, not
``boost``; ``10``, not ``" 10 "``; a normalized TemplateConfig).
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest

from api.actions import ACTIONS, Call
from api.job_cache import JobViews
from api.params import Params
from shared.errors import ApiError, InvalidJob
from shared.jobrecord import JobRecord
from shared.pipelines import Pipeline
from shared.template_store import CustomTemplate, TemplateQuery

OWNER = "acct-a"
MP4 = {
    "Container": {"Format": "mp4"},
    "Video": {"Codec": "H.264", "Bitrate": 1200, "Width": 1280},
    "Audio": {"Codec": "aac", "Bitrate": 128},
}
PIPELINE = Pipeline(
    pipeline_id="p" * 32,
    owner=OWNER,
    name="p",
    speed="Standard",
    priority=6,
    status="Active",
    create_us=0,
    modified_us=0,
)
TEMPLATE = CustomTemplate(
    template_id="t" * 32, owner=OWNER, name="t", subtype=1, config=MP4, create_us=0, modified_us=0
)


class RecordingStore:
    """Records every call; answers each method from ``answers`` (None when not there)."""

    def __init__(self, **answers: Any):
        self.calls: list[tuple[str, tuple, dict]] = []
        self.answers = answers

    def __getattr__(self, method: str):
        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((method, args, kwargs))
            return self.answers.get(method)

        return record


@pytest.fixture
def farm() -> SimpleNamespace:
    stores = SimpleNamespace(
        pipelines=RecordingStore(
            create=PIPELINE, require=PIPELINE, list=[], update=(PIPELINE, False)
        ),
        templates=RecordingStore(
            create=TEMPLATE,
            get=TEMPLATE,
            get_default=TEMPLATE,
            list=([], 0),
            update=TEMPLATE,
            require=TEMPLATE,
        ),
        jobs=RecordingStore(list_ids=([], None), states=[], get_listed=[]),
    )
    return SimpleNamespace(stores=stores, views=JobViews())


def run(farm, action: str, **params: Any) -> dict[str, Any]:
    return ACTIONS[action](farm, Call(owner=OWNER, params=Params(params), request_id="R"))


def refused(farm, action: str, **params: Any) -> tuple[str, str]:
    """The code and the named parameter of the refusal; no store was called."""
    with pytest.raises(ApiError) as excinfo:
        run(farm, action, **params)
    assert excinfo.value.http_status == 400
    assert (
        farm.stores.pipelines.calls == farm.stores.templates.calls == farm.stores.jobs.calls == []
    )
    return excinfo.value.code, excinfo.value.message.split('"')[1]


# --- pipelines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"Name": "", "Speed": "Standard"}, "MissingParameter", "Name"),
        ({"Name": None, "Speed": "Standard"}, "MissingParameter", "Name"),
        ({"Name": "x" * 129, "Speed": "Standard"}, "InvalidParameter", "Name"),
        ({"Name": "   ", "Speed": "Standard"}, "InvalidParameter", "Name"),
        ({"Name": 5, "Speed": "Standard"}, "InvalidParameter", "Name"),
        ({"Name": "p", "Speed": ""}, "MissingParameter", "Speed"),
        ({"Name": "p", "Speed": "Turbo"}, "InvalidParameter", "Speed"),
        ({"Name": "p", "Speed": "Boost", "Priority": 0}, "InvalidParameter", "Priority"),
        ({"Name": "p", "Speed": "Boost", "Priority": 11}, "InvalidParameter", "Priority"),
        ({"Name": "p", "Speed": "Boost", "Priority": "high"}, "InvalidParameter", "Priority"),
        ({"Name": "p", "Speed": "Boost", "Priority": "6.5"}, "InvalidParameter", "Priority"),
        ({"Name": "p", "Speed": "Boost", "Priority": 6.0}, "InvalidParameter", "Priority"),
        ({"Name": "p", "Speed": "Boost", "Priority": True}, "InvalidParameter", "Priority"),
    ],
)
def test_create_pipeline_names_the_field(farm, params, code, field):
    assert refused(farm, "CreatePipeline", **params) == (code, field)


def test_create_pipeline_hands_the_store_canonical_values(farm):
    run(farm, "CreatePipeline", Name="y", Speed="boost", Priority=" 10 ")
    run(farm, "CreatePipeline", Name="x" * 128, Speed="NarrowBandHDV2", Priority="1")
    run(farm, "CreatePipeline", Name="z", Speed="Standard")
    assert farm.stores.pipelines.calls == [
        ("create", (OWNER, "y", "Boost", 10), {}),
        ("create", (OWNER, "x" * 128, "NarrowBandHDV2", 1), {}),
        ("create", (OWNER, "z", "Standard", 6), {}),
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"Name": "x" * 129}, "Name"),
        ({"Name": "  "}, "Name"),
        ({"Priority": 0}, "Priority"),
        ({"Priority": "ten"}, "Priority"),
        ({"Status": "Stopped"}, "Status"),
        ({"Status": 1}, "Status"),
    ],
)
def test_update_pipeline_names_the_field(farm, params, field):
    assert refused(farm, "UpdatePipeline", PipelineId=PIPELINE.pipeline_id, **params) == (
        "InvalidParameter",
        field,
    )


def test_update_pipeline_hands_the_store_canonical_values(farm):
    pid = PIPELINE.pipeline_id
    run(farm, "UpdatePipeline", PipelineId=pid, Status="paused", Priority="9", Name="")
    run(farm, "UpdatePipeline", PipelineId=pid)
    assert farm.stores.pipelines.calls == [
        ("update", (OWNER, pid), {"name": None, "priority": 9, "status": "Paused"}),
        ("update", (OWNER, pid), {"name": None, "priority": None, "status": None}),
    ]


def test_list_pipelines_checks_speed(farm):
    assert refused(farm, "ListPipelines", Speed="Fast") == ("InvalidParameter", "Speed")
    run(farm, "ListPipelines", Speed="BOOST")
    run(farm, "ListPipelines")
    assert [c[2] for c in farm.stores.pipelines.calls] == [{"speed": "Boost"}, {"speed": None}]


@pytest.mark.parametrize("action", ["GetPipeline", "UpdatePipeline", "DeletePipeline"])
def test_a_pipeline_id_is_required(farm, action):
    assert refused(farm, action, PipelineId="") == ("MissingParameter", "PipelineId")


# --- custom templates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"Type": 2}, "InvalidParameter", "Type"),
        ({"Type": "11"}, "InvalidParameter", "Type"),
        ({"Type": 12}, "InvalidParameter", "Type"),
        ({"Type": "one"}, "InvalidParameter", "Type"),
        ({"Type": None}, "MissingParameter", "Type"),
        ({"Subtype": 0}, "InvalidParameter", "Subtype"),
        ({"Subtype": 6}, "InvalidParameter", "Subtype"),
        ({"Subtype": "x"}, "InvalidParameter", "Subtype"),
        ({"Name": ""}, "MissingParameter", "Name"),
        ({"Name": "x" * 129}, "InvalidParameter", "Name"),
        ({"Name": ["a"]}, "InvalidParameter", "Name"),
        ({"TemplateConfig": None}, "MissingParameter", "TemplateConfig"),
        ({"TemplateConfig": "{not json"}, "InvalidParameter", "TemplateConfig"),
        ({"TemplateConfig": "[1, 2]"}, "InvalidParameter", "TemplateConfig"),
    ],
)
def test_create_template_names_the_field(farm, params, code, field):
    args = {"Type": 1, "Name": "t", "TemplateConfig": MP4, **params}
    assert refused(farm, "CreateCustomTemplate", **args) == (code, field)


@pytest.mark.parametrize(
    "config",
    [
        {"Container": {"Format": "avi"}},
        {"Container": {"Format": "webp"}, "Audio": {"Codec": "aac"}},
        {"Video": {"Codec": "H.264"}},
        {**MP4, "Video": {**MP4["Video"], "Width": 99999}},
        {**MP4, "Unknown": {}},
        {"Container": {"Format": "flv"}, "Video": {"Codec": "H.265", "Bitrate": 500}},
    ],
)
def test_templates_mcfarm_cannot_encode_are_refused(farm, config):
    for action, params in (
        ("CreateCustomTemplate", {"Type": "1", "Name": "bad"}),
        ("UpdateCustomTemplate", {"TemplateId": TEMPLATE.template_id}),
    ):
        with pytest.raises(InvalidJob) as excinfo:
            run(farm, action, TemplateConfig=json.dumps(config), **params)
        assert excinfo.value.http_status == 400
        assert "TemplateConfig" in excinfo.value.message
    # An update reads the template (its type says how to check the config), never writes.
    assert [method for method, _, _ in farm.stores.templates.calls] == ["require"]


@pytest.mark.parametrize("subtype", [1, 2, "3", 4, 5])
def test_create_template_hands_the_store_a_normalized_config(farm, subtype):
    config = {**MP4, "Video": {**MP4["Video"], "Codec": "h264"}}
    run(
        farm,
        "CreateCustomTemplate",
        Type="1",
        Name="n",
        TemplateConfig=json.dumps(config),
        Subtype=subtype,
    )
    [(method, args, kwargs)] = farm.stores.templates.calls
    assert (method, args[:2], kwargs) == (
        "create",
        (OWNER, "n"),
        {"subtype": int(subtype), "template_type": 1},
    )
    assert args[2]["Video"]["Codec"] == "H.264"


def test_update_template_hands_the_store_typed_values(farm):
    tid = TEMPLATE.template_id
    run(farm, "UpdateCustomTemplate", TemplateId=tid, Name="new")
    run(farm, "UpdateCustomTemplate", TemplateId=tid, TemplateConfig=MP4)
    assert farm.stores.templates.calls[:2] == [
        ("require", (OWNER, tid), {}),
        ("update", (OWNER, tid), {"name": "new", "config": None}),
    ]
    assert farm.stores.templates.calls[3][2]["config"]["Video"]["Codec"] == "H.264"


@pytest.mark.parametrize("name", ["x" * 129, "   ", 7])
def test_update_template_names_the_field(farm, name):
    assert refused(farm, "UpdateCustomTemplate", TemplateId=TEMPLATE.template_id, Name=name) == (
        "InvalidParameter",
        "Name",
    )


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({}, "MissingParameter", "TemplateId"),
        ({"Type": "x"}, "InvalidParameter", "Type"),
        ({"Type": 1, "Subtype": 9}, "InvalidParameter", "Subtype"),
    ],
)
def test_get_default_template_names_the_field(farm, params, code, field):
    assert refused(farm, "GetCustomTemplate", **params) == (code, field)


def test_get_default_template_reads_only_transcoding_defaults(farm):
    run(farm, "GetCustomTemplate", Type="1", Subtype="2")
    run(farm, "GetCustomTemplate", Type=1)
    assert farm.stores.templates.calls == [
        ("get_default", (OWNER, 2, 1), {}),
        ("get_default", (OWNER, None, 1), {}),
    ]
    with pytest.raises(ApiError) as excinfo:
        run(farm, "GetCustomTemplate", Type=2)
    assert excinfo.value.code == "ResourceNotFound"
    assert len(farm.stores.templates.calls) == 2


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"Type": None}, "MissingParameter", "Type"),
        ({"Type": "abc"}, "InvalidParameter", "Type"),
        ({"Type": 0}, "InvalidParameter", "Type"),
        ({"Subtype": 6}, "InvalidParameter", "Subtype"),
        ({"OrderBy": "Name:Asc"}, "InvalidParameter", "OrderBy"),
        ({"OrderBy": "creationtime:desc"}, "InvalidParameter", "OrderBy"),
        ({"PageNumber": 0}, "InvalidParameter", "PageNumber"),
        ({"PageNumber": "x"}, "InvalidParameter", "PageNumber"),
        ({"PageSize": 0}, "InvalidParameter", "PageSize"),
        ({"PageSize": 101}, "InvalidParameter", "PageSize"),
        ({"PageSize": "2.5"}, "InvalidParameter", "PageSize"),
    ],
)
def test_list_templates_names_the_field(farm, params, code, field):
    assert refused(farm, "ListCustomTemplates", **{"Type": 1, **params}) == (code, field)


def test_list_templates_hands_the_store_typed_values(farm):
    run(farm, "ListCustomTemplates", Type="1", Subtype="2", PageNumber="3", PageSize="4")
    run(farm, "ListCustomTemplates", Type=1, OrderBy="CreationTime:Asc", Name="vid")
    assert [args for _, args, _ in farm.stores.templates.calls] == [
        (OWNER, TemplateQuery(subtype=2, page_number=3, page_size=4)),
        (OWNER, TemplateQuery(name="vid", order="CreationTime:Asc")),
    ]
    assert run(farm, "ListCustomTemplates", Type="2")["Total"] == 0  # no store call
    assert len(farm.stores.templates.calls) == 2


@pytest.mark.parametrize(
    "action",
    [
        "GetCustomTemplate",
        "UpdateCustomTemplate",
        "DeleteCustomTemplate",
        "SetDefaultCustomTemplate",
        "GetSystemTemplate",
    ],
)
def test_a_template_id_is_required(farm, action):
    assert refused(farm, action, TemplateId="") == ("MissingParameter", "TemplateId")


def test_an_unknown_system_template_is_not_found(farm):
    with pytest.raises(ApiError) as excinfo:
        run(farm, "GetSystemTemplate", TemplateId="S-nope")
    assert (excinfo.value.code, excinfo.value.http_status) == ("ResourceNotFound", 404)


# --- jobs --------------------------------------------------------------------------------


def _listed(farm) -> dict[str, Any]:
    [(method, (owner, query), _), (fetch, (ids,), _)] = farm.stores.jobs.calls
    assert (method, owner, fetch, ids) == ("list_ids", OWNER, "states", [])
    return dataclasses.asdict(query)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"state": None, "limit": 20, "newest_first": True, "after": None}),
        ({"Status": "Success", "PageSize": "5"}, {"state": "Complete", "limit": 5}),
        (
            {"Status": "Failed", "OrderBy": "CreateTimeAsc"},
            {"state": "Error", "newest_first": False},
        ),
        ({"Status": "Running", "PageSize": 100}, {"state": "Running", "limit": 100}),
    ],
)
def test_list_jobs_reads_the_ice_parameters(farm, params, expected):
    run(farm, "ListMediaConvertJobs", **params)
    listed = _listed(farm)
    assert {k: listed[k] for k in expected} == expected


def test_list_jobs_reads_times_as_whole_seconds(farm):
    run(
        farm,
        "ListMediaConvertJobs",
        StartOfCreateTime="1970-01-01T00:00:01Z",
        EndOfCreateTime="1970-01-01T00:00:02Z",
    )
    listed = _listed(farm)
    assert (listed["since_us"], listed["until_us"]) == (1_000_000, 2_999_999)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"Status": "Bogus"}, "Status"),
        ({"OrderBy": "desc"}, "OrderBy"),
        ({"PageSize": 0}, "PageSize"),
        ({"PageSize": 101}, "PageSize"),
        ({"NextPageToken": "!!!"}, "NextPageToken"),
        ({"StartOfCreateTime": "2026-1-1T0:0:0Z"}, "StartOfCreateTime"),
        (
            {
                "StartOfCreateTime": "2026-01-02T00:00:00Z",
                "EndOfCreateTime": "2026-01-01T00:00:00Z",
            },
            "EndOfCreateTime",
        ),
    ],
)
def test_list_jobs_names_the_field(farm, params, field):
    assert refused(farm, "ListMediaConvertJobs", **params) == ("InvalidParameter", field)


@pytest.mark.parametrize("action", ["GetMediaConvertJob", "CancelMediaConvertJob"])
def test_a_job_id_is_required(farm, action):
    assert refused(farm, action, JobId="") == ("MissingParameter", "JobId")


def test_another_accounts_job_reads_as_unknown(farm):
    theirs = JobRecord(
        job_id="j" * 32, owner="acct-b", doc={"Config": {}}, specs=[], create_us=1, state="Inited"
    )
    farm.stores.jobs = RecordingStore(get=theirs)
    with pytest.raises(ApiError) as excinfo:
        run(farm, "GetMediaConvertJob", JobId="j" * 32)
    assert (excinfo.value.code, excinfo.value.http_status) == ("ResourceNotFound", 404)
