"""The Audio section of a TemplateConfig (shared.template_audio): what is accepted, how it
is normalized, and every refusal named by its key and reason."""

from __future__ import annotations

import pytest

from shared.containers import CONTAINERS
from shared.errors import InvalidJob
from shared.template_audio import AUDIO_CODECS, allowed_kbps, fit_kbps
from shared.templates import validate_template_config


def config(fmt="mp4", **audio) -> dict:
    return validate_template_config({"Container": {"Format": fmt}, "Audio": audio}, "o")


def refusal(fmt="mp4", trans=None, **audio) -> str:
    document = {"Container": {"Format": fmt}, "Audio": audio}
    if trans:
        document["TransConfig"] = trans
    with pytest.raises(InvalidJob) as err:
        validate_template_config(document, "Outputs[0]")
    assert err.value.code == "InvalidParameter"
    return err.value.message


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("AAC", "aac"),
        ("MP3", "mp3"),
        ("AC3", "ac3"),
        ("ac-3", "ac3"),
        ("EAC3", "eac3"),
        ("E-AC-3", "eac3"),
        ("MP2", "mp2"),
        ("Opus", "opus"),
    ],
)
def test_codec_aliases_normalize_to_ffmpeg_names(given, normalized):
    assert config(Codec=given, Samplerate=48000)["Audio"]["Codec"] == normalized
    assert config(Codec="COPY")["Audio"]["Codec"] == "copy"


@pytest.mark.parametrize(
    ("fmt", "given", "normalized"),
    [
        ("flac", "FLAC", "flac"),
        ("ogg", "VORBIS", "vorbis"),
        ("flv", "PCM_S16LE", "pcm_s16le"),
    ],
)
def test_lossless_and_ogg_codecs(fmt, given, normalized):
    assert config(fmt, Codec=given)["Audio"]["Codec"] == normalized


def test_every_codec_maps_to_an_encoder_and_has_a_home_or_a_reason():
    homes = {name for box in CONTAINERS.values() for name in box.audio_codecs}
    for codec in AUDIO_CODECS.values():
        assert codec.encoder
        assert (codec.name in homes) != bool(codec.homeless), codec.name


# (container, codecs it takes): one table, checked against the container facts.
HOLDS = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "mp2", "opus"},
    "flv": {"aac", "mp3", "pcm_s16le"},
    "mp3": {"mp3"},
    "m4a": {"aac", "ac3"},
    "ogg": {"vorbis", "opus", "flac"},
    "flac": {"flac"},
    "m3u8": {"aac", "mp3", "ac3", "eac3"},
    "hls-fmp4": {"aac", "mp3", "ac3", "eac3"},
    "mpd": {"aac", "mp3", "ac3", "eac3"},
    "cmaf": {"aac", "mp3", "ac3", "eac3"},
}


@pytest.mark.parametrize("fmt", sorted(HOLDS))
def test_containers_hold_these_codecs(fmt):
    assert set(CONTAINERS[fmt].audio_codecs) - {"copy"} == HOLDS[fmt]


@pytest.mark.parametrize(
    ("fmt", "codec", "said"),
    [
        ("mp4", "vorbis", "vorbis (it goes in ogg)"),
        ("mp4", "flac", "flac (it goes in ogg, flac)"),
        ("ogg", "aac", "ogg cannot carry aac"),
        ("mp3", "aac", "it takes audio codec mp3"),
        ("mp4", "WMA-V1", "WMA goes in ASF files"),
        ("flv", "wma-v2", "WMA goes in ASF files"),
        ("m3u8", "opus", "opus (it goes in mp4, ogg)"),
        ("flac", "opus", "it takes audio codec flac"),
    ],
)
def test_codecs_a_container_cannot_hold(fmt, codec, said):
    message = refusal(fmt, Codec=codec, Samplerate=48000 if fmt != "flv" else 44100)
    assert "Outputs[0]" in message and "Audio.Codec" in message and said in message


def test_unknown_codec():
    assert "Audio.Codec: codec 'dts' is not supported" in refusal(Codec="dts")


def test_container_defaults():
    assert "Codec" not in config("ogg")["Audio"]  # vorbis, by the container's default
    assert CONTAINERS["ogg"].default_audio_codec == "vorbis"
    assert CONTAINERS["flac"].default_audio_codec == "flac"
    assert "Vorbis takes 2 channels, not 1" in refusal("ogg", Channels=1)
    assert config("mp4", Codec="opus") == {  # Opus's own default rate
        "Container": {"Format": "mp4"},
        "Audio": {"Codec": "opus"},
    }


@pytest.mark.parametrize(
    ("fmt", "audio", "key", "said"),
    [
        # Sample rates: the container's, then the codec's.
        ("flv", {"Samplerate": 48000}, "Samplerate", "FLV container takes only 22050 or 44100"),
        ("mp4", {"Codec": "opus", "Samplerate": 44100}, "Samplerate", "48000 Hz, not 44100"),
        ("mp4", {"Codec": "opus", "Samplerate": 24000}, "Samplerate", "every Opus decoder"),
        ("mp4", {"Codec": "mp3", "Samplerate": 96000}, "Samplerate", "no 96 kHz"),
        ("mp4", {"Codec": "ac3", "Samplerate": 22050}, "Samplerate", "32000, 44100, 48000"),
        ("mp4", {"Codec": "mp2", "Samplerate": 96000}, "Samplerate", "MP2 takes"),
        ("ogg", {"Samplerate": 96000}, "Samplerate", "Vorbis takes"),
        # Channels: the codec's (reference), then the container's.
        ("mp4", {"Codec": "mp3", "Channels": 6}, "Channels", "MP3 takes 0, 1, 2 channels"),
        ("mp4", {"Codec": "opus", "Samplerate": 48000, "Channels": 4}, "Channels", "Opus takes"),
        ("ogg", {"Channels": 0}, "Channels", "Vorbis takes 2 channels, not 0"),
        ("mp4", {"Codec": "ac3", "Channels": 8}, "Channels", "AC-3 takes 0, 1, 2, 4, 5, 6"),
        ("mp4", {"Codec": "mp2", "Channels": 4}, "Channels", "MP2 takes"),
        ("mpd", {"Channels": 8}, "Channels", "MPD container takes at most 6 channels"),
        # Bitrates an encoder cannot write.
        ("mp4", {"Codec": "mp3", "Bitrate": 384}, "Bitrate", "MP3 at 44100 Hz takes 8-320"),
        ("mp4", {"Codec": "ac3", "Bitrate": 16}, "Bitrate", "AC-3 at 44100 Hz takes 32-640"),
        ("mp4", {"Codec": "ac3", "Bitrate": 768}, "Bitrate", "32-640 Kbps, not 768"),
        ("mp4", {"Codec": "eac3", "Bitrate": 16}, "Bitrate", "E-AC-3 at 44100 Hz takes 32-1000"),
        ("mp4", {"Codec": "mp2", "Bitrate": 100}, "Bitrate", "320 or 384 Kbps, not 100"),
        ("mp4", {"Codec": "mp2", "Samplerate": 22050, "Bitrate": 192}, "Bitrate", "144 or 160"),
        (
            "mp4",
            {"Codec": "opus", "Samplerate": 48000, "Channels": 1, "Bitrate": 320},
            "Bitrate",
            "Opus at 48000 Hz takes 8-256",
        ),
        ("mp4", {"Codec": "opus", "Samplerate": 48000, "Bitrate": 600}, "Bitrate", "8-512"),
        ("ogg", {"Samplerate": 8000}, "Bitrate", "12-84 Kbps, not 128 (the default)"),
        ("ogg", {"Bitrate": 40}, "Bitrate", "Vorbis at 44100 Hz takes 45-500"),
        ("mp4", {"Bitrate": 1001}, "Bitrate", "less than or equal to 1000"),
        # AAC profiles FFmpeg's native encoder cannot write.
        ("mp4", {"Profile": "aac_he"}, "Profile", "aac_he needs an HE-AAC encoder (libfdk_aac)"),
        ("mp4", {"Profile": "aac_he_v2"}, "Profile", "HE-AAC v2 encoder"),
        ("mp4", {"Profile": "aac_ld"}, "Profile", "AAC-LD encoder"),
        ("mp4", {"Profile": "aac_eld"}, "Profile", "which this FFmpeg build does not have"),
        ("mp4", {"Profile": "aac_main"}, "Profile", "Must be one of"),
    ],
)
def test_refusals_name_the_key_and_the_reason(fmt, audio, key, said):
    message = refusal(fmt, **audio)
    assert f"Audio.{key}: " in message and said in message


@pytest.mark.parametrize(
    "audio",
    [
        {"Codec": "flac", "Bitrate": 5},  # below the schema's range: still refused there
    ],
)
def test_out_of_range_bitrate_is_refused_even_for_lossless(audio):
    assert "Audio.Bitrate" in refusal("flac", **audio)


@pytest.mark.parametrize(
    ("fmt", "audio"),
    [
        ("flac", {"Codec": "flac", "Bitrate": 1000, "Channels": 8, "Samplerate": 96000}),
        ("flv", {"Codec": "pcm_s16le", "Bitrate": 999}),  # lossless: Bitrate ignored
        ("mp4", {"Codec": "mp3", "Profile": "aac_he"}),  # Profile applies to AAC only
        ("mp4", {"Codec": "aac", "Profile": "aac_low", "Channels": 8, "Samplerate": 96000}),
        ("mp4", {"Codec": "ac3", "Bitrate": 640, "Channels": 6, "Samplerate": 48000}),
        ("mp4", {"Codec": "eac3", "Bitrate": 1000, "Channels": 0}),
        ("mp4", {"Codec": "mp2", "Bitrate": 384, "Samplerate": 32000}),
        ("mp4", {"Codec": "mp2", "Bitrate": 8, "Samplerate": 16000, "Channels": 1}),
        ("mp4", {"Codec": "opus", "Samplerate": 48000, "Bitrate": 512, "Channels": 0}),
        ("ogg", {"Codec": "opus", "Samplerate": 48000, "Bitrate": 8, "Channels": 1}),
        ("ogg", {"Codec": "vorbis", "Samplerate": 8000, "Bitrate": 84}),
        ("ogg", {"Codec": "flac", "Channels": 0}),
        ("m4a", {"Codec": "ac3", "Bitrate": 192}),
        ("mpd", {"Channels": 6, "Codec": "eac3"}),
        ("mp4", {"Remove": True, "Codec": "opus"}),  # removed: the rest is ignored
    ],
)
def test_accepted(fmt, audio):
    assert config(fmt, **audio)["Audio"]["Codec"] == AUDIO_CODECS[audio["Codec"].lower()].name


def test_volume_is_normalized():
    volume = {
        "Method": "dynamic",
        "IntegratedLoudnessTarget": "-23",
        "LoudnessRangeTarget": 7,
        "TruePeak": -1.5,
        "Level": 20,
    }
    assert config(Volume=volume)["Audio"]["Volume"] == {
        "Method": "dynamic",
        "IntegratedLoudnessTarget": -23.0,
        "LoudnessRangeTarget": 7.0,
        "TruePeak": -1.5,
        "Level": 20.0,
    }
    assert config(Volume={})["Audio"]["Volume"] == {}
    for method in ("auto", "linear"):
        assert config(Volume={"Method": method})["Audio"]["Volume"]["Method"] == method


@pytest.mark.parametrize(
    ("volume", "key", "said"),
    [
        ({"Method": "loud"}, "Method", "Method must be auto, dynamic or linear"),
        ({"IntegratedLoudnessTarget": -71}, "IntegratedLoudnessTarget", "-70"),
        ({"IntegratedLoudnessTarget": -4}, "IntegratedLoudnessTarget", "-5"),
        ({"LoudnessRangeTarget": 0}, "LoudnessRangeTarget", "greater than or equal to 1"),
        ({"LoudnessRangeTarget": 21}, "LoudnessRangeTarget", "less than or equal to 20"),
        ({"TruePeak": -10}, "TruePeak", "greater than or equal to -9"),
        ({"TruePeak": 0.5}, "TruePeak", "less than or equal to 0"),
        ({"Level": 21}, "Level", "less than or equal to 20"),
        ({"Measured": {"I": -20}}, "Measured", "not supported by mcfarm"),
        ({"Gain": 3}, "Gain", "not supported by mcfarm"),
    ],
)
def test_volume_refusals(volume, key, said):
    message = refusal(Volume=volume)
    assert f"Audio.Volume.{key}: " in message and said in message


def test_copied_audio_takes_no_volume():
    assert "a copied audio stream takes no encoding settings" in refusal(
        Codec="copy", Volume={"Method": "linear"}
    )


def test_trans_config_audio_bitrate_checks():
    document = {
        "Container": {"Format": "mp4"},
        "TransConfig": {"IsCheckAudioBitrate": "true", "IsCheckAudioBitrateFail": False},
    }
    assert validate_template_config(document, "o")["TransConfig"] == {
        "IsCheckAudioBitrate": True,
        "IsCheckAudioBitrateFail": False,
    }
    document["TransConfig"] = {"IsCheckAudioBitrateFail": "maybe"}
    with pytest.raises(InvalidJob, match="TransConfig.IsCheckAudioBitrateFail"):
        validate_template_config(document, "o")


@pytest.mark.parametrize(
    ("codec", "kbps", "rate", "channels", "fitted"),
    [
        ("mp2", 100, 44100, 2, 96),  # down to a Layer II bitrate
        ("mp2", 20, 44100, 2, 32),  # below every one: the lowest
        ("mp2", 150, 22050, 2, 144),
        ("opus", 400, 48000, 1, 256),
        ("opus", 400, 48000, 0, 400),
        ("vorbis", 40, 44100, 2, 45),
        ("aac", 96, 44100, 2, 96),
    ],
)
def test_fit_kbps(codec, kbps, rate, channels, fitted):
    assert fit_kbps(AUDIO_CODECS[codec], kbps, rate, channels) == fitted
    assert fitted in allowed_kbps(AUDIO_CODECS[codec], rate, channels)
