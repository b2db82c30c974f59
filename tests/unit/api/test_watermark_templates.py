"""The watermark template actions (CreateCustomTemplate Types 4 and 5 and the rest): typed
values reach the store, a bad config is refused naming its key (recording fakes, as in
``test_actions``)."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest

from shared.errors import InvalidJob
from shared.template_store import TemplateQuery
from tests.unit.api.test_actions import MP4, OWNER, TEMPLATE, RecordingStore, refused, run


@pytest.fixture
def farm() -> SimpleNamespace:
    templates = RecordingStore(
        create=TEMPLATE, get_default=TEMPLATE, list=([], 0), update=TEMPLATE, require=TEMPLATE
    )
    stores = SimpleNamespace(templates=templates, pipelines=RecordingStore(), jobs=RecordingStore())
    return SimpleNamespace(stores=stores)


@pytest.mark.parametrize(
    ("type_", "config", "normalized"),
    [
        ("4", {"InputFile": {"Media": "oss://media/logo.png"}, "Width": "0.1"}, {"Width": 0.1}),
        (5, {"Content": "mcfarm", "FontSize": "20", "FontName": "simsun"}, {"FontSize": 20}),
    ],
)
def test_watermark_templates_are_stored_with_their_type(farm, type_, config, normalized):
    run(farm, "CreateCustomTemplate", Type=type_, Name="wm", TemplateConfig=json.dumps(config))
    [(method, args, kwargs)] = farm.stores.templates.calls
    assert (method, args[:2], kwargs) == (
        "create",
        (OWNER, "wm"),
        {"subtype": 0, "template_type": int(type_)},
    )
    assert normalized.items() <= args[2].items()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"Type": 4, "Subtype": 1, "TemplateConfig": {"Width": 8}}, "Subtype"),
        ({"Type": 3, "TemplateConfig": {"Width": 8}}, "Type"),
    ],
)
def test_watermark_template_parameters_are_refused_by_name(farm, params, field):
    assert refused(farm, "CreateCustomTemplate", Name="wm", **params) == ("InvalidParameter", field)


@pytest.mark.parametrize(
    ("type_", "config", "field"),
    [
        (4, {"Content": "text"}, "TemplateConfig.Content"),
        (5, {"FontSize": 3}, "TemplateConfig"),
        (5, MP4, "TemplateConfig"),  # a transcoding config is no text watermark
    ],
)
def test_bad_watermark_template_configs_name_the_key(farm, type_, config, field):
    with pytest.raises(InvalidJob) as excinfo:
        run(farm, "CreateCustomTemplate", Type=type_, Name="wm", TemplateConfig=json.dumps(config))
    assert excinfo.value.message.split('"')[1] == field
    assert farm.stores.templates.calls == []


def test_an_update_checks_the_config_as_its_templates_type(farm):
    text = dataclasses.replace(TEMPLATE, type=5, subtype=0, config={"Content": "a"})
    farm.stores.templates.answers["require"] = text
    run(farm, "UpdateCustomTemplate", TemplateId=text.template_id, TemplateConfig={"X": "0.5"})
    assert farm.stores.templates.calls[-1][2]["config"] == {"X": 0.5}
    with pytest.raises(InvalidJob):  # a transcoding config cannot turn it into another type
        run(farm, "UpdateCustomTemplate", TemplateId=text.template_id, TemplateConfig=MP4)


def test_watermark_templates_list_and_default_by_type(farm):
    run(farm, "ListCustomTemplates", Type="5")
    run(farm, "GetCustomTemplate", Type="4")
    assert farm.stores.templates.calls == [
        ("list", (OWNER, TemplateQuery(type=5)), {}),
        ("get_default", (OWNER, None, 4), {}),
    ]


def test_a_watermark_template_on_the_wire_has_no_subtype():
    wm = dataclasses.replace(TEMPLATE, type=4, subtype=0, config={"Width": 32})
    wire = wm.to_wire()
    assert (wire["Type"], wire["TypeName"], wire["TemplateConfig"]) == (
        4,
        "ImageWatermarkTemplate",
        '{"Width":32}',
    )
    assert "Subtype" not in wire and "SubtypeName" not in wire
    assert TEMPLATE.to_wire()["Subtype"] == 1
