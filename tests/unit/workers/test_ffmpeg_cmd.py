"""Exact-argv tests for workers.ffmpeg_cmd: pure, no FFmpeg needed."""

from __future__ import annotations

import dataclasses

import pytest

from shared.catalog import SYSTEM_TEMPLATES
from shared.config import Settings
from shared.errors import InputContentBad, InvalidJob
from shared.templates import validate_template_config
from tests.unit.workers.canned import AAC, FULL_HD, H264, HEAD
from workers.ffmpeg_cmd import build_ffmpeg_args, output_duration
from workers.geometry import output_dimensions
from workers.probe import INPUT_DEMUXERS, ProbeInfo


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def probe_with(video=H264, audio=AAC, **video_changes) -> ProbeInfo:
    if video is not None and video_changes:
        video = dataclasses.replace(video, **video_changes)
    return dataclasses.replace(FULL_HD, video=video, audio=audio)


def config(fmt="mp4", **sections) -> dict:
    return validate_template_config({"Container": {"Format": fmt}, **sections}, "test")


def build(settings, cfg, probe=FULL_HD, **kwargs) -> list[str]:
    return build_ffmpeg_args("in.mp4", "out", probe, cfg, settings, **kwargs)


def option(argv: list[str], flag: str) -> str | None:
    """The value after the last ``flag`` in ``argv`` (None when absent)."""
    hits = [i for i, arg in enumerate(argv) if arg == flag]
    return argv[hits[-1] + 1] if hits else None


def maps(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "-map"]


# --- system templates ---------------------------------------------------------------------

EXPECTED = {
    "S00000001-200030": [  # MP4-HD: width 1280, height follows 16:9
        *HEAD,
        "-filter_complex",
        "[0:V:0]scale=1280:720[s0];[s0]setsar=1[s1]",
        "-map",
        "[s1]",
        "-map",
        "0:a:0",
        "-f",
        "mp4",
        "-ac",
        "2",
        "-ar",
        "44100",
        "-b:a",
        "128k",
        "-b:v",
        "1800k",
        "-c:a",
        "aac",
        "-c:v",
        "libx264",
        "-fps_mode:v",
        "vfr",
        "-movflags",
        "+faststart",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "medium",
        "out",
    ],
    "S00000001-000020": [  # FLV-SD: 1080 * 848 / 1920 = 477 → 478
        *HEAD,
        "-filter_complex",
        "[0:V:0]scale=848:478[s0];[s0]setsar=1[s1]",
        "-map",
        "[s1]",
        "-map",
        "0:a:0",
        "-f",
        "flv",
        "-ac",
        "2",
        "-ar",
        "44100",
        "-b:a",
        "80k",
        "-b:v",
        "800k",
        "-c:a",
        "aac",
        "-c:v",
        "libx264",
        "-fps_mode:v",
        "vfr",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "medium",
        "out",
    ],
    "S00000001-200000": [  # MP4-COPY
        *HEAD,
        "-map",
        "0:V:0",
        "-map",
        "0:a:0",
        "-f",
        "mp4",
        "-c:a",
        "copy",
        "-c:v",
        "copy",
        "-movflags",
        "+faststart",
        "out",
    ],
    "S00000001-300020": [  # MP3-128
        *HEAD,
        "-map",
        "0:a:0",
        "-f",
        "mp3",
        "-ac",
        "2",
        "-ar",
        "44100",
        "-b:a",
        "128k",
        "-c:a",
        "libmp3lame",
        "out",
    ],
    "S00000001-110031": [  # H.265 720P
        *HEAD,
        "-filter_complex",
        "[0:V:0]scale=1280:720[s0];[s0]setsar=1[s1]",
        "-map",
        "[s1]",
        "-map",
        "0:a:0",
        "-f",
        "mp4",
        "-ac",
        "2",
        "-ar",
        "44100",
        "-b:a",
        "64k",
        "-b:v",
        "800k",
        "-c:a",
        "aac",
        "-c:v",
        "libx265",
        "-fps_mode:v",
        "vfr",
        "-movflags",
        "+faststart",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "medium",
        "-tag:v",
        "hvc1",
        "-x265-params",
        "log-level=error",
        "out",
    ],
}
SUPPORTED_IDS = sorted(
    tid
    for tid, template in SYSTEM_TEMPLATES.items()
    if template.config["Container"]["Format"] in ("mp4", "flv", "mp3")
)


def template_config(template_id: str) -> dict:
    return validate_template_config(SYSTEM_TEMPLATES[template_id].config_dict(), template_id)


@pytest.mark.parametrize("template_id", sorted(EXPECTED))
def test_system_template_exact_argv(settings, template_id):
    assert build(settings, template_config(template_id)) == EXPECTED[template_id]


@pytest.mark.parametrize("template_id", SUPPORTED_IDS)
def test_every_supported_system_template(settings, template_id):
    cfg = template_config(template_id)
    argv = build(settings, cfg)
    video, audio, fmt = cfg.get("Video", {}), cfg["Audio"], cfg["Container"]["Format"]

    assert argv[: len(HEAD)] == HEAD
    assert argv[-1] == "out"
    assert option(argv, "-f") == fmt
    assert (
        option(argv, "-c:a") == {"aac": "aac", "mp3": "libmp3lame", "copy": "copy"}[audio["Codec"]]
    )
    if fmt == "mp3":
        assert maps(argv) == ["0:a:0"]
        assert option(argv, "-c:v") is None
    elif video["Codec"] == "copy":
        assert maps(argv) == ["0:V:0", "0:a:0"]
        assert "-filter_complex" not in argv
    else:
        assert option(argv, "-c:v") == {"H.264": "libx264", "H.265": "libx265"}[video["Codec"]]
        assert option(argv, "-b:v") == f"{video['Bitrate']}k"
        assert option(argv, "-b:a") == f"{audio['Bitrate']}k"
        assert option(argv, "-pix_fmt") == "yuv420p"
        width, height = output_dimensions(FULL_HD, video)
        assert width % 2 == 0 and height % 2 == 0
        assert video.get("Width", width) == width and video.get("Height", height) == height
        if (width, height) == (H264.width, H264.height):
            assert "-filter_complex" not in argv
        else:
            assert f"scale={width}:{height}" in option(argv, "-filter_complex")
    if "Maxrate" in video:
        assert option(argv, "-maxrate") == f"{video['Maxrate']}k"
        assert option(argv, "-bufsize") == "6000k"
    assert (option(argv, "-movflags") == "+faststart") == (fmt == "mp4")


def test_settings_choose_the_binary(tmp_path):
    settings = Settings(ffmpeg_bin="/opt/ffmpeg/bin/ffmpeg", work_dir=tmp_path)
    assert build(settings, config(Video={"Crf": 20}))[0] == "/opt/ffmpeg/bin/ffmpeg"


def test_every_input_is_a_local_file_read_by_a_media_demuxer(settings):
    argv = build(settings, config(Video={"Crf": 20}))
    assert argv[argv.index("-i") - 4 : argv.index("-i")] == [
        "-format_whitelist",
        INPUT_DEMUXERS,
        "-protocol_whitelist",
        "file",
    ]
    demuxers = set(INPUT_DEMUXERS.split(","))
    # Demuxers that open other files or run code are not on the list.
    opening = {"hls", "dash", "concat", "imf", "image2", "lavfi", "sdp", "rtsp", "tty"}
    assert demuxers.isdisjoint(opening | {"avisynth", "vapoursynth", "webm_dash_manifest"})
    assert {"mov", "mp4", "matroska", "mpegts", "flv", "mp3", "wav"} <= demuxers


# --- size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "video", "expected"),
    [
        ({}, {"Width": 848}, (848, 478)),
        ({}, {"Height": 720}, (1280, 720)),
        ({}, {"Width": 640, "Height": 480}, (640, 480)),  # both: exactly, aspect not kept
        ({}, {}, (1920, 1080)),
        ({"width": 321, "height": 241}, {}, (320, 240)),
        ({"width": 321, "height": 241}, {"Width": 160}, (160, 120)),
        ({"width": 321, "height": 241}, {"Height": 160}, (214, 160)),
        # LongShortMode: Width is the long edge, Height the short one, oriented like the source.
        (
            {"width": 1080, "height": 1920},
            {"Width": 1280, "Height": 720, "LongShortMode": True},
            (720, 1280),
        ),
        ({"width": 1080, "height": 1920}, {"Width": 1280, "LongShortMode": True}, (720, 1280)),
        ({"width": 1080, "height": 1920}, {"Height": 360, "LongShortMode": True}, (360, 640)),
        ({}, {"Width": 1280, "Height": 720, "LongShortMode": True}, (1280, 720)),
        ({"width": 1080, "height": 1920}, {"Width": 1280, "Height": 720}, (1280, 720)),
        # A phone's portrait video: coded landscape, rotated for display.
        ({"rotation": 90}, {"Width": 720}, (720, 1280)),
        ({"rotation": 270}, {}, (1080, 1920)),
        ({"rotation": 180}, {"Width": 720}, (720, 406)),
        # Anamorphic PAL: 720x576 coded, shown 4:3 or 16:9.
        ({"width": 720, "height": 576, "sar": "16:15"}, {}, (768, 576)),
        ({"width": 720, "height": 576, "sar": "64:45"}, {"Height": 360}, (640, 360)),
    ],
)
def test_output_dimensions(source, video, expected):
    assert output_dimensions(probe_with(**source), config(Video={"Crf": 23, **video})["Video"]) == (
        expected
    )


@pytest.mark.parametrize(
    ("probe", "video"),
    [
        (probe_with(video=None), {}),
        (FULL_HD, {"Codec": "copy"}),
        (FULL_HD, {"Remove": True}),
        (probe_with(width=0, height=0), {"Width": 848}),
    ],
)
def test_output_dimensions_unknown(probe, video):
    assert output_dimensions(probe, video) is None


def test_no_scale_when_the_size_is_kept(settings):
    argv = build(settings, config(Video={"Crf": 23, "Width": 1920}))
    assert "-filter_complex" not in argv
    assert maps(argv) == ["0:V:0", "0:a:0"]


def test_odd_source_is_scaled_down_to_even(settings):
    argv = build(settings, config(Video={"Crf": 23}), probe_with(width=321, height=241))
    assert option(argv, "-filter_complex") == "[0:V:0]scale=320:240[s0];[s0]setsar=1[s1]"


def test_non_square_pixels_are_resampled(settings):
    probe = probe_with(width=720, height=576, sar="64:45")
    argv = build(settings, config(Video={"Crf": 23}), probe)
    assert option(argv, "-filter_complex") == "[0:V:0]scale=1024:576[s0];[s0]setsar=1[s1]"


def test_rotated_source_is_sized_as_displayed(settings):
    probe = probe_with(width=1080, height=1920, rotation=90)  # coded portrait, shown landscape
    argv = build(settings, config(Video={"Crf": 23, "Height": 720}), probe)
    assert option(argv, "-filter_complex") == "[0:V:0]scale=1280:720[s0];[s0]setsar=1[s1]"
    unchanged = build(settings, config(Video={"Crf": 23}), probe_with(rotation=90))
    assert "-filter_complex" not in unchanged  # FFmpeg's autorotate already gives 1080x1920


def test_unknown_source_size_lets_ffmpeg_keep_the_aspect(settings):
    argv = build(settings, config(Video={"Crf": 23, "Width": 848}), probe_with(width=0, height=0))
    assert option(argv, "-filter_complex") == "[0:V:0]scale=848:-2[s0];[s0]setsar=1[s1]"


# --- rate control ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"Video": {}}, {"-crf": "23"}),
        ({"Video": {"Codec": "H.265"}}, {"-crf": "26"}),
        ({"Video": {"Crf": 20.5}}, {"-crf": "20.5"}),
        ({"Video": {"Bitrate": 1000}}, {"-b:v": "1000k"}),
        (
            {"Video": {"Bitrate": 1000, "Maxrate": 1500}},
            {"-b:v": "1000k", "-maxrate": "1500k", "-bufsize": "6000k"},
        ),
        (
            {"Video": {"Bitrate": 1000, "Maxrate": 1500, "Bufsize": 3000}},
            {"-b:v": "1000k", "-maxrate": "1500k", "-bufsize": "3000k"},
        ),
        (
            {"Video": {"Crf": 21, "Maxrate": 2000}, "TransConfig": {"TransMode": "fixCRF"}},
            {"-crf": "21", "-maxrate": "2000k", "-bufsize": "6000k"},
        ),
        (
            {"Video": {"Bitrate": 1000, "Crf": 30}, "TransConfig": {"TransMode": "fixCRF"}},
            {"-crf": "30"},
        ),
        (
            {"Video": {"Bitrate": 1000}, "TransConfig": {"TransMode": "CBR"}},
            {"-b:v": "1000k", "-minrate": "1000k", "-maxrate": "1000k", "-bufsize": "1000k"},
        ),
        (
            {
                "Video": {"Bitrate": 1000, "Bufsize": 2000, "Maxrate": 5000},
                "TransConfig": {"TransMode": "CBR"},
            },
            {"-b:v": "1000k", "-minrate": "1000k", "-maxrate": "1000k", "-bufsize": "2000k"},
        ),
        ({"Video": {"Bitrate": -1}}, {"-b:v": "4000k"}),
        (
            {"Video": {"Bitrate": -1}, "TransConfig": {"TransMode": "CBR"}},
            {"-b:v": "4000k", "-minrate": "4000k", "-maxrate": "4000k", "-bufsize": "4000k"},
        ),
    ],
)
def test_rate_control(settings, sections, expected):
    argv = build(settings, config(**sections))
    flags = ("-b:v", "-crf", "-maxrate", "-minrate", "-bufsize")
    assert {flag: option(argv, flag) for flag in flags if flag in argv} == expected


def test_source_bitrate_unknown_falls_back_to_crf(settings):
    argv = build(settings, config(Video={"Bitrate": -1}), probe_with(bit_rate=None))
    assert option(argv, "-crf") == "23"
    assert "-b:v" not in argv


# --- frame rate and GOP -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_fps", "video", "expected_filter"),
    [
        (25.0, {"Fps": 30}, "[0:V:0]fps=30[s0]"),
        (30000 / 1001, {"Fps": 29.97}, "[0:V:0]fps=29.97[s0]"),
        (120.0, {}, "[0:V:0]fps=60[s0]"),  # capped when no Fps is asked for
        (60.0, {}, None),
        (None, {}, None),
    ],
)
def test_fps(settings, source_fps, video, expected_filter):
    argv = build(settings, config(Video={"Crf": 23, **video}), probe_with(fps=source_fps))
    assert option(argv, "-filter_complex") == expected_filter


def test_fps_filter_runs_before_scaling(settings):
    argv = build(settings, config(Video={"Crf": 23, "Fps": 24, "Width": 1280}))
    assert option(argv, "-filter_complex") == (
        "[0:V:0]fps=24[s0];[s0]scale=1280:720[s1];[s1]setsar=1[s2]"
    )
    assert maps(argv) == ["[s2]", "0:a:0"]


@pytest.mark.parametrize(
    ("source_fps", "video", "expected"),
    [
        (25.0, {"Gop": 50}, "50"),
        (25.0, {"Gop": "2s"}, "50"),
        (30000 / 1001, {"Gop": "2s"}, "60"),
        (25.0, {"Gop": "2s", "Fps": 30}, "60"),
        (120.0, {"Gop": "1s"}, "60"),
        (None, {"Gop": "2s"}, "50"),
        (25.0, {}, None),
    ],
)
def test_gop(settings, source_fps, video, expected):
    argv = build(settings, config(Video={"Crf": 23, **video}), probe_with(fps=source_fps))
    assert option(argv, "-g") == expected


# --- encoder options ----------------------------------------------------------------------


def test_preset_profile_and_pix_fmt(settings):
    video = {"Crf": 23, "Preset": "veryfast", "Profile": "high", "PixFmt": "yuv422p"}
    argv = build(settings, config(Video=video))
    assert option(argv, "-preset") == "veryfast"
    assert option(argv, "-profile:v") == "high"
    assert option(argv, "-pix_fmt") == "yuv422p"


def test_hevc_tag_only_in_mp4(settings):
    mp4 = build(settings, config("mp4", Video={"Codec": "H.265"}))
    copied_hevc = build(settings, config("mp4", Video={"Codec": "copy"}), probe_with(codec="hevc"))
    copied_avc = build(settings, config("mp4", Video={"Codec": "copy"}))
    flv_copy = build(settings, config("flv", Video={"Codec": "copy"}), probe_with(codec="hevc"))
    assert option(mp4, "-tag:v") == "hvc1"
    assert option(mp4, "-x265-params") == "log-level=error"
    assert option(copied_hevc, "-tag:v") == "hvc1"
    assert option(copied_avc, "-tag:v") is None
    assert option(flv_copy, "-tag:v") is None


def test_audio_options(settings):
    audio = {
        "Codec": "aac",
        "Bitrate": 96,
        "Samplerate": 48000,
        "Channels": 1,
        "Profile": "aac_low",
    }
    argv = build(settings, config(Video={"Crf": 23}, Audio=audio))
    assert [option(argv, flag) for flag in ("-c:a", "-b:a", "-ar", "-ac", "-profile:a")] == [
        "aac",
        "96k",
        "48000",
        "1",
        "aac_low",
    ]


def test_audio_defaults(settings):
    argv = build(settings, config(Video={"Crf": 23}))
    assert [option(argv, flag) for flag in ("-c:a", "-b:a", "-ar", "-ac")] == [
        "aac",
        "128k",
        "44100",
        "2",
    ]


def test_channels_zero_keeps_the_source_layout(settings):
    argv = build(settings, config(Video={"Crf": 23}, Audio={"Channels": 0}))
    assert "-ac" not in argv


def test_mp3_keeping_channels_of_a_surround_source_downmixes(settings):
    surround = dataclasses.replace(AAC, channels=6)
    argv = build(settings, config("mp3", Audio={"Channels": 0}), probe_with(audio=surround))
    assert option(argv, "-ac") == "2"


# --- containers and stream selection ---------------------------------------------------------


def test_m4a(settings):
    argv = build(settings, config("m4a", Audio={"Bitrate": 96}))
    assert argv[len(HEAD) :] == [
        "-map",
        "0:a:0",
        "-f",
        "ipod",
        "-ac",
        "2",
        "-ar",
        "44100",
        "-b:a",
        "96k",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        "out",
    ]


def test_mp3_container_defaults_to_mp3_audio(settings):
    assert option(build(settings, config("mp3")), "-c:a") == "libmp3lame"


def test_video_remove(settings):
    argv = build(settings, config(Video={"Remove": True}))
    assert maps(argv) == ["0:a:0"]
    assert "-c:v" not in argv and "-filter_complex" not in argv


def test_audio_remove(settings):
    argv = build(settings, config(Video={"Crf": 23}, Audio={"Remove": True}))
    assert maps(argv) == ["0:V:0"]
    assert not any(arg in argv for arg in ("-c:a", "-b:a", "-ar", "-ac"))


def test_source_without_audio(settings):
    argv = build(settings, config(Video={"Crf": 23}), probe_with(audio=None))
    assert maps(argv) == ["0:V:0"]
    assert "-c:a" not in argv


def test_source_without_video(settings):
    argv = build(settings, config(Video={"Crf": 23, "Width": 1280}), probe_with(video=None))
    assert maps(argv) == ["0:a:0"]
    assert "-c:v" not in argv and "-filter_complex" not in argv


@pytest.mark.parametrize(
    ("fmt", "sections", "probe"),
    [
        ("mp3", {}, probe_with(audio=None)),
        ("mp4", {"Video": {"Remove": True}}, probe_with(audio=None)),
        ("mp4", {"Audio": {"Remove": True}}, probe_with(video=None)),
    ],
)
def test_nothing_to_write(settings, fmt, sections, probe):
    with pytest.raises(InputContentBad):
        build(settings, config(fmt, **sections), probe)


# --- features -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "input_ss", "output_t"),
    [
        ({"Seek": 1.5, "Duration": 3}, "1.5", "3"),
        ({"Seek": 1.5, "End": 4}, "1.5", "2.5"),
        ({"End": 4.25}, None, "4.25"),
        ({"Seek": 3600.125}, "3600.125", None),
        ({"Seek": 0, "Duration": 2}, None, "2"),
    ],
)
def test_clip(settings, span, input_ss, output_t):
    argv = build(settings, config("mp3"), features={"Clip": {"TimeSpan": span}})
    before_input, after_input = argv[: argv.index("-i")], argv[argv.index("-i") :]
    assert option(before_input, "-ss") == input_ss
    assert option(after_input, "-t") == output_t
    assert "-to" not in argv and option(after_input, "-ss") is None


def test_clip_end_before_seek(settings):
    with pytest.raises(InvalidJob):
        build(settings, config("mp3"), features={"Clip": {"TimeSpan": {"Seek": 5, "End": 5}}})


def test_metadata_pairs_go_before_the_output(settings):
    metadata = {"title": "Ünïcode = fine", "comment": "a b"}
    argv = build(settings, config("mp3"), features={"Metadata": metadata})
    assert argv[-5:] == ["-metadata", "title=Ünïcode = fine", "-metadata", "comment=a b", "out"]


@pytest.mark.parametrize(
    ("duration", "features", "expected"),
    [
        (10.0, None, 10.0),
        (10.0, {"Clip": {"TimeSpan": {"Seek": 4}}}, 6.0),
        (10.0, {"Clip": {"TimeSpan": {"Seek": 4, "Duration": 2}}}, 2.0),
        (10.0, {"Clip": {"TimeSpan": {"Seek": 4, "End": 20}}}, 6.0),
        (None, {"Clip": {"TimeSpan": {"Duration": 2}}}, 2.0),
        (None, None, None),
    ],
)
def test_output_duration(duration, features, expected):
    probe = dataclasses.replace(FULL_HD, duration=duration)
    assert output_duration(probe, features) == expected
