"""The Boost chunk plan: whole frames, each in exactly one chunk, with a decodable lead-in."""

from __future__ import annotations

from fractions import Fraction

import pytest

from workers.chunks import FrameTimes, boost_wanted, plan_chunks, unsplittable

TB = Fraction(1, 90000)
NTSC = 3003  # ticks per frame at 30000/1001 fps


def cfr(frames: int, gop: int = 60, first: int = 132006, step: int = NTSC) -> FrameTimes:
    pts = tuple(first + i * step for i in range(frames))
    return FrameTimes(pts, pts[::gop], TB, file_start=1.412033)


def covered(chunks) -> list[int]:
    return [i for c in chunks for i in range(c.first, c.first + c.frames)]


def test_chunks_cover_every_frame_once_at_the_chunk_length():
    times = cfr(3596)  # two minutes at 29.97 fps
    chunks = plan_chunks(times, 10)
    assert covered(chunks) == list(range(3596))
    assert [c.first for c in chunks][:4] == [0, 300, 600, 900]  # 299.7 frames → the 300th
    assert len(chunks) == 12 and chunks[-1].first == 3297  # ceil(11 × 299.7)
    assert sum(c.duration for c in chunks) == pytest.approx(3596 * NTSC / 90000, abs=1e-5)


def test_trim_windows_fall_halfway_between_frames():
    times = cfr(900)
    for chunk in plan_chunks(times, 10):
        first = times.pts[chunk.first] * TB
        last = times.pts[chunk.first + chunk.frames - 1] * TB
        half = NTSC * TB / 2
        assert chunk.start == pytest.approx(float(first - half), abs=1e-6) or chunk.first == 0
        assert chunk.end == pytest.approx(float(last + half), abs=1e-6)


@pytest.mark.parametrize(("gop", "keyframe"), [(60, 300), (70, 280), (100, 300)])
def test_a_chunk_seeks_to_the_last_keyframe_at_or_before_its_first_frame(gop, keyframe):
    times = cfr(900, gop=gop)
    chunk = plan_chunks(times, 10)[1]  # its first frame is frame 300
    at = times.pts[keyframe] * TB
    assert chunk.seek == pytest.approx(float(at) - times.file_start + 0.0005, abs=1e-6)
    assert plan_chunks(times, 10)[0].seek == 0


def test_variable_frame_rate_cuts_at_times_not_counts():
    steps = [3000] * 150 + [6000] * 150 + [3000] * 300  # 30 fps, 15 fps, 30 fps again
    pts, now = [], 0
    for step in steps:
        pts.append(now)
        now += step
    times = FrameTimes(tuple(pts), tuple(pts[::30]), TB, file_start=0.0)
    chunks = plan_chunks(times, 10)
    assert covered(chunks) == list(range(600))
    for chunk in chunks[1:]:
        assert times.pts[chunk.first] * TB >= 10 * chunk.number  # at or after k × 10 s
        assert times.pts[chunk.first - 1] * TB < 10 * chunk.number


def test_a_short_input_is_one_chunk():
    chunks = plan_chunks(cfr(100), 10)
    assert len(chunks) == 1 and chunks[0].frames == 100 and chunks[0].seek == 0


@pytest.mark.parametrize(
    ("config", "features", "why"),
    [
        ({"Container": {"Format": "mp4"}}, None, None),
        ({"Container": {"Format": "flv"}, "Video": {"Codec": "H.264"}}, None, None),
        ({"Container": {"Format": "mp3"}}, None, "it has no video to encode"),
        ({"Container": {"Format": "mp4"}, "Video": {"Remove": True}}, None, "no video"),
        ({"Container": {"Format": "mp4"}, "Video": {"Codec": "copy"}}, None, "copied"),
        ({"Container": {"Format": "m3u8"}}, None, "segmented"),
        ({"Container": {"Format": "mp4"}}, {"Clip": {"TimeSpan": {"Seek": 1}}}, "clipped"),
    ],
)
def test_what_can_be_split(config, features, why):
    reason = unsplittable(config, features)
    assert (reason is None) if why is None else (why in reason)


@pytest.mark.parametrize(
    ("speed", "duration", "minimum", "wanted"),
    [
        ("Boost", 30, 0, True),
        ("Standard", 30, 0, False),
        ("Standard", 700, 600, True),
        ("Standard", 500, 600, False),
        ("Standard", None, 600, False),
    ],
)
def test_when_boost_is_wanted(speed, duration, minimum, wanted):
    assert boost_wanted(speed, duration, minimum) is wanted
