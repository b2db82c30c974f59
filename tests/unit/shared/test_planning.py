from __future__ import annotations

import pytest

from shared.catalog import get_system_template
from shared.config import Settings
from shared.errors import InvalidJob
from shared.planning import OutputSpec, plan_outputs
from shared.schemas import load_config

SETTINGS = Settings(storage_root="/srv/storage")


def resolve(template_id):
    if template_id == "custom1":
        return {"Container": {"Format": "mp4"}, "Video": {"Codec": "H.264", "Width": 320}}
    tpl = get_system_template(template_id)
    return tpl.config_dict() if tpl else None


def plan(raw):
    return plan_outputs(load_config(raw), resolve, SETTINGS)


def _input(name, media):
    return {"Name": name, "InputFile": {"Type": "OSS", "Media": media}}


def test_outputs_then_groups_in_order_with_merged_configs():
    specs = plan(
        {
            "Inputs": [_input("a", "oss://media/a.mp4"), _input("b", "s3://media/b.mp4")],
            "Outputs": [
                {
                    "Name": "top",
                    "TemplateId": "custom1",
                    "OutputFile": {"Media": "oss://out/top.mp4"},
                    "OverrideParams": {"Video": {"Width": 640}},
                }
            ],
            "OutputGroups": [
                {
                    "Name": "g",
                    "GroupConfig": {"OutputFileBase": {"Media": "oss://out/base/"}},
                    "Outputs": [
                        {
                            "TemplateId": "S00000001-300020",
                            "OutputFileName": "x/a.mp3",
                            "InputRef": "b",
                            "Priority": 9,
                        }
                    ],
                }
            ],
        }
    )
    assert [s.index for s in specs] == [0, 1]
    top, grouped = specs
    assert top.config["Video"] == {"Codec": "H.264", "Width": 640}
    assert (top.group, top.input_index, top.output_media) == (None, 0, "oss://out/top.mp4")
    assert (grouped.group, grouped.input_index, grouped.priority) == (0, 1, 9)
    assert grouped.output_media == "oss://out/base/x/a.mp3" and grouped.name == "output1"
    assert OutputSpec.from_dict(grouped.to_dict()) == grouped


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        (
            {
                "Inputs": [_input("a", "oss://media/a.mp4")],
                "Outputs": [{"TemplateId": "nope", "OutputFile": {"Media": "oss://out/x.mp4"}}],
            },
            "InvalidParameter.ResourceNotFound",
            "Outputs[0].TemplateId",
        ),
        (
            {
                "Inputs": [_input("a", "oss://media/a.mp4")],
                "Outputs": [
                    {
                        "TemplateId": "custom1",
                        "InputRef": "zz",
                        "OutputFile": {"Media": "oss://out/x.mp4"},
                    }
                ],
            },
            "InvalidParameter",
            "Outputs[0].InputRef",
        ),
        (
            {
                "Inputs": [_input("a", "oss://media/a.mp4")],
                "Outputs": [{"TemplateId": "custom1", "OutputFile": {"Media": "oss://out/x.mp4"}}]
                * 2,
            },
            "InvalidParameter",
            "both write",
        ),
        (
            {
                "Inputs": [_input("a", "ftp://media/a.mp4")],
                "Outputs": [{"TemplateId": "custom1", "OutputFile": {"Media": "oss://out/x.mp4"}}],
            },
            "InvalidParameter",
            "Inputs[0].InputFile.Media",
        ),
        (
            {
                "Inputs": [_input("a", "oss://media/a.mp4")],
                "Outputs": [
                    {"TemplateId": "custom1", "OutputFile": {"Media": "https://example.com/x.mp4"}}
                ],
            },
            "InvalidParameter",
            "Outputs[0].OutputFile.Media",
        ),
        (
            {
                "Inputs": [_input("a", "oss://media/a.mp4")],
                "OutputGroups": [
                    {
                        "GroupConfig": {"OutputFileBase": {"Media": "oss://out/base/"}},
                        "Outputs": [{"TemplateId": "custom1", "OutputFileName": "../escape.mp4"}],
                    }
                ],
            },
            "InvalidParameter",
            "OutputGroups[0].Outputs[0].OutputFileName",
        ),
        (
            {
                "Inputs": [_input("a", "oss://media/a.mp4")],
                "Outputs": [
                    {
                        "TemplateId": "custom1",
                        "OutputFile": {"Media": "oss://out/x.mp4"},
                        "OverrideParams": {"Video": {"Bogus": 1}},
                    }
                ],
            },
            "InvalidParameter",
            "Outputs[0].OverrideParams",
        ),
    ],
)
def test_refusals(raw, code, fragment):
    with pytest.raises(InvalidJob) as err:
        plan(raw)
    assert err.value.code == code
    assert fragment in err.value.message


def _group(kind, outputs, **config):
    return {
        "Inputs": [_input("a", "oss://media/a.mp4")],
        "OutputGroups": [
            {
                "Name": "g",
                "GroupConfig": {
                    "Type": kind,
                    "OutputFileBase": {"Media": "oss://out/pkg/"},
                    **config,
                },
                "Outputs": outputs,
            }
        ],
    }


def test_hls_group_renditions_and_manifest():
    from shared.planning import plan_groups

    raw = _group(
        "Hls",
        [
            {
                "TemplateId": "S00000001-100030",
                "OutputFileName": "video/hd",
                "HlsGroupConfig": {"Type": "video"},
            },
            {"TemplateId": "S00000001-100010", "OutputFileName": "video/ld.m3u8"},
        ],
        ManifestName="main.m3u8",
    )
    loaded = load_config(raw)
    specs = plan_outputs(loaded, resolve, SETTINGS)
    assert [s.output_media for s in specs] == [
        "oss://out/pkg/video/hd.m3u8",
        "oss://out/pkg/video/ld.m3u8",
    ]
    assert specs[0].segmented and specs[0].group_type == "Hls" and specs[0].hls["Type"] == "video"
    (group,) = plan_groups(loaded, specs)
    assert (group.type, group.manifest_media, group.segments) == (
        "Hls",
        "oss://out/pkg/main.m3u8",
        "ts",
    )


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (_group("Hls", [{"TemplateId": "S00000001-200030", "OutputFileName": "a"}]), "needs m3u8"),
        (_group("Dash", [{"TemplateId": "S00000001-100030", "OutputFileName": "a"}]), "needs mpd"),
        (
            _group("File", [{"TemplateId": "S00000001-100030", "OutputFileName": "a"}]),
            "Type Hls or Dash",
        ),
        (
            _group(
                "Hls",
                [
                    {"TemplateId": "S00000001-100030", "OutputFileName": "a"},
                    {
                        "TemplateId": "S00000001-100030",
                        "OutputFileName": "b",
                        "OverrideParams": {"Container": {"Format": "hls-fmp4"}},
                    },
                ],
            ),
            "cannot mix",
        ),
    ],
)
def test_group_container_rules(raw, fragment):
    from shared.planning import plan_groups

    with pytest.raises(InvalidJob) as err:
        loaded = load_config(raw)
        plan_groups(loaded, plan_outputs(loaded, resolve, SETTINGS))
    assert fragment in err.value.message
