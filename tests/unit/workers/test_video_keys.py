"""Exact argv of the Video keys of issue 12: Crop, Pad, AdjDarMethod, ScanMode, MaxFps,
TransMode twopass, Qscale, AbrMax, AV1, GIF and WEBP; and the cropdetect measure."""

from __future__ import annotations

import dataclasses

import pytest

from shared.config import Settings
from shared.errors import InvalidJob
from shared.templates import validate_template_config
from tests.unit.workers.canned import FULL_HD, H264, HEAD
from workers import crop
from workers.ffmpeg_cmd import build_ffmpeg_args, build_passes
from workers.geometry import frame_dimensions, output_dimensions
from workers.gpu_cmd import gpu_video_path
from workers.video_filters import needs_cpu_filters, scan_decision

SD = dataclasses.replace(FULL_HD, video=dataclasses.replace(H264, width=640, height=480))
INTERLACED = dataclasses.replace(FULL_HD, video=dataclasses.replace(H264, field_order="tt"))


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def config(fmt="mp4", **sections) -> dict:
    return validate_template_config({"Container": {"Format": fmt}, **sections}, "test")


def graph(settings, cfg, probe=FULL_HD) -> str:
    argv = build_ffmpeg_args("in.mp4", "out", probe, cfg, settings)
    return argv[argv.index("-filter_complex") + 1] if "-filter_complex" in argv else ""


def options(settings, cfg, probe=FULL_HD) -> list[str]:
    """What follows the last ``-map`` pair: the output options and the file."""
    argv = build_ffmpeg_args("in.mp4", "out", probe, cfg, settings)
    last = max(i for i, arg in enumerate(argv) if arg == "-map")
    return argv[last + 2 :]


def test_crop_then_scale(settings):
    cfg = config(Video={"Crop": "1920:800:0:140", "Width": 960})
    assert graph(settings, cfg) == (
        "[0:V:0]crop=1920:800:0:140[s0];[s0]scale=960:400[s1];[s1]setsar=1[s2]"
    )
    assert output_dimensions(FULL_HD, cfg["Video"]) == (960, 400)


def test_crop_alone_keeps_the_cropped_size(settings):
    cfg = config(Video={"Crop": "1280:720:320:180"})
    assert graph(settings, cfg) == "[0:V:0]crop=1280:720:320:180[s0]"


def test_a_crop_outside_the_source_is_refused(settings):
    with pytest.raises(InvalidJob, match=r"Video\.Crop.*outside the 1920x1080 source"):
        build_ffmpeg_args(
            "in.mp4", "o", FULL_HD, config(Video={"Crop": "1920:800:0:400"}), settings
        )


def test_pad_after_the_scale(settings):
    cfg = config(Video={"Width": 1280, "Height": 720, "Pad": "1280:800:0:40"})
    assert graph(settings, cfg) == (
        "[0:V:0]scale=1280:720[s0];[s0]setsar=1[s1];[s1]pad=1280:800:0:40:color=black[s2]"
    )
    assert frame_dimensions(FULL_HD, cfg["Video"]) == (1280, 800)


def test_a_pad_too_small_for_the_picture_is_refused(settings):
    with pytest.raises(InvalidJob, match=r"Video\.Pad.*1920x1080 picture"):
        build_ffmpeg_args("in.mp4", "o", FULL_HD, config(Video={"Pad": "1920:1080:0:40"}), settings)
    with pytest.raises(InvalidJob, match="Pad must hold the picture"):
        config(Video={"Width": 1280, "Height": 720, "Pad": "1280:720:2:0"})


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("crop", "[0:V:0]scale=1280:960[s0];[s0]setsar=1[s1];[s1]crop=1280:720[s2]"),
        (
            "pad",
            "[0:V:0]scale=960:720[s0];[s0]setsar=1[s1];"
            "[s1]pad=1280:720:(ow-iw)/2:(oh-ih)/2:color=black[s2]",
        ),
        ("rescale", "[0:V:0]scale=1280:720[s0];[s0]setsar=1[s1]"),
        ("none", "[0:V:0]scale=1280:720[s0];[s0]setsar=1[s1]"),
    ],
)
def test_adj_dar_method(settings, method, expected):
    cfg = config(Video={"Width": 1280, "Height": 720}, TransConfig={"AdjDarMethod": method})
    assert graph(settings, cfg, SD) == expected  # a 4:3 source into a 16:9 box


def test_adj_dar_with_long_short_mode_follows_a_portrait_source(settings):
    portrait = dataclasses.replace(SD, video=dataclasses.replace(SD.video, width=480, height=640))
    cfg = config(
        Video={"Width": 1280, "Height": 720, "LongShortMode": True},
        TransConfig={"AdjDarMethod": "pad"},
    )
    assert graph(settings, cfg, portrait) == (
        "[0:V:0]scale=720:960[s0];[s0]setsar=1[s1];"
        "[s1]pad=720:1280:(ow-iw)/2:(oh-ih)/2:color=black[s2]"
    )


def test_scan_mode(settings):
    assert scan_decision(FULL_HD, {}) == "progressive"
    assert scan_decision(INTERLACED, {}) == "interlaced"  # follows the source
    assert scan_decision(INTERLACED, {"Codec": "H.265"}) == "deinterlace"  # no fields in x265
    assert scan_decision(INTERLACED, {"ScanMode": "auto"}) == "deinterlace"
    assert scan_decision(FULL_HD, {"ScanMode": "auto"}) == "progressive"
    with pytest.raises(InvalidJob, match="ScanMode.*progressive but the source is interlaced"):
        scan_decision(INTERLACED, {"ScanMode": "progressive"})
    with pytest.raises(InvalidJob, match="interlaced but the source is progressive"):
        scan_decision(FULL_HD, {"ScanMode": "interlaced"})


def test_auto_deinterlaces_with_bwdif(settings):
    cfg = config(Video={"ScanMode": "auto", "Width": 1280})
    assert graph(settings, cfg, INTERLACED) == (
        "[0:V:0]bwdif=deint=all:mode=send_frame:parity=tff[s0];"
        "[s0]scale=1280:720[s1];[s1]setsar=1[s2]"
    )


def test_an_interlaced_source_stays_field_coded(settings):
    cfg = config(Video={"Width": 1280})
    assert graph(settings, cfg, INTERLACED) == "[0:V:0]scale=1280:720:interl=1[s0];[s0]setsar=1[s1]"
    tail = options(settings, cfg, INTERLACED)
    assert tail[tail.index("-flags:v") + 1] == "+ildct+ilme"
    assert tail[tail.index("-field_order") + 1] == "tt"
    assert tail[tail.index("-top") + 1] == "1"
    with pytest.raises(InvalidJob, match="ScanMode interlaced needs H.264"):
        config(Video={"ScanMode": "interlaced", "Codec": "H.265"})


@pytest.mark.parametrize(
    ("video", "source_fps", "rate"),
    [
        ({"MaxFps": 30}, 50.0, "30"),
        ({"MaxFps": 30}, 25.0, None),
        ({"MaxFps": 30, "Fps": 50}, 25.0, "30"),
        ({"MaxFps": 24, "Fps": 20}, 50.0, "20"),
    ],
)
def test_max_fps(settings, video, source_fps, rate):
    probe = dataclasses.replace(FULL_HD, video=dataclasses.replace(H264, fps=source_fps))
    text = graph(settings, config(Video=video), probe)
    assert (f"fps={rate}" in text) if rate else "fps=" not in text


def test_twopass_runs_a_video_only_first_pass(settings):
    cfg = config(Video={"Bitrate": 800}, TransConfig={"TransMode": "twopass"})
    first, second = build_passes("in.mp4", "out", FULL_HD, cfg, settings, stats="/w/passlog")
    assert first[len(HEAD) :] == [
        "-map", "0:V:0", "-f", "null", "-b:v", "800k", "-c:v", "libx264",
        "-fps_mode:v", "vfr", "-pass", "1", "-passlogfile", "/w/passlog",
        "-pix_fmt", "yuv420p", "-",
    ]  # fmt: skip
    assert second[second.index("-pass") + 1] == "2" and "0:a:0" in second
    assert second[second.index("-passlogfile") + 1] == "/w/passlog" and second[-1] == "out"
    onepass = config(Video={"Bitrate": 800})
    assert build_passes("in.mp4", "out", FULL_HD, onepass, settings, stats="/w/p") == [
        build_ffmpeg_args("in.mp4", "out", FULL_HD, onepass, settings)
    ]


def test_twopass_hevc_passes_its_stats_through_x265_params(settings):
    cfg = config(Video={"Codec": "H.265", "Bitrate": 800}, TransConfig={"TransMode": "twopass"})
    first, second = build_passes("in.mp4", "out", FULL_HD, cfg, settings, stats="/w/p")
    assert first[first.index("-x265-params") + 1] == "log-level=error:pass=1:stats=/w/p"
    assert second[second.index("-x265-params") + 1] == "log-level=error:pass=2:stats=/w/p"


def test_qscale_and_abr_max(settings):
    tail = options(settings, config(Video={"Qscale": 28}))
    assert tail[tail.index("-qp") + 1] == "28" and "-crf" not in tail
    tail = options(settings, config(Video={"Bitrate": 800, "AbrMax": 1200}))
    assert tail[tail.index("-maxrate") + 1] == "1200k"
    assert tail[tail.index("-bufsize") + 1] == "6000k"


def test_av1_with_svt(settings):
    tail = options(settings, config(Video={"Codec": "AV1", "Preset": "fast", "Gop": 50}))
    assert tail[tail.index("-c:v") + 1] == "libsvtav1"
    assert tail[tail.index("-crf") + 1] == "32"  # the reference's AV1 default
    assert tail[tail.index("-preset") + 1] == "8"
    assert tail[tail.index("-g") + 1] == "50"


def test_gif_uses_a_palette_and_no_audio(settings):
    cfg = config("gif", Video={"Width": 320, "Fps": 10})
    argv = build_ffmpeg_args("in.mp4", "out", FULL_HD, cfg, settings)
    assert argv[argv.index("-filter_complex") + 1] == (
        "[0:V:0]fps=10[s0];[s0]scale=320:180[s1];[s1]setsar=1[s2];[s2]split=2[s3][s4];"
        "[s3]palettegen=stats_mode=diff[s5];[s4][s5]paletteuse=dither=bayer[s6]"
    )
    assert argv[len(HEAD) + 2 :] == [
        "-map", "[s6]", "-f", "gif", "-c:v", "gif", "-fps_mode:v", "vfr", "-loop", "0", "out",
    ]  # fmt: skip


def test_webp_is_animated_libwebp(settings):
    argv = build_ffmpeg_args("in.mp4", "out", FULL_HD, config("webp"), settings)
    assert argv[argv.index("-c:v") + 1] == "libwebp_anim" and "0:a:0" not in argv
    assert argv[argv.index("-f") + 1] == "webp"


@pytest.mark.parametrize(
    ("sections", "reason"),
    [
        (
            {
                "Video": {"Crop": "1920:800:0:140", "Width": 1280, "Height": 720},
                "TransConfig": {"AdjDarMethod": "crop"},
            },
            "give one",
        ),
        ({"Video": {"Width": 1280}, "TransConfig": {"AdjDarMethod": "pad"}}, "needs both"),
        ({"Video": {"Pad": "1920:1080:0:0"}, "TransConfig": {"IsCheckReso": True}}, "IsCheckReso"),
        ({"Video": {"Qscale": 20, "Codec": "H.265"}}, "Qscale applies to H.264 only"),
        ({"Video": {"Qscale": 20, "Crf": 23}}, "constant quantizer"),
        ({"Video": {"Maxrate": 900, "AbrMax": 900}}, "give one"),
        (
            {
                "Video": {"Bitrate": 500},
                "TransConfig": {"TransMode": "twopass"},
                "Container": {"Format": "m3u8"},
            },
            "one pass",
        ),
        (
            {"Video": {"Codec": "AV1", "Bitrate": 500}, "TransConfig": {"TransMode": "twopass"}},
            "AV1",
        ),
        ({"Video": {"Codec": "AV1", "Maxrate": 900}}, "AV1"),
        ({"Video": {"Codec": "AV1", "Bitrate": 900}, "TransConfig": {"TransMode": "CBR"}}, "CBR"),
        ({"Video": {"Codec": "GIF"}}, "cannot carry GIF"),
        ({"Container": {"Format": "gif"}, "Video": {"Bitrate": 300}}, "takes no Bitrate"),
        ({"Container": {"Format": "gif"}, "Audio": {"Codec": "aac"}}, "holds no audio"),
        ({"Container": {"Format": "m3u8"}, "Video": {"Codec": "AV1"}}, "cannot carry AV1"),
    ],
)
def test_refusals_name_the_key_and_the_reason(sections, reason):
    document = {"Container": {"Format": "mp4"}} | sections
    with pytest.raises(InvalidJob, match=reason) as err:
        validate_template_config(document, "Outputs[0].OverrideParams")
    assert err.value.code == "InvalidParameter"


def test_cropdetect_measure():
    measured = "\n".join(
        [
            "[Parsed_cropdetect_0 @ 0x1] x1:0 x2:319 y1:40 y2:199 w:320 h:160 x:0 y:40 crop=320:160:0:40",
            "[Parsed_cropdetect_0 @ 0x1] x1:0 x2:319 y1:30 y2:209 w:320 h:180 x:0 y:30 crop=320:180:0:30",
        ]
    )
    assert crop.parse(measured) == {"W": 320, "H": 180, "L": 0, "T": 30}
    assert crop.parse("no lines") == {} and crop.parse("crop=0:0:0:0") == {}
    cfg = config(Video={"Crop": "border", "Width": 640})
    assert crop.needed(cfg, FULL_HD) and not crop.needed(config(), FULL_HD)
    assert not crop.needed(cfg, dataclasses.replace(FULL_HD, video=None))
    folded = crop.fold(cfg, {"W": 320, "H": 180, "L": 0, "T": 30})
    assert folded["Video"] == {"Crop": {"W": 320, "H": 180, "L": 0, "T": 30}, "Width": 640}
    assert "Crop" not in crop.fold(cfg, {})["Video"] and cfg["Video"]["Crop"] == "border"


def test_cropdetect_argv(settings):
    long = dataclasses.replace(FULL_HD, duration=600.0)
    assert crop.argv("in.mp4", FULL_HD, {}, settings) == [
        "ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-i", "in.mp4",
        "-map", "0:V:0", "-vf", "cropdetect=limit=24:round=2:reset=0", "-an", "-f", "null", "-",
    ]  # fmt: skip
    assert crop.argv("in.mp4", long, {}, settings)[6:8] == ["-skip_frame", "nokey"]


def test_the_gpu_path_leaves_cpu_filters_to_the_cpu():
    cropped = config(Video={"Crop": "1920:800:0:140"})
    assert needs_cpu_filters(FULL_HD, cropped)
    assert gpu_video_path(FULL_HD, cropped, "gpu") is None
    assert not needs_cpu_filters(FULL_HD, config(Video={"Width": 1280}))
    assert needs_cpu_filters(INTERLACED, config())
