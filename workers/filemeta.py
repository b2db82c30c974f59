"""ffprobe JSON of an output → ICE ``OutFileMeta`` (reference §2.2), exact wire names.

ICE mixes key styles on purpose-less grounds (``Codec_name`` in video streams, ``CodecName``
in audio streams) and sends every value as a string; this module is the one place that
knows those names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from workers.probe import _decimal, _int, _kbps, _rate, _rotation, _streams, _text


def _fields(spec: str) -> tuple[tuple[str, str], ...]:
    """``"Index=index Level …"`` → ``(("Index", "index"), ("Level", ""), …)``: each ICE field
    in ICE's order with the ffprobe field it copies, or "" when it is derived (``_DERIVED``)."""
    return tuple((name, source) for name, _, source in (f.partition("=") for f in spec.split()))


#: A video stream's fields. ICE spells video fields ``Codec_name`` and audio ones ``CodecName``.
_VIDEO_FIELDS = _fields(
    "Index=index Codec_name=codec_name Codec_long_name=codec_long_name Codec_tag=codec_tag "
    "Codec_tag_string=codec_tag_string Codec_time_base=codec_time_base Profile=profile Level "
    "Width=width Height=height Has_b_frames=has_b_frames Sar=sample_aspect_ratio "
    "Dar=display_aspect_ratio PixFmt=pix_fmt Fps Avg_fps Bit_rate Duration=duration "
    "NumFrames=nb_frames Lang Rotate Start_time=start_time Time_base=time_base"
)
_AUDIO_FIELDS = _fields(
    "Index=index CodecName=codec_name CodecLongName=codec_long_name CodecTag=codec_tag "
    "CodecTagString=codec_tag_string CodecTimeBase=codec_time_base SampleFmt=sample_fmt "
    "SampleRate=sample_rate Channels=channels ChannelLayout=channel_layout Timebase=time_base "
    "StartTime=start_time Duration=duration Bitrate Lang"
)


def _level(stream: Mapping[str, Any]) -> str:
    level = _int(stream.get("level"))
    return str(level) if level is not None and level >= 0 else ""


#: The fields ICE derives rather than copies: frame rates as decimals, bitrates in Kbps…
_DERIVED: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "Level": _level,
    "Fps": lambda stream: _decimal(_rate(stream.get("r_frame_rate"))),
    "Avg_fps": lambda stream: _decimal(_rate(stream.get("avg_frame_rate"))),
    "Bit_rate": lambda stream: _kbps(stream.get("bit_rate")),
    "Bitrate": lambda stream: _kbps(stream.get("bit_rate")),
    "Lang": lambda stream: _text((stream.get("tags") or {}).get("language")),
    "Rotate": lambda stream: str(_rotation(stream)),
}


def _stream_meta(stream: Mapping[str, Any], fields: tuple[tuple[str, str], ...]) -> dict:
    return {
        name: _text(stream.get(source)) if source else _DERIVED[name](stream)
        for name, source in fields
    }


def out_file_meta(
    probe_json: Mapping[str, Any],
    *,
    file_name: str,
    file_url: str,
    file_size: int | None = None,
    file_type: str = "transcode_file",
) -> dict[str, Any]:
    """ICE's ``OutFileMeta`` for a probed file.

    Every key is always present and every value is a string, ``""`` when ffprobe does not
    know it. Bitrates are in Kbps with up to three decimals (``"888.563"``), frame rates are
    decimals (``"29.97"``), durations and times are ffprobe's own strings.

    Args:
        probe_json: ``run_probe``'s output for the file.
        file_name: ``FileBasicInfo.FileName``.
        file_url: ``FileBasicInfo.FileUrl``.
        file_size: bytes; ffprobe's ``format.size`` when None.
        file_type: ``transcode_file`` or ``source_file``.

    Returns:
        ``{"FileBasicInfo": {...}, "VideoStreamInfoList": [...], "AudioStreamInfoList": [...]}``.
    """
    fmt = probe_json.get("format") or {}
    videos = [_stream_meta(stream, _VIDEO_FIELDS) for stream in _streams(probe_json, "video")]
    first_video = videos[0] if videos else {}
    basic = {
        "FileName": file_name,
        "FileSize": _text(file_size if file_size is not None else fmt.get("size")),
        "FileType": file_type,
        "FileUrl": file_url,
        "FormatName": _text(fmt.get("format_name")),
        "Duration": _text(fmt.get("duration")),
        "Bitrate": _kbps(fmt.get("bit_rate")),
        "Width": first_video.get("Width", ""),
        "Height": first_video.get("Height", ""),
        "FileStatus": "Normal",
        "MediaId": "",
        "Region": "",
    }
    return {
        "FileBasicInfo": basic,
        "VideoStreamInfoList": videos,
        "AudioStreamInfoList": [
            _stream_meta(stream, _AUDIO_FIELDS) for stream in _streams(probe_json, "audio")
        ],
    }


def output_result(media: str, url: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """An output's (or a group manifest's) ``Result``: where it was written, and its meta."""
    return {"OutputFile": {"Type": "OSS", "Media": media, "Url": url}, "OutFileMeta": dict(meta)}
