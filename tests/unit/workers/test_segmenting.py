"""Exact-argv tests for workers.segmenting: pure, no FFmpeg needed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from shared.catalog import SYSTEM_TEMPLATES
from shared.config import Settings
from shared.errors import InputContentBad, InvalidJob
from shared.templates import deep_merge
from tests.unit.workers.canned import FULL_HD, H264, HEAD
from workers.probe import INPUT_DEMUXERS
from workers.segmenting import (
    playlist_name,
    rendition_files,
    segment_args,
    segment_kind,
    segment_seconds,
)

SCALE_720 = ["-filter_complex", "[0:V:0]scale=1280:720[s0];[s0]setsar=1[s1]"]
AAC_128 = ["-ac", "2", "-ar", "44100", "-b:a", "128k"]
OUT = Path("out")


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def preset(template_id: str, **override) -> dict:
    """A system template's config (already normalized) with ``override`` merged over it."""
    return deep_merge(SYSTEM_TEMPLATES[template_id].config_dict(), override)


def config(fmt: str, seconds: int | None = 4, **sections) -> dict:
    mux = {"MuxConfig": {"Segment": {"Duration": seconds}}} if seconds else {}
    return {"Container": {"Format": fmt}, **mux, **sections}


def build(settings, cfg, probe=FULL_HD, stem="720p", **kwargs) -> list[str]:
    return segment_args("in.mp4", probe, cfg, settings, out_dir=OUT, stem=stem, **kwargs)


def option(argv: list[str], flag: str) -> str | None:
    hits = [i for i, arg in enumerate(argv) if arg == flag]
    return argv[hits[-1] + 1] if hits else None


def maps(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "-map"]


X264_KEYFRAMES_4S = [
    "-force_key_frames",
    "expr:gte(t,n_forced*4)",
    "-forced-idr",
    "1",
    "-fps_mode:v",
    "vfr",
    "-g",
    "100",
]

# --- exact argv, one per muxer ------------------------------------------------------------------


def test_m3u8_preset(settings):
    cfg = preset("S00000001-100030", MuxConfig={"Segment": {"Duration": 4}})  # M3U8-HD
    assert build(settings, cfg) == [
        *HEAD,
        *SCALE_720,
        "-map",
        "[s1]",
        "-map",
        "0:a:0",
        "-f",
        "hls",
        *AAC_128,
        "-b:v",
        "1800k",
        "-c:a",
        "aac",
        "-c:v",
        "libx264",
        *X264_KEYFRAMES_4S,
        "-hls_flags",
        "independent_segments",
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        "out/720p-%05d.ts",
        "-hls_time",
        "4",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "medium",
        "-sc_threshold",
        "0",
        "out/720p.m3u8",
    ]


def test_hls_fmp4(settings):
    cfg = config("hls-fmp4", Video={"Codec": "H.264", "Width": 1280, "Bitrate": 1800})
    assert build(settings, cfg) == [
        *HEAD,
        *SCALE_720,
        "-map",
        "[s1]",
        "-map",
        "0:a:0",
        "-f",
        "hls",
        *AAC_128,
        "-b:v",
        "1800k",
        "-c:a",
        "aac",
        "-c:v",
        "libx264",
        *X264_KEYFRAMES_4S,
        "-hls_flags",
        "independent_segments",
        "-hls_fmp4_init_filename",
        "720p-init.mp4",
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        "out/720p-%05d.m4s",
        "-hls_segment_type",
        "fmp4",
        "-hls_time",
        "4",
        "-pix_fmt",
        "yuv420p",
        "-sc_threshold",
        "0",
        "out/720p.m3u8",
    ]


def test_mpd(settings):
    cfg = config("mpd", Video={"Codec": "H.264", "Width": 1280, "Crf": 23}, Audio={"Remove": True})
    assert build(settings, cfg) == [
        *HEAD,
        *SCALE_720,
        "-map",
        "[s1]",
        "-f",
        "dash",
        "-c:v",
        "libx264",
        "-crf",
        "23",
        *X264_KEYFRAMES_4S,
        "-init_seg_name",
        "720p-init.mp4",
        "-media_seg_name",
        "720p-$Number%05d$.m4s",
        "-pix_fmt",
        "yuv420p",
        "-sc_threshold",
        "0",
        "-seg_duration",
        "4",
        "-single_file",
        "0",
        "-use_template",
        "1",
        "-use_timeline",
        "1",
        "out/720p.mpd",
    ]


def test_audio_only_rendition(settings):
    cfg = config("m3u8", Video={"Remove": True}, Audio={"Codec": "aac", "Bitrate": 64})
    assert build(settings, cfg, stem="en") == [
        *HEAD,
        "-map",
        "0:a:0",
        "-f",
        "hls",
        "-ac",
        "2",
        "-ar",
        "44100",
        "-b:a",
        "64k",
        "-c:a",
        "aac",
        "-hls_flags",
        "independent_segments",
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        "out/en-%05d.ts",
        "-hls_time",
        "4",
        "out/en.m3u8",
    ]


def test_copy_rendition_keeps_the_source_keyframes(settings):
    cfg = preset("S00000001-100000", MuxConfig={"Segment": {"Duration": 6}})  # M3U8-COPY
    argv = build(settings, cfg)
    assert argv[len(HEAD) :] == [
        "-map",
        "0:V:0",
        "-map",
        "0:a:0",
        "-f",
        "hls",
        "-c:a",
        "copy",
        "-c:v",
        "copy",
        "-hls_flags",
        "independent_segments",
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        "out/720p-%05d.ts",
        "-hls_time",
        "6",
        "out/720p.m3u8",
    ]


# --- keyframes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "source_fps", "video", "expected_gop"),
    [
        (4, 25.0, {}, "100"),
        (None, 25.0, {}, "250"),  # Segment.Duration defaults to 10 s
        (2, 30000 / 1001, {}, "60"),  # 59.94 frames: rounded up, never a keyframe early
        (6, 25.0, {"Fps": 30}, "180"),
        (4, 120.0, {}, "240"),  # capped at 60 fps
        (4, None, {}, "100"),  # unknown rate: 25 fps
        (4, 25.0, {"Gop": 50}, "50"),  # a shorter template GOP is kept
        (4, 25.0, {"Gop": "2s"}, "50"),
        (4, 25.0, {"Gop": "10s"}, "100"),  # a longer one is cut to a segment
    ],
)
def test_gop_is_one_segment(settings, seconds, source_fps, video, expected_gop):
    probe = dataclasses.replace(FULL_HD, video=dataclasses.replace(H264, fps=source_fps))
    cfg = config("m3u8", seconds, Video={"Codec": "H.264", "Crf": 23, **video})
    argv = build(settings, cfg, probe)
    duration = seconds or 10
    assert option(argv, "-g") == expected_gop
    assert option(argv, "-force_key_frames") == f"expr:gte(t,n_forced*{duration})"
    assert option(argv, "-sc_threshold") == "0"
    assert option(argv, "-forced-idr") == "1"
    assert option(argv, "-hls_time") == str(duration)


@pytest.mark.parametrize(("fmt", "tag"), [("m3u8", None), ("hls-fmp4", "hvc1"), ("cmaf", "hvc1")])
def test_x265_closes_gops_and_skips_scene_cuts(settings, fmt, tag):
    cfg = config(fmt, Video={"Codec": "H.265", "Bitrate": 800})
    argv = build(settings, cfg)
    assert option(argv, "-x265-params") == "log-level=error:scenecut=0:open-gop=0"
    assert option(argv, "-sc_threshold") is None
    assert option(argv, "-g") == "100"
    assert option(argv, "-force_key_frames") == "expr:gte(t,n_forced*4)"
    assert option(argv, "-tag:v") == tag


def test_copied_hevc_gets_the_hvc1_tag_in_dash(settings):
    probe = dataclasses.replace(FULL_HD, video=dataclasses.replace(H264, codec="hevc"))
    cfg = config("mpd", Video={"Codec": "copy"}, Audio={"Remove": True})
    argv = build(settings, cfg, probe)
    assert option(argv, "-tag:v") == "hvc1"
    assert "-force_key_frames" not in argv and "-g" not in argv


# --- muxer choice, streams, names -------------------------------------------------------------


def test_cmaf_in_a_dash_group(settings):
    cfg = config("cmaf", Video={"Codec": "H.264", "Crf": 23}, Audio={"Remove": True})
    argv = build(settings, cfg, segments="dash")
    assert option(argv, "-f") == "dash" and argv[-1] == "out/720p.mpd"
    assert option(build(settings, cfg), "-f") == "hls"


def test_dash_refuses_audio_and_video_together(settings):
    with pytest.raises(InvalidJob):
        build(settings, config("mpd", Video={"Codec": "H.264", "Crf": 23}))


def test_dash_from_a_silent_source(settings):
    silent = dataclasses.replace(FULL_HD, audio=None)
    argv = build(settings, config("mpd", Video={"Codec": "H.264", "Crf": 23}), silent)
    assert maps(argv) == ["0:V:0"]


def test_source_without_video_gives_an_audio_rendition(settings):
    no_video = dataclasses.replace(FULL_HD, video=None)
    argv = build(settings, config("hls-fmp4", Video={"Codec": "H.264", "Crf": 23}), no_video)
    assert maps(argv) == ["0:a:0"]
    assert "-force_key_frames" not in argv and "-c:v" not in argv


def test_nothing_to_write(settings):
    silent = dataclasses.replace(FULL_HD, audio=None)
    with pytest.raises(InputContentBad):
        build(settings, config("m3u8", Video={"Remove": True}), silent)


@pytest.mark.parametrize("stem", ["a b", "50%", "x$Number$", "", "..", "#1", 'q"'])
def test_stems_that_break_playlists_or_templates(settings, stem):
    with pytest.raises(InvalidJob):
        build(settings, config("m3u8", Video={"Codec": "H.264", "Crf": 23}), stem=stem)


@pytest.mark.parametrize("stem", ["720p", "h264_1080p.v2", "中文-480p"])
def test_good_stems(settings, stem):
    argv = build(settings, config("m3u8", Video={"Codec": "H.264", "Crf": 23}), stem=stem)
    assert argv[-1] == f"out/{stem}.m3u8"


def test_clip_and_metadata(settings):
    features = {"Clip": {"TimeSpan": {"Seek": 2, "Duration": 5}}, "Metadata": {"title": "t"}}
    argv = build(settings, config("m3u8", Video={"Codec": "H.264", "Crf": 23}), features=features)
    assert argv[argv.index("-i") - 2 : argv.index("-i")] == ["-ss", "2"]
    assert option(argv, "-t") == "5"
    assert argv[-3:] == ["-metadata", "title=t", "out/720p.m3u8"]


def test_the_input_is_read_as_a_local_media_file(settings):
    argv = build(settings, config("m3u8", Video={"Codec": "H.264", "Crf": 23}))
    assert option(argv, "-protocol_whitelist") == "file"
    assert option(argv, "-format_whitelist") == INPUT_DEMUXERS


@pytest.mark.parametrize(
    ("fmt", "segments", "kind", "playlist"),
    [
        ("m3u8", None, "ts", "720p.m3u8"),
        ("hls-fmp4", None, "fmp4", "720p.m3u8"),
        ("cmaf", None, "fmp4", "720p.m3u8"),
        ("mpd", None, "dash", "720p.mpd"),
        ("cmaf", "dash", "dash", "720p.mpd"),
    ],
)
def test_segment_kind(fmt, segments, kind, playlist):
    assert segment_kind({"Container": {"Format": fmt}}, segments) == kind
    assert playlist_name("720p", kind) == playlist


def test_segment_kind_of_a_single_file_container():
    with pytest.raises(InvalidJob):
        segment_kind({"Container": {"Format": "mp4"}})


def test_segment_seconds():
    assert segment_seconds(config("m3u8", 6)) == 6
    assert segment_seconds(config("m3u8", None)) == 10
    assert segment_seconds({"Container": {"Format": "m3u8"}, "MuxConfig": {}}) == 10


def test_rendition_files_put_the_playlist_last(tmp_path):
    for name in ("720p.m3u8", "720p-00001.m4s", "720p-init.mp4", "720p-00000.m4s"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert [path.name for path in rendition_files(tmp_path)] == [
        "720p-00000.m4s",
        "720p-00001.m4s",
        "720p-init.mp4",
        "720p.m3u8",
    ]
