"""Video encoder options (pure): the encoder of each ``Video.Codec`` and its rate control
(``TransMode`` onepass, twopass, fixCRF, CBR; ``Qscale``; ``Maxrate``/``AbrMax`` caps), GOP,
preset and profile; the palette of a GIF, and the options of each pass of a two-pass encode.

References: https://trac.ffmpeg.org/wiki/Encode/H.264, https://trac.ffmpeg.org/wiki/Encode/H.265,
https://trac.ffmpeg.org/wiki/Encode/AV1 (SVT-AV1), https://ffmpeg.org/ffmpeg-filters.html#palettegen,
https://ffmpeg.org/ffmpeg-codecs.html#libwebp.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ffmpeg

from workers.geometry import gop_frames, num
from workers.probe import ProbeInfo
from workers.video_filters import interlace_options

VIDEO_ENCODERS = {
    "H.264": "libx264",
    "H.265": "libx265",
    "AV1": "libsvtav1",
    "GIF": "gif",
    "WEBP": "libwebp_anim",
}
#: ICE reference §2.2 MediaConvertVideo.Crf: "If Codec is set to H.264, the default value
#: is 23. If Codec is set to H.265, the default value is 26. If Codec is set to AV1, the
#: default value is 32."
DEFAULT_CRF = {"H.264": 23, "H.265": 26, "AV1": 32}
#: 8-bit 4:2:0 plays everywhere; libx264 would otherwise keep a 4:4:4 or 10-bit source's
#: format and pick a profile that phones and browsers cannot decode.
DEFAULT_PIX_FMT = "yuv420p"
#: ICE reference §2.2 MediaConvertVideo.Bufsize: "Default value: 6000" (Kbps).
DEFAULT_BUFSIZE_KBIT = 6000
#: x264's preset names on SVT-AV1's 0 (slowest) to 13 (fastest) scale.
SVT_PRESETS = {
    "placebo": 2,
    "veryslow": 3,
    "slower": 4,
    "slow": 5,
    "medium": 6,
    "fast": 8,
    "faster": 9,
    "veryfast": 10,
    "superfast": 11,
    "ultrafast": 12,
}


def _target_kbps(probe: ProbeInfo, video: Mapping[str, Any]) -> int | None:
    kbps = video.get("Bitrate")
    if kbps == -1:  # keep the source bitrate
        bps = probe.video.bit_rate if probe.video else None
        return round(bps / 1000) if bps else None
    return kbps


def rate_control(probe: ProbeInfo, video: Mapping[str, Any], mode: str | None) -> dict:
    """-b:v / -crf / -qp / VBV options for TransMode onepass, twopass, fixCRF or CBR."""
    kbps = _target_kbps(probe, video)
    mode = mode or ("onepass" if "Bitrate" in video else "fixCRF")
    if kbps is None:  # Bitrate -1 on a source that does not state its bitrate
        mode = "fixCRF"
    if mode == "CBR":
        # CBR = a VBV whose min, average and max rates are equal
        # (https://trac.ffmpeg.org/wiki/Encode/H.264#CBRConstantBitRate).
        bufsize = video.get("Bufsize", kbps)
        return {
            "b:v": f"{kbps}k",
            "bufsize": f"{bufsize}k",
            "maxrate": f"{kbps}k",
            "minrate": f"{kbps}k",
        }
    if mode in ("onepass", "twopass"):
        args = {"b:v": f"{kbps}k"}
    elif "Qscale" in video:
        args = {"qp": video["Qscale"]}  # a constant quantizer (libx264 -qp)
    else:
        args = {"crf": num(video.get("Crf", DEFAULT_CRF[video.get("Codec", "H.264")]))}
    cap = video.get("Maxrate", video.get("AbrMax"))
    if cap is not None:
        # A cap needs a VBV buffer; without one x264/x265 ignore -maxrate.
        bufsize = video.get("Bufsize", DEFAULT_BUFSIZE_KBIT)
        args |= {"maxrate": f"{cap}k", "bufsize": f"{bufsize}k"}
    return args


def encoder_options(probe: ProbeInfo, config: Mapping[str, Any]) -> dict:
    """The video encoder's options of a normalized TemplateConfig (not ``copy``)."""
    video = config.get("Video", {})
    codec = video.get("Codec", "H.264")
    args: dict[str, Any] = {"c:v": VIDEO_ENCODERS[codec]}
    if codec in ("GIF", "WEBP"):
        # Frames keep their own times; an image has no rate control (shared.template_video).
        return args | {"fps_mode:v": "vfr", "loop": 0}
    args["pix_fmt"] = video.get("PixFmt", DEFAULT_PIX_FMT)
    # Every decoded frame is encoded once, at its own timestamp: FFmpeg's default for MP4
    # (cfr) duplicates the first frame when video starts after audio (a 21 ms offset gave
    # one frame too many, every later frame a slot late) and drops or repeats frames of a
    # variable-rate source. A/V sync is kept by timestamps (the MP4 edit list). vfr, not
    # passthrough: two frames stamped alike (a broken source) cannot both be muxed.
    # A frame rate that must change goes through the fps filter (geometry.fps_filter_rate).
    # https://ffmpeg.org/ffmpeg.html#Advanced-Video-options (-fps_mode)
    args["fps_mode:v"] = "vfr"
    args |= rate_control(probe, video, config.get("TransConfig", {}).get("TransMode"))
    preset = video.get("Preset")
    if codec == "AV1" and preset is not None:
        preset = SVT_PRESETS[preset]
    optional = {"g": gop_frames(probe, video), "preset": preset}
    args |= {key: value for key, value in optional.items() if value is not None}
    if "Profile" in video:
        args["profile:v"] = video["Profile"]
    if codec == "H.265":
        args["x265-params"] = "log-level=error"  # x265 logs its own banner at info level
    return args | interlace_options(probe, video)


def gif_palette(stream):
    """A GIF's 256 colours, chosen for this clip (palettegen), then applied (paletteuse)."""
    split = stream.split()
    palette = split[0].filter("palettegen", stats_mode="diff")
    return ffmpeg.filter([split[1], palette], "paletteuse", dither="bayer")


def is_two_pass(config: Mapping[str, Any]) -> bool:
    return config.get("TransConfig", {}).get("TransMode") == "twopass"


def pass_options(options: Mapping[str, Any], number: int, stats: str) -> dict[str, Any]:
    """``options`` for pass ``number`` (1 or 2) of a two-pass encode whose statistics file
    is ``stats`` (a path in the task's work folder)."""
    args = dict(options)
    if args.get("c:v") == "libx265":
        args["x265-params"] = f"log-level=error:pass={number}:stats={stats}"
    else:
        args |= {"pass": number, "passlogfile": stats}
    return args
