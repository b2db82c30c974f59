"""The REST edge: bodies and queries loaded with the schemas the views declare."""

from __future__ import annotations

import pytest

from api.rest_schemas import (
    CreatePipelineBody,
    CreateTemplateBody,
    ListJobsQuery,
    ListTemplatesQuery,
    UpdatePipelineBody,
    load,
)
from shared.errors import ApiError


def _refusal(schema, data) -> tuple[str, str]:
    with pytest.raises(ApiError) as excinfo:
        load(schema, data)
    return excinfo.value.code, excinfo.value.message.split('"')[1]


@pytest.mark.parametrize(
    ("query", "loaded"),
    [
        ({}, {}),
        (
            {"Status": "Success", "PageSize": "5", "OrderBy": "CreateTimeAsc"},
            {"Status": "Success", "PageSize": 5, "OrderBy": "CreateTimeAsc"},
        ),
        (
            {"state": "Error", "page_size": "3", "next_page_token": "abc", "order": "asc"},
            {"Status": "Error", "PageSize": 3, "NextPageToken": "abc", "OrderBy": "CreateTimeAsc"},
        ),
        ({"order": "desc", "JobId": "j"}, {"OrderBy": "CreateTimeDesc", "JobId": "j"}),
        (
            {"StartOfCreateTime": "2026-01-01T00:00:00Z"},
            {"StartOfCreateTime": "2026-01-01T00:00:00Z"},
        ),
    ],
)
def test_list_jobs_takes_the_ice_names_and_the_old_ones(query, loaded):
    assert load(ListJobsQuery(), query) == loaded


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"Status": "Complete", "state": "Complete"}, "state"),
        ({"PageSize": "2", "page_size": "2"}, "page_size"),
        ({"NextPageToken": "a", "next_page_token": "a"}, "next_page_token"),
        ({"OrderBy": "CreateTimeAsc", "order": "asc"}, "order"),
        ({"order": "CreateTimeAsc"}, "order"),
        ({"OrderBy": "asc"}, "OrderBy"),
        ({"state": "Bogus"}, "state"),
        ({"EndOfCreateTime": "2026-1-1T00:00:00Z"}, "EndOfCreateTime"),
        ({"page": "2"}, "page"),
    ],
)
def test_list_jobs_refusals_name_the_parameter_given(query, field):
    assert _refusal(ListJobsQuery(), query) == ("InvalidParameter", field)


@pytest.mark.parametrize(
    ("schema", "body", "code", "field"),
    [
        (CreatePipelineBody, {"Speed": "Standard"}, "MissingParameter", "Name"),
        (CreatePipelineBody, {"Name": "p", "Speed": "boost"}, "InvalidParameter", "Speed"),
        (CreatePipelineBody, {"Name": " ", "Speed": "Boost"}, "InvalidParameter", "Name"),
        (
            CreatePipelineBody,
            {"Name": "p", "Speed": "Boost", "Priority": "7"},
            "InvalidParameter",
            "Priority",
        ),
        (UpdatePipelineBody, {"Name": ""}, "InvalidParameter", "Name"),
        (UpdatePipelineBody, {"Status": "Stopped"}, "InvalidParameter", "Status"),
        (
            CreateTemplateBody,
            {"Name": "t", "TemplateConfig": {}, "Type": 2},
            "InvalidParameter",
            "Type",
        ),
        (CreateTemplateBody, {"Name": "t"}, "MissingParameter", "TemplateConfig"),
    ],
)
def test_bodies_are_json_typed_and_named(schema, body, code, field):
    assert _refusal(schema(), body) == (code, field)


def test_defaults_the_actions_need_are_loaded():
    assert load(CreateTemplateBody(), {"Name": "t", "TemplateConfig": "{}"})["Type"] == 1
    assert load(ListTemplatesQuery(), {})["Type"] == 1
    assert load(ListTemplatesQuery(), {"Type": "2", "PageSize": "5"}) == {"Type": 2, "PageSize": 5}
