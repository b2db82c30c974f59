"""ffprobe JSON of an output → ICE ``OutFileMeta`` (reference §2.2), exact wire names.

ICE mixes key styles on purpose-less grounds (``Codec_name`` in video streams, ``CodecName``
in audio streams) and sends every value as a string; this module is the one place that
knows those names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.probe import _decimal, _int, _kbps, _rate, _rotation, _streams, _text


def _video_meta(stream: Mapping[str, Any]) -> dict[str, str]:
    tags = stream.get("tags") or {}
    level = _int(stream.get("level"))
    return {
        "Index": _text(stream.get("index")),
        "Codec_name": _text(stream.get("codec_name")),
        "Codec_long_name": _text(stream.get("codec_long_name")),
        "Codec_tag": _text(stream.get("codec_tag")),
        "Codec_tag_string": _text(stream.get("codec_tag_string")),
        "Codec_time_base": _text(stream.get("codec_time_base")),
        "Profile": _text(stream.get("profile")),
        "Level": str(level) if level is not None and level >= 0 else "",
        "Width": _text(stream.get("width")),
        "Height": _text(stream.get("height")),
        "Has_b_frames": _text(stream.get("has_b_frames")),
        "Sar": _text(stream.get("sample_aspect_ratio")),
        "Dar": _text(stream.get("display_aspect_ratio")),
        "PixFmt": _text(stream.get("pix_fmt")),
        "Fps": _decimal(_rate(stream.get("r_frame_rate"))),
        "Avg_fps": _decimal(_rate(stream.get("avg_frame_rate"))),
        "Bit_rate": _kbps(stream.get("bit_rate")),
        "Duration": _text(stream.get("duration")),
        "NumFrames": _text(stream.get("nb_frames")),
        "Lang": _text(tags.get("language")),
        "Rotate": str(_rotation(stream)),
        "Start_time": _text(stream.get("start_time")),
        "Time_base": _text(stream.get("time_base")),
    }


def _audio_meta(stream: Mapping[str, Any]) -> dict[str, str]:
    tags = stream.get("tags") or {}
    return {
        "Index": _text(stream.get("index")),
        "CodecName": _text(stream.get("codec_name")),
        "CodecLongName": _text(stream.get("codec_long_name")),
        "CodecTag": _text(stream.get("codec_tag")),
        "CodecTagString": _text(stream.get("codec_tag_string")),
        "CodecTimeBase": _text(stream.get("codec_time_base")),
        "SampleFmt": _text(stream.get("sample_fmt")),
        "SampleRate": _text(stream.get("sample_rate")),
        "Channels": _text(stream.get("channels")),
        "ChannelLayout": _text(stream.get("channel_layout")),
        "Timebase": _text(stream.get("time_base")),
        "StartTime": _text(stream.get("start_time")),
        "Duration": _text(stream.get("duration")),
        "Bitrate": _kbps(stream.get("bit_rate")),
        "Lang": _text(tags.get("language")),
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
    videos = [_video_meta(stream) for stream in _streams(probe_json, "video")]
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
        "AudioStreamInfoList": [_audio_meta(stream) for stream in _streams(probe_json, "audio")],
    }


def output_result(media: str, url: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """An output's (or a group manifest's) ``Result``: where it was written, and its meta."""
    return {"OutputFile": {"Type": "OSS", "Media": media, "Url": url}, "OutFileMeta": dict(meta)}
