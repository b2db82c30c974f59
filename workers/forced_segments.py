"""``MuxConfig.Segment.ForceSegTime``: segment boundaries at asked times, beside ``Duration``.

How the two combine: a segmented rendition is cut at every multiple of ``Duration`` (D)
from the output's start, as without ForceSegTime, *and* at each ForceSegTime point: the
boundaries are the union of the two. The Duration cuts go on unchanged between and after
the points (they stay on the grid n × D, they do not restart at a point), so renditions
with the same Duration and points still cut at the same instants. A point within one
frame of a grid boundary or of the point before it is that boundary (one cut, not two a
frame apart). Points at or after the output's end are never reached.

A segment can only start on a keyframe, so the encoder forces an IDR on the first frame at
or after each boundary and on no other frame (``force_key_frames_expr``; the GOP cap and
the scene-cut settings of ``workers.segmenting.keyframe_options`` stay), and the hls/dash
muxer is told to cut at *every* keyframe (``hls_time`` / ``seg_duration`` 0) instead of
waiting D seconds after the last cut. Each boundary thus lands on the first frame at or
after the time asked: within one frame of it.

Only encoded video is forced. An audio-only rendition (``Video.Remove``) has no video to
cut by and is cut every D seconds; a copied video is refused at submit time
(``shared.template_mux``).

References: https://ffmpeg.org/ffmpeg.html#Advanced-Video-options (``-force_key_frames``,
``expr:``), https://ffmpeg.org/ffmpeg-utils.html#Expression-Evaluation,
https://ffmpeg.org/ffmpeg-formats.html#hls-2, https://ffmpeg.org/ffmpeg-formats.html#dash-2.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.template_mux import force_seg_times
from workers.geometry import output_fps, seconds
from workers.probe import ProbeInfo

#: A frame whose timestamp is up to this much before a boundary counts as at it: a frame
#: meant to be at 1.2 s may be stamped 1.1999999 once its time base is turned into seconds.
EPSILON = 0.0005
_DASH = {"d": "urn:mpeg:dash:schema:mpd:2011"}
_MAX_SEGMENT = re.compile(r'maxSegmentDuration="([^"]*)"')


def boundary_points(points: Sequence[float], duration: int, fps: float) -> tuple[float, ...]:
    """The points that add a boundary to the ``duration`` grid: those further than one
    frame (``1 / fps``) from every grid boundary and from the point kept before them."""
    frame = 1 / fps
    kept: list[float] = []
    for point in points:
        near_grid = abs(point - round(point / duration) * duration) < frame
        if not near_grid and (not kept or point - kept[-1] >= frame):
            kept.append(point)
    return tuple(kept)


def force_key_frames_expr(points: Sequence[float], duration: int) -> str:
    """The ``-force_key_frames`` expression that forces a keyframe at every boundary.

    ``n_forced`` (keyframes forced so far) numbers the boundaries: boundary n is point j
    when n is that point's place among the boundaries (the grid boundaries up to it, plus
    the j points up to it), else the grid's (n minus the points before it) × D. A frame is
    forced when its time reaches the next boundary. ``points`` must be ``boundary_points``.
    """
    places = [math.floor(point / duration) + j for j, point in enumerate(points, start=1)]
    grid = "".join(f"-lt({place},n_forced)" for place in places)
    expr = f"(n_forced{grid})*{duration}"
    for place, point in reversed(list(zip(places, points, strict=True))):
        expr = f"if(eq(n_forced,{place}),{seconds(point)},{expr})"
    return f"expr:gte(t+{EPSILON},{expr})"


def forced_options(
    probe: ProbeInfo, config: Mapping[str, Any], options: Mapping[str, Any], duration: int
) -> dict[str, Any]:
    """The ``-force_key_frames`` that also cuts at the ``ForceSegTime`` points, replacing
    the grid's of ``keyframe_options`` (already in ``options``); ``{}`` when there is no
    forced video or no point adds a boundary. A non-empty result means the muxer must cut
    at every keyframe (``workers.segmenting.muxer_options`` with 0 s)."""
    if "force_key_frames" not in options:
        return {}
    fps = output_fps(probe, config.get("Video", {}))
    points = boundary_points(force_seg_times(config), duration, fps)
    return {"force_key_frames": force_key_frames_expr(points, duration)} if points else {}


# --- DASH ---------------------------------------------------------------------------------


def _longest_segment(root: ET.Element) -> float:
    longest = 0.0
    for template in root.iter(f"{{{_DASH['d']}}}SegmentTemplate"):
        timescale = int(template.get("timescale") or 1)
        for s in template.iterfind("d:SegmentTimeline/d:S", _DASH):
            longest = max(longest, int(s.get("d") or 0) / timescale)
    return longest


def settle_max_segment_duration(mpd: str) -> str:
    """``mpd`` with the ``maxSegmentDuration`` of its longest segment, where FFmpeg wrote 0.

    The dash muxer writes its ``seg_duration`` there, which is 0 when it cuts at every
    keyframe (ForceSegTime). The value is rounded up to the tenth of a second, as FFmpeg
    writes it (``PT2.1S``).
    """
    match = _MAX_SEGMENT.search(mpd)
    if match is None or match.group(1) not in ("PT0S", "PT0.0S"):
        return mpd
    longest = math.ceil(_longest_segment(ET.fromstring(mpd)) * 10 - 1e-9) / 10
    return mpd[: match.start(1)] + f"PT{longest:.1f}S" + mpd[match.end(1) :]


def settle_mpd_file(path: Path) -> None:
    """Rewrite a rendition's MPD at ``path`` with ``settle_max_segment_duration``."""
    text = path.read_text()
    settled = settle_max_segment_duration(text)
    if settled != text:
        path.write_text(settled)
