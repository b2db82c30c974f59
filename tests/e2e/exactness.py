"""Measuring an encode against its source frame by frame (ffprobe and FFmpeg's psnr filter).

A frame invented or lost anywhere (at the start to fill a gap before the first frame, at a
chunk join) passes every duration check and still moves every later picture one slot: these
helpers count frames exactly and find such a slip as a cliff in the per-frame PSNR.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
from array import array
from pathlib import Path

from tests.media_tools import ffmpeg as _ffmpeg


def open_gop_ts(path: Path, seconds: float, size: str = "160x90", video_delay: float = 0.021):
    """An MPEG-TS clip like a broadcast recording: 29.97 fps H.264 with open GOPs and three
    B-frames, and AAC audio that starts ``video_delay`` seconds before the video."""
    video = f"testsrc2=size={size}:rate=30000/1001:duration={seconds}"
    audio = f"sine=frequency=440:sample_rate=48000:duration={seconds + video_delay}"
    x264 = "open-gop=1:keyint=60:min-keyint=60:bframes=3:b-pyramid=normal:scenecut=0"
    _ffmpeg(
        *("-itsoffset", str(video_delay), "-f", "lavfi", "-i", video),
        *("-f", "lavfi", "-i", audio),
        *("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-x264-params", x264),
        *("-c:a", "aac", "-f", "mpegts", str(path)),
    )


def stream_facts(path: Path, stream: str = "v:0") -> dict:
    """ffprobe's view of one stream: packets counted, start time and duration (seconds)."""
    done = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-select_streams", stream, "-count_packets"),
            *("-show_entries", "stream=nb_read_packets,start_time,duration,sample_rate"),
            *("-of", "json", str(path)),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    facts = json.loads(done.stdout)["streams"][0]
    return {
        "frames": int(facts["nb_read_packets"]),
        "start": float(facts.get("start_time") or 0),
        "duration": float(facts.get("duration") or 0),
        "sample_rate": int(facts.get("sample_rate") or 0),
    }


def frame_psnr(output: Path, source: Path, size: str, work: Path) -> list[float]:
    """Per-frame PSNR (dB, the Y plane) of ``output`` against ``source`` scaled to ``size``.

    Both start at 0 and frames are paired by timestamp, so a frame that was invented or lost
    pairs every later frame with its neighbour's picture and the PSNR falls from there on.
    """
    stats = work / "psnr.log"
    width, height = size.split("x")
    graph = (
        f"[1:v]scale={width}:{height},setpts=PTS-STARTPTS[ref];"
        f"[0:v]setpts=PTS-STARTPTS[main];[main][ref]psnr=stats_file={stats}"
    )
    _ffmpeg("-i", str(output), "-i", str(source), "-lavfi", graph, "-f", "null", "-")
    values = []
    for line in stats.read_text().splitlines():
        found = re.search(r"psnr_y:(\S+)", line)
        if found:
            values.append(100.0 if found.group(1) == "inf" else float(found.group(1)))
    return values


def psnr_cliffs(values: list[float], drop_db: float = 6.0, span: int = 5) -> list[int]:
    """Indexes of frames more than ``drop_db`` below the median of their ``span`` neighbours
    on each side: a lost or doubled frame shows as such a cliff."""
    cliffs = []
    for i, value in enumerate(values):
        around = values[max(0, i - span) : i] + values[i + 1 : i + 1 + span]
        if around and value < statistics.median(around) - drop_db:
            cliffs.append(i)
    return cliffs


def audio_samples(path: Path, rate: int = 8000) -> array:
    """The first audio stream decoded to mono 16-bit samples at ``rate`` Hz (edit lists and
    encoder priming applied, as a player would)."""
    done = subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(path)),
            *("-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"),
        ],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return array("h", done.stdout)


def quiet_spots(samples: array, rate: int, at: list[float], width: float = 0.05) -> list[float]:
    """Which of the times ``at`` (seconds) fall in near silence: the RMS of ``width``
    seconds around them is below a hundredth of the whole track's."""

    def rms(values) -> float:
        return math.sqrt(sum(v * v for v in values) / max(1, len(values)))

    whole = rms(samples)
    half = int(width * rate / 2)
    return [
        t
        for t in at
        if rms(samples[max(0, int(t * rate) - half) : int(t * rate) + half]) < whole / 100
    ]


def shown_frame_times(path: Path) -> list[float]:
    """When each frame of the video is shown (seconds from the first, decoded frames: an
    MP4 edit list's hidden frames are not among them)."""
    done = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-select_streams", "v:0"),
            *("-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path)),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    stamps = [t.strip(",") for t in done.stdout.split()]
    times = sorted(float(t) for t in stamps if t not in ("", "N/A"))
    return [round(t - times[0], 4) for t in times]


def odd_source(kind: str, path: Path, seconds: int = 60) -> None:
    """A small H.264 source of one awkward ``kind``: ``vfr`` (30 fps for a third, then 15),
    ``interlaced`` (top field first, coded as fields, in MPEG-TS) or ``edit-list`` (an MP4
    cut by stream copy, so its first frames are decoded for reference but never shown)."""
    video = f"testsrc2=size=160x96:rate=30:duration={seconds}"
    x264 = ("-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p")
    if kind == "vfr":
        third = seconds * 10
        # whole ticks of 1/30 s: a float expression truncates some stamps onto their neighbour
        spacing = f"settb=1/30,setpts='if(lt(N,{third}),N,2*N-{third})'"
        _ffmpeg(
            "-f", "lavfi", "-i", video, "-vf", spacing, "-fps_mode", "passthrough", *x264, str(path)
        )
    elif kind == "interlaced":
        _ffmpeg(
            "-f",
            "lavfi",
            "-i",
            video,
            "-vf",
            "setfield=tff",
            "-flags",
            "+ildct+ilme",
            *x264,
            "-x264-params",
            "tff=1:bframes=2",
            "-f",
            "mpegts",
            str(path),
        )
    else:
        whole = path.with_suffix(".whole.mp4")
        _ffmpeg("-f", "lavfi", "-i", video, *x264, "-bf", "2", str(whole))
        _ffmpeg("-ss", "1.3", "-i", str(whole), "-c", "copy", str(path))
