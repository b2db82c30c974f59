"""The audio codecs, containers and loudness of issue 12 against the real FFmpeg: config →
argv → run → ffprobe/decode the output (no farm).

The sources are 3 s tones generated into a temporary directory (never at import); every
output is audio only, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.config import Settings
from shared.errors import InvalidJob
from shared.templates import validate_template_config
from workers import loudness
from workers.ffmpeg_cmd import build_ffmpeg_args
from workers.ffmpeg_run import run_ffmpeg
from workers.probe import parse_probe, run_probe
from workers.source_checks import SOURCE_TOO_SMALL, apply_source_checks

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
        reason="needs ffmpeg and ffprobe on PATH",
    ),
]

SECONDS = 3


def ffmpeg(*args: str | Path) -> subprocess.CompletedProcess:
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", *map(str, args)]
    return subprocess.run(
        argv, check=True, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> dict[str, Path]:
    """A quiet mono tone and a louder stereo one (AAC at 64 Kbps, 48 kHz), made once."""
    d = tmp_path_factory.mktemp("tones")
    sine = f"sine=frequency=440:sample_rate=48000:duration={SECONDS}"
    aac = ["-c:a", "aac", "-b:a", "64k"]
    # A tone that swells: loudnorm has a loudness range to work on, not one level.
    quiet = f"{sine},volume='0.05+0.1*t/{SECONDS}':eval=frame"
    ffmpeg("-loglevel", "error", "-f", "lavfi", "-i", quiet, "-ac", "1", *aac, d / "quiet.m4a")
    ffmpeg("-loglevel", "error", "-f", "lavfi", "-i", sine, "-ac", "2", *aac, d / "stereo.m4a")
    return {path.stem: path for path in d.iterdir()}


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "storage", work_dir=tmp_path)


def encode(settings, src: Path, dst: Path, config: dict) -> dict:
    """Build and run ``config`` (normalized) from ``src``; return the output's first audio
    stream as ffprobe sees it."""
    probe = parse_probe(run_probe(str(src), settings))
    run_ffmpeg(build_ffmpeg_args(str(src), str(dst), probe, config, settings), timeout=60)
    out = run_probe(str(dst), settings)
    return next(s for s in out["streams"] if s["codec_type"] == "audio")


def decoded_samples(path: Path) -> int:
    """How many samples (per channel) the output decodes to."""
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path)]
    argv += ["-map", "0:a:0", "-ac", "1", "-f", "s16le", "-"]
    return len(subprocess.run(argv, check=True, capture_output=True, timeout=60).stdout) // 2


def _summary(path: Path, audio_filter: str) -> str:
    return ffmpeg(
        "-nostats", "-i", path, "-map", "0:a:0", "-af", audio_filter, "-f", "null", "-"
    ).stderr


def ebur128(path: Path) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBTP) of ``path``."""
    text = _summary(path, "ebur128=peak=true")
    summary = text[text.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    true_peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return integrated, true_peak


def mean_volume(path: Path) -> float:
    text = _summary(path, "volumedetect")
    return float(re.search(r"mean_volume: (-?[\d.]+) dB", text).group(1))


# (Container.Format, Audio, ffprobe codec name, sample rate, samples per frame or 0 when
# the output decodes to exactly the source's samples).
OUTPUTS = [
    ("ogg", {"Codec": "OPUS", "Samplerate": 48000, "Bitrate": 64}, "opus", 48000, 960),
    ("ogg", {"Bitrate": 96}, "vorbis", 44100, 2048),
    ("flac", {"Samplerate": 48000}, "flac", 48000, 0),
    ("mp4", {"Codec": "AC3", "Bitrate": 192, "Samplerate": 48000}, "ac3", 48000, 1536),
    ("mp4", {"Codec": "EAC3", "Bitrate": 96}, "eac3", 44100, 1536),
    # MP4 signals MPEG-1 audio of any layer with one object type (0x6B), which FFmpeg reads
    # back as mp3; the Layer II frames decode as such.
    ("mp4", {"Codec": "MP2", "Bitrate": 128}, "mp3", 44100, 1152),
    ("flv", {"Codec": "pcm_s16le"}, "pcm_s16le", 44100, 0),
]


@pytest.mark.parametrize(
    ("fmt", "audio", "codec", "rate", "frame"),
    OUTPUTS,
    ids=[f"{fmt}-{codec}" for fmt, _, codec, _, _ in OUTPUTS],
)
def test_codec_outputs_decode_to_the_source_length(
    settings, tones, tmp_path, fmt, audio, codec, rate, frame
):
    config = validate_template_config({"Container": {"Format": fmt}, "Audio": audio}, "t")
    dst = tmp_path / f"out.{fmt}"
    out = encode(settings, tones["stereo"], dst, config)
    assert (out["codec_name"], int(out["sample_rate"]), out["channels"]) == (codec, rate, 2)
    # The source's length at the output's rate; a lossy codec pads its last frame.
    expected = decoded_samples(tones["stereo"]) * rate / 48000
    assert abs(decoded_samples(dst) - expected) <= frame + 1


def test_dynamic_loudness_meets_its_targets(settings, tones, tmp_path):
    """A measuring pass, then the encode (each as the worker runs them): EBU R128 of the
    output within 1 LU of the target, its true peak under TruePeak. The mono source is
    encoded as stereo, so the upmix is normalized too."""
    volume = {"Method": "dynamic", "IntegratedLoudnessTarget": -16, "TruePeak": -2}
    config = validate_template_config(
        {"Container": {"Format": "flac"}, "Audio": {"Volume": volume}}, "t"
    )
    src = tones["quiet"]
    probe = parse_probe(run_probe(str(src), settings))
    assert loudness.needed(config, probe)
    tail = run_ffmpeg(loudness.measure_args(str(src), probe, config, settings), timeout=60)
    measured = loudness.parse(tail)
    assert measured["I"] < -25  # the source is quiet: there is a gain to apply
    dst = tmp_path / "out.flac"
    run_ffmpeg(
        build_ffmpeg_args(str(src), str(dst), probe, loudness.fold(config, measured), settings),
        timeout=60,
    )
    integrated, true_peak = ebur128(dst)
    assert integrated == pytest.approx(-16, abs=1)
    assert true_peak <= -2


def test_silence_is_measured_as_such_and_encoded_as_it_is(settings, tmp_path):
    src = tmp_path / "silence.m4a"
    ffmpeg("-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=48000", "-t", "1", src)
    config = validate_template_config(
        {"Container": {"Format": "flac"}, "Audio": {"Volume": {"Method": "auto"}}}, "t"
    )
    probe = parse_probe(run_probe(str(src), settings))
    tail = run_ffmpeg(loudness.measure_args(str(src), probe, config, settings), timeout=60)
    assert loudness.parse(tail) == {"silent": True}
    dst = tmp_path / "out.flac"
    folded = loudness.fold(config, {"silent": True})
    run_ffmpeg(build_ffmpeg_args(str(src), str(dst), probe, folded, settings), timeout=60)
    assert mean_volume(dst) < -90


def test_linear_level_changes_the_mean_volume(settings, tones, tmp_path):
    audio = {"Channels": 1, "Volume": {"Method": "linear", "Level": -6}}
    config = validate_template_config({"Container": {"Format": "flac"}, "Audio": audio}, "t")
    dst = tmp_path / "out.flac"
    encode(settings, tones["quiet"], dst, config)
    assert mean_volume(dst) - mean_volume(tones["quiet"]) == pytest.approx(-6, abs=0.5)


def test_audio_bitrate_checks_against_the_real_source(settings, tones, tmp_path):
    source = parse_probe(run_probe(str(tones["stereo"]), settings))
    asked = {"Container": {"Format": "m4a"}, "Audio": {"Bitrate": 128}}
    refusing = {**asked, "TransConfig": {"IsCheckAudioBitrateFail": True}}
    with pytest.raises(InvalidJob) as err:
        apply_source_checks(validate_template_config(refusing, "t"), source)
    assert err.value.code == SOURCE_TOO_SMALL
    # Same codec as the source: capped by default.
    checked = apply_source_checks(validate_template_config(asked, "t"), source)
    assert "IsCheckAudioBitrate" in checked.note
    dst = tmp_path / "out.m4a"
    out = encode(settings, tones["stereo"], dst, checked.config)
    assert int(out["bit_rate"]) <= source.audio.bit_rate * 1.1
