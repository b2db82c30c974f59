"""The system (preset) transcoding templates of reference §4.

Only presets that are a plain H.264/H.265 + AAC/MP3 transcode or a COPY remux are here; the
super-resolution, narrowband and "smart" families need analysis mcfarm does not do.
Each preset has a full ``TemplateConfig`` shaped like the one official sample (M3U8-2K).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

TYPE_TRANSCODE = 1
TYPE_NAMES = {TYPE_TRANSCODE: "TranscodeTemplate"}
SUBTYPE_NORMAL, SUBTYPE_AUDIO, SUBTYPE_REMUX = 1, 2, 3
SUBTYPE_NAMES = {SUBTYPE_NORMAL: "Normal", SUBTYPE_AUDIO: "AudioTranscode", SUBTYPE_REMUX: "Remux"}


@dataclass(frozen=True)
class SystemTemplate:
    template_id: str
    name: str
    subtype: int
    config: MappingProxyType

    def to_wire(self) -> dict[str, Any]:
        """The ``SystemTemplate`` object of Get/ListSystemTemplates."""
        return {
            "TemplateId": self.template_id,
            "TemplateName": self.name,
            "Type": TYPE_TRANSCODE,
            "TypeName": TYPE_NAMES[TYPE_TRANSCODE],
            "Subtype": self.subtype,
            "SubtypeName": SUBTYPE_NAMES[self.subtype],
            "Status": "Normal",
            "TemplateConfig": json.dumps(self.config_dict(), separators=(",", ":")),
        }

    def config_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.config, default=dict))


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    return value


def _video_preset(fmt: str, codec: str, kbps: int, audio_kbps: int, **size: int) -> dict:
    return {
        "Container": {"Format": fmt},
        "TransConfig": {"TransMode": "onepass"},
        "Video": {"Codec": codec, "Bitrate": kbps, "Preset": "medium", "PixFmt": "yuv420p", **size},
        "Audio": {"Codec": "aac", "Bitrate": audio_kbps, "Samplerate": 44100, "Channels": 2},
    }


# §4.1 ICE presets: the published "width" is the P label, i.e. the height.
_ICE_ROWS = [
    # id, name, container, codec, video kbps, height
    ("S00000001-100021", "Normal-Transcode-MP4-H.264-480P", "mp4", "H.264", 750, 480),
    ("S00000001-100031", "Normal-Transcode-MP4-H.264-720P", "mp4", "H.264", 1200, 720),
    ("S00000001-100041", "Normal-Transcode-MP4-H.264-1080P", "mp4", "H.264", 2000, 1080),
    ("S00000001-110021", "Normal-Transcode-MP4-H.265-480P", "mp4", "H.265", 500, 480),
    ("S00000001-110031", "Normal-Transcode-MP4-H.265-720P", "mp4", "H.265", 800, 720),
    ("S00000001-110041", "Normal-Transcode-MP4-H.265-1080P", "mp4", "H.265", 1350, 1080),
    ("S00000001-200021", "Normal-Transcode-M3U8-H.264-480P", "m3u8", "H.264", 750, 480),
    ("S00000001-200031", "Normal-Transcode-M3U8-H.264-720P", "m3u8", "H.264", 1200, 720),
    ("S00000001-200041", "Normal-Transcode-M3U8-H.264-1080P", "m3u8", "H.264", 2000, 1080),
    ("S00000001-210021", "Normal-Transcode-M3U8-H.265-480P", "m3u8", "H.265", 500, 480),
    ("S00000001-210031", "Normal-Transcode-M3U8-H.265-720P", "m3u8", "H.265", 800, 720),
    ("S00000001-210041", "Normal-Transcode-M3U8-H.265-1080P", "m3u8", "H.265", 1350, 1080),
]

# §4.2 MPS-era static presets: fixed width, height scaled proportionally.
_MPS_LADDER = [
    # suffix, label, video kbps, audio kbps, width
    ("070", "4K", 6000, 160, 3840),
    ("060", "2K", 3500, 160, 2048),
    ("040", "FHD", 3000, 160, 1920),
    ("030", "HD", 1800, 128, 1280),
    ("020", "SD", 800, 80, 848),
    ("010", "LD", 400, 64, 640),
]
_MPS_FAMILIES = [("0000", "FLV", "flv"), ("1000", "M3U8", "m3u8"), ("2000", "MP4", "mp4")]
_MP3_KBPS = {"300050": 320, "300040": 192, "300030": 160, "300020": 128, "300010": 64}


def _build() -> dict[str, SystemTemplate]:
    rows: list[tuple[str, str, int, dict]] = []
    for tid, name, fmt, codec, kbps, height in _ICE_ROWS:
        rows.append((tid, name, SUBTYPE_NORMAL, _video_preset(fmt, codec, kbps, 64, Height=height)))
    for prefix, label, fmt in _MPS_FAMILIES:
        for suffix, size, kbps, audio_kbps, width in _MPS_LADDER:
            config = _video_preset(fmt, "H.264", kbps, audio_kbps, Width=width)
            rows.append(
                (f"S00000001-{prefix[0]}00{suffix}", f"{label}-{size}", SUBTYPE_NORMAL, config)
            )
        copy = {
            "Container": {"Format": fmt},
            "Video": {"Codec": "copy"},
            "Audio": {"Codec": "copy"},
        }
        rows.append((f"S00000001-{prefix[0]}00000", f"{label}-COPY", SUBTYPE_REMUX, copy))
    # The one officially published TemplateConfig (M3U8-2K) also caps the bitrate.
    rows = [
        (tid, n, st, {**c, "Video": {**c["Video"], "Maxrate": 8000}})
        if tid == "S00000001-100060"
        else (tid, n, st, c)
        for tid, n, st, c in rows
    ]
    rows.append(
        (
            "S00000001-100050",
            "M3U8-XLD",
            SUBTYPE_NORMAL,
            _video_preset("m3u8", "H.264", 300, 32, Width=320),
        )
    )
    for serial, kbps in _MP3_KBPS.items():
        audio = {"Codec": "mp3", "Bitrate": kbps, "Samplerate": 44100, "Channels": 2}
        config = {"Container": {"Format": "mp3"}, "Audio": audio}
        rows.append((f"S00000001-{serial}", f"MP3-{kbps}", SUBTYPE_AUDIO, config))
    return {tid: SystemTemplate(tid, name, st, _freeze(cfg)) for tid, name, st, cfg in rows}


SYSTEM_TEMPLATES: MappingProxyType = MappingProxyType(_build())


def get_system_template(template_id: str) -> SystemTemplate | None:
    return SYSTEM_TEMPLATES.get(template_id)
