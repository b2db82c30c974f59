from __future__ import annotations

from types import MappingProxyType

import pytest

from shared.catalog import SYSTEM_TEMPLATES, get_system_template
from shared.errors import InvalidJob
from shared.templates import deep_merge, json_copy, merged_config, validate_template_config


def test_deep_merge_merges_objects_and_replaces_scalars():
    base = {"Video": {"Codec": "H.264", "Width": 1280, "Bitrate": 1800}, "Audio": {"Bitrate": 128}}
    override = {
        "Video": {"Width": 640, "Bitrate": None},
        "Audio": 5,
        "Container": {"Format": "flv"},
    }
    assert deep_merge(base, override) == {
        "Video": {"Codec": "H.264", "Width": 640},
        "Audio": 5,
        "Container": {"Format": "flv"},
    }
    assert base["Video"]["Width"] == 1280  # inputs are not mutated


def test_catalog_ids_names_and_wire_shape():
    ids = set(SYSTEM_TEMPLATES)
    assert {
        "S00000001-200030",
        "S00000001-100060",
        "S00000001-000000",
        "S00000001-300050",
        "S00000001-110041",
    } <= ids
    assert not any(i.startswith(("S00000002", "S00000003", "S00000004", "S00000000")) for i in ids)
    wire = get_system_template("S00000001-100060").to_wire()
    assert (
        wire["TemplateName"] == "M3U8-2K"
        and wire["Type"] == 1
        and wire["TypeName"] == "TranscodeTemplate"
    )
    assert '"Maxrate":8000' in wire["TemplateConfig"]
    assert get_system_template("S00000001-200000").to_wire()["SubtypeName"] == "Remux"
    assert get_system_template("S00000001-300020").to_wire()["SubtypeName"] == "AudioTranscode"


@pytest.mark.parametrize("tid", sorted(SYSTEM_TEMPLATES))
def test_every_preset_validates(tid):
    config = SYSTEM_TEMPLATES[tid].config_dict()
    assert validate_template_config(config, tid)["Container"] == config["Container"]


def test_segment_duration_only_for_segmented_containers():
    hls = get_system_template("S00000001-100030").config_dict()
    assert merged_config(hls, {"MuxConfig": {"Segment": {"Duration": "4"}}}, "o")["MuxConfig"] == {
        "Segment": {"Duration": 4}
    }
    with pytest.raises(InvalidJob, match="Segment applies to"):
        merged_config(
            get_system_template("S00000001-200030").config_dict(),
            {"MuxConfig": {"Segment": {"Duration": 4}}},
            "o",
        )
    with pytest.raises(InvalidJob, match="MuxConfig.Segment.Duration"):
        merged_config(hls, {"MuxConfig": {"Segment": {"Duration": 61}}}, "o")
    # ForceSegTime's own cases: tests/unit/shared/test_template_mux.py.
    forced = merged_config(hls, {"MuxConfig": {"Segment": {"ForceSegTime": "1,2"}}}, "o")
    assert forced["MuxConfig"] == {"Segment": {"ForceSegTime": "1,2"}}


def test_normalizes_strings_numbers_and_codec_aliases():
    config = merged_config(
        get_system_template("S00000001-200030").config_dict(),
        {
            "Video": {"Width": "640", "Crf": "23", "Gop": "2s", "Remove": "false"},
            "Audio": {"Codec": "AAC"},
        },
        "Outputs[0].OverrideParams",
    )
    assert config["Video"]["Width"] == 640 and config["Video"]["Crf"] == 23.0
    assert config["Video"]["Gop"] == "2s" and config["Video"]["Remove"] is False
    assert config["Audio"]["Codec"] == "aac"
    assert validate_template_config(
        {"Container": {"Format": "MP4"}, "Video": {"Codec": "hevc", "Gop": 250}}, "x"
    ) == {
        "Container": {"Format": "mp4"},
        "Video": {"Codec": "H.265", "Gop": 250},
    }


def test_a_validated_config_is_a_new_document_each_time():
    """Validation is remembered by the document's canonical JSON, but each caller gets its own
    copy to change, and the same document in another key order validates the same."""
    config = {"Container": {"Format": "MP4"}, "Video": {"Width": 640, "Codec": "H.264"}}
    first = validate_template_config(config, "x")
    first["Video"]["Width"] = 1
    again = validate_template_config(dict(reversed(list(config.items()))), "y")
    assert again["Video"]["Width"] == 640 and again["Container"] == {"Format": "mp4"}
    with pytest.raises(InvalidJob, match=r'"Outputs\[3\]"'):
        validate_template_config({**config, "Video": {"Width": 641}}, "Outputs[3]")
    with pytest.raises(InvalidJob, match=r'"Outputs\[4\]"'):
        validate_template_config({**config, "Video": {"Width": 641}}, "Outputs[4]")


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ({"Video": {"Widht": 640}}, "Video.Widht"),
        ({"Video": {"Width": 641}}, "Video.Width"),
        ({"Video": {"Width": 64}}, "Video.Width"),
        ({"Video": {"Codec": "VP9"}}, "Video.Codec"),
        ({"Audio": {"Codec": "vorbis"}}, "Audio.Codec"),
        ({"Audio": {"Volume": {"Method": "loud"}}}, "Audio.Volume.Method"),
        ({"TransConfig": {"TransMode": "vbr"}}, "TransConfig.TransMode"),
        ({"TransConfig": {"AdjDarMethod": "stretch"}}, "TransConfig.AdjDarMethod"),
        ({"Video": {"Crop": "1920:800:0"}}, "Video.Crop"),
        ({"Video": {"Pad": "border"}}, "Video.Pad"),
        ({"Video": {"ScanMode": "mixed"}}, "Video.ScanMode"),
        ({"Video": {"MaxFps": 0}}, "Video.MaxFps"),
        ({"Video": {"Qscale": 60}}, "Video.Qscale"),
        ({"Container": {"Format": "webm"}}, "Container.Format"),
        ({"Container": {"Format": "flv"}, "Video": {"Codec": "H.265"}}, "Video"),
        ({"Video": {"Remove": True}, "Audio": {"Remove": True}}, "Video"),
        ({"Video": {"Gop": "soon"}}, "Video.Gop"),
        ({"Video": {"Fps": 120}}, "Video.Fps"),
        ({"Subtitles": [{"Codec": "VTT"}]}, "Subtitles[0].Codec"),
    ],
)
def test_unsupported_keys_and_values_are_refused_by_path(override, path):
    with pytest.raises(InvalidJob) as err:
        merged_config(
            get_system_template("S00000001-200030").config_dict(),
            override,
            "Outputs[0].OverrideParams",
        )
    assert err.value.code == "InvalidParameter"
    assert "Outputs[0].OverrideParams" in err.value.message and path in err.value.message


def test_audio_only_containers_refuse_video():
    mp3 = get_system_template("S00000001-300020").config_dict()
    with pytest.raises(InvalidJob, match="audio-only"):
        merged_config(mp3, {"Video": {"Width": 640}}, "o")
    with pytest.raises(InvalidJob, match="audio codec mp3"):
        merged_config(mp3, {"Audio": {"Codec": "aac"}}, "o")


def test_json_copy_is_a_deep_copy_in_plain_types():
    source = MappingProxyType({"Video": MappingProxyType({"Width": 640}), "Tags": ("a", ["b"])})
    copied = json_copy(source)
    assert copied == {"Video": {"Width": 640}, "Tags": ["a", ["b"]]}
    assert type(copied) is dict and type(copied["Video"]) is dict
    copied["Video"]["Width"] = 1
    copied["Tags"][1].append("c")
    assert source["Video"]["Width"] == 640 and source["Tags"][1] == ["b"]
