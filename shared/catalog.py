"""The system (preset) transcoding templates of reference §4.

Only presets that are a plain H.264/H.265 + AAC/MP3 transcode or a COPY remux are here; the
super-resolution, narrowband and "smart" families need analysis mcfarm does not do.
Each preset has a full ``TemplateConfig`` shaped like the one official sample (M3U8-2K).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson

from shared.errors import invalid_parameter, missing_parameter

TYPE_TRANSCODE = 1
TYPE_IMAGE_WATERMARK, TYPE_TEXT_WATERMARK = 4, 5
TYPE_NAMES = {
    TYPE_TRANSCODE: "TranscodeTemplate",
    TYPE_IMAGE_WATERMARK: "ImageWatermarkTemplate",
    TYPE_TEXT_WATERMARK: "TextWatermarkTemplate",
}
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
        """The preset's config as plain, fresh dicts (it is frozen)."""
        return orjson.loads(orjson.dumps(self.config, default=dict))


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


# §4.1 ICE presets "Normal-Transcode-{MP4|M3U8}-{H.264|H.265}-{480|720|1080}P": id digits
# S00000001-{family}{codec}00{rung}1, e.g. S00000001-110031 is MP4 H.265 720P. The published
# "width" is the P label, i.e. the height.
_ICE_FAMILIES = [("1", "mp4", "MP4"), ("2", "m3u8", "M3U8")]
#: codec digit, codec, video kbps of the 480P, 720P and 1080P rungs.
_ICE_CODECS = [("0", "H.264", (750, 1200, 2000)), ("1", "H.265", (500, 800, 1350))]
_ICE_RUNGS = [("2", 480), ("3", 720), ("4", 1080)]


def _ice_rows() -> list[tuple[str, str, str, str, int, int]]:
    """(id, name, container, codec, video kbps, height) of every §4.1 preset."""
    return [
        (f"S00000001-{fam}{digit}00{rung}1", f"Normal-Transcode-{label}-{codec}-{height}P")
        + (fmt, codec, kbps[n], height)
        for fam, fmt, label in _ICE_FAMILIES
        for digit, codec, kbps in _ICE_CODECS
        for n, (rung, height) in enumerate(_ICE_RUNGS)
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
    for tid, name, fmt, codec, kbps, height in _ice_rows():
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


# --- ListSystemTemplates ----------------------------------------------------------------

#: Template types of reference §2.3 (only Type 1 has entries in mcfarm).
KNOWN_TYPES = range(1, 12)
TEMPLATE_STATUSES = ("Normal", "Invisible", "All")
_INT = re.compile(r"^[+-]?\d+$")


def int_param(value: Any, field: str, lo: int, hi: int) -> int:
    """Read one integer request parameter (an ``int`` or a string of digits) in ``[lo, hi]``.

    Raises:
        ApiError: ``InvalidParameter`` naming ``field``.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid_parameter(field, "It must be an integer.")
    if isinstance(value, str):
        if not _INT.match(value.strip()):
            raise invalid_parameter(field, "It must be an integer.")
        value = int(value.strip())
    if not lo <= value <= hi:
        raise invalid_parameter(field, f"It must be between {lo} and {hi}.")
    return value


def int_list_param(value: Any, field: str, lo: int, hi: int) -> list[int]:
    """Read a comma-separated list of integers (``"1,2"``), or a single ``int``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [int_param(value, field, lo, hi)]
    if not isinstance(value, str) or not value.strip(",").strip():
        raise invalid_parameter(field, "It must be a comma-separated list of integers.")
    return [int_param(part, field, lo, hi) for part in value.split(",") if part.strip()]


def page_params(page_number: Any, page_size: Any, default_size: int) -> tuple[int, int]:
    """``PageNumber`` (≥ 1, default 1) and ``PageSize`` (1–100, default ``default_size``)."""
    number = 1 if page_number in (None, "") else int_param(page_number, "PageNumber", 1, 10**9)
    size = default_size if page_size in (None, "") else int_param(page_size, "PageSize", 1, 100)
    return number, size


def _status_filter(status: Any) -> str:
    if status in (None, ""):
        return "Normal"
    if status not in TEMPLATE_STATUSES:
        raise invalid_parameter("Status", "Valid values: Normal, Invisible, All.")
    return status


def list_system_templates(
    *,
    types: str | int | None,
    subtype: str | int | None = None,
    template_id: str | None = None,
    name: str | None = None,
    status: str | None = "Normal",
    page_number: int | str | None = 1,
    page_size: int | str | None = 20,
) -> tuple[list[SystemTemplate], int]:
    """The ListSystemTemplates query: filter the presets, then page them by ``TemplateId``.

    Args:
        types: ``Type``, required: comma-separated type ids (only 1 has presets).
        subtype: ``Subtype``: comma-separated subtype ids; None for all.
        template_id: ``TemplateId``: exact match.
        name: ``Name``: case-insensitive substring of ``TemplateName``.
        status: ``Status``: ``Normal`` (default), ``Invisible`` (none are) or ``All``.
        page_number: ``PageNumber`` ≥ 1.
        page_size: ``PageSize`` 1–100, default 20.

    Returns:
        ``(page, total)``: the requested page and how many matched before paging.

    Raises:
        ApiError: ``MissingParameter`` without ``Type``; ``InvalidParameter`` naming the field.
    """
    if types in (None, ""):
        raise missing_parameter("Type")
    wanted_types = set(int_list_param(types, "Type", KNOWN_TYPES.start, KNOWN_TYPES.stop - 1))
    subtypes = None if subtype in (None, "") else set(int_list_param(subtype, "Subtype", 1, 99))
    status = _status_filter(status)
    number, size = page_params(page_number, page_size, 20)
    needle = (name or "").lower()
    matched = [
        tpl
        for tpl in sorted(SYSTEM_TEMPLATES.values(), key=lambda t: t.template_id)
        if TYPE_TRANSCODE in wanted_types
        and status in ("Normal", "All")
        and (subtypes is None or tpl.subtype in subtypes)
        and (not template_id or tpl.template_id == template_id)
        and needle in tpl.name.lower()
    ]
    start = (number - 1) * size
    return matched[start : start + size], len(matched)
