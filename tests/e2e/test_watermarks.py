"""Watermarks drawn by real FFmpeg, found where they were asked for in decoded frames.

Every watermark goes on a uniform gray picture, so the pixels it changed are exactly the
watermark: their bounding box (read from one decoded frame, ``-f rawvideo -pix_fmt gray``)
must be where the config put it, within 2 px. Inputs are generated with lavfi into a
temporary folder, 320x240 and a fifth of a second, so the direct runs take well under a
second each; one job goes through the farm with the official ICE SDK.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from alibabacloud_ice20201109 import models as ice
from alibabacloud_tea_openapi.exceptions import ClientException

from shared.config import Settings
from shared.fonts import CJK_FONT
from shared.templates import validate_template_config
from shared.watermarks import WatermarkSchema, resolve_watermark
from tests.e2e.conftest import MEDIA_BUCKET
from tests.e2e.ice import submit, wait
from tests.media_tools import ffmpeg
from workers.chunk_cmd import chunk_args
from workers.chunks import Chunk
from workers.ffmpeg_cmd import build_ffmpeg_args
from workers.ffmpeg_run import run_ffmpeg
from workers.probe import parse_probe, run_probe

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg and ffprobe on PATH"),
]

W, H = 320, 240
#: How far a gray pixel may move (x264 at its default CRF) before it counts as drawn on.
CHANGED = 40
#: The logo: 40x30, its left half fully transparent, its right half opaque red.
LOGO_FILTER = "color=c=red:s=40x30,format=rgba,geq=r=255:g=0:b=0:a='if(lt(X,20),0,255)'"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("watermarks")
    ffmpeg("-f", "lavfi", "-i", f"color=c=gray:s={W}x{H}:r=25:d=0.2",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", d / "gray.mp4")  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", LOGO_FILTER, "-frames:v", "1", "-c:v", "png", "-f", "image2",
           d / "logo.png")  # fmt: skip
    return {"gray": d / "gray.mp4", "logo": d / "logo.png", "dir": d}


def gray_frame(path: Path) -> bytes:
    """The first frame of ``path``, 8-bit gray, row after row."""
    argv = ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1"]
    argv += ["-f", "rawvideo", "-pix_fmt", "gray", "-"]
    frame = subprocess.run(argv, check=True, capture_output=True, timeout=30).stdout
    assert len(frame) == W * H
    return frame


def drawn_box(frame: bytes, base: bytes) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom), inclusive, of the pixels that differ from ``base``."""
    hits = [i for i in range(len(frame)) if abs(frame[i] - base[i]) > CHANGED]
    if not hits:
        return None
    xs, ys = [i % W for i in hits], [i // W for i in hits]
    return min(xs), min(ys), max(xs), max(ys)


def near(box, expected, slack: int = 2) -> bool:
    return box is not None and all(abs(a - b) <= slack for a, b in zip(box, expected, strict=True))


def marks_for(*raw: dict, logo: Path | None = None) -> list[dict]:
    """Entries as planning resolves them, each image staged at ``logo``."""
    settings = Settings(storage_root="/srv/storage")
    marks = [resolve_watermark(WatermarkSchema().load(m), None, "t", settings) for m in raw]
    return [{**m, "ImagePath": str(logo)} if m["Type"] == "Image" else m for m in marks]


def watermarked(files, name: str, *raw: dict, chunk: Chunk | None = None) -> bytes:
    """Encode the gray clip (or one Boost ``chunk`` of it) with the watermarks through the
    real argv builder; its first frame."""
    settings = Settings(var_dir=files["dir"], storage_root=files["dir"], work_dir=files["dir"])
    src, probe = str(files["gray"]), parse_probe(run_probe(str(files["gray"]), settings))
    config = validate_template_config(
        {"Container": {"Format": "mp4"}, "Video": {"Preset": "ultrafast"}}, "test"
    )
    config["Watermarks"] = marks_for(*raw, logo=files["logo"])
    dst = files["dir"] / f"{name}.{'nut' if chunk else 'mp4'}"
    if chunk is None:
        argv = build_ffmpeg_args(src, str(dst), probe, config, settings)
    else:
        argv = chunk_args(src, probe, config, settings, chunk=chunk, dst=str(dst))
    run_ffmpeg(argv, timeout=60)
    return gray_frame(dst)


@pytest.fixture(scope="module")
def plain(files) -> bytes:
    return watermarked(files, "plain")


LOGO = {"Type": "OSS", "Media": "oss://media/logo.png"}


@pytest.mark.parametrize(
    ("mark", "box"),
    [
        # Pixels: the transparent left half leaves the picture alone (PNG alpha kept).
        ({"InputFile": LOGO, "X": "100", "Y": 50}, (120, 50, 139, 79)),
        # Ratios of 320x240, the logo scaled to 80x30: its opaque half is x 200-239.
        (
            {"InputFile": LOGO, "X": "0.5", "Y": "0.5", "Width": "0.25", "Height": 30},
            (200, 120, 239, 149),
        ),
    ],
)
def test_an_image_watermark_is_where_it_was_asked(files, plain, mark, box):
    frame = watermarked(files, f"image-{mark['X']}", mark)
    assert near(drawn_box(frame, plain), box), drawn_box(frame, plain)


def test_a_boost_chunk_draws_it_where_the_whole_output_does(files, plain):
    # Frames 2-4 of the 25 fps clip, cut between frames as a Boost plan cuts them.
    chunk = Chunk(number=1, first=2, frames=3, seek=0.0, start=0.06, end=0.18, duration=0.12)
    frame = watermarked(files, "chunk", {"InputFile": LOGO, "X": 100, "Y": 50}, chunk=chunk)
    assert near(drawn_box(frame, plain), (120, 50, 139, 79)), drawn_box(frame, plain)


def test_a_text_watermark_is_where_it_was_asked(files, plain):
    # A full block: its ink starts at the pen, so the box's corner is exactly (X, Y).
    mark = {"Content": "█", "FontSize": 40, "FontColor": "white", "X": 24, "Y": "0.25"}
    box = drawn_box(watermarked(files, "text", mark), plain)
    assert box is not None and near(box[:2], (24, 60)), box


def glyph(files, char: str) -> list[bytes]:
    """The rows of one CJK character drawn in black at (10, 10), SimSun."""
    mark = {"Content": char, "FontName": "SimSun", "FontSize": 60, "X": 10, "Y": 10}
    frame = watermarked(files, f"glyph-{ord(char)}", mark)
    return [frame[y * W + 10 : y * W + 75] for y in range(10, 75)]


def test_cjk_text_renders_its_own_glyphs_not_boxes(files):
    # A font without the glyphs draws the same .notdef box for every character.
    water, fire = glyph(files, "水"), glyph(files, "火")
    assert water != fire
    assert all(len(set(row)) == 1 for row in glyph(files, " "))  # nothing drawn: all gray
    if shutil.which("fc-list"):
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True)
        assert CJK_FONT in listed.stdout


def test_text_is_drawn_exactly_as_written(files, plain):
    # The same text through drawtext's textfile (read raw) and through the argv's escaping.
    text = "a:b'c\\d%{pts}[x];,= 100%"
    ours = watermarked(files, "literal", {"Content": text, "FontColor": "white", "X": 5, "Y": 5})
    (files["dir"] / "text.txt").write_text(text)
    raw = files["dir"] / "raw.mp4"
    draw = f"drawtext=fontfile={CJK_FONT}:textfile={files['dir'] / 'text.txt'}:fontsize=16"
    ffmpeg("-i", files["gray"], "-vf", f"{draw}:fontcolor=white:x=5:y=5:expansion=none",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", raw)  # fmt: skip
    assert drawn_box(ours, plain) is not None
    assert ours == gray_frame(raw)


# --- through the farm, with the official SDK -------------------------------------------------


@pytest.mark.e2e
def test_the_sdk_submits_watermarks_and_they_appear(clients, ice_farm, files, plain):
    sdk = clients["main"]
    media = Path(ice_farm.env["MCFARM_STORAGE_ROOT"]) / MEDIA_BUCKET
    shutil.copy(files["gray"], media / "wm-gray.mp4")
    shutil.copy(files["logo"], media / "wm-logo.png")
    text = {"Content": "█水印", "FontSize": 30, "FontColor": "white", "X": 200, "Y": 10}
    created = sdk.create_custom_template(
        ice.CreateCustomTemplateRequest(name="wm", type=5, template_config=json.dumps(text))
    ).body.custom_template
    assert (created.type, created.type_name) == (5, "TextWatermarkTemplate")
    features = json.dumps(
        {
            "Watermarks": [
                {
                    "InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/wm-logo.png"},
                    "X": "0.3125",
                    "Y": 50,
                },  # fmt: skip
                {"TemplateId": created.template_id, "Y": "0.5"},  # the template's Y overridden
            ]
        }
    )
    output = {
        "TemplateId": "S00000001-200010",
        "OverrideParams": json.dumps({"Video": {"Width": W, "Preset": "ultrafast"}}),
        "Features": features,
        "OutputFile": {"Type": "OSS", "Media": "oss://results/wm/sdk.mp4"},
    }
    inputs = [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/wm-gray.mp4"}}]
    job = submit(sdk, {"Inputs": inputs, "Outputs": [output]})
    done = wait(sdk, job.job_id)
    assert done.state == "Complete", done.output_details[0].message
    assert done.config.outputs[0].features == features  # the submitted config, unchanged
    frame = gray_frame(Path(ice_farm.env["MCFARM_STORAGE_ROOT"]) / "results/wm/sdk.mp4")
    # Refusals name the key and say why, through the SDK's own error.
    output["Features"] = json.dumps({"Watermarks": [{"Content": "c", "FontName": "Papyrus"}]})
    with pytest.raises(ClientException) as err:
        submit(sdk, {"Inputs": inputs, "Outputs": [output]})
    assert err.value.code == "InvalidParameter"
    assert "Watermarks[0].FontName: 'Papyrus' is not installed" in err.value.message
    logo = drawn_box(frame[: 100 * W], plain[: 100 * W])  # rows 0-99: the logo alone
    assert near(logo, (120, 50, 139, 79)), logo
    words = drawn_box(frame[100 * W :], plain[100 * W :])  # rows 100-: the text, at y 120
    assert words is not None and near((words[0], words[1] + 100), (200, 120)), words
