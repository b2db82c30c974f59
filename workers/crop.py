"""``Video.Crop: "border"``: the source's black borders, found by FFmpeg's cropdetect in a
measuring pass (``workers.analysis``) and folded into ``Video.Crop`` as the rectangle of
the picture, so the argv builder crops it like a ``W:H:L:T`` crop.

cropdetect (https://ffmpeg.org/ffmpeg-filters.html#cropdetect) keeps, with ``reset=0``,
the union of every frame's non-black area: its last line names the rectangle that holds
the picture of every frame seen. A long input is measured on its keyframes only.
"""

from __future__ import annotations

import copy
import re

from shared.config import Settings
from workers.analysis import MEASURES, Config, Measure
from workers.probe import ProbeInfo

#: Above this many seconds, only keyframes are decoded for the measurement.
KEYFRAMES_ONLY_AFTER_S = 60
#: Luma at or below this (of 255) is black; sizes are kept even.
CROPDETECT = {"limit": 24, "round": 2, "reset": 0}
_CROP = re.compile(r"crop=(\d+):(\d+):(\d+):(\d+)")


def needed(config: Config, probe: ProbeInfo) -> bool:
    return probe.video is not None and config.get("Video", {}).get("Crop") == "border"


def argv(src: str, probe: ProbeInfo, config: Config, settings: Settings) -> list[str]:
    """cropdetect over the first video stream; its per-frame lines go to stderr (info)."""
    head = [settings.ffmpeg_bin, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
    if (probe.duration or 0) > KEYFRAMES_ONLY_AFTER_S:
        head += ["-skip_frame", "nokey"]
    detect = "cropdetect=" + ":".join(f"{k}={v}" for k, v in CROPDETECT.items())
    return [*head, "-i", src, "-map", "0:V:0", "-vf", detect, "-an", "-f", "null", "-"]


def parse(stderr: str) -> dict[str, int]:
    """The last rectangle cropdetect named, ``{W, H, L, T}``; ``{}`` when it named none
    or one too small to be a picture (an all-black source): then nothing is cropped."""
    found = _CROP.findall(stderr)
    if not found:
        return {}
    width, height, left, top = (int(n) for n in found[-1])
    if width < 16 or height < 16:
        return {}
    return {"W": width, "H": height, "L": left, "T": top}


def fold(config: Config, value: dict[str, int]) -> Config:
    """The config with ``Crop`` the measured rectangle (or no ``Crop`` when none)."""
    folded = copy.deepcopy(config)
    if value:
        folded["Video"]["Crop"] = dict(value)
    else:
        folded["Video"].pop("Crop", None)
    return folded


MEASURES.append(Measure("border", needed, argv, parse, fold))
