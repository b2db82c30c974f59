"""Boost: which outputs are split into chunks, and where each chunk starts and ends (pure).

A split output is encoded as chunks of about ``MCFARM_BOOST_CHUNK_SECONDS`` each, every
chunk its own task on any worker, then joined by stream copy (``workers.boost``). A chunk
is a run of whole source frames, in presentation order, chosen from the source's packet
timestamps:

- chunk ``k`` starts at the first frame at or after ``k × chunk_seconds`` from the first
  frame, so no frame is in two chunks and none is in none;
- its encode seeks the input (coarsely, by keyframe) to the last keyframe at or before its
  first frame. Decoding from there gives every frame from that keyframe on, open GOPs
  included: the frames of an open GOP that refer back past its keyframe come before it in
  presentation order (and so belong to an earlier chunk), or after it within the same GOP;
- it keeps exactly its frames by trimming on the decoded frames' own timestamps, halfway
  between two frames, so rounding can never take one frame too many or too few;
- it spans, for the join, the source time from its first frame to the next chunk's.

The encode checks each chunk's frame count against ``Chunk.frames``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from shared.containers import Kind, container
from shared.records import Plain

#: A seek aims this much past the keyframe it wants: FFmpeg lands on the last keyframe at or
#: before the position, so rounding of the position cannot make it land a GOP earlier.
SEEK_MARGIN_S = 0.0005


@dataclass(frozen=True)
class Chunk(Plain):
    """One chunk of a split output.

    Attributes:
        number: its place in the output, from 0.
        first: the index of its first frame among the source's frames (presentation order).
        frames: how many source frames it encodes.
        seek: the input ``-ss``, seconds from the file's start (0: no seek): just past the
            last keyframe at or before its first frame.
        start, end: the trim window on the source's own timestamps (seconds, with
            ``-copyts``), each halfway between two frames.
        duration: the source time it spans, to the next chunk's first frame (seconds).
        reads: how much of the input (seconds from ``seek``) its piece holds: through the
            second keyframe after its last frame, so every packet its frames need is in
            it (0: to the input's end). See ``workers.chunk_cmd.piece_args``.
        whole: it reads the whole input, never a piece: its frames need packets an MP4
            edit list hides, which a stream copy does not carry over.
        keyframes: for a segmented output, where its encode forces a keyframe: the start
            of each segment in it, seconds from its own first frame (each a little before
            the frame, so rounding cannot move it to the next one). Empty for a file.
    """

    number: int
    first: int
    frames: int
    seek: float
    start: float
    end: float
    duration: float
    reads: float = 0.0
    keyframes: tuple[float, ...] = ()
    whole: bool = False

    @property
    def piece(self) -> str | None:
        """The name of its piece of the input (chunks that read the same span share it), or
        None when it reads the whole input."""
        if self.whole:
            return None
        return f"piece-{round(self.seek * 1000)}-{round(self.reads * 1000)}.nut"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Chunk:
        return cls(**{**raw, "keyframes": tuple(raw.get("keyframes", ()))})


@dataclass(frozen=True)
class FrameTimes:
    """The video stream's frames as its packets say: what a plan is made from.

    Attributes:
        pts: every frame's presentation timestamp, in ``time_base`` units, sorted.
        keyframes: the keyframes' timestamps, sorted.
        time_base: seconds per timestamp unit.
        file_start: the file's start time (seconds): ``-ss`` counts from it.
        hidden: the timestamps of packets an edit list hides (decoded, never shown).
    """

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]
    time_base: Fraction
    file_start: float
    hidden: tuple[int, ...] = ()

    def seconds(self, ticks: float) -> float:
        return float(ticks * self.time_base)


def frame_times(probe_json: Mapping[str, Any]) -> FrameTimes:
    """``FrameTimes`` from ffprobe's JSON with ``workers.probe.FRAME_TIMES``.

    A packet without a presentation timestamp counts at its decoding timestamp; one with
    neither is not a frame FFmpeg could place, and is left out. One flagged ``D`` (before
    an MP4 edit list's start: decoded for its references, never shown) is no frame of the
    output either: it is kept apart, in ``hidden``.

    Raises:
        ValueError: the stream has no time base or no timed packet.
    """
    stream = (probe_json.get("streams") or [{}])[0]
    time_base = Fraction(stream.get("time_base") or "0")
    pts, keyframes, hidden = [], [], []
    for packet in probe_json.get("packets") or []:
        stamp = packet.get("pts", packet.get("dts"))
        if stamp is None:
            continue
        if "D" in packet.get("flags", ""):
            hidden.append(int(stamp))  # outside the edit list: decoded, never shown
            continue
        pts.append(int(stamp))
        if "K" in packet.get("flags", ""):
            keyframes.append(int(stamp))
    if not time_base or not pts or not keyframes:
        raise ValueError("the video stream has no timed packets or no keyframe")
    start = float((probe_json.get("format") or {}).get("start_time") or 0)
    return FrameTimes(
        tuple(sorted(pts)), tuple(sorted(keyframes)), time_base, start, tuple(sorted(hidden))
    )


def chunk_length(chunk_seconds: int, segment_seconds: int | None) -> int:
    """The chunk length a plan uses: ``chunk_seconds``, or for a segmented output the
    nearest whole number of segments (at least one), so every join is a segment boundary."""
    if not segment_seconds:
        return chunk_seconds
    return segment_seconds * max(1, math.floor(chunk_seconds / segment_seconds + 0.5))


def plan_chunks(
    times: FrameTimes, chunk_seconds: int, segment_seconds: int | None = None
) -> list[Chunk]:
    """Cut the frames into chunks of ``chunk_length(chunk_seconds, segment_seconds)``
    (see the module docstring).

    A segmented output's segments start, in every chunk, at the first frame at or after
    each multiple of ``segment_seconds`` from the first frame: the same frames in every
    rendition of the source, and the chunk boundaries among them.

    Returns:
        The chunks, in order; one chunk (the whole input) when it is shorter than two.
    """
    pts = times.pts
    bounds = _boundaries(times, chunk_length(chunk_seconds, segment_seconds))
    segments = _boundaries(times, segment_seconds)[:-1] if segment_seconds else []
    last_step = pts[-1] - pts[-2] if len(pts) > 1 else 1 / times.time_base / 25
    chunks = []
    for number, (first, after) in enumerate(zip(bounds, bounds[1:], strict=False)):
        begin = pts[first] - (pts[first] - pts[first - 1]) / 2 if first else pts[0] - 1
        stop = pts[after] if after < len(pts) else pts[-1] + last_step
        seek = _seek(times, first)
        chunks.append(
            Chunk(
                number=number,
                first=first,
                frames=after - first,
                seek=seek,
                reads=_reads(times, seek, pts[after - 1]),
                whole=_needs_hidden(times, first, pts[after - 1]),
                start=round(times.seconds(begin), 6),
                end=round(times.seconds(pts[after - 1] + (stop - pts[after - 1]) / 2), 6),
                duration=round(times.seconds(stop - pts[first]), 6),
                keyframes=tuple(
                    _forced_at(times, first, frame) for frame in segments if first <= frame < after
                ),
            )
        )
    return chunks


#: A piece reads this much past the keyframe it needs: ``-t`` ends on packet timestamps.
READ_MARGIN_S = 1.0


def _reads(times: FrameTimes, seek: float, last: int) -> float:
    """The ``reads`` of a chunk seeking to ``seek`` whose last frame is at ``last`` (ticks).

    Two keyframes past the last frame: an open GOP's first frames in decode order may show
    before its keyframe, so up to the next keyframe after that one every packet counts.
    """
    later = times.keyframes[bisect.bisect_right(times.keyframes, last) :]
    if len(later) < 2:
        return 0.0
    return round(times.seconds(later[1]) - times.file_start - seek + READ_MARGIN_S, 6)


def _needs_hidden(times: FrameTimes, first: int, last: int) -> bool:
    """Whether a chunk from frame ``first`` to timestamp ``last`` decodes a hidden packet:
    one between the keyframe it seeks to (the file's start for the first chunk) and its
    last frame."""
    if first == 0:
        return bool(times.hidden) and times.hidden[0] <= last
    keyframe = times.keyframes[max(0, bisect.bisect_right(times.keyframes, times.pts[first]) - 1)]
    return any(keyframe <= stamp <= last for stamp in times.hidden)


def _forced_at(times: FrameTimes, first: int, frame: int) -> float:
    """When, from the chunk's first frame, to force the keyframe of frame ``frame``: a
    quarter of a frame early (the encoder forces the first frame at or after it)."""
    if frame == first:
        return 0.0
    pts = times.pts
    return round(times.seconds(pts[frame] - pts[first] - (pts[frame] - pts[frame - 1]) / 4), 6)


def _boundaries(times: FrameTimes, chunk_seconds: float) -> list[int]:
    """Frame indexes where chunks start, and the frame count at the end."""
    step = Fraction(chunk_seconds) / times.time_base
    bounds, wanted = [0], step
    for index, ticks in enumerate(times.pts):
        if ticks - times.pts[0] >= wanted:
            bounds.append(index)
            wanted = (ticks - times.pts[0]) // step * step + step
    return [*bounds, len(times.pts)]


def _seek(times: FrameTimes, first: int) -> float:
    """The input seek of a chunk starting at frame ``first`` (0 for the first chunk)."""
    if first == 0:
        return 0.0
    preceding = bisect.bisect_right(times.keyframes, times.pts[first]) - 1
    keyframe = times.keyframes[max(0, preceding)]
    return max(0.0, round(times.seconds(keyframe) - times.file_start + SEEK_MARGIN_S, 6))


# --- which outputs are split ---------------------------------------------------------------


def unsplittable(config: Mapping[str, Any], features: Mapping[str, Any] | None) -> str | None:
    """Why an output cannot be split into chunks, or None when it can.

    An output whose video is copied, removed or absent has nothing to encode in chunks; a
    clipped output (``Clip.TimeSpan``) is not split yet.
    """
    box = container(config["Container"]["Format"])
    video = config.get("Video", {})
    if box.kind is Kind.AUDIO or video.get("Remove"):
        return "it has no video to encode"
    if video.get("Codec") == "copy":
        return "its video is copied, not encoded"
    if ((features or {}).get("Clip") or {}).get("TimeSpan"):
        return "a clipped output is not split yet"
    if box.kind is Kind.IMAGE:
        return "an animated image is encoded whole"
    if config.get("TransConfig", {}).get("TransMode") == "twopass":
        return "TransMode twopass encodes the whole output twice"
    if config.get("MuxConfig", {}).get("Segment", {}).get("ForceSegTime"):
        return "its segments are cut at MuxConfig.Segment.ForceSegTime, which chunks do not plan"
    return None


def boost_wanted(speed: str, duration: float | None, min_seconds: int) -> bool:
    """Whether a job's outputs should be split: its pipeline runs at ``Boost`` speed, or its
    input is longer than ``MCFARM_BOOST_MIN_SECONDS`` (0: off)."""
    if speed == "Boost":
        return True
    return bool(min_seconds) and duration is not None and duration > min_seconds
