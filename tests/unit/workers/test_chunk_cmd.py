"""Exact argv of a split (Boost) output's steps: its chunks, its audio, and the join."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings
from tests.unit.workers.canned import FULL_HD, HEAD
from workers.chunk_cmd import (
    audio_args,
    chunk_args,
    concat_list,
    join_args,
    join_rate_control,
    join_segments_args,
)
from workers.chunks import Chunk

#: What a join's argv starts with (it reads our own files: no demuxer whitelist).
JOIN_HEAD = HEAD[:9]
CHUNK = Chunk(number=1, first=250, frames=250, seek=8.0005, start=9.98, end=19.98, duration=10.0)
HEVC_MP4 = {
    "Container": {"Format": "mp4"},
    "Video": {"Codec": "H.265", "Width": 1280, "Preset": "fast"},
    "Audio": {"Codec": "aac", "Bitrate": 128},
}
H264_M3U8 = {
    "Container": {"Format": "m3u8"},
    "MuxConfig": {"Segment": {"Duration": 4}},
    "Video": {"Codec": "H.264", "Width": 1280, "Preset": "fast"},
    "Audio": {"Codec": "aac", "Bitrate": 128},
}
TRIMMED_720 = (
    "[0:V:0]trim=end=19.980000:start=9.980000[s0];[s0]setpts=PTS-STARTPTS[s1];"
    "[s1]scale=1280:720[s2];[s2]setsar=1[s3]"
)


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def test_a_chunk_seeks_before_it_and_trims_exactly_its_frames(settings):
    argv = chunk_args("in.mp4", FULL_HD, HEVC_MP4, settings, chunk=CHUNK, dst="c1.nut")
    assert argv == [
        *HEAD[:11],
        # Every frame decoded from the keyframe: the trim, not the seek, picks the first.
        *("-noaccurate_seek", "-protocol_whitelist", "file", "-ss", "8.001", "-i", "in.mp4"),
        *("-filter_complex", TRIMMED_720, "-map", "[s3]", "-f", "nut"),
        *("-c:v", "libx265", "-copyts", "-crf", "26", "-fps_mode:v", "vfr"),
        *("-pix_fmt", "yuv420p", "-preset", "fast", "-x265-params", "log-level=error"),
        "c1.nut",
    ]  # video only, no hvc1 tag (the join tags it), no seek for the first chunk:
    first = Chunk(number=0, first=0, frames=250, seek=0.0, start=-0.02, end=9.98, duration=10.0)
    assert "-ss" not in chunk_args("in.mp4", FULL_HD, HEVC_MP4, settings, chunk=first, dst="c")


def test_a_rendition_chunk_is_stitchable_and_forces_its_segment_starts(settings):
    chunk = Chunk(**{**CHUNK.to_dict(), "keyframes": (0.0, 3.99, 7.99)})
    argv = chunk_args("in.mp4", FULL_HD, H264_M3U8, settings, chunk=chunk, dst="c1.nut")
    assert argv[argv.index("-f") :] == [
        *("-f", "nut", "-c:v", "libx264", "-copyts", "-crf", "23"),
        *("-force_key_frames", "0.000000,3.990000,7.990000", "-forced-idr", "1"),
        *("-fps_mode:v", "vfr", "-g", "100", "-pix_fmt", "yuv420p", "-preset", "fast"),
        *("-sc_threshold", "0", "-x264-params", "stitchable=1", "c1.nut"),
    ]


def test_the_audio_is_encoded_once_over_the_whole_input_into_mp4(settings):
    assert audio_args("in.mp4", FULL_HD, HEVC_MP4, settings, dst="audio.m4a") == [
        *HEAD,
        *("-map", "0:a:0", "-f", "mp4", "-ac", "2", "-ar", "44100", "-b:a", "128k"),
        *("-c:a", "aac", "audio.m4a"),
    ]


def test_the_concat_list_gives_each_chunk_the_source_time_it_spans():
    last = Chunk(number=2, first=500, frames=10, seek=18.0, start=19.98, end=20.38, duration=0.4)
    listing = concat_list([CHUNK, last], ["c1.nut", "c2.nut"])
    assert listing == "file 'c1.nut'\nduration 10.000000\nfile 'c2.nut'\nduration 0.400000\n"


def test_the_join_copies_into_the_container_keeping_the_source_offset(settings):
    # The video starts 50 ms before the audio in the source: the audio input is offset.
    argv = join_args("chunks.txt", "audio.m4a", "out.mp4", HEVC_MP4, settings, video_offset=-0.05)
    assert argv == [
        *JOIN_HEAD,
        *("-f", "concat", "-protocol_whitelist", "file", "-safe", "0", "-i", "chunks.txt"),
        *("-itsoffset", "0.05", "-protocol_whitelist", "file", "-i", "audio.m4a"),
        *("-map", "0:v:0", "-map", "1:a:0", "-f", "mp4", "-c", "copy"),
        *("-movflags", "+faststart", "-tag:v", "hvc1", "out.mp4"),
    ]
    # Audio first in the source: the video is offset instead; no audio part, no audio.
    late = join_args("chunks.txt", None, "out.mp4", HEVC_MP4, settings, video_offset=0.021)
    assert late[9:13] == ["-f", "concat", "-itsoffset", "0.021"] and "1:a:0" not in late


def test_a_rendition_join_copies_into_segments_numbered_across_the_chunks(settings):
    out = Path("out")
    argv = join_segments_args(
        "chunks.txt", "audio.m4a", H264_M3U8, settings, out_dir=out, stem="720p", segments="ts"
    )
    assert argv[argv.index("-map") :] == [
        *("-map", "0:v:0", "-map", "1:a:0", "-f", "hls", "-c", "copy"),
        *("-hls_flags", "independent_segments", "-hls_list_size", "0"),
        *("-hls_playlist_type", "vod", "-hls_segment_filename", "out/720p-%05d.ts"),
        *("-hls_time", "4", "out/720p.m3u8"),
    ]


def test_a_dash_audio_representation_joins_the_audio_part_alone(settings):
    mpd = {**H264_M3U8, "Container": {"Format": "mpd"}, "Video": {"Remove": True}}
    argv = join_segments_args(
        None, "audio.m4a", mpd, settings, out_dir=Path("out"), stem="720p-audio", segments="dash"
    )
    assert argv == [
        *JOIN_HEAD,
        *("-protocol_whitelist", "file", "-i", "audio.m4a", "-map", "0:a:0"),
        *("-f", "dash", "-c", "copy", "-init_seg_name", "720p-audio-init.mp4"),
        *("-media_seg_name", "720p-audio-$Number%05d$.m4s", "-seg_duration", "4"),
        *("-single_file", "0", "-use_template", "1", "-use_timeline", "1", "out/720p-audio.mpd"),
    ]


def test_a_dash_video_representation_is_tagged_for_mp4(settings):
    mpd = {**H264_M3U8, "Container": {"Format": "mpd"}, "Audio": {"Remove": True}}
    argv = join_segments_args(
        "chunks.txt", None, mpd, settings, out_dir=Path("out"), stem="720p", segments="dash"
    )
    # NUT tags H.264 "H264", which the MP4 inside FFmpeg's dash muxer refuses.
    assert argv[argv.index("-map") :][:6] == ["-map", "0:v:0", "-f", "dash", "-c", "copy"]
    assert argv[argv.index("-tag:v") + 1] == "avc1" and argv[-1] == "out/720p.mpd"


@pytest.mark.parametrize(
    ("options", "wanted"),
    [
        ({"c:v": "libx264", "crf": "23"}, {"x264-params": "stitchable=1"}),
        (
            {"c:v": "libx264", "b:v": "2000k", "maxrate": "2000k", "bufsize": "4000k"},
            {"x264-params": "stitchable=1:vbv-init=0.9"},
        ),
        (
            {
                "c:v": "libx265",
                "maxrate": "2000k",
                "bufsize": "4000k",
                "x265-params": "log-level=error",
            },
            {"x265-params": "log-level=error:vbv-init=0.9:vbv-end=0.9"},
        ),
        ({"c:v": "libx265", "crf": "28", "x265-params": "log-level=error"}, {}),
        ({"c:v": "h264_nvenc", "maxrate": "2000k", "bufsize": "4000k"}, {}),
    ],
)
def test_rate_control_holds_across_joins(options, wanted):
    """x264 chunks are stitchable; with a VBV buffer every chunk starts it equally full, and
    x265 chunks also end it that full, so each join hands the next chunk the buffer it expects."""
    assert join_rate_control(options) == wanted
