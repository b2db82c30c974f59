from __future__ import annotations

import dataclasses

import pytest

from shared.config import Settings
from shared.errors import InvalidJob
from workers.probe import AudioInfo, ProbeInfo, VideoInfo
from workers.source_checks import (
    DURATION_TOO_LONG,
    RESOLUTION_TOO_LARGE,
    SOURCE_TOO_SMALL,
    apply_source_checks,
    check_input_limits,
)

SOURCE = ProbeInfo(
    format_name="mov,mp4,m4a,3gp,3g2,mj2",
    duration=10.0,
    size=1,
    bit_rate=900_000,
    video=VideoInfo(
        index=0,
        codec="h264",
        width=640,
        height=360,
        fps=25.0,
        sar="1:1",
        rotation=0,
        bit_rate=800_000,
        pix_fmt="yuv420p",
    ),
    audio=None,
)


def _config(trans=None, **video):
    config = {"Container": {"Format": "mp4"}, "Video": {"Codec": "H.264", **video}}
    if trans:
        config["TransConfig"] = trans
    return config


def test_below_the_source_nothing_is_said():
    checked = apply_source_checks(_config(Width=320, Bitrate=400), SOURCE)
    assert checked.note == "" and checked.config["Video"]["Width"] == 320


def test_default_upscales_as_asked_and_says_so():
    checked = apply_source_checks(_config(Width=1280), SOURCE)
    assert checked.config["Video"]["Width"] == 1280
    assert checked.note == "1280x720 is above the source's 640x360: upscaled as asked."


def test_is_check_reso_caps_to_the_source():
    config = _config({"IsCheckReso": True}, Width=1280)
    checked = apply_source_checks(config, SOURCE)
    assert "Width" not in checked.config["Video"] and "IsCheckReso" in checked.note
    assert config["Video"]["Width"] == 1280  # the input is not changed


def test_is_check_reso_fail_fails():
    with pytest.raises(InvalidJob) as err:
        apply_source_checks(
            _config({"IsCheckResoFail": True, "IsCheckReso": True}, Height=720), SOURCE
        )
    assert err.value.code == SOURCE_TOO_SMALL and "1280x720" in err.value.message


def test_bitrate_checks():
    capped = apply_source_checks(
        _config({"IsCheckVideoBitrate": True}, Bitrate=3000, Maxrate=4000), SOURCE
    )
    assert capped.config["Video"]["Bitrate"] == 800 and capped.config["Video"]["Maxrate"] == 800
    assert "IsCheckVideoBitrate" in capped.note
    assert apply_source_checks(_config(Bitrate=3000), SOURCE).note == ""
    with pytest.raises(InvalidJob) as err:
        apply_source_checks(_config({"IsCheckVideoBitrateFail": True}, Bitrate=3000), SOURCE)
    assert err.value.code == SOURCE_TOO_SMALL


# --- check_input_limits -----------------------------------------------------------------

LIMITS = Settings(max_input_duration=10, max_input_resolution=640)


def test_an_input_within_the_limits_passes():
    check_input_limits(SOURCE, LIMITS)  # 10 s, 640x360: exactly at both limits


@pytest.mark.parametrize(
    ("source", "code", "said"),
    [
        (
            dataclasses.replace(SOURCE, duration=10.5),
            DURATION_TOO_LONG,
            "MCFARM_MAX_INPUT_DURATION",
        ),
        (
            dataclasses.replace(SOURCE, video=dataclasses.replace(SOURCE.video, height=642)),
            RESOLUTION_TOO_LARGE,
            "640x642",
        ),
    ],
)
def test_inputs_over_the_limits_are_refused(source, code, said):
    with pytest.raises(InvalidJob) as err:
        check_input_limits(source, LIMITS)
    assert err.value.code == code
    assert said in err.value.message


def test_audio_only_and_unknown_duration_pass():
    check_input_limits(dataclasses.replace(SOURCE, duration=None, video=None), LIMITS)


# --- IsCheckAudioBitrate / IsCheckAudioBitrateFail ------------------------------------------

AAC_96K = dataclasses.replace(
    SOURCE,
    audio=AudioInfo(index=1, codec="aac", sample_rate=48000, channels=2, bit_rate=96_400),
)


def _audio(trans=None, fmt="mp4", **audio):
    config = {"Container": {"Format": fmt}, "Audio": audio}
    if trans:
        config["TransConfig"] = trans
    return config


@pytest.mark.parametrize(
    ("config", "bitrate", "checked"),
    [
        # Same codec as the source: the check is on by default (reference).
        (_audio(), 96, True),
        (_audio(Codec="aac", Bitrate=192), 96, True),
        # Another codec: off by default, on when asked.
        (_audio(Codec="mp3"), None, False),
        (_audio({"IsCheckAudioBitrate": True}, Codec="mp3", Bitrate=192), 96, True),
        (_audio({"IsCheckAudioBitrate": False}, Bitrate=192), 192, False),
        # Capped to a bitrate the encoder takes: MP2's table.
        (_audio({"IsCheckAudioBitrate": True}, Codec="mp2", Bitrate=192), 96, True),
        # At or below the source (in whole Kbps): nothing to do.
        (_audio(Bitrate=96), 96, False),
        (_audio(Bitrate=64), 64, False),
        # Nothing to compare: lossless, copied, removed audio.
        (_audio({"IsCheckAudioBitrate": True}, fmt="flac"), None, False),
        (_audio({"IsCheckAudioBitrate": True}, Codec="copy"), None, False),
        (_audio({"IsCheckAudioBitrateFail": True}, Remove=True), None, False),
    ],
)
def test_audio_bitrate_check(config, bitrate, checked):
    result = apply_source_checks(config, AAC_96K)
    assert result.config["Audio"].get("Bitrate") == bitrate
    assert ("IsCheckAudioBitrate" in result.note) is checked
    if checked:
        assert result.note.startswith("Audio bitrate") and "source's 96 Kbps" in result.note


def test_audio_bitrate_check_needs_a_source_bitrate():
    unknown = dataclasses.replace(AAC_96K, audio=dataclasses.replace(AAC_96K.audio, bit_rate=None))
    assert apply_source_checks(_audio(Bitrate=192), unknown).note == ""
    no_audio = dataclasses.replace(AAC_96K, audio=None)
    assert apply_source_checks(_audio({"IsCheckAudioBitrateFail": True}), no_audio).note == ""


@pytest.mark.parametrize(
    "trans", [{}, {"IsCheckAudioBitrate": True}, {"IsCheckAudioBitrate": False}]
)
def test_audio_bitrate_fail_wins(trans):
    with pytest.raises(InvalidJob) as err:
        apply_source_checks(
            _audio({**trans, "IsCheckAudioBitrateFail": True}, Codec="mp3"), AAC_96K
        )
    assert err.value.code == SOURCE_TOO_SMALL
    assert "128 Kbps is above the source's 96 Kbps" in err.value.message
    assert "IsCheckAudioBitrateFail" in err.value.message
