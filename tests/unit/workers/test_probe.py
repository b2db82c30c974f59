"""workers.probe on canned ffprobe JSON, and run_probe against tiny fake ffprobes."""

from __future__ import annotations

import copy
import json
import sys

import pytest

from shared.config import Settings
from shared.errors import InputContentBad, InputMissing
from workers.filemeta import out_file_meta
from workers.probe import (
    INPUT_DEMUXERS,
    AudioInfo,
    ProbeInfo,
    VideoInfo,
    parse_probe,
    probe_argv,
    run_probe,
)

# ffprobe 5.1 on a 2 s H.264 + AAC MP4 (dispositions and a few tags trimmed).
MP4 = {
    "streams": [
        {
            "index": 0,
            "codec_name": "h264",
            "codec_long_name": "H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10",
            "profile": "High",
            "codec_type": "video",
            "codec_tag_string": "avc1",
            "codec_tag": "0x31637661",
            "width": 320,
            "height": 240,
            "coded_width": 320,
            "coded_height": 240,
            "has_b_frames": 2,
            "sample_aspect_ratio": "1:1",
            "display_aspect_ratio": "4:3",
            "pix_fmt": "yuv420p",
            "level": 13,
            "r_frame_rate": "25/1",
            "avg_frame_rate": "25/1",
            "time_base": "1/12800",
            "start_pts": 0,
            "start_time": "0.000000",
            "duration_ts": 25600,
            "duration": "2.000000",
            "bit_rate": "697432",
            "nb_frames": "50",
            "disposition": {"default": 1, "attached_pic": 0},
            "tags": {"language": "und", "handler_name": "VideoHandler"},
        },
        {
            "index": 1,
            "codec_name": "aac",
            "codec_long_name": "AAC (Advanced Audio Coding)",
            "profile": "LC",
            "codec_type": "audio",
            "codec_tag_string": "mp4a",
            "codec_tag": "0x6134706d",
            "sample_fmt": "fltp",
            "sample_rate": "44100",
            "channels": 2,
            "channel_layout": "stereo",
            "r_frame_rate": "0/0",
            "avg_frame_rate": "0/0",
            "time_base": "1/44100",
            "start_time": "0.000000",
            "duration": "2.000000",
            "bit_rate": "128340",
            "nb_frames": "88",
            "disposition": {"default": 1, "attached_pic": 0},
            "tags": {"language": "eng", "handler_name": "SoundHandler"},
        },
    ],
    "format": {
        "filename": "/tmp/work/in.mp4",
        "nb_streams": 2,
        "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
        "format_long_name": "QuickTime / MOV",
        "start_time": "0.000000",
        "duration": "2.000000",
        "size": "194669",
        "bit_rate": "778676",
        "probe_score": 100,
    },
}

# An MP3 with cover art: ffprobe lists the picture as a video stream.
MP3_WITH_COVER = {
    "streams": [
        {
            "index": 0,
            "codec_name": "mp3",
            "codec_long_name": "MP3 (MPEG audio layer 3)",
            "codec_type": "audio",
            "codec_tag_string": "[0][0][0][0]",
            "codec_tag": "0x0000",
            "sample_fmt": "fltp",
            "sample_rate": "44100",
            "channels": 1,
            "channel_layout": "mono",
            "time_base": "1/14112000",
            "start_time": "0.025057",
            "duration": "2.011429",
            "bit_rate": "64000",
            "disposition": {"default": 0, "attached_pic": 0},
        },
        {
            "index": 1,
            "codec_name": "png",
            "codec_type": "video",
            "width": 64,
            "height": 64,
            "r_frame_rate": "90000/1",
            "avg_frame_rate": "0/0",
            "time_base": "1/90000",
            "disposition": {"default": 0, "attached_pic": 1},
            "tags": {"comment": "Cover (front)"},
        },
    ],
    "format": {"format_name": "mp3", "duration": "2.011429", "size": "20197", "bit_rate": "80327"},
}


def with_video(**changes) -> dict:
    """MP4 with its video stream changed (a key set to None is removed)."""
    doc = copy.deepcopy(MP4)
    stream = doc["streams"][0]
    for key, value in changes.items():
        if value is None:
            stream.pop(key, None)
        else:
            stream[key] = value
    return doc


# --- parse_probe --------------------------------------------------------------------------


def test_parse_mp4():
    assert parse_probe(MP4) == ProbeInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration=2.0,
        size=194669,
        bit_rate=778676,
        video=VideoInfo(
            index=0,
            codec="h264",
            width=320,
            height=240,
            fps=25.0,
            sar="1:1",
            rotation=0,
            bit_rate=697432,
            pix_fmt="yuv420p",
        ),
        audio=AudioInfo(index=1, codec="aac", sample_rate=44100, channels=2, bit_rate=128340),
    )


@pytest.mark.parametrize(
    ("avg", "real", "expected"),
    [
        ("30000/1001", "30000/1001", 30000 / 1001),
        (
            "30000/1001",
            "60000/1001",
            30000 / 1001,
        ),  # average wins: r_frame_rate can be a field rate
        ("0/0", "25/1", 25.0),
        ("0/0", "0/0", None),
        ("N/A", None, None),
        (None, "24", 24.0),
        ("1/0", "0/1", None),
    ],
)
def test_frame_rate(avg, real, expected):
    video = parse_probe(with_video(avg_frame_rate=avg, r_frame_rate=real)).video
    if expected is None:
        assert video.fps is None
    else:
        assert video.fps == pytest.approx(expected)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}, 90),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 90}]}, 270),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 180}]}, 180),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -180}]}, 180),
        ({"tags": {"rotate": "270"}}, 270),
        ({"tags": {"rotate": "90"}}, 90),
        ({"side_data_list": [{"side_data_type": "Stereo 3D"}], "tags": {"rotate": "90"}}, 90),
        ({}, 0),
    ],
)
def test_rotation(changes, expected):
    assert parse_probe(with_video(**changes)).video.rotation == expected


def test_display_size_applies_sar_and_rotation():
    video = parse_probe(with_video(width=720, height=576, sample_aspect_ratio="64:45")).video
    assert video.display_size() == (1024.0, 576.0)
    rotated = parse_probe(with_video(tags={"rotate": "90"})).video
    assert rotated.display_size() == (240.0, 320.0)
    assert rotated.frame_size() == (240, 320)


@pytest.mark.parametrize("sar", ["0:1", "N/A", None, "1:1"])
def test_unknown_sar_means_square(sar):
    assert parse_probe(with_video(sample_aspect_ratio=sar)).video.sar == "1:1"


def test_missing_fields():
    doc = with_video(bit_rate=None, pix_fmt=None, width=None, height=None, avg_frame_rate=None)
    del doc["format"]["bit_rate"], doc["format"]["size"], doc["format"]["duration"]
    info = parse_probe(doc)
    assert (info.bit_rate, info.size) == (None, None)
    assert info.duration == 2.0  # from the streams
    video = info.video
    assert (video.bit_rate, video.pix_fmt, video.width, video.height, video.fps) == (
        None,
        None,
        0,
        0,
        25.0,
    )


def test_cover_art_is_not_video():
    info = parse_probe(MP3_WITH_COVER)
    assert info.video is None
    assert info.audio == AudioInfo(
        index=0, codec="mp3", sample_rate=44100, channels=1, bit_rate=64000
    )


def test_cover_art_before_the_real_video_is_skipped():
    doc = copy.deepcopy(MP4)
    cover = dict(MP3_WITH_COVER["streams"][1], index=0)
    doc["streams"] = [cover] + [dict(s, index=s["index"] + 1) for s in doc["streams"]]
    assert parse_probe(doc).video.index == 1


def test_audio_only():
    doc = copy.deepcopy(MP4)
    del doc["streams"][0]
    info = parse_probe(doc)
    assert info.video is None and info.audio.codec == "aac"


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"streams": [], "format": {"format_name": "mp4"}},
        {"streams": [{"index": 0, "codec_type": "subtitle", "codec_name": "mov_text"}]},
        {"streams": [MP3_WITH_COVER["streams"][1]]},
    ],
)
def test_no_audio_or_video_stream(doc):
    with pytest.raises(InputContentBad):
        parse_probe(doc)


def test_text_read_as_ansi_art_is_not_video():
    doc = with_video(codec_name="ansi", pix_fmt="pal8")
    doc["format"]["format_name"] = "tty"
    with pytest.raises(InputContentBad):
        parse_probe(doc)


# --- out_file_meta ------------------------------------------------------------------------


def test_out_file_meta():
    meta = out_file_meta(MP4, file_name="out.mp4", file_url="oss://bucket/out.mp4")
    assert meta == {
        "FileBasicInfo": {
            "FileName": "out.mp4",
            "FileSize": "194669",
            "FileType": "transcode_file",
            "FileUrl": "oss://bucket/out.mp4",
            "FormatName": "mov,mp4,m4a,3gp,3g2,mj2",
            "Duration": "2.000000",
            "Bitrate": "778.676",
            "Width": "320",
            "Height": "240",
            "FileStatus": "Normal",
            "MediaId": "",
            "Region": "",
        },
        "VideoStreamInfoList": [
            {
                "Index": "0",
                "Codec_name": "h264",
                "Codec_long_name": "H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10",
                "Codec_tag": "0x31637661",
                "Codec_tag_string": "avc1",
                "Codec_time_base": "",
                "Profile": "High",
                "Level": "13",
                "Width": "320",
                "Height": "240",
                "Has_b_frames": "2",
                "Sar": "1:1",
                "Dar": "4:3",
                "PixFmt": "yuv420p",
                "Fps": "25",
                "Avg_fps": "25",
                "Bit_rate": "697.432",
                "Duration": "2.000000",
                "NumFrames": "50",
                "Lang": "und",
                "Rotate": "0",
                "Start_time": "0.000000",
                "Time_base": "1/12800",
            }
        ],
        "AudioStreamInfoList": [
            {
                "Index": "1",
                "CodecName": "aac",
                "CodecLongName": "AAC (Advanced Audio Coding)",
                "CodecTag": "0x6134706d",
                "CodecTagString": "mp4a",
                "CodecTimeBase": "",
                "SampleFmt": "fltp",
                "SampleRate": "44100",
                "Channels": "2",
                "ChannelLayout": "stereo",
                "Timebase": "1/44100",
                "StartTime": "0.000000",
                "Duration": "2.000000",
                "Bitrate": "128.34",
                "Lang": "eng",
            }
        ],
    }


def test_out_file_meta_ntsc_rotation_and_missing_values():
    doc = with_video(
        r_frame_rate="60000/1001",
        avg_frame_rate="30000/1001",
        codec_time_base="1001/60000",
        bit_rate=None,
        nb_frames=None,
        tags=None,
        level=-99,
        side_data_list=[{"side_data_type": "Display Matrix", "rotation": -90}],
    )
    video = out_file_meta(doc, file_name="a", file_url="b")["VideoStreamInfoList"][0]
    assert (video["Fps"], video["Avg_fps"], video["Codec_time_base"]) == (
        "59.94",
        "29.97",
        "1001/60000",
    )
    assert (video["Bit_rate"], video["NumFrames"], video["Lang"], video["Level"]) == (
        "",
        "",
        "",
        "",
    )
    assert video["Rotate"] == "90"


def test_out_file_meta_audio_only_with_cover():
    meta = out_file_meta(
        MP3_WITH_COVER, file_name="a.mp3", file_url="u", file_size=123, file_type="source_file"
    )
    basic = meta["FileBasicInfo"]
    assert (basic["FileSize"], basic["FileType"], basic["Width"], basic["Height"]) == (
        "123",
        "source_file",
        "",
        "",
    )
    assert meta["VideoStreamInfoList"] == []
    assert [a["CodecName"] for a in meta["AudioStreamInfoList"]] == ["mp3"]
    assert all(isinstance(v, str) for v in meta["AudioStreamInfoList"][0].values())


def test_out_file_meta_keys_are_always_present():
    bare = {"streams": [{"codec_type": "video"}, {"codec_type": "audio"}], "format": {}}
    meta = out_file_meta(bare, file_name="a", file_url="b")
    full = out_file_meta(MP4, file_name="a", file_url="b")
    for section in ("VideoStreamInfoList", "AudioStreamInfoList"):
        assert list(meta[section][0]) == list(full[section][0])
    assert list(meta["FileBasicInfo"]) == list(full["FileBasicInfo"])
    assert meta["VideoStreamInfoList"][0]["Fps"] == ""


# --- probe_argv / run_probe -------------------------------------------------------------------


def test_probe_argv(tmp_path):
    settings = Settings(ffprobe_bin="/usr/bin/ffprobe", work_dir=tmp_path)
    assert probe_argv("/in/a.mp4", settings) == [
        "/usr/bin/ffprobe",
        "-v",
        "error",
        "-format_whitelist",
        INPUT_DEMUXERS,
        "-protocol_whitelist",
        "file",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        "/in/a.mp4",
    ]


@pytest.fixture
def fake_ffprobe(tmp_path):
    """Settings whose ffprobe is a Python script with the given body (argv in sys.argv)."""

    def make(body: str, probe_timeout: int = 60) -> Settings:
        script = tmp_path / "ffprobe"
        script.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
        script.chmod(0o755)
        return Settings(ffprobe_bin=str(script), probe_timeout=probe_timeout, work_dir=tmp_path)

    return make


def test_run_probe_returns_the_json(fake_ffprobe):
    settings = fake_ffprobe(f"print({json.dumps(json.dumps(MP4))})")
    assert run_probe("/in/a.mp4", settings) == MP4


def test_run_probe_content_bad(fake_ffprobe):
    body = (
        "sys.stderr.write('[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d6d443d1c0] moov atom not found\\n'"
        " + sys.argv[-1] + ': Invalid data found when processing input\\n'); sys.exit(1)"
    )
    with pytest.raises(InputContentBad) as err:
        run_probe("/in/half.mp4", fake_ffprobe(body))
    assert "Invalid data found when processing input" in err.value.message
    assert "/in/half.mp4" not in err.value.message  # the worker's path stays private


def test_run_probe_missing(fake_ffprobe):
    body = "sys.stderr.write(sys.argv[-1] + ': No such file or directory\\n'); sys.exit(1)"
    with pytest.raises(InputMissing):
        run_probe("/in/nothere.mp4", fake_ffprobe(body))


def test_run_probe_not_json(fake_ffprobe):
    with pytest.raises(InputContentBad):
        run_probe("/in/a.mp4", fake_ffprobe("print('{not json')"))


def test_run_probe_timeout_kills_it(fake_ffprobe, children):
    with pytest.raises(InputContentBad) as err:
        run_probe("/in/a.mp4", fake_ffprobe("time.sleep(30)", probe_timeout=1))
    assert err.value.code == "InvalidParameter.ResourceContentBad"
    children.assert_one_killed()


def test_run_probe_refuses_text(fake_ffprobe):
    text = {
        "streams": [{"codec_type": "video", "codec_name": "ansi"}],
        "format": {"format_name": "tty"},
    }
    with pytest.raises(InputContentBad):
        run_probe("/in/notes.txt", fake_ffprobe(f"print({json.dumps(json.dumps(text))})"))
