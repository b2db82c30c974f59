"""Subtitles: the probe's stream, the argv that carries it, the carrier, the master playlist."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import m3u8
import pytest

from shared.config import Settings
from shared.planning import OutputSpec
from tests.unit.workers.canned import FULL_HD, HEAD
from tests.unit.workers.test_manifests import LADDER
from workers.chunk_cmd import audio_args, chunk_args
from workers.chunks import Chunk
from workers.ffmpeg_cmd import build_ffmpeg_args
from workers.manifests import Measured, master_playlist, rendition_from_output
from workers.probe import parse_probe
from workers.probe_subtitles import SubtitleInfo, first_text_subtitle
from workers.segmenting import segment_args
from workers.subtitles import (
    SubtitleTrack,
    boost_reason,
    carries_subtitles,
    stamp_vtt_segments,
    subtitle_playlist,
    track_for,
    with_timestamp_map,
)

SRT = SubtitleInfo(index=2, codec="subrip", language="eng")
WITH_SUBS = dataclasses.replace(FULL_HD, subtitle=SRT)
COPY = {"Video": {"Codec": "copy"}, "Audio": {"Codec": "copy"}}


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def mp4(**sections) -> dict:
    return {"Container": {"Format": "mp4"}, **COPY, **sections}


# --- the input's stream -----------------------------------------------------------------------


def _stream(index: int, codec: str, kind: str = "subtitle", **tags) -> dict:
    return {"index": index, "codec_type": kind, "codec_name": codec, "tags": tags}


@pytest.mark.parametrize(
    ("streams", "expected"),
    [
        ([_stream(2, "subrip", language="eng")], SubtitleInfo(2, "subrip", "eng")),
        ([_stream(3, "mov_text", language="und", title="Director")], SubtitleInfo(3, "mov_text", None, "Director")),
        # Pictures cannot become text: the first text stream is the one.
        ([_stream(2, "hdmv_pgs_subtitle"), _stream(3, "ass", language="fra")], SubtitleInfo(3, "ass", "fra")),
        ([_stream(2, "dvd_subtitle")], None),
        ([{"index": 2, "codec_type": "subtitle", "codec_name": "webvtt"}], SubtitleInfo(2, "webvtt")),
        ([], None),
    ],
)  # fmt: skip
def test_first_text_subtitle(streams, expected):
    probe_json = {"streams": [_stream(0, "h264", "video"), *streams], "format": {}}
    assert first_text_subtitle(probe_json) == expected
    assert parse_probe(probe_json).subtitle == expected


# --- a file ----------------------------------------------------------------------------------


def test_mp4_carries_the_subtitles_as_mov_text(settings):
    assert build_ffmpeg_args("in.mp4", "out.mp4", WITH_SUBS, mp4(), settings) == [
        *HEAD,
        "-map",
        "0:V:0",
        "-map",
        "0:a:0",
        # By its index: a picture subtitle stream may come before the text one.
        "-map",
        "0:2",
        "-f",
        "mp4",
        "-c:a",
        "copy",
        "-c:s",
        "mov_text",
        "-c:v",
        "copy",
        "-movflags",
        "+faststart",
        "out.mp4",
    ]


def _maps(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "-map"]


@pytest.mark.parametrize(
    ("probe", "cfg"),
    [
        (FULL_HD, mp4()),  # the input has none
        (WITH_SUBS, mp4(Subtitles=[])),  # none asked for
        (WITH_SUBS, {"Container": {"Format": "flv"}, **COPY}),  # FLV holds none
        (WITH_SUBS, {"Container": {"Format": "m4a"}, "Audio": {"Codec": "copy"}}),
    ],
)
def test_files_without_subtitles(settings, probe, cfg):
    argv = build_ffmpeg_args("in.mp4", "out", probe, cfg, settings)
    assert "-c:s" not in argv and "0:2" not in _maps(argv)


def test_boost_parts_carry_none(settings):
    cfg = mp4(Video={"Codec": "H.264"}, Audio={"Codec": "aac"})
    chunk = Chunk(number=0, first=0, frames=50, seek=0.0, start=0.0, end=2.0, duration=2.0)
    for argv in (
        chunk_args("in.mp4", WITH_SUBS, cfg, settings, chunk=chunk, dst="c0.nut"),
        audio_args("in.mp4", WITH_SUBS, cfg, settings, dst="audio.m4a"),
    ):
        assert "-c:s" not in argv and "0:2" not in _maps(argv)


# --- an Hls rendition ---------------------------------------------------------------------------


def _rendition(settings, fmt: str, subtitles: bool, segments: str | None = None) -> list[str]:
    cfg = {"Container": {"Format": fmt}, **COPY, "MuxConfig": {"Segment": {"Duration": 4}}}
    return segment_args(
        "in.mp4",
        WITH_SUBS,
        cfg,
        settings,
        out_dir=Path("out"),
        stem="v",
        subtitles=subtitles,
        segments=segments,
    )


def test_the_carrier_writes_a_webvtt_playlist(settings):
    assert _rendition(settings, "m3u8", True) == [
        *HEAD,
        "-map",
        "0:V:0",
        "-map",
        "0:a:0",
        "-map",
        "0:2",
        "-f",
        "hls",
        "-c:a",
        "copy",
        "-c:s",
        "webvtt",
        "-c:v",
        "copy",
        "-hls_flags",
        "independent_segments",
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        "out/v-%05d.ts",
        # Named by us; its segments are named after the media playlist: v0.vtt, v1.vtt…
        "-hls_subtitle_path",
        "out/v_vtt.m3u8",
        "-hls_time",
        "4",
        "out/v.m3u8",
    ]
    assert subtitle_playlist("v") == "v_vtt.m3u8"


@pytest.mark.parametrize(
    ("fmt", "subtitles", "segments"),
    [("m3u8", False, None), ("cmaf", True, "dash")],  # not the carrier; a Dash group
)
def test_renditions_without_subtitles(settings, fmt, subtitles, segments):
    cfg_audio = {"Video": {"Remove": True}} if segments == "dash" else {}
    argv = segment_args(
        "in.mp4",
        WITH_SUBS,
        {"Container": {"Format": fmt}, "Audio": {"Codec": "copy"}, **cfg_audio},
        settings,
        out_dir=Path("out"),
        stem="v",
        subtitles=subtitles,
        segments=segments,
    )
    assert "-c:s" not in argv and "-hls_subtitle_path" not in argv


def _spec(index: int, group: int | None, fmt: str = "m3u8", **config) -> OutputSpec:
    group_type = {None: "File", 0: "Hls", 1: "Dash"}[group]
    hls = config.pop("hls", {})
    return OutputSpec(
        index=index,
        name=f"o{index}",
        input_index=0,
        input_media="oss://media/a.mkv",
        output_media=f"oss://out/{index}",
        template_id="t",
        config={"Container": {"Format": fmt}, **config},
        group=group,
        group_type=group_type,
        hls=hls,
    )


AUDIO_ONLY = _spec(0, 0, Video={"Remove": True}, hls={"Type": "audio", "Name": "en"})
NONE_ASKED = _spec(1, 0, Subtitles=[])
FIRST = _spec(2, 0)
SECOND = _spec(3, 0)
DASH = _spec(4, 1, "cmaf")
FILE = _spec(5, None, "mp4")
FLV = _spec(6, None, "flv")
SPECS = [AUDIO_ONLY, NONE_ASKED, FIRST, SECOND, DASH, FILE, FLV]


@pytest.mark.parametrize(
    ("spec", "carries"),
    [
        (AUDIO_ONLY, False),  # keeps no video
        (NONE_ASKED, False),  # Subtitles: []
        (FIRST, True),  # the group's first rendition that can
        (SECOND, False),  # one subtitle rendition per group
        (DASH, False),
        (FILE, True),
        (FLV, False),
    ],
)
def test_carries_subtitles(spec, carries):
    assert carries_subtitles(SPECS, spec) is carries
    reason = boost_reason(SPECS, spec, WITH_SUBS)
    assert (reason is not None) is carries
    assert boost_reason(SPECS, spec, FULL_HD) is None  # an input without subtitles


# --- the master playlist -----------------------------------------------------------------------


def test_track_for():
    assert track_for("video/720p.m3u8", SRT) == SubtitleTrack(
        playlist="video/720p_vtt.m3u8", name="eng", language="eng"
    )
    titled = SubtitleInfo(index=2, codec="ass", language="x!", title="Commentary")
    assert track_for("720p.m3u8", titled) == SubtitleTrack(
        playlist="720p_vtt.m3u8", name="Commentary"
    )
    assert track_for("a/b.m3u8", SubtitleInfo(index=2, codec="srt")).name == "Subtitles"


def test_master_playlist_with_subtitles():
    track = SubtitleTrack(playlist="video/720p_vtt.m3u8", name="English", language="en")
    other = dataclasses.replace(LADDER[2], subtitle_group="subs")
    text = master_playlist([LADDER[0], LADDER[1], other], subtitles=[track])
    assert text == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:3\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "\n"
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subtitle",NAME="English",LANGUAGE="en",'
        'DEFAULT=NO,AUTOSELECT=YES,URI="video/720p_vtt.m3u8"\n'
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",'
        'DEFAULT=NO,AUTOSELECT=YES,URI="video/720p_vtt.m3u8"\n'
        "\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=1000000,AVERAGE-BANDWIDTH=800000,RESOLUTION=640x360,"
        'CODECS="avc1.4d001e",FRAME-RATE=29.970,SUBTITLES="subs"\n'
        "video/360p.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,"
        'CODECS="avc1.64001f",FRAME-RATE=29.970,SUBTITLES="subtitle"\n'
        "video/720p.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=5000000,AVERAGE-BANDWIDTH=4000000,RESOLUTION=1920x1080,"
        'CODECS="avc1.640028",FRAME-RATE=29.970,SUBTITLES="subtitle"\n'
        "video/1080p.m3u8\n"
    )
    parsed = m3u8.loads(text)
    assert [(m.type, m.group_id, m.uri) for m in parsed.media][0] == (
        "SUBTITLES",
        "subtitle",
        "video/720p_vtt.m3u8",
    )
    assert [p.stream_info.subtitles for p in parsed.playlists] == ["subs", "subtitle", "subtitle"]


def test_master_playlist_without_subtitles_names_no_group():
    assert "SUBTITLES" not in master_playlist(LADDER)


def test_subtitle_group_comes_from_hls_group_config():
    measured = Measured(segments=[], total_duration=0.0, peak_bps=1, average_bps=1)
    probe_json = {"streams": [{"codec_type": "video", "codec_name": "h264", "profile": "High",
                               "level": 31, "width": 640, "height": 360}]}  # fmt: skip
    made = rendition_from_output("v.m3u8", {"SubtitleGroup": "cc"}, measured, probe_json)
    assert made.subtitle_group == "cc"
    assert rendition_from_output("v.m3u8", {}, measured, probe_json).subtitle_group == "subtitle"


# --- MPEG-TS renditions: X-TIMESTAMP-MAP ---------------------------------------------------------

STAMP = "X-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000"


@pytest.mark.parametrize(
    ("vtt", "stamped"),
    [
        ("WEBVTT\n\n00:00.500 --> 00:01.500\nHi\n", f"WEBVTT\n{STAMP}\n\n00:00.500 --> 00:01.500\nHi\n"),
        ("WEBVTT\n", f"WEBVTT\n{STAMP}\n"),  # a segment without cues
        (f"WEBVTT\n{STAMP}\n\n", f"WEBVTT\n{STAMP}\n\n"),  # once
        ("not vtt", "not vtt"),
    ],
)  # fmt: skip
def test_with_timestamp_map(vtt, stamped):
    assert with_timestamp_map(vtt) == stamped


def test_stamp_vtt_segments(tmp_path):
    (tmp_path / "v_vtt.m3u8").write_text("#EXTM3U\n#EXTINF:2.0,\nv0.vtt\n#EXTINF:2.0,\nv1.vtt\n")
    for name in ("v0.vtt", "v1.vtt", "x0.vtt"):
        (tmp_path / name).write_text("WEBVTT\n\n")
    stamp_vtt_segments(tmp_path, "v")
    assert [(tmp_path / n).read_text() for n in ("v0.vtt", "v1.vtt", "x0.vtt")] == [
        f"WEBVTT\n{STAMP}\n\n",
        f"WEBVTT\n{STAMP}\n\n",
        "WEBVTT\n\n",  # not the rendition's
    ]
    stamp_vtt_segments(tmp_path, "none")  # a rendition without subtitles: nothing to do
