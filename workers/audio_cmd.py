"""The audio of an output's FFmpeg command (pure): its encoder options and its filters.

``workers.ffmpeg_cmd`` maps the input's first audio stream through ``audio_stream`` and
adds ``audio_options``; ``workers.loudness`` measures what ``Audio.Volume`` needs with
``loudness_filters``. Codec facts (encoders, limits) are ``shared.template_audio``'s.

``Audio.Volume`` (reference §2.2 MediaConvertVolume):

- ``linear``: a gain of ``Level`` dB (https://ffmpeg.org/ffmpeg-filters.html#volume).
- ``dynamic``: EBU R128 loudness normalization to ``IntegratedLoudnessTarget`` (LUFS),
  ``LoudnessRangeTarget`` (LU) and ``TruePeak`` (dBTP) in two passes: a measuring pass over
  the whole input (``workers.loudness``) and ``loudnorm`` fed its measurements with
  ``linear=true``, which applies one constant gain when that keeps the true peak under
  ``TruePeak`` and falls back to dynamic compression otherwise
  (https://ffmpeg.org/ffmpeg-filters.html#loudnorm).
- ``auto``: ``dynamic`` (the reference does not say more; the targets are its defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.containers import container
from shared.template_audio import (
    AUDIO_CODECS,
    DEFAULT_CHANNELS,
    DEFAULT_KBPS,
    VOLUME_DEFAULTS,
    AudioCodec,
    fit_kbps,
)
from workers.geometry import num
from workers.probe import ProbeInfo

#: A filter as ``(name, args, kwargs)`` of ffmpeg-python's ``stream.filter``.
Filter = tuple[str, tuple, dict[str, Any]]
#: Channel layouts FFmpeg gives 1 and 2 channels (``-ac``).
_LAYOUTS = {1: "mono", 2: "stereo"}


def audio_codec_name(config: Mapping[str, Any]) -> str:
    """The normalized ``Audio.Codec`` of an output, its container's default when unnamed."""
    box = container(config["Container"]["Format"])
    return config.get("Audio", {}).get("Codec", box.default_audio_codec)


def _codec(config: Mapping[str, Any]) -> AudioCodec:
    return AUDIO_CODECS[audio_codec_name(config)]


def sample_rate(config: Mapping[str, Any]) -> int:
    """The output's sample rate in Hz: ``Samplerate``, else the codec's default."""
    return config.get("Audio", {}).get("Samplerate", _codec(config).default_sample_rate)


def channels(probe: ProbeInfo, config: Mapping[str, Any]) -> int | None:
    """The output's channel count (``-ac``), None to keep the source's.

    ``Channels`` 0 keeps the source's count where the codec and container can hold it;
    more are downmixed to the most they hold (LAME and Opus encode at most 2).
    """
    wanted = config.get("Audio", {}).get("Channels", DEFAULT_CHANNELS)
    if wanted:
        return wanted
    box = container(config["Container"]["Format"])
    most = min(_codec(config).max_channels, box.max_audio_channels)
    source = probe.audio.channels if probe.audio else None
    return most if source and source > most else None


def audio_options(probe: ProbeInfo, config: Mapping[str, Any]) -> dict[str, Any]:
    """The audio encoder options: ``-c:a``, ``-b:a`` (lossy codecs), ``-ar``, ``-ac``,
    ``-profile:a`` (AAC, the only codec ``Profile`` applies to)."""
    audio = config.get("Audio", {})
    if audio_codec_name(config) == "copy":
        return {"c:a": "copy"}
    codec, rate, count = _codec(config), sample_rate(config), channels(probe, config)
    args: dict[str, Any] = {"c:a": codec.encoder, "ar": rate}
    if codec.kbps is not None:  # a lossless codec has no bitrate to aim at
        # The schema checked the bitrate for the channels asked; "keep the source's" is
        # checked here, against the source's count (Opus: at most 256 Kbps a channel).
        known = count or (probe.audio.channels if probe.audio else None) or 0
        kbps = fit_kbps(codec, audio.get("Bitrate", DEFAULT_KBPS), rate, known)
        args["b:a"] = f"{kbps}k"
    if count:
        args["ac"] = count
    if codec.name == "aac" and "Profile" in audio:
        args["profile:a"] = audio["Profile"]
    return args


# --- Volume ------------------------------------------------------------------------------------


def volume_method(config: Mapping[str, Any]) -> str | None:
    """``Audio.Volume.Method`` of an output that encodes audio, None when it sets no Volume."""
    audio = config.get("Audio", {})
    if "Volume" not in audio or audio.get("Remove") or audio_codec_name(config) == "copy":
        return None
    return audio["Volume"].get("Method", VOLUME_DEFAULTS["Method"])


#: loudnorm's options → the ``Volume`` targets they take.
_TARGETS = {"I": "IntegratedLoudnessTarget", "LRA": "LoudnessRangeTarget", "TP": "TruePeak"}


def _target(volume: Mapping[str, Any], key: str) -> str:
    return num(volume.get(key, VOLUME_DEFAULTS[key]))


def _downmix(probe: ProbeInfo, config: Mapping[str, Any]) -> list[Filter]:
    """The conversion to 1 or 2 channels that comes before ``loudnorm``, so it measures
    and normalizes what is encoded (an upmix to stereo alone adds 3 LU: BS.1770 sums
    the channels). Conversions to more channels stay where ``-ac`` puts them, after."""
    count = channels(probe, config)
    if count not in _LAYOUTS or (probe.audio and probe.audio.channels == count):
        return []
    return [("aformat", (), {"channel_layouts": _LAYOUTS[count]})]


def loudness_filters(
    probe: ProbeInfo, config: Mapping[str, Any], measured: Mapping[str, Any] | None
) -> list[Filter]:
    """``loudnorm`` to the output's targets: measuring (``measured`` None, JSON to stderr)
    or normalizing with the measurements, resampled back from loudnorm's 192 kHz to the
    output's rate."""
    volume = config["Audio"]["Volume"]
    targets = {key: _target(volume, name) for key, name in _TARGETS.items()}
    if measured is None:
        return [*_downmix(probe, config), ("loudnorm", (), {**targets, "print_format": "json"})]
    given = {f"measured_{key}": num(measured[key]) for key in ("I", "LRA", "TP", "thresh")}
    normalize = {**targets, **given, "offset": num(measured["offset"]), "linear": "true"}
    return [
        *_downmix(probe, config),
        ("loudnorm", (), normalize),
        ("aresample", (sample_rate(config),), {}),
    ]


def audio_filters(probe: ProbeInfo, config: Mapping[str, Any]) -> list[Filter]:
    """The filters ``Audio.Volume`` asks for (none without one).

    Raises:
        ValueError: a ``dynamic``/``auto`` Volume without its measurement
            (``workers.analysis.resolve`` folds it in before any argv is built).
    """
    method = volume_method(config)
    if method is None:
        return []
    volume = config["Audio"]["Volume"]
    if method == "linear":
        return [("volume", (f"{_target(volume, 'Level')}dB",), {})]
    if "Measured" not in volume:
        raise ValueError("Audio.Volume needs the input's loudness measured first")
    if volume["Measured"].get("silent"):
        return []  # digital silence has no loudness to bring to a target
    return loudness_filters(probe, config, volume["Measured"])


def audio_stream(stream, probe: ProbeInfo, config: Mapping[str, Any]):
    """The input's audio ``stream`` through ``audio_filters``."""
    for name, args, kwargs in audio_filters(probe, config):
        stream = stream.filter(name, *args, **kwargs)
    return stream
