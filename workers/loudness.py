"""The loudness measuring pass of ``Audio.Volume`` ``dynamic``/``auto`` (a
``workers.analysis.Measure``): EBU R128 loudness of the input's first audio stream, as
FFmpeg's ``loudnorm`` reports it in its first pass.

The value kept on the job, and folded into the output's config as
``Audio.Volume.Measured`` (a key that no user may send), is
``{"I", "LRA", "TP", "thresh", "offset"}`` (LUFS, LU, dBTP, LUFS, LU), or
``{"silent": True}`` for an input without loudness (nothing above the -70 LUFS gate of
EBU R128: silence), which is then encoded without normalization. ``workers.audio_cmd`` feeds it to the second pass.

The measure runs over the whole input, so a ``Clip`` of it is normalized with the
loudness of the whole (one measurement per job and input, shared by every output).
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

import ffmpeg

from shared.config import Settings
from shared.errors import InputContentBad
from workers.analysis import MEASURES, Config, Measure
from workers.audio_cmd import loudness_filters, volume_method
from workers.ffmpeg_cmd import GLOBAL_ARGS
from workers.probe import LOCAL_INPUT, ProbeInfo

#: ``GLOBAL_ARGS`` at log level info: loudnorm prints its JSON at that level.
MEASURE_ARGS = tuple("info" if arg == "error" else arg for arg in GLOBAL_ARGS)
#: loudnorm's JSON keys → ours.
_KEYS = {
    "input_i": "I",
    "input_lra": "LRA",
    "input_tp": "TP",
    "input_thresh": "thresh",
    "target_offset": "offset",
}
#: The last ``{ … }`` block of the stderr tail (loudnorm prints it as the filter closes).
_JSON = re.compile(r"\{[^{}]*\}(?![\s\S]*\{)")


def needed(config: Config, probe: ProbeInfo) -> bool:
    """An output whose encoded audio gets ``Volume`` ``dynamic`` or ``auto``, from a source
    with audio (without any, the output has no audio to normalise)."""
    return probe.audio is not None and volume_method(config) in ("dynamic", "auto")


def measure_args(src: str, probe: ProbeInfo, config: Config, settings: Settings) -> list[str]:
    """The measuring pass: the input's first audio stream through ``loudnorm`` (with the
    output's targets and channel layout) into the null muxer.

    Raises:
        InputContentBad: the input has no audio stream to measure.
    """
    if probe.audio is None:
        raise InputContentBad("Audio.Volume: the input has no audio stream to measure")
    stream = ffmpeg.input(src, **LOCAL_INPUT)["a:0"]
    for name, args, kwargs in loudness_filters(probe, config, None):
        stream = stream.filter(name, *args, **kwargs)
    out = ffmpeg.output(stream, "-", format="null")
    return out.compile(cmd=[settings.ffmpeg_bin, *MEASURE_ARGS])


def parse(stderr_tail: str) -> dict[str, Any]:
    """loudnorm's JSON in FFmpeg's stderr tail → the measurement (module docstring).

    Raises:
        InputContentBad: no loudnorm JSON in the tail.
    """
    match = _JSON.search(stderr_tail or "")
    try:
        found = json.loads(match.group(0)) if match else {}
        values = {ours: float(found[theirs]) for theirs, ours in _KEYS.items()}
    except (ValueError, KeyError):
        raise InputContentBad("the loudness pass found no audio to measure") from None
    if not all(math.isfinite(value) for value in values.values()):
        return {"silent": True}  # "-inf" LUFS: nothing above the gate
    return values


def fold(config: Config, value: Any) -> Config:
    """A copy of ``config`` with ``Audio.Volume.Measured`` = ``value``."""
    folded = copy.deepcopy(config)
    folded["Audio"]["Volume"]["Measured"] = value
    return folded


LOUDNESS = Measure(name="loudness", needed=needed, argv=measure_args, parse=parse, fold=fold)
MEASURES.append(LOUDNESS)
