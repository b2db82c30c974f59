"""Exact argv of an output's audio (workers.audio_cmd through workers.ffmpeg_cmd): every
codec, the lossless ones without a bitrate, channel handling, and Audio.Volume's filters
in a whole output, a Boost audio part and a segmented rendition."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from shared.config import Settings
from shared.templates import validate_template_config
from tests.unit.workers.canned import AAC, FULL_HD, HEAD
from workers.audio_cmd import audio_filters, channels, sample_rate
from workers.chunk_cmd import audio_args
from workers.ffmpeg_cmd import build_ffmpeg_args
from workers.loudness import fold
from workers.segmenting import segment_args

AUDIO_ONLY = dataclasses.replace(FULL_HD, video=None)
MEASURED = {"I": -30.5, "LRA": 3.25, "TP": -12.0, "thresh": -40.75, "offset": 0.5}


@pytest.fixture
def settings(tmp_path):
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def config(fmt="mp4", **audio) -> dict:
    return validate_template_config({"Container": {"Format": fmt}, "Audio": audio}, "test")


def tail(settings, cfg, probe=AUDIO_ONLY) -> list[str]:
    """The argv after the input: filters, maps, muxer and options."""
    argv = build_ffmpeg_args("in.mp4", "out", probe, cfg, settings)
    assert argv[: len(HEAD)] == HEAD
    return argv[len(HEAD) :]


def with_source(**changes):
    return dataclasses.replace(AUDIO_ONLY, audio=dataclasses.replace(AAC, **changes))


# --- codecs ---------------------------------------------------------------------------------

CODECS = [
    (
        "ogg",
        {"Codec": "OPUS", "Samplerate": 48000, "Bitrate": 96},
        ["-f", "ogg", "-ac", "2", "-ar", "48000", "-b:a", "96k", "-c:a", "libopus"],
    ),
    (
        "ogg",
        {},  # Vorbis, Ogg's default
        ["-f", "ogg", "-ac", "2", "-ar", "44100", "-b:a", "128k", "-c:a", "libvorbis"],
    ),
    ("ogg", {"Codec": "flac"}, ["-f", "ogg", "-ac", "2", "-ar", "44100", "-c:a", "flac"]),
    (
        "flac",
        {"Bitrate": 320, "Samplerate": 96000, "Channels": 6},  # lossless: no -b:a
        ["-f", "flac", "-ac", "6", "-ar", "96000", "-c:a", "flac"],
    ),
    (
        "mp4",
        {"Codec": "AC3", "Bitrate": 384, "Channels": 6, "Samplerate": 48000},
        ["-f", "mp4", "-ac", "6", "-ar", "48000", "-b:a", "384k", "-c:a", "ac3"],
    ),
    (
        "mp4",
        {"Codec": "EAC3", "Bitrate": 224},
        ["-f", "mp4", "-ac", "2", "-ar", "44100", "-b:a", "224k", "-c:a", "eac3"],
    ),
    (
        "mp4",
        {"Codec": "MP2", "Bitrate": 192, "Channels": 1},
        ["-f", "mp4", "-ac", "1", "-ar", "44100", "-b:a", "192k", "-c:a", "mp2"],
    ),
    (
        "flv",
        {"Codec": "pcm_s16le", "Bitrate": 64},
        ["-f", "flv", "-ac", "2", "-ar", "44100", "-c:a", "pcm_s16le"],
    ),
    (
        "m4a",
        {"Codec": "ac3"},
        ["-f", "ipod", "-ac", "2", "-ar", "44100", "-b:a", "128k", "-c:a", "ac3"],
    ),
    (
        "mp4",
        {"Codec": "aac", "Profile": "aac_low"},
        ["-f", "mp4", "-ac", "2", "-ar", "44100", "-b:a", "128k", "-c:a", "aac"]
        + ["-profile:a", "aac_low"],
    ),
]


@pytest.mark.parametrize(("fmt", "audio", "options"), CODECS)
def test_codec_exact_argv(settings, fmt, audio, options):
    rest = tail(settings, config(fmt, **audio))
    assert rest[:2] == ["-map", "0:a:0"]
    assert [arg for arg in rest[2:] if arg not in ("-movflags", "+faststart")] == [*options, "out"]


def test_profile_goes_to_aac_only(settings):
    assert "-profile:a" in tail(settings, config(Profile="aac_low"))
    assert "-profile:a" not in tail(settings, config(Codec="mp3", Profile="aac_he"))


@pytest.mark.parametrize(
    ("fmt", "audio", "source_channels", "expected"),
    [
        ("mp4", {"Channels": 0}, 6, None),  # AAC keeps 5.1
        ("mp4", {"Channels": 0, "Codec": "mp3"}, 6, 2),  # LAME: at most 2
        ("mp4", {"Channels": 0, "Codec": "opus"}, 6, 2),
        ("mp4", {"Channels": 0, "Codec": "ac3"}, 8, 6),  # AC-3: at most 5.1
        ("mpd", {"Channels": 0}, 8, 6),  # the MPD container: at most 6
        ("flac", {"Channels": 0}, 2, None),
        ("mp4", {"Channels": 1}, 6, 1),
    ],
)
def test_channels(fmt, audio, source_channels, expected):
    assert channels(with_source(channels=source_channels), config(fmt, **audio)) == expected


def test_opus_keeping_a_mono_source_stays_under_its_per_channel_limit(settings):
    cfg = config(Codec="opus", Channels=0, Bitrate=400)
    rest = tail(settings, cfg, with_source(channels=1))
    assert rest[rest.index("-b:a") + 1] == "256k"
    rest = tail(settings, cfg, with_source(channels=2))
    assert rest[rest.index("-b:a") + 1] == "400k"


def test_sample_rate_defaults_by_codec():
    assert sample_rate(config()) == 44100
    assert sample_rate(config(Codec="opus")) == 48000
    assert sample_rate(config("flac", Samplerate=96000)) == 96000


# --- Volume ---------------------------------------------------------------------------------


def test_linear_volume(settings):
    rest = tail(settings, config(Volume={"Method": "linear", "Level": -3.5}))
    assert rest[:4] == ["-filter_complex", "[0:a:0]volume=-3.5dB[s0]", "-map", "[s0]"]
    default = tail(settings, config(Volume={"Method": "linear"}))
    assert default[1] == "[0:a:0]volume=-20dB[s0]"  # the reference's default Level


DYNAMIC = (
    # ffmpeg-python writes a filter's options sorted by name.
    "[0:a:0]loudnorm=I=-16:LRA=11:TP=-1.5:linear=true:measured_I=-30.5:measured_LRA=3.25"
    ":measured_TP=-12:measured_thresh=-40.75:offset=0.5[s0];[s0]aresample=48000[s1]"
)


@pytest.mark.parametrize("method", ["dynamic", "auto"])
def test_dynamic_volume_normalizes_with_the_measurement(settings, method):
    volume = {
        "Method": method,
        "IntegratedLoudnessTarget": -16,
        "LoudnessRangeTarget": 11,
        "TruePeak": -1.5,
        "Level": 6,  # linear only: ignored
    }
    cfg = fold(config(Samplerate=48000, Volume=volume), MEASURED)
    assert tail(settings, cfg) == [
        *("-filter_complex", DYNAMIC, "-map", "[s1]", "-f", "mp4"),
        *("-ac", "2", "-ar", "48000", "-b:a", "128k", "-c:a", "aac"),
        *("-movflags", "+faststart", "out"),
    ]


def test_dynamic_volume_defaults_and_downmix_before_loudnorm(settings):
    cfg = fold(config("mp3", Volume={}), MEASURED)  # Method dynamic by default
    rest = tail(settings, cfg, with_source(channels=6))
    assert rest[1] == (
        "[0:a:0]aformat=channel_layouts=stereo[s0];"
        "[s0]loudnorm=I=-6:LRA=8:TP=-1:linear=true:measured_I=-30.5:measured_LRA=3.25"
        ":measured_TP=-12:measured_thresh=-40.75:offset=0.5[s1];[s1]aresample=44100[s2]"
    )
    assert rest[2:4] == ["-map", "[s2]"]


def test_silence_is_not_normalized(settings):
    cfg = fold(config(Volume={"Method": "dynamic"}), {"silent": True})
    assert "-filter_complex" not in tail(settings, cfg)


def test_dynamic_volume_without_a_measurement_is_a_bug():
    with pytest.raises(ValueError, match="measured"):
        audio_filters(AUDIO_ONLY, config(Volume={"Method": "auto"}))


def test_no_volume_no_filters(settings):
    assert audio_filters(AUDIO_ONLY, config()) == []
    assert audio_filters(AUDIO_ONLY, config(Remove=True, Volume={"Method": "linear"})) == []


def test_video_and_audio_filters_share_one_graph(settings):
    cfg = config(Volume={"Method": "linear", "Level": 3})
    cfg["Video"] = {"Width": 1280}
    argv = build_ffmpeg_args("in.mp4", "out", FULL_HD, cfg, settings)
    graph = argv[argv.index("-filter_complex") + 1]
    assert "[0:a:0]volume=3dB" in graph and "scale=1280:720" in graph


def test_boost_audio_part_gets_the_filters(settings):
    cfg = fold(config(Samplerate=48000, Volume={"IntegratedLoudnessTarget": -16}), MEASURED)
    argv = audio_args("in.mp4", FULL_HD, cfg, settings, dst="audio.m4a")
    graph = argv[argv.index("-filter_complex") + 1]
    assert "loudnorm=I=-16:" in graph and graph.endswith("aresample=48000[s1]")
    assert argv[argv.index("-f") + 1] == "mp4"


def test_boost_audio_part_of_pcm_is_mov(settings):
    cfg = config("flv", Codec="pcm_s16le")
    argv = audio_args("in.mp4", FULL_HD, cfg, settings, dst="audio.m4a")
    assert argv[argv.index("-f") + 1] == "mov"


def test_segmented_rendition_gets_the_filters(settings):
    cfg = validate_template_config(
        {
            "Container": {"Format": "m3u8"},
            "Video": {"Remove": True},
            "Audio": {"Codec": "ac3", "Volume": {"Method": "linear", "Level": -2}},
        },
        "test",
    )
    argv = segment_args("in.mp4", FULL_HD, cfg, settings, out_dir=Path("out"), stem="a")
    assert argv[argv.index("-filter_complex") + 1] == "[0:a:0]volume=-2dB[s0]"
    assert argv[argv.index("-c:a") + 1] == "ac3"
