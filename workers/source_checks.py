"""Renditions above their source: produced as asked, capped to the source, or failed.

ICE's ``TransConfig`` decides (reference §2.3): by default an output larger or of a higher
bitrate than its source is produced as asked (upscaled); ``IsCheckReso`` /
``IsCheckVideoBitrate`` cap it to the source; ``IsCheckResoFail`` /
``IsCheckVideoBitrateFail`` fail it. The audio bitrate likewise (``IsCheckAudioBitrate`` /
``IsCheckAudioBitrateFail``), except that its cap is on by default when the output keeps
the source's audio codec. The outcome is said in the output's detail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidJob
from shared.template_audio import AUDIO_CODECS, DEFAULT_KBPS, fit_kbps
from workers.audio_cmd import audio_codec_name, channels, sample_rate
from workers.geometry import output_dimensions
from workers.probe import ProbeInfo

SOURCE_TOO_SMALL = "InvalidParameter.SourceTooSmall"
DURATION_TOO_LONG = "InvalidParameter.DurationTooLong"
RESOLUTION_TOO_LARGE = "InvalidParameter.ResolutionTooLarge"


def check_input_limits(info: ProbeInfo, settings) -> None:
    """Refuse an input longer or larger than the farm takes.

    Args:
        settings: ``max_input_duration`` (s, ``MCFARM_MAX_INPUT_DURATION``) and
            ``max_input_resolution`` (pixels on the longer side,
            ``MCFARM_MAX_INPUT_RESOLUTION``).

    Raises:
        InvalidJob: ``InvalidParameter.DurationTooLong`` or
            ``InvalidParameter.ResolutionTooLarge``.
    """
    if info.duration is not None and info.duration > settings.max_input_duration:
        raise InvalidJob(
            f"The input lasts {info.duration:.0f} s, longer than the limit of "
            f"{settings.max_input_duration} s (MCFARM_MAX_INPUT_DURATION).",
            code=DURATION_TOO_LONG,
        )
    if info.video is not None:
        width, height = info.video.width, info.video.height
        if max(width, height) > settings.max_input_resolution:
            raise InvalidJob(
                f"The input is {width}x{height}, above the limit of "
                f"{settings.max_input_resolution} pixels a side (MCFARM_MAX_INPUT_RESOLUTION).",
                code=RESOLUTION_TOO_LARGE,
            )


@dataclass(frozen=True)
class Checked:
    """The config to encode and a sentence for the output's detail ("" when nothing to say)."""

    config: dict[str, Any]
    note: str = ""


def _over_source(
    trans: dict[str, Any], check: str, what: str, cap: Callable[[], None], otherwise: str = ""
) -> str:
    """What to do with an output ``what`` (e.g. "1920x1080 is above the source's 640x360").

    ``{check}Fail`` fails it; ``{check}`` calls ``cap`` (the config is brought down to the
    source's ``check`` names: IsCheckReso → size, IsCheckVideoBitrate → bitrate); neither
    leaves it as asked and says ``otherwise``.

    Raises:
        InvalidJob: ``InvalidParameter.SourceTooSmall`` when ``{check}Fail`` is set.
    """
    if trans.get(f"{check}Fail"):
        raise InvalidJob(
            f"The rendition's {what} (TransConfig.{check}Fail).", code=SOURCE_TOO_SMALL
        )
    if trans.get(check):
        cap()
        kept = "size" if check == "IsCheckReso" else "bitrate"
        return f"{what}: encoded at the source {kept} (TransConfig.{check})."
    return f"{what}: {otherwise}" if otherwise else ""


def _resolution(config: dict[str, Any], probe: ProbeInfo, trans: dict[str, Any]) -> str:
    video = config.get("Video", {})
    target = output_dimensions(probe, video)
    if target is None or probe.video is None:
        return ""
    src = tuple(int(v) for v in probe.video.display_size())
    if target[0] <= src[0] and target[1] <= src[1]:
        return ""

    def cap() -> None:
        video.pop("Width", None)
        video.pop("Height", None)

    asked = f"{target[0]}x{target[1]} is above the source's {src[0]}x{src[1]}"
    return _over_source(trans, "IsCheckReso", asked, cap, "upscaled as asked.")


def _bitrate(config: dict[str, Any], probe: ProbeInfo, trans: dict[str, Any]) -> str:
    video = config.get("Video", {})
    asked, source = video.get("Bitrate"), probe.video.bit_rate if probe.video else None
    if not asked or asked == -1 or not source or asked * 1000 <= source:
        return ""

    def cap() -> None:
        video["Bitrate"] = max(10, source // 1000)
        if "Maxrate" in video:
            video["Maxrate"] = min(video["Maxrate"], max(video["Bitrate"], 10))

    text = f"video bitrate {asked} Kbps is above the source's {source // 1000} Kbps"
    return _over_source(trans, "IsCheckVideoBitrate", text, cap)


def _audio_bitrate(config: dict[str, Any], probe: ProbeInfo, trans: dict[str, Any]) -> str:
    """``IsCheckAudioBitrate`` / ``…Fail`` for an output that encodes lossy audio.

    By default (reference) ``IsCheckAudioBitrate`` is on when the output's codec is the
    source's (the normalized names are FFmpeg's, as ffprobe reports them), off otherwise.
    Bitrates compare in whole Kbps, so a 127.6 Kbps AAC source meets a 128 Kbps target.
    """
    audio, name = config.get("Audio", {}), audio_codec_name(config)
    source = probe.audio.bit_rate if probe.audio else None
    codec = AUDIO_CODECS.get(name)
    if audio.get("Remove") or codec is None or codec.kbps is None or not source:
        return ""  # no audio, copied or lossless (no bitrate to compare), or unknown
    asked, source_kbps = audio.get("Bitrate", DEFAULT_KBPS), round(source / 1000)
    if asked <= source_kbps:
        return ""
    trans = {"IsCheckAudioBitrate": probe.audio.codec == name, **trans}

    def cap() -> None:
        count = channels(probe, config) or probe.audio.channels or 0
        audio["Bitrate"] = fit_kbps(codec, source_kbps, sample_rate(config), count)
        config["Audio"] = audio

    text = f"audio bitrate {asked} Kbps is above the source's {source_kbps} Kbps"
    return _over_source(trans, "IsCheckAudioBitrate", text, cap)


def apply_source_checks(config: dict[str, Any], probe: ProbeInfo) -> Checked:
    """Apply the ``TransConfig`` source checks to a normalized TemplateConfig.

    Raises:
        InvalidJob: ``InvalidParameter.SourceTooSmall`` when a ``…Fail`` check trips.
    """
    trans = config.get("TransConfig", {})
    checked = copy.deepcopy(config)
    checks = (_resolution, _bitrate, _audio_bitrate)
    notes = [n for n in (check(checked, probe, trans) for check in checks) if n]
    return Checked(checked, " ".join(n[0].upper() + n[1:] for n in notes))
