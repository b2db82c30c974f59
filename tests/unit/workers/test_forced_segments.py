"""ForceSegTime: boundaries, the keyframe expression, the muxers' argv (workers.forced_segments)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from shared.config import Settings
from tests.unit.workers.canned import FULL_HD, HEAD
from workers.chunks import unsplittable
from workers.forced_segments import (
    EPSILON,
    boundary_points,
    force_key_frames_expr,
    settle_max_segment_duration,
    settle_mpd_file,
)
from workers.segmenting import segment_args

OUT = Path("out")


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def config(fmt: str, points: str | None, seconds: int = 2, **sections) -> dict:
    segment = {"Duration": seconds} | ({"ForceSegTime": points} if points else {})
    video = {"Codec": "H.264", "Bitrate": 1800, "Preset": "ultrafast"}
    return {"Container": {"Format": fmt}, "Video": video, "MuxConfig": {"Segment": segment}} | (
        sections
    )


def build(settings, cfg, probe=FULL_HD) -> list[str]:
    return segment_args("in.mp4", probe, cfg, settings, out_dir=OUT, stem="v")


def option(argv: list[str], flag: str) -> str | None:
    hits = [i for i, arg in enumerate(argv) if arg == flag]
    return argv[hits[-1] + 1] if hits else None


# --- which points add a boundary ------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "seconds", "fps", "kept"),
    [
        ((1.3, 3.7), 2, 25, (1.3, 3.7)),
        ((2, 4, 5), 2, 25, (5,)),  # on the grid already
        ((1.99, 2.01, 3.97), 2, 25, ()),  # within a frame (0.04 s) of 2 and 4
        ((1.96, 2.04), 2, 25, (1.96, 2.04)),  # a whole frame away
        ((1.001, 1.002, 1.05), 2, 25, (1.001, 1.05)),  # within a frame of the point before
        ((0.01,), 2, 25, ()),  # the first frame is a boundary
        ((5.5, 7), 10, 30, (5.5, 7)),
        ((0.5,), 1, 60, (0.5,)),
    ],
)
def test_boundary_points(points, seconds, fps, kept):
    assert boundary_points(points, seconds, fps) == pytest.approx(kept)


def test_force_key_frames_expr():
    assert force_key_frames_expr((1.3, 3.7), 2) == (
        f"expr:gte(t+{EPSILON},if(eq(n_forced,1),1.3,"
        "if(eq(n_forced,3),3.7,(n_forced-lt(1,n_forced)-lt(3,n_forced))*2)))"
    )


def _keyframes(expr: str, fps: float, seconds: float) -> list[float]:
    """The frame times FFmpeg forces with ``expr``, evaluated the way FFmpeg does: once per
    frame, with ``n_forced`` the keyframes forced so far."""
    body = expr.removeprefix("expr:").replace("if(", "if_(")
    functions = {
        "if_": lambda c, a, b: a if c else b,
        "eq": lambda a, b: float(a == b),
        "lt": lambda a, b: float(a < b),
        "gte": lambda a, b: float(a >= b),
    }
    forced, frames = [], round(seconds * fps)
    for n in range(frames):
        t = n / fps
        if eval(body, {"__builtins__": {}}, functions | {"t": t, "n_forced": len(forced)}):  # noqa: S307
            forced.append(t)
    return forced


@pytest.mark.parametrize(
    ("points", "seconds", "fps", "length"),
    [
        ((1.3, 3.7), 2, 25, 10),
        ((1.3, 1.7, 9.9), 2, 25, 12),
        ((0.5, 1, 2.5, 7.25), 4, 30000 / 1001, 20),
        ((3, 3.5, 4.001, 11, 22.2, 30, 31, 32, 33.3, 59.999), 10, 24, 70),
        ((12.345,), 6, 60, 30),
    ],
)
def test_the_expression_forces_every_boundary_and_nothing_else(points, seconds, fps, length):
    kept = boundary_points(points, seconds, fps)
    boundaries = sorted({*kept, *range(0, length, seconds)})
    frame = 1 / fps
    forced = _keyframes(force_key_frames_expr(kept, seconds), fps, length)
    assert len(forced) == len(boundaries)
    for at, boundary in zip(forced, boundaries, strict=True):
        assert boundary - EPSILON <= at < boundary + frame  # the first frame at or after it


# --- the argv ---------------------------------------------------------------------------------


def test_m3u8_with_force_seg_time(settings):
    assert build(settings, config("m3u8", "1.3,3.7")) == [
        *HEAD,
        "-map",
        "0:V:0",
        "-map",
        "0:a:0",
        "-f",
        "hls",
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
        "-force_key_frames",
        force_key_frames_expr((1.3, 3.7), 2),
        "-forced-idr",
        "1",
        "-fps_mode:v",
        "vfr",
        "-g",
        "50",
        "-hls_flags",
        "independent_segments",
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        "out/v-%05d.ts",
        # Cut at every keyframe: the keyframes are the boundaries.
        "-hls_time",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "ultrafast",
        "-sc_threshold",
        "0",
        "out/v.m3u8",
    ]


@pytest.mark.parametrize(("fmt", "cut"), [("hls-fmp4", "-hls_time"), ("mpd", "-seg_duration")])
def test_other_muxers_cut_at_every_keyframe(settings, fmt, cut):
    plain = build(settings, config(fmt, None, Audio={"Remove": True}))
    argv = build(settings, config(fmt, "1.3,3.7", Audio={"Remove": True}))
    expected = list(plain)
    expected[plain.index("-force_key_frames") + 1] = force_key_frames_expr((1.3, 3.7), 2)
    expected[plain.index(cut) + 1] = "0"
    assert argv == expected


@pytest.mark.parametrize(
    "cfg",
    [
        # Only points on the grid: nothing to add.
        config("m3u8", "2,4,6"),
        # An audio rendition has no keyframes to cut by: every Duration seconds.
        config("m3u8", "1.3", Video={"Remove": True}),
    ],
)
def test_cut_by_duration_alone(settings, cfg):
    plain = dict(cfg, MuxConfig={"Segment": {"Duration": 2}})
    assert build(settings, cfg) == build(settings, plain)
    assert option(build(settings, cfg), "-hls_time") == "2"


def test_source_fps_decides_what_is_within_a_frame(settings):
    slow = dataclasses.replace(FULL_HD, video=dataclasses.replace(FULL_HD.video, fps=10.0))
    argv = build(settings, config("m3u8", "1.95,3"), probe=slow)  # 1.95 is within 0.1 s of 2
    assert option(argv, "-force_key_frames") == force_key_frames_expr((3,), 2)
    argv = build(settings, config("m3u8", "1.95,3"))  # at 25 fps it is not
    assert option(argv, "-force_key_frames") == force_key_frames_expr((1.95, 3), 2)


def test_boost_does_not_split_forced_segments():
    assert "ForceSegTime" in unsplittable(config("m3u8", "1.3"), {})
    assert unsplittable(config("m3u8", None), {}) is None


# --- the DASH manifest ------------------------------------------------------------------------

MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT6.0S"
\tmaxSegmentDuration="{max}" minBufferTime="PT0.5S">
\t<Period id="0" start="PT0.0S"><AdaptationSet id="0" contentType="video">
\t\t<Representation id="0" mimeType="video/mp4">
\t\t\t<SegmentTemplate timescale="12800" initialization="v-init.mp4" media="v-$Number%05d$.m4s">
\t\t\t\t<SegmentTimeline><S t="0" d="16896" /><S d="8704" /><S d="22016" r="1" />
\t\t\t\t<S d="3584" /></SegmentTimeline>
\t\t\t</SegmentTemplate>
\t\t</Representation>
\t</AdaptationSet></Period>
</MPD>
"""


def test_settle_max_segment_duration(tmp_path):
    # 22016 / 12800 = 1.72 s, the longest segment; rounded up to the tenth, as FFmpeg writes.
    assert settle_max_segment_duration(MPD.format(max="PT0.0S")) == MPD.format(max="PT1.8S")
    assert settle_max_segment_duration(MPD.format(max="PT2.0S")) == MPD.format(max="PT2.0S")
    path = tmp_path / "v.mpd"
    path.write_text(MPD.format(max="PT0.0S"))
    settle_mpd_file(path)
    assert path.read_text() == MPD.format(max="PT1.8S")
