"""The Boost chunk plan: whole frames, each in exactly one chunk, with a decodable lead-in."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from workers.chunks import (
    Chunk,
    FrameTimes,
    boost_wanted,
    chunk_length,
    frame_times,
    plan_chunks,
    unsplittable,
)

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


@pytest.mark.parametrize(
    ("chunk", "segment", "length"), [(20, None, 20), (20, 6, 18), (20, 8, 24), (3, 10, 10)]
)
def test_a_segmented_output_cuts_chunks_of_whole_segments(chunk, segment, length):
    assert chunk_length(chunk, segment) == length


def test_segments_start_at_the_same_frames_in_every_chunk_and_the_joins_among_them():
    times = cfr(3596)  # 29.97 fps: a 4 s segment is 119.88 frames
    chunks = plan_chunks(times, 10, segment_seconds=4)  # 12 s chunks: 3 segments each
    assert [c.first for c in chunks][:3] == [0, 360, 720]  # 359.64 → frame 360
    assert chunks[0].keyframes == (0.0, 3.995658, 7.999658)  # frames 120 and 240, ¼ early
    assert chunks[1].keyframes == (0.0, 3.995658, 7.999658)  # frames 480 and 600
    assert chunks[-1].keyframes[0] == 0.0
    # Every segment start, over all chunks: the first frame at or after each k × 4 s.
    starts = [c.first + round((t * 90000 + NTSC / 4) / NTSC) for c in chunks for t in c.keyframes]
    wanted = [math.ceil(k * 4 * 90000 / NTSC) for k in range(len(starts))]
    assert starts == wanted and len(starts) == math.ceil(3596 * NTSC / 90000 / 4)
    assert plan_chunks(times, 10)[0].keyframes == ()  # a file output forces nothing


def test_a_chunk_goes_through_its_stored_form():
    chunk = plan_chunks(cfr(900), 10, segment_seconds=5)[1]
    assert Chunk.from_dict(chunk.to_dict()) == chunk  # keyframes come back as a tuple


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
        ({"Container": {"Format": "m3u8"}}, None, None),
        ({"Container": {"Format": "mpd"}, "Video": {"Remove": True}}, None, "no video"),
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


def test_frame_times_are_the_shown_frames_in_presentation_order():
    probe = {
        "streams": [{"time_base": "1/12800"}],
        "format": {"start_time": "0.000000"},
        "packets": [
            {"pts": -1024, "dts": -1536, "flags": "KD"},  # before the edit list: never shown
            {"pts": -512, "dts": -1024, "flags": "_D"},
            {"pts": 0, "dts": -512, "flags": "K__"},
            {"pts": 1536, "dts": 0, "flags": "___"},  # B-frames: decode order ≠ display
            {"pts": 512, "dts": 512, "flags": "___"},
            {"pts": 1024, "dts": 1024, "flags": "___"},
            {"dts": 1536, "flags": "___"},  # no pts: placed at its dts
            {"flags": "___"},  # neither: left out
        ],
    }
    times = frame_times(probe)
    assert times.pts == (0, 512, 1024, 1536, 1536) and times.keyframes == (0,)
    assert times.time_base == Fraction(1, 12800) and times.file_start == 0.0
    assert times.hidden == (-1024, -512)
    with pytest.raises(ValueError):
        frame_times({"streams": [{"time_base": "1/25"}], "packets": [{"flags": "KD", "pts": 0}]})


def test_a_chunk_that_decodes_hidden_frames_reads_the_whole_input():
    """A stream-copied piece loses what an edit list hides; the chunks needing it read whole."""
    shown = cfr(1190)  # four chunks
    before = tuple(shown.pts[0] - NTSC * n for n in (3, 2, 1))  # hidden, before the first frame
    times = FrameTimes(shown.pts, (before[0], *shown.keyframes[1:]), TB, 1.412033, before)
    chunks = plan_chunks(times, 10)
    assert [c.whole for c in chunks] == [True, False, False, False]
    assert chunks[0].piece is None and (chunks[1].piece or "").startswith("piece-")
    middle = FrameTimes(shown.pts, shown.keyframes, TB, 1.412033, (shown.pts[700] + 1,))
    assert [c.whole for c in plan_chunks(middle, 10)] == [False, False, True, False]
    assert [c.whole for c in plan_chunks(shown, 10)] == [False] * 4
