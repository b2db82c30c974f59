"""The FFmpeg layer against the real binaries: probe → argv → run → probe the output.

Inputs are generated into a temporary directory with lavfi (never at import), 1-2 s at
320x240, so the whole file runs in seconds.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shared.config import Settings
from shared.errors import FfmpegFailed, InputContentBad, InputMissing
from shared.templates import validate_template_config
from tests.media_tools import ffmpeg
from workers.ffmpeg_cmd import build_ffmpeg_args, output_duration
from workers.ffmpeg_run import run_ffmpeg
from workers.filemeta import out_file_meta
from workers.probe import parse_probe, run_probe

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
        reason="needs ffmpeg and ffprobe on PATH",
    ),
]

FRAME = 1 / 25  # the sources' frame duration
VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
FAST_H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


@pytest.fixture(scope="module")
def small_media(tmp_path_factory) -> dict[str, Path]:
    """Tiny inputs, made once for the module."""
    d = tmp_path_factory.mktemp("media")
    ffmpeg(*VIDEO, *AUDIO, "-t", "2", *FAST_H264, "-c:a", "aac", d / "av.mp4")
    ffmpeg(*VIDEO, "-t", "1", *FAST_H264, d / "silent.mp4")
    ffmpeg("-i", d / "av.mp4", "-c", "copy", "-metadata:s:v:0", "rotate=90", d / "rotated.mp4")
    ffmpeg(*VIDEO, "-t", "1", "-vf", "setsar=4/3", *FAST_H264, d / "anamorphic.mp4")
    cover = ["-f", "lavfi", "-i", "color=c=red:size=64x64", "-frames:v", "1"]
    ffmpeg(*AUDIO, *cover, "-t", "1", "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame",
           "-c:v", "png", "-disposition:v", "attached_pic", d / "cover.mp3")  # fmt: skip
    (d / "notes.txt").write_text("just some words, not media\n" * 20)
    whole = (d / "av.mp4").read_bytes()  # moov is at the end, as an upload cut short has it
    (d / "half.mp4").write_bytes(whole[: len(whole) // 2])
    return {path.stem: path for path in d.iterdir()}


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def transcode(settings, src: Path, dst: Path, cfg: dict, features=None, on_progress=None):
    """Probe, build and run; return (source probe, output probe JSON)."""
    probe = parse_probe(run_probe(str(src), settings))
    config = validate_template_config(cfg, "test")
    argv = build_ffmpeg_args(str(src), str(dst), probe, config, settings, features=features)
    duration = output_duration(probe, features)
    run_ffmpeg(argv, timeout=60, duration=duration, on_progress=on_progress)
    return probe, run_probe(str(dst), settings)


def stream(probe_json: dict, kind: str) -> dict | None:
    return next((s for s in probe_json["streams"] if s["codec_type"] == kind), None)


def video_frames(path: Path) -> int:
    """Packets in the first video stream (FLV states no per-stream duration to compare)."""
    argv = ["ffprobe", "-v", "error", "-select_streams", "V:0", "-count_packets"]
    argv += ["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path)]
    return int(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def test_probe_a_real_file(settings, small_media):
    probe_json = run_probe(str(small_media["av"]), settings)
    info = parse_probe(probe_json)
    assert video_frames(small_media["av"]) == 50
    assert (info.video.codec, info.video.width, info.video.height) == ("h264", 320, 240)
    assert info.video.fps == 25.0
    assert (info.audio.codec, info.audio.sample_rate) == ("aac", 44100)
    assert info.duration == pytest.approx(2.0, abs=FRAME)
    meta = out_file_meta(probe_json, file_name="av.mp4", file_url="file:///av.mp4")
    assert (meta["FileBasicInfo"]["Width"], meta["VideoStreamInfoList"][0]["Fps"]) == ("320", "25")


@pytest.mark.parametrize(
    ("cfg", "video_codec", "size"),
    [
        (
            {
                "Container": {"Format": "mp4"},
                "Video": {"Codec": "H.264", "Width": 160, "Bitrate": 200, "Preset": "ultrafast"},
                "Audio": {"Bitrate": 64},
            },
            "h264",
            (160, 120),
        ),
        (
            {
                "Container": {"Format": "mp4"},
                "Video": {"Codec": "H.265", "Height": 128, "Preset": "ultrafast", "Gop": "1s"},
                "Audio": {"Bitrate": 64, "Samplerate": 48000},
            },
            "hevc",
            (170, 128),
        ),
        (
            {
                "Container": {"Format": "flv"},
                "Video": {"Width": 160, "Bitrate": 200, "Maxrate": 300, "Preset": "veryfast"},
                "Audio": {"Bitrate": 64},
                "TransConfig": {"TransMode": "onepass"},
            },
            "h264",
            (160, 120),
        ),
        (
            {
                "Container": {"Format": "mp4"},
                "Video": {"Codec": "copy"},
                "Audio": {"Codec": "copy"},
            },
            "h264",
            (320, 240),
        ),
    ],
    ids=["mp4-h264", "mp4-h265", "flv", "mp4-copy"],
)
def test_video_outputs(settings, small_media, tmp_path, cfg, video_codec, size):
    ext = cfg["Container"]["Format"]
    dst = tmp_path / f"out.{ext}"
    source, out = transcode(settings, small_media["av"], dst, cfg)
    video, audio = stream(out, "video"), stream(out, "audio")
    assert (video["codec_name"], video["width"], video["height"]) == (video_codec, *size)
    assert audio["codec_name"] == "aac"
    assert abs(video_frames(dst) - round(source.duration * source.video.fps)) <= 1
    if video_codec == "hevc":
        assert video["codec_tag_string"] == "hvc1"


@pytest.mark.parametrize(
    ("fmt", "audio_codec"), [("mp3", "mp3"), ("m4a", "aac")], ids=["mp3", "m4a"]
)
def test_audio_outputs(settings, small_media, tmp_path, fmt, audio_codec):
    cfg = {"Container": {"Format": fmt}, "Audio": {"Bitrate": 64, "Channels": 1}}
    source, out = transcode(settings, small_media["av"], tmp_path / f"out.{fmt}", cfg)
    assert stream(out, "video") is None
    audio = stream(out, "audio")
    assert (audio["codec_name"], audio["channels"], audio["sample_rate"]) == (
        audio_codec,
        1,
        "44100",
    )
    # Encoder delay and the padded last frame (1152 samples for MP3) lengthen audio a little.
    assert float(audio["duration"]) == pytest.approx(source.duration, abs=0.1)


def test_rotated_source_comes_out_upright(settings, small_media, tmp_path):
    cfg = {"Container": {"Format": "mp4"}, "Video": {"Preset": "ultrafast"}}
    source, out = transcode(settings, small_media["rotated"], tmp_path / "out.mp4", cfg)
    assert source.video.rotation in (90, 270)
    video = parse_probe(out).video
    assert (video.width, video.height, video.rotation) == (240, 320, 0)


def test_anamorphic_source_gets_square_pixels(settings, small_media, tmp_path):
    cfg = {"Container": {"Format": "mp4"}, "Video": {"Preset": "ultrafast"}}
    _, out = transcode(settings, small_media["anamorphic"], tmp_path / "out.mp4", cfg)
    video = parse_probe(out).video
    assert (video.width, video.height, video.sar) == (426, 240, "1:1")


def test_source_without_audio(settings, small_media, tmp_path):
    cfg = {"Container": {"Format": "mp4"}, "Video": {"Preset": "ultrafast", "Width": 160}}
    _, out = transcode(settings, small_media["silent"], tmp_path / "out.mp4", cfg)
    assert stream(out, "audio") is None
    assert stream(out, "video")["width"] == 160


def test_cover_art_is_not_taken_for_video(settings, small_media, tmp_path):
    cfg = {"Container": {"Format": "mp4"}, "Video": {"Preset": "ultrafast"}}
    source, out = transcode(settings, small_media["cover"], tmp_path / "out.mp4", cfg)
    assert source.video is None
    assert [s["codec_type"] for s in out["streams"]] == ["audio"]


def test_clip_metadata_and_progress(settings, small_media, tmp_path):
    cfg = {"Container": {"Format": "mp4"}, "Video": {"Preset": "ultrafast", "Width": 160}}
    features = {"Clip": {"TimeSpan": {"Seek": 0.5, "End": 1.5}}, "Metadata": {"title": "clip"}}
    seen: list[float] = []
    dst = tmp_path / "out.mp4"
    _, out = transcode(settings, small_media["av"], dst, cfg, features, seen.append)
    assert abs(video_frames(dst) - 25) <= 1
    assert out["format"]["tags"]["title"] == "clip"
    assert seen[-1] == 1.0
    assert seen == sorted(seen) and all(0.0 <= f <= 1.0 for f in seen)


def test_encoder_failure_raises_ffmpeg_failed(settings, small_media, tmp_path):
    # Valid config, impossible encode: the baseline profile has no 4:4:4.
    cfg = {
        "Container": {"Format": "mp4"},
        "Video": {"Preset": "ultrafast", "Profile": "baseline", "PixFmt": "yuv444p"},
    }
    with pytest.raises(FfmpegFailed) as err:
        transcode(settings, small_media["av"], tmp_path / "out.mp4", cfg)
    assert err.value.returncode == 1
    assert err.value.stderr_tail


@pytest.mark.parametrize(
    ("name", "error"),
    [("notes", InputContentBad), ("half", InputContentBad), ("nothere", InputMissing)],
)
def test_unreadable_inputs(settings, small_media, name, error):
    path = small_media.get(name, small_media["av"].with_name("nothere.mp4"))
    with pytest.raises(error):
        run_probe(str(path), settings)
