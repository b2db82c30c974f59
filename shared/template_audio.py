"""The ``Audio`` keys of a TemplateConfig: codecs and what each takes (channels, sample
rates, bitrates), ``Profile`` and ``Volume`` (reference §2.2 MediaConvertAudio /
MediaConvertVolume). ``shared.templates`` uses these fields and runs ``check_audio`` on
every document; the argv builder (``workers.audio_cmd``) and the source checks
(``workers.source_checks``) read the same table. Which container holds which codec is
``shared.containers``'.

Normalized codec names are FFmpeg's, which ffprobe also reports for a stream: ``aac``,
``mp3``, ``ac3``, ``eac3``, ``mp2``, ``flac``, ``opus``, ``vorbis``, ``pcm_s16le``,
``wmav1``, ``wmav2``, and ``copy``. Every limit below was checked against this FFmpeg
(5.1) and its encoders (https://ffmpeg.org/ffmpeg-codecs.html#Audio-Encoders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.containers import CONTAINERS, Container

SAMPLE_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000)
#: ICE reference §2.2 MediaConvertAudio: Bitrate "Default value: 128" (Kbps), Samplerate
#: "Default value: 44100", Channels "Default value: 2".
DEFAULT_KBPS = 128
DEFAULT_SAMPLE_RATE = 44100
DEFAULT_CHANNELS = 2
#: ``Channels`` values: 0 keeps the source's count (up to what the codec takes).
ALL_CHANNELS = (0, 1, 2, 4, 5, 6, 8)
_UP_TO_STEREO = (0, 1, 2)


@dataclass(frozen=True)
class AudioCodec:
    """One ``Audio.Codec``.

    Attributes:
        name: the normalized name: FFmpeg's codec name.
        encoder: the FFmpeg encoder that writes it.
        label: its name in messages.
        channels: the ``Channels`` values it takes.
        sample_rates: the ``Samplerate`` values it takes.
        default_sample_rate: ``Samplerate`` when the config names none.
        kbps: the lowest and highest ``Bitrate``; None for a lossless codec, whose
            ``Bitrate`` is ignored (reference: a bitrate is a lossy encoder's target).
        homeless: why no container of mcfarm's holds it ("" when one does).
    """

    name: str
    encoder: str
    label: str
    channels: tuple[int, ...] = ALL_CHANNELS
    sample_rates: tuple[int, ...] = SAMPLE_RATES
    default_sample_rate: int = DEFAULT_SAMPLE_RATE
    kbps: tuple[int, int] | None = (8, 1000)
    homeless: str = ""

    @property
    def max_channels(self) -> int:
        return max(self.channels)


_WMA_HOME = "WMA goes in ASF files, a format that mcfarm does not write"

AUDIO_CODECS: Mapping[str, AudioCodec] = {
    codec.name: codec
    for codec in (
        # FFmpeg's native AAC encoder clamps a bitrate above its frame limit itself.
        AudioCodec("aac", "aac", "AAC"),
        # LAME: MPEG-1/2 Layer III has no 96 kHz and no rate above 320 Kbps.
        AudioCodec("mp3", "libmp3lame", "MP3", _UP_TO_STEREO, SAMPLE_RATES[:-1], kbps=(8, 320)),
        # ATSC A/52: 32, 44.1 or 48 kHz, 5.1 at most, 32-640 Kbps (E-AC-3 goes higher).
        AudioCodec("ac3", "ac3", "AC-3", ALL_CHANNELS[:-1], (32000, 44100, 48000), kbps=(32, 640)),
        AudioCodec(
            "eac3", "eac3", "E-AC-3", ALL_CHANNELS[:-1], (32000, 44100, 48000), kbps=(32, 1000)
        ),
        # MPEG-1 Layer II and its MPEG-2 low sample rates; bitrates from a table (allowed_kbps).
        AudioCodec("mp2", "mp2", "MP2", _UP_TO_STEREO, (16000, 22050, 24000, 32000, 44100, 48000)),
        AudioCodec("flac", "flac", "FLAC", kbps=None),
        # Opus runs at 48 kHz: every decoder outputs 48000 Hz whatever rate went in (RFC 7845
        # §5.1 "input sample rate" is a hint only), so 48000 is the only rate it takes.
        AudioCodec("opus", "libopus", "Opus", _UP_TO_STEREO, (48000,), 48000, kbps=(8, 512)),
        # The reference: "If the Codec parameter is set to VORBIS, you can set this to 2".
        # libvorbis has no setup for 96 kHz.
        AudioCodec("vorbis", "libvorbis", "Vorbis", (2,), SAMPLE_RATES[:-1]),
        AudioCodec("pcm_s16le", "pcm_s16le", "PCM", kbps=None),
        AudioCodec(
            "wmav1", "wmav1", "WMA v1", _UP_TO_STEREO, SAMPLE_RATES[:-1], homeless=_WMA_HOME
        ),
        AudioCodec(
            "wmav2", "wmav2", "WMA v2", _UP_TO_STEREO, SAMPLE_RATES[:-1], homeless=_WMA_HOME
        ),
    )
}
#: ``Audio.Codec`` as users write it (case-insensitive) → the normalized name.
CODEC_ALIASES: Mapping[str, str] = {
    **{name: name for name in AUDIO_CODECS},
    "ac-3": "ac3",
    "e-ac-3": "eac3",
    "ec-3": "eac3",
    "wma-v1": "wmav1",
    "wma-v2": "wmav2",
    "copy": "copy",
}

#: Layer II bitrates (Kbps): MPEG-1 at 32-48 kHz, MPEG-2 below (ISO/IEC 11172-3 and 13818-3
#: tables); FFmpeg's mp2 encoder takes no other value.
_MP2_KBPS = {
    True: (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    False: (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
#: The bitrates (Kbps) libvorbis's managed (ABR) mode has a setup for, stereo, by sample
#: rate (vorbisenc's tables, as FFmpeg 5.1's libvorbis takes them).
_VORBIS_KBPS = {
    8000: (12, 84),
    11025: (16, 100),
    16000: (24, 200),
    22050: (30, 180),
    24000: (30, 180),
    32000: (36, 380),
    44100: (45, 500),
    48000: (45, 500),
}
#: libopus encodes at most 256 Kbps a channel.
_OPUS_KBPS_PER_CHANNEL = 256


def allowed_kbps(codec: AudioCodec, rate: int, channels: int) -> Sequence[int]:
    """The ``Bitrate`` values (Kbps) a lossy ``codec`` takes at ``rate`` Hz.

    Args:
        channels: the output's channel count; 0 when it keeps the source's.
    """
    if codec.name == "mp2":
        return _MP2_KBPS[rate >= 32000]
    low, high = codec.kbps or (0, 0)
    if codec.name == "vorbis":
        low, high = _VORBIS_KBPS[rate]
    if codec.name == "opus" and channels:
        high = min(high, _OPUS_KBPS_PER_CHANNEL * channels)
    return range(low, high + 1)


def fit_kbps(codec: AudioCodec, kbps: int, rate: int, channels: int) -> int:
    """The highest bitrate ``codec`` takes that is at most ``kbps`` (else its lowest): a
    bitrate brought down to a source's, or one checked for a channel count that only the
    source says (``Channels`` 0)."""
    allowed = allowed_kbps(codec, rate, channels)
    return max((k for k in allowed if k <= kbps), default=allowed[0])


def _spoken(kbps: Sequence[int]) -> str:
    if isinstance(kbps, range):
        return f"{kbps.start}-{kbps.stop - 1} Kbps"
    return f"{', '.join(map(str, kbps[:-1]))} or {kbps[-1]} Kbps"


# --- Profile --------------------------------------------------------------------------------

AAC_PROFILES = ("aac_low", "aac_he", "aac_he_v2", "aac_ld", "aac_eld")
#: The profiles FFmpeg's native AAC encoder cannot write (it has LC, Main and LTP): HE-AAC
#: (SBR, PS) and the low-delay ones need libfdk_aac, which Debian's FFmpeg is built without
#: (its licence keeps it out of distributions).
AAC_PROFILES_WITHOUT_ENCODER = {
    "aac_he": "HE-AAC",
    "aac_he_v2": "HE-AAC v2",
    "aac_ld": "AAC-LD",
    "aac_eld": "AAC-ELD",
}


# --- Volume ---------------------------------------------------------------------------------

VOLUME_METHODS = ("auto", "dynamic", "linear")
#: ICE reference §2.2 MediaConvertVolume defaults. ``auto`` is ``dynamic`` with these targets.
VOLUME_DEFAULTS: Mapping[str, Any] = {
    "Method": "dynamic",
    "IntegratedLoudnessTarget": -6.0,
    "LoudnessRangeTarget": 8.0,
    "TruePeak": -1.0,
    "Level": -20.0,
}


class VolumeSchema(Schema):
    """``Audio.Volume``. Each target applies to its method only (reference), the others
    are accepted and ignored. The worker adds ``Measured`` (``workers.loudness``), which no
    user may send."""

    class Meta:
        unknown = RAISE

    Method = fields.String(
        validate=validate.OneOf(VOLUME_METHODS, error="Method must be auto, dynamic or linear")
    )
    IntegratedLoudnessTarget = fields.Float(validate=validate.Range(-70, -5))
    LoudnessRangeTarget = fields.Float(validate=validate.Range(1, 20))
    TruePeak = fields.Float(validate=validate.Range(-9, 0))
    Level = fields.Float(validate=validate.Range(max=20))


# --- the rules between keys -------------------------------------------------------------------


def _refuse(key: str, message: str) -> ValidationError:
    """An error keyed ``Audio.<key>``, as a field's own would be."""
    return ValidationError({"Audio": {key: [message]}})


def _codec_refusal(box: Container, name: str) -> str:
    wanted = " or ".join(c for c in box.audio_codecs if c != "copy")
    homes = [c.name for c in CONTAINERS.values() if name in c.audio_codecs]
    codec = AUDIO_CODECS.get(name)
    where = f"it goes in {', '.join(homes)}" if homes else codec.homeless if codec else ""
    return f"container {box.name} cannot carry {name} ({where}); it takes audio codec {wanted}"


_RATE_REASONS = {
    "opus": " (every Opus decoder plays at 48000 Hz, so mcfarm encodes Opus at 48000 only)",
    "mp3": " (MPEG audio has no 96 kHz)",
}


def _check_rate(box: Container, codec: AudioCodec, rate: int) -> None:
    if box.sample_rates and rate not in box.sample_rates:
        rates = " or ".join(str(r) for r in box.sample_rates)
        raise _refuse("Samplerate", f"the {box.name.upper()} container takes only {rates} Hz")
    if rate not in codec.sample_rates:
        rates = ", ".join(str(r) for r in codec.sample_rates)
        why = _RATE_REASONS.get(codec.name, "")
        raise _refuse("Samplerate", f"{codec.label} takes {rates} Hz, not {rate}{why}")


def _check_channels(box: Container, codec: AudioCodec, channels: int) -> None:
    if channels not in codec.channels:
        takes = ", ".join(str(c) for c in codec.channels)
        raise _refuse("Channels", f"{codec.label} takes {takes} channels, not {channels}")
    if channels > box.max_audio_channels:
        raise _refuse(
            "Channels",
            f"the {box.name.upper()} container takes at most {box.max_audio_channels} channels",
        )


def _check_bitrate(codec: AudioCodec, audio: Mapping[str, Any], rate: int, channels: int) -> None:
    if codec.kbps is None:
        return  # lossless: Bitrate is ignored
    kbps = audio.get("Bitrate", DEFAULT_KBPS)
    allowed = allowed_kbps(codec, rate, channels)
    if kbps not in allowed:
        said = "" if "Bitrate" in audio else " (the default)"
        raise _refuse(
            "Bitrate", f"{codec.label} at {rate} Hz takes {_spoken(allowed)}, not {kbps}{said}"
        )


def check_audio(box: Container, audio: Mapping[str, Any]) -> None:
    """The rules between ``Audio`` keys, the codec and the container.

    Raises:
        ValidationError: keyed by the ``Audio`` key at fault, saying why.
    """
    if not box.audio_codecs or audio.get("Remove"):
        return  # an image container, or no audio: the rest of Audio is ignored
    name = audio.get("Codec", box.default_audio_codec)
    if name not in box.audio_codecs:
        raise _refuse("Codec", _codec_refusal(box, name))
    if name == "copy":
        return
    codec = AUDIO_CODECS[name]
    rate = audio.get("Samplerate", codec.default_sample_rate)
    channels = audio.get("Channels", DEFAULT_CHANNELS)
    _check_rate(box, codec, rate)
    _check_channels(box, codec, channels)
    _check_bitrate(codec, audio, rate, channels)
    profile = audio.get("Profile")
    if name == "aac" and profile in AAC_PROFILES_WITHOUT_ENCODER:
        raise _refuse(
            "Profile",
            f"{profile} needs an {AAC_PROFILES_WITHOUT_ENCODER[profile]} encoder (libfdk_aac), "
            "which this FFmpeg build does not have; use aac_low",
        )
