"""Exact-argv tests for workers.watermark: every key of a text and an image watermark,
pixels and ratios of the output, and the builders that draw them (pure, no FFmpeg)."""

from __future__ import annotations

import dataclasses

import pytest

from shared.config import Settings
from shared.errors import InputContentBad
from shared.fonts import CJK_FONT, MONO, SANS, SERIF
from shared.templates import validate_template_config
from shared.watermarks import TEXT_DEFAULTS
from tests.unit.workers.canned import FULL_HD, H264, HEAD
from workers.chunk_cmd import chunk_args
from workers.chunks import Chunk
from workers.ffmpeg_cmd import build_ffmpeg_args
from workers.gpu_cmd import gpu_video_path
from workers.probe import INPUT_DEMUXERS
from workers.watermark import font_size, pixels

IMAGE_INPUT = ["-format_whitelist", INPUT_DEMUXERS, "-protocol_whitelist", "file"]


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def text(**keys) -> dict:
    return {**TEXT_DEFAULTS, "Type": "Text", "Content": "mcfarm", **keys}


def image(**keys) -> dict:
    return {
        "Type": "Image",
        "InputFile": {"Media": "oss://m/logo.png"},
        "ImagePath": "logo",
        **keys,
    }


def marked(*marks, **video) -> dict:
    cfg = validate_template_config({"Container": {"Format": "mp4"}, "Video": video}, "test")
    return {**cfg, "Watermarks": list(marks)}


def graph(settings, cfg, probe=FULL_HD) -> str:
    argv = build_ffmpeg_args("in.mp4", "out.mp4", probe, cfg, settings)
    return argv[argv.index("-filter_complex") + 1]


def test_a_text_watermark_exact_argv(settings):
    argv = build_ffmpeg_args("in.mp4", "out.mp4", FULL_HD, marked(text(X=40, Y=30)), settings)
    assert argv == [
        *HEAD,
        "-filter_complex",
        f"[0:V:0]drawtext=expansion=none:fontcolor=black:fontfile={CJK_FONT}:fontsize=16"
        ":text=mcfarm:x=40:y=30[s0]",
        *("-map", "[s0]", "-map", "0:a:0", "-f", "mp4", "-ac", "2", "-ar", "44100"),
        *("-b:a", "128k", "-c:a", "aac", "-c:v", "libx264", "-crf", "23", "-fps_mode:v", "vfr"),
        *("-movflags", "+faststart", "-pix_fmt", "yuv420p", "out.mp4"),
    ]


def test_every_text_key_reaches_drawtext(settings):
    # 1920x1080: X 0.1 of the width; Adaptive 16 px at 720 lines is 24 at 1080.
    mark = text(
        Content="Hi",
        FontName="Arial",
        FontSize=16,
        FontColor="0xFF0000",
        FontAlpha=0.5,
        BorderColor="white",
        BorderWidth=2,
        Adaptive=True,
        X=0.1,
        Y=20,
    )
    assert graph(settings, marked(mark)) == (
        "[0:V:0]drawtext=bordercolor=white:borderw=2:expansion=none:fontcolor=0xFF0000@0.5"
        f":fontfile={SANS}:fontsize=24:text=Hi:x=192:y=20[s0]"
    )


def test_text_is_passed_as_written_escaped_for_the_filter_graph(settings):
    mark = text(Content="a:b'c\\d%{pts}[x];,=", X=0, Y=0)
    assert graph(settings, marked(mark)) == (
        f"[0:V:0]drawtext=expansion=none:fontcolor=black:fontfile={CJK_FONT}:fontsize=16"
        # Colon, quote, backslash and '=' are escaped for the option, then backslash, quote
        # and '[],;' once more for the graph (ffmpeg-python); FFmpeg undoes both.
        ":text=a\\\\:b\\\\\\'c\\\\\\\\d%{pts}\\[x\\]\\;\\,\\\\=:x=0:y=0[s0]"
    )


@pytest.mark.parametrize(
    ("name", "content", "path"),
    [
        ("SimSun", "abc", CJK_FONT),
        ("Times New Roman", "abc", SERIF),
        ("Courier New", "Ωмир", MONO),  # Greek and Cyrillic: Liberation has them
        ("Arial", "水印", CJK_FONT),  # CJK in a Latin font: the CJK font, never boxes
    ],
)
def test_the_font_file_follows_the_name_and_the_text(settings, name, content, path):
    assert f"fontfile={path}:" in graph(settings, marked(text(FontName=name, Content=content)))


def test_an_image_watermark_exact_argv(settings):
    # 0.25 of 1920 wide (height follows the image), at 0.75 x 0.05 of 1920x1080.
    cfg = marked(image(Width=0.25, X=0.75, Y=0.05))
    argv = build_ffmpeg_args("in.mp4", "out.mp4", FULL_HD, cfg, settings)
    assert argv[: argv.index("-map")] == [
        *HEAD,
        *IMAGE_INPUT,
        *("-i", "logo", "-filter_complex"),
        "[1]trim=end_frame=1[s0];[s0]scale=480:-1[s1];"
        "[0:V:0][s1]overlay=eof_action=repeat:format=auto:x=1440:y=54[s2]",
    ]
    assert argv[argv.index("-map") : argv.index("-map") + 4] == ["-map", "[s2]", "-map", "0:a:0"]


@pytest.mark.parametrize(
    ("keys", "scale", "at"),
    [
        ({}, "", "x=0:y=0"),  # its own size, at the top-left corner
        ({"Height": 100, "X": 8, "Y": 9}, "scale=-1:100", "x=8:y=9"),
        ({"Width": 64, "Height": 0.5}, "scale=64:540", "x=0:y=0"),
        ({"Width": 0.9999, "Height": 8, "X": 4096}, "scale=1920:8", "x=4096:y=0"),
    ],
)
def test_image_size_and_place_in_pixels_or_ratios(settings, keys, scale, at):
    out = graph(settings, marked(image(**keys)))
    scaled = f"[s0]{scale}[s1];[0:V:0][s1]" if scale else "[0:V:0][s0]"
    assert (
        out
        == f"[1]trim=end_frame=1[s0];{scaled}overlay=eof_action=repeat:format=auto:{at}[s{2 if scale else 1}]"
    )


def test_ratios_are_of_the_encoded_frame_not_the_source(settings):
    # Scaled to 640 wide (360 high): X 0.5 is 320, Y 0.5 is 180.
    out = graph(settings, marked(text(X=0.5, Y=0.5), Width=640))
    assert out.startswith("[0:V:0]scale=640:360[s0];[s0]setsar=1[s1];[s1]drawtext=")
    assert out.endswith(":x=320:y=180[s2]")


def test_watermarks_are_drawn_in_order_each_over_the_last(settings):
    out = graph(settings, marked(image(), text(), image(ImagePath="second")))
    assert out.index("overlay") < out.index("drawtext") < out.rindex("overlay")
    argv = build_ffmpeg_args(
        "in.mp4", "out.mp4", FULL_HD, marked(image(), image(ImagePath="b")), settings
    )
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-i"] == ["in.mp4", "logo", "b"]


def test_a_boost_chunk_draws_the_same_watermark_after_its_trim(settings):
    chunk = Chunk(number=1, first=0, frames=250, seek=0.0, start=-0.02, end=9.98, duration=10.0)
    cfg = marked(text(X=40, Y=30))
    argv = chunk_args("in.mp4", FULL_HD, cfg, settings, chunk=chunk, dst="c1.nut")
    out = argv[argv.index("-filter_complex") + 1]
    assert out == (
        "[0:V:0]trim=end=9.980000:start=-0.020000[s0];[s0]setpts=PTS-STARTPTS[s1];"
        f"[s1]drawtext=expansion=none:fontcolor=black:fontfile={CJK_FONT}:fontsize=16"
        ":text=mcfarm:x=40:y=30[s2]"
    )


def test_no_watermarks_no_filter(settings):
    argv = build_ffmpeg_args("in.mp4", "out.mp4", FULL_HD, marked(), settings)
    assert "-filter_complex" not in argv


def test_a_source_without_a_size_cannot_place_them(settings):
    probe = dataclasses.replace(FULL_HD, video=dataclasses.replace(H264, width=0, height=0))
    with pytest.raises(InputContentBad):
        build_ffmpeg_args("in.mp4", "out.mp4", probe, marked(text(), Width=640), settings)


def test_watermarked_outputs_take_the_cpu_path():
    assert gpu_video_path(FULL_HD, marked(text()), "gpu") is None
    assert gpu_video_path(FULL_HD, marked(), "gpu") is not None


@pytest.mark.parametrize(
    ("value", "extent", "expected"),
    [(0, 1920, 0), (100, 1920, 100), (0.5, 1920, 960), (0.0001, 1920, 0), (0.3333, 1080, 360)],
)
def test_pixels(value, extent, expected):
    assert pixels(value, extent) == expected


@pytest.mark.parametrize(
    ("size", "adaptive", "expected"),
    [
        ((1920, 1080), False, 16),
        ((1920, 1080), True, 24),
        ((1080, 1920), True, 24),
        ((320, 240), True, 5),
    ],
)
def test_adaptive_font_size_follows_the_short_edge(size, adaptive, expected):
    assert font_size({"FontSize": 16, "Adaptive": adaptive}, size) == expected
