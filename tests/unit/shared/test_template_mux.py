"""MuxConfig.Segment.ForceSegTime and Subtitles in a TemplateConfig (shared.template_mux)."""

from __future__ import annotations

import pytest

from shared.catalog import get_system_template
from shared.config import Settings
from shared.containers import CONTAINERS
from shared.errors import InvalidJob
from shared.planning import plan_outputs
from shared.schemas import load_config
from shared.template_mux import force_seg_times, subtitle_codec
from shared.templates import merged_config

HLS = "S00000001-100030"  # M3U8-HD
HLS_COPY = "S00000001-100000"  # M3U8-COPY
MP4 = "S00000001-200030"
WHERE = "Outputs[0].OverrideParams"


def merged(template_id: str, override: dict) -> dict:
    return merged_config(get_system_template(template_id).config_dict(), override, WHERE)


def forced(value) -> dict:
    return {"MuxConfig": {"Segment": {"ForceSegTime": value}}}


@pytest.mark.parametrize(
    ("value", "normalized", "points"),
    [
        ("1,2,4,6,10,14,18", "1,2,4,6,10,14,18", (1, 2, 4, 6, 10, 14, 18)),
        (" 1.500, 2.25 ,4.125", "1.5,2.25,4.125", (1.5, 2.25, 4.125)),
        ("0.001", "0.001", (0.001,)),
        (5, "5", (5.0,)),
        (2.5, "2.5", (2.5,)),
        (",".join(str(n) for n in range(1, 11)), "1,2,3,4,5,6,7,8,9,10", tuple(range(1, 11))),
    ],
)
def test_force_seg_time_is_normalized(value, normalized, points):
    config = merged(HLS, forced(value))
    assert config["MuxConfig"]["Segment"] == {"ForceSegTime": normalized}
    assert force_seg_times(config) == pytest.approx(points)


def test_force_seg_time_keeps_duration_beside_it():
    config = merged(HLS, {"MuxConfig": {"Segment": {"Duration": 4, "ForceSegTime": "3"}}})
    assert config["MuxConfig"]["Segment"] == {"Duration": 4, "ForceSegTime": "3"}
    assert force_seg_times(merged(HLS, {})) == ()


FORCE_KEY = "MuxConfig.Segment.ForceSegTime"
SUBS = "Subtitles"


@pytest.mark.parametrize(
    ("template_id", "override", "path"),
    [
        (HLS, forced(",".join(str(n) for n in range(1, 12))), FORCE_KEY),  # 11 points
        (HLS, forced("1,3,2"), FORCE_KEY),  # not ascending
        (HLS, forced("1,2,2"), FORCE_KEY),  # not each after the one before
        (HLS, forced("1.2345"), FORCE_KEY),  # four decimals
        (HLS, forced("0,1"), FORCE_KEY),  # 0 is where the first segment starts anyway
        (HLS, forced("-1"), FORCE_KEY),
        (HLS, forced("1;2"), FORCE_KEY),
        (HLS, forced("1,,2"), FORCE_KEY),
        (HLS, forced(""), FORCE_KEY),
        (HLS, forced([1, 2]), FORCE_KEY),
        (HLS, forced(True), FORCE_KEY),
        (MP4, forced("1"), FORCE_KEY),  # not a segmented container
        (HLS_COPY, forced("1"), FORCE_KEY),  # a copied video cannot be cut where asked
        (MP4, {SUBS: [{"Codec": "VTT"}]}, "Subtitles[0].Codec"),
        (HLS, {SUBS: [{"Codec": "mov_text"}]}, "Subtitles[0].Codec"),
        (MP4, {SUBS: [{"Codec": "SRT"}]}, "Subtitles[0].Codec"),
        (MP4, {SUBS: [{"Codec": 7}]}, "Subtitles[0].Codec"),
        (MP4, {SUBS: [{"Language": "en"}]}, "Subtitles[0].Language"),
        (MP4, {SUBS: [{}, {}]}, SUBS),  # one subtitle stream at most
        (MP4, {SUBS: {"Codec": "mov_text"}}, SUBS),
        (MP4, {"Container": {"Format": "flv"}, SUBS: [{}]}, SUBS),
        (MP4, {"Container": {"Format": "m4a"}, "Video": None, SUBS: [{}]}, SUBS),
        (HLS, {"Container": {"Format": "mpd"}, SUBS: [{}]}, SUBS),
    ],
)
def test_refusals_name_the_key(template_id, override, path):
    with pytest.raises(InvalidJob) as err:
        merged(template_id, override)
    assert err.value.code == "InvalidParameter"
    assert f'"{WHERE}" is not valid: {path}: ' in err.value.message


@pytest.mark.parametrize(
    ("template_id", "override", "subtitles"),
    [
        (MP4, {SUBS: [{"Codec": "MOV_TEXT"}]}, [{"Codec": "mov_text"}]),
        (MP4, {SUBS: [{"Codec": "tx3g"}]}, [{"Codec": "mov_text"}]),
        (MP4, {SUBS: [{}]}, [{}]),
        (MP4, {SUBS: []}, []),
        (HLS, {SUBS: [{"Codec": "VTT"}]}, [{"Codec": "webvtt"}]),
        (
            HLS,
            {"Container": {"Format": "cmaf"}, SUBS: [{"Codec": "webvtt"}]},
            [{"Codec": "webvtt"}],
        ),
        (
            HLS,
            {"Container": {"Format": "hls-fmp4"}, SUBS: [{"Codec": "Vtt"}]},
            [{"Codec": "webvtt"}],
        ),
        (MP4, {"Container": {"Format": "flv"}, SUBS: []}, []),  # none is always possible
    ],
)
def test_subtitles_are_normalized(template_id, override, subtitles):
    assert merged(template_id, override)[SUBS] == subtitles


@pytest.mark.parametrize(
    ("fmt", "subtitles", "group_type", "codec"),
    [
        ("mp4", None, "File", "mov_text"),
        ("mp4", [{}], "File", "mov_text"),
        ("mp4", [], "File", None),
        ("flv", None, "File", None),
        ("mp3", None, "File", None),
        ("m3u8", None, "Hls", "webvtt"),
        ("hls-fmp4", [{"Codec": "webvtt"}], "Hls", "webvtt"),
        ("cmaf", None, "Hls", "webvtt"),
        ("cmaf", None, "Dash", None),
        ("mpd", None, "Dash", None),
    ],
)
def test_subtitle_codec(fmt, subtitles, group_type, codec):
    config = {"Container": {"Format": fmt}}
    if subtitles is not None:
        config[SUBS] = subtitles
    assert subtitle_codec(CONTAINERS[fmt], config, group_type) == codec


def _dash_group(output: dict) -> dict:
    return {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": "oss://media/a.mp4"}}],
        "OutputGroups": [
            {
                "GroupConfig": {"Type": "Dash", "OutputFileBase": {"Media": "oss://out/pkg/"}},
                "Outputs": [output],
            }
        ],
    }


def _plan(raw: dict):
    def resolve(template_id):
        return get_system_template(template_id).config_dict()

    return plan_outputs(load_config(raw), resolve, Settings(storage_root="/srv/storage"))


def test_a_dash_group_refuses_asked_subtitles():
    output = {
        "TemplateId": HLS,
        "OutputFileName": "video/a",
        "OverrideParams": {"Container": {"Format": "cmaf"}, SUBS: [{"Codec": "VTT"}]},
    }
    with pytest.raises(InvalidJob) as err:
        _plan(_dash_group(output))
    assert err.value.code == "InvalidParameter"
    assert '"OutputGroups[0]" is not valid' in err.value.message and SUBS in err.value.message
    # Without asking, a cmaf rendition in a Dash group simply writes none.
    del output["OverrideParams"][SUBS]
    (spec,) = _plan(_dash_group(output))
    assert spec.group_type == "Dash"


def _hls_output(hls: dict) -> dict:
    return {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": "oss://media/a.mp4"}}],
        "OutputGroups": [
            {
                "GroupConfig": {"Type": "Hls", "OutputFileBase": {"Media": "oss://out/pkg/"}},
                "Outputs": [{"TemplateId": HLS, "OutputFileName": "v", "HlsGroupConfig": hls}],
            }
        ],
    }


def test_hls_group_config_names_a_subtitle_group():
    loaded = load_config(_hls_output({"Type": "video", "SubtitleGroup": "cc"}))
    assert loaded["OutputGroups"][0]["Outputs"][0]["HlsGroupConfig"]["SubtitleGroup"] == "cc"
    for hls in ({"Type": "video", "SubtitleGroup": ""}, {"Type": "subtitle", "Name": "en"}):
        with pytest.raises(InvalidJob) as err:
            load_config(_hls_output(hls))
        assert err.value.code == "InvalidParameter"
