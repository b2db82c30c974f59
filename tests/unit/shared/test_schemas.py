from __future__ import annotations

import json

import pytest

from shared.errors import InvalidJob
from shared.schemas import load_config, parse_clip_time

INPUT = {"InputFile": {"Type": "OSS", "Media": "oss://media/in.mp4"}}
OUTPUT = {
    "TemplateId": "S00000001-200030",
    "OutputFile": {"Type": "OSS", "Media": "oss://media/out.mp4"},
}


def test_config_as_string_with_nested_json_strings():
    raw = {
        "Inputs": [INPUT],
        "Outputs": [
            dict(
                OUTPUT, OverrideParams='{"Video":{"Width":640}}', Features='{"Metadata":{"a":"b"}}'
            )
        ],
    }
    loaded = load_config(json.dumps(raw))
    out = loaded["Outputs"][0]
    assert out["OverrideParams"] == {"Video": {"Width": 640}}
    assert out["Features"] == {"Metadata": {"a": "b"}}
    assert out["Priority"] == 6 and loaded["OutputGroups"] == []


def test_output_groups_and_objects_accepted():
    raw = {
        "JobName": "j",
        "Inputs": [dict(INPUT, Name="a")],
        "OutputGroups": [
            {
                "Name": "g",
                "GroupConfig": {
                    "Type": "File",
                    "OutputFileBase": {"Type": "OSS", "Media": "oss://media/out/"},
                },
                "Outputs": [
                    {
                        "TemplateId": "S00000001-200030",
                        "OutputFileName": "x.mp4",
                        "OverrideParams": {},
                        "Priority": 9,
                        "InputRef": "a",
                    }
                ],
            }
        ],
    }
    loaded = load_config(raw)
    assert loaded["OutputGroups"][0]["Outputs"][0]["Priority"] == 9


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{oops", "not JSON"),
        ("[1]", "expected a JSON object"),
        ({"Inputs": [INPUT]}, "at least one output"),
        ({"Outputs": [OUTPUT]}, "Inputs: Missing data"),
        ({"Inputs": [INPUT], "Outputs": [dict(OUTPUT, Priority=0)]}, "Outputs[0].Priority"),
        (
            {"Inputs": [INPUT], "Outputs": [dict(OUTPUT, OverrideParams="{bad")]},
            "Outputs[0].OverrideParams",
        ),
        (
            {"Inputs": [INPUT], "Outputs": [dict(OUTPUT, OverrideParams="[1]")]},
            "must be a JSON object",
        ),
        (
            {"Inputs": [INPUT], "Outputs": [dict(OUTPUT, Features={"Watermarks": [{"Dx": 8}]})]},
            "Watermarks[0].Dx: not supported by mcfarm (use X",
        ),
        (
            {"Inputs": [INPUT], "Outputs": [dict(OUTPUT, Extra=1)]},
            "Outputs[0].Extra: not supported",
        ),
        (
            {"Inputs": [{"InputFile": {"Type": "Media", "Media": "abc"}}], "Outputs": [OUTPUT]},
            "Inputs[0].InputFile.Type",
        ),
        ({"Inputs": [INPUT], "JobName": "x" * 65, "Outputs": [OUTPUT]}, "JobName"),
        (
            {
                "Inputs": [INPUT],
                "OutputGroups": [
                    {
                        "GroupConfig": {"Type": "Hls", "OutputFileBase": {"Media": "oss://a/b/"}},
                        "Outputs": [
                            {
                                "TemplateId": "t",
                                "OutputFileName": "x",
                                "HlsGroupConfig": {"Type": "subtitle"},
                            }
                        ],
                    }
                ],
            },
            "not supported yet",
        ),
    ],
)
def test_bad_configs_name_the_field(raw, fragment):
    with pytest.raises(InvalidJob) as err:
        load_config(raw)
    assert err.value.code == "InvalidParameter"
    assert fragment in err.value.message


def test_limits():
    with pytest.raises(InvalidJob, match="at most 2 outputs"):
        load_config({"Inputs": [INPUT], "Outputs": [OUTPUT] * 3}, max_outputs=2)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:01:59.999", 119.999), ("180.30", 180.3), ("5", 5.0), ("1:00:00", 3600.0)],
)
def test_clip_times(text, seconds):
    assert parse_clip_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["1:2", "00:61:00", "abc", "24:00:00", "-1"])
def test_bad_clip_times(text):
    from marshmallow import ValidationError

    with pytest.raises(ValidationError):
        parse_clip_time(text)


HLS_GROUP = {"Type": "Hls", "OutputFileBase": {"Media": "oss://out/hls/"}}


@pytest.mark.parametrize(
    ("group", "fragment"),
    [
        (
            {"GroupConfig": HLS_GROUP, "Outputs": []},
            "OutputGroups[0].Outputs: Shorter than minimum length 1",
        ),
        (
            {
                "GroupConfig": HLS_GROUP,
                "Outputs": [
                    {"TemplateId": "t", "OutputFileName": "v/a"},
                    {"TemplateId": "t", "OutputFileName": "v/a.m3u8"},
                ],
            },
            "OutputGroups[0].Outputs[1].OutputFileName",
        ),
        (
            {
                "GroupConfig": dict(HLS_GROUP, ManifestName="a/master"),
                "Outputs": [{"TemplateId": "t", "OutputFileName": "a"}],
            },
            "OutputGroups[0].GroupConfig.ManifestName",
        ),
        (
            {
                "GroupConfig": {
                    "Type": "File",
                    "OutputFileBase": {"Media": "oss://o/b/"},
                    "ManifestName": "m",
                },
                "Outputs": [{"TemplateId": "t", "OutputFileName": "a"}],
            },
            "OutputGroups[0].GroupConfig.ManifestName",
        ),
        (
            {
                "GroupConfig": dict(HLS_GROUP, Type="Dash"),
                "Outputs": [
                    {"TemplateId": "t", "OutputFileName": "a", "HlsGroupConfig": {"Type": "video"}}
                ],
            },
            "OutputGroups[0].Outputs[0].HlsGroupConfig",
        ),
    ],
)
def test_bad_adaptive_groups_name_the_field(group, fragment):
    with pytest.raises(InvalidJob) as err:
        load_config({"Inputs": [INPUT], "OutputGroups": [group]})
    assert fragment in err.value.message


def test_manifest_name_defaults_and_extension():
    loaded = load_config(
        {
            "Inputs": [INPUT],
            "OutputGroups": [
                {"GroupConfig": HLS_GROUP, "Outputs": [{"TemplateId": "t", "OutputFileName": "a"}]},
                {
                    "GroupConfig": dict(HLS_GROUP, Type="Dash", ManifestName="stream.mpd"),
                    "Outputs": [{"TemplateId": "t", "OutputFileName": "a"}],
                },
            ],
        }
    )
    assert [g["GroupConfig"]["ManifestName"] for g in loaded["OutputGroups"]] == [
        "master",
        "stream",
    ]


def test_config_to_clip_first_part_is_refused_with_the_reason():
    clip = {"TimeSpan": {"Seek": "1"}, "ConfigToClipFirstPart": "true"}
    with pytest.raises(InvalidJob) as err:
        load_config({"Inputs": [INPUT], "Outputs": [{**OUTPUT, "Features": {"Clip": clip}}]})
    assert "Clip.ConfigToClipFirstPart" in err.value.message
    assert "no concatenation" in err.value.message
