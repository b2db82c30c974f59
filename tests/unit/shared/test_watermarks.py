"""Features.Watermarks and watermark templates: every key accepted or refused by name, with
its reason; templates merged under an entry key by key; outputs that cannot take them."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import InvalidJob
from shared.fonts import CJK_FONT, FONTS, SANS, canonical_font, font_file
from shared.planning import plan_outputs
from shared.routing import WorkerCaps, choose_queue
from shared.schemas import load_config
from shared.watermarks import (
    TEXT_DEFAULTS,
    validate_watermark_template,
    watermark_media,
)

SETTINGS = Settings(storage_root="/srv/storage")
MP4 = {"Container": {"Format": "mp4"}, "Video": {"Codec": "H.264"}}
TEMPLATES = {
    "ttext": (5, {"Content": "from template", "FontSize": 30, "X": 0.5, "Y": 10}),
    "timage": (4, {"InputFile": {"Type": "OSS", "Media": "oss://media/logo.png"}, "Width": 64}),
}
LOGO = {"Type": "OSS", "Media": "oss://media/logo.png"}


def resolve(template_id):
    if template_id == "copy":
        return {"Container": {"Format": "mp4"}, "Video": {"Codec": "copy"}}
    if template_id == "mp3":
        return {"Container": {"Format": "mp3"}}
    return MP4


def job(*marks, template="t1") -> dict:
    output = {
        "TemplateId": template,
        "OutputFile": {"Media": "oss://out/a.mp4"},
        "Features": {"Watermarks": list(marks)},
    }
    return {"Inputs": [{"InputFile": {"Media": "oss://media/a.mp4"}}], "Outputs": [output]}


def planned(*marks, template="t1") -> list[dict]:
    config = load_config(job(*marks, template=template))
    [spec] = plan_outputs(config, resolve, SETTINGS, TEMPLATES.get)
    return spec.features["Watermarks"]


def refusal(*marks, template="t1") -> str:
    with pytest.raises(InvalidJob) as excinfo:
        planned(*marks, template=template)
    assert excinfo.value.http_status == 400
    return excinfo.value.message


# --- values of every key -------------------------------------------------------------------


def test_a_text_watermark_gets_ice_defaults_and_normalized_values():
    [mark] = planned(
        {"Content": "水印", "X": "8", "Y": "0.12345", "FontColor": "#ff8800", "Adaptive": "True"}
    )
    assert mark == {
        **TEXT_DEFAULTS,
        "Type": "Text",
        "Content": "水印",
        "X": 8,
        "Y": 0.1234,  # truncated to 4 decimals, as ICE does
        "FontColor": "0xFF8800",
        "Adaptive": True,
    }


def test_every_text_key_is_read():
    keys = {
        "Type": "text",
        "Content": "c",
        "FontName": "times new roman",
        "FontSize": "119",
        "FontColor": "Grey",
        "FontAlpha": "0.5",
        "BorderColor": "0x00ff00",
        "BorderWidth": 4,
        "Adaptive": False,
        "X": 0.5,
        "Y": 4096,
    }
    [mark] = planned(keys)
    assert mark == {
        **keys,
        "Type": "Text",
        "FontName": "Times New Roman",
        "FontSize": 119,
        "FontColor": "gray",
        "FontAlpha": 0.5,
        "BorderColor": "0x00FF00",
    }


def test_an_image_watermark_by_its_input_file():
    [mark] = planned({"InputFile": LOGO, "Width": "0.5", "Height": 8, "X": 0, "Y": "0.9999"})
    assert mark == {
        "Type": "Image",
        "InputFile": LOGO,
        "Width": 0.5,
        "Height": 8,
        "X": 0,
        "Y": 0.9999,
    }
    assert watermark_media({"Watermarks": [mark, {"Type": "Text"}]}) == ["oss://media/logo.png"]


@pytest.mark.parametrize(
    ("mark", "message"),
    [
        ({"Content": "c", "X": "-1"}, "Watermarks[0].X: '-1': use pixels"),
        ({"Content": "c", "X": "4097"}, "Watermarks[0].X: 4097 pixels is outside 0-4096"),
        ({"InputFile": LOGO, "Width": 7}, "Watermarks[0].Width: 7 pixels is outside 8-4096"),
        ({"InputFile": LOGO, "Height": "1.0"}, "Watermarks[0].Height: 1.0: a ratio of the output"),
        (
            {"Content": "c", "Y": "0.00001"},
            "Watermarks[0].Y: 0.00001: a ratio of the output height",
        ),
        ({"Content": "c", "Y": True}, "Watermarks[0].Y: True: use pixels"),
        ({"Content": "c", "X": "10px"}, "Watermarks[0].X: '10px': use pixels"),
        ({"Content": ""}, "Watermarks[0].Content: Length must be between 1 and 1024"),
        ({"Content": "a\x00b"}, "Watermarks[0].Content: has a NUL"),
        ({"Content": "c", "FontName": "Comic Sans"}, "FontName: 'Comic Sans' is not installed"),
        ({"Content": "c", "FontSize": 4}, "Watermarks[0].FontSize: 4: use a whole number from 5"),
        ({"Content": "c", "FontSize": "120"}, "FontSize: '120': use a whole number from 5 to 119"),
        ({"Content": "c", "FontSize": 16.5}, "Watermarks[0].FontSize: 16.5: use a whole number"),
        ({"Content": "c", "FontColor": "chartreuse"}, "FontColor: 'chartreuse': use #RRGGBB or"),
        ({"Content": "c", "BorderColor": "#12345"}, "BorderColor: '#12345': use #RRGGBB"),
        ({"Content": "c", "FontAlpha": 0}, "Watermarks[0].FontAlpha: 0: use an opacity above 0"),
        ({"Content": "c", "FontAlpha": "1.5"}, "FontAlpha: '1.5': use an opacity above 0"),
        ({"Content": "c", "BorderWidth": 4097}, "BorderWidth: 4097: use a whole number from 0"),
        ({"Content": "c", "Adaptive": "yes"}, "Watermarks[0].Adaptive: 'yes': use true or false"),
        ({"Type": "Video"}, "Watermarks[0].Type: 'Video': use Text or Image"),
        ({"InputFile": {"Media": "oss://media/a.png", "Type": "Media"}}, "InputFile.Type: 'Media'"),
        ({"InputFile": {"Type": "OSS"}}, "Watermarks[0].InputFile.Media: Missing data"),
        ({"Content": "c", "Opacity": 1}, "Watermarks[0].Opacity: not supported by mcfarm"),
        ({"Content": "c", "Dx": 8}, "Watermarks[0].Dx: not supported by mcfarm (use X"),
        ({"InputFile": LOGO, "File": LOGO}, "File: not supported by mcfarm (use InputFile)"),
        ({"Content": "c", "ReferPos": "TopRight"}, "ReferPos: not supported by mcfarm (X and Y"),
        ({"Content": "c", "Timeline": {}}, "Timeline: not supported by mcfarm (a watermark"),
    ],
)
def test_bad_values_are_refused_naming_the_key(mark, message):
    assert message in refusal(mark)
    assert "Outputs[0].Features: Watermarks[0]." in refusal(mark)


def test_at_most_four_watermarks():
    assert "Features: Watermarks: at most 4 watermarks" in refusal(*[{"Content": "c"}] * 5)
    assert len(planned(*[{"Content": "c"}] * 4)) == 4


# --- whole watermarks, at planning ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mark", "key", "reason"),
    [
        ({"Content": "c", "Width": 10}, "Width", "applies to image watermarks only; size text"),
        ({"Type": "Text", "InputFile": LOGO}, "InputFile", "applies to image watermarks only"),
        ({"InputFile": LOGO, "Content": "c"}, "Content", "applies to text watermarks only"),
        ({"InputFile": LOGO, "FontSize": 20}, "FontSize", "applies to text watermarks only"),
        ({"Type": "Text"}, "Content", "a text watermark needs it"),
        ({"Type": "Image", "Width": 10}, "InputFile", "an image watermark needs it"),
        ({"X": 10}, "Type", "Text or Image is needed"),
        ({"TemplateId": "timage", "Type": "Text"}, "Type", "names an image watermark template"),
        ({"TemplateId": "timage", "FontSize": 20}, "FontSize", "applies to text watermarks only"),
        ({"InputFile": {"Media": "ftp://media/logo.png"}}, "InputFile.Media", ""),
    ],
)
def test_a_watermark_is_checked_whole_for_its_kind(mark, key, reason):
    message = refusal(mark)
    assert f'"Outputs[0].Features.Watermarks[0].{key}"' in message and reason in message


def test_an_unknown_template_is_not_found():
    with pytest.raises(InvalidJob) as excinfo:
        planned({"TemplateId": "t1"})  # a transcoding template's id: not a watermark one
    assert excinfo.value.code == "InvalidParameter.ResourceNotFound"
    assert "Outputs[0].Features.Watermarks[0].TemplateId" in excinfo.value.message


def test_a_template_is_merged_under_the_entry_key_by_key():
    text, image = planned(
        {"TemplateId": "ttext", "X": 12, "FontColor": "white"},
        {"TemplateId": "timage", "Y": 0.5},
    )
    assert text == {
        **TEXT_DEFAULTS,
        "Type": "Text",
        "Content": "from template",
        "FontSize": 30,
        "FontColor": "white",
        "X": 12,
        "Y": 10,
    }
    assert image == {"Type": "Image", "InputFile": LOGO, "Width": 64, "Y": 0.5}


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("copy", "the output copies its video (Video.Codec copy)"),
        ("mp3", "the output has no video to draw on"),
    ],
)
def test_outputs_without_encoded_video_refuse_watermarks(template, reason):
    message = refusal({"Content": "c"}, template=template)
    assert '"Outputs[0].Features.Watermarks"' in message and reason in message


# --- templates (CreateCustomTemplate Types 4 and 5) -------------------------------------------


def test_watermark_templates_are_normalized():
    assert validate_watermark_template(5, {"Content": "c", "FontSize": "20", "X": "0.5"}) == {
        "Content": "c",
        "FontSize": 20,
        "X": 0.5,
    }
    assert validate_watermark_template(4, {"Width": 32, "Type": "image"}) == {
        "Width": 32,
        "Type": "Image",
    }


@pytest.mark.parametrize(
    ("type_", "config", "where", "reason"),
    [
        (4, {"Dx": 10}, "TemplateConfig", "Dx: not supported by mcfarm (use X"),
        (4, {"Content": "c"}, "TemplateConfig.Content", "applies to text watermarks only"),
        (5, {"Width": 8}, "TemplateConfig.Width", "applies to image watermarks only"),
        (5, {"Type": "Image"}, "TemplateConfig.Type", "a Type 5 template holds Text watermarks"),
        (5, {"TemplateId": "x"}, "TemplateConfig.TemplateId", "cannot name another one"),
        (5, {"FontSize": 200}, "TemplateConfig", "FontSize: 200: use a whole number"),
    ],
)
def test_bad_watermark_templates_are_refused(type_, config, where, reason):
    with pytest.raises(InvalidJob) as excinfo:
        validate_watermark_template(type_, config)
    assert f'"{where}"' in excinfo.value.message and reason in excinfo.value.message


# --- fonts and routing ---------------------------------------------------------------------------


def test_font_names_map_to_installed_files():
    assert canonical_font(" microsoft   yahei ") == "Microsoft YaHei"
    assert canonical_font("Papyrus") is None
    assert FONTS["SimSun"] == CJK_FONT
    assert font_file("Arial", "abc") == SANS and font_file("Arial", "abc 水") == CJK_FONT


def test_watermarked_outputs_are_routed_to_a_cpu():
    gpu = WorkerCaps("g", ("gpu",), 1, frozenset({"h264_nvenc"}), True, True)
    features = {"Watermarks": [{"Type": "Text"}]}
    assert choose_queue(MP4, features, [gpu], "prefer") == (
        "cpu",
        "watermarks are drawn on the CPU",
    )
    assert choose_queue(MP4, {"Hardware": "gpu", **features}, [gpu], "auto")[0] == "cpu"
    assert choose_queue(MP4, {}, [gpu], "auto")[0] == "gpu"
