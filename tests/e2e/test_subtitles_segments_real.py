"""ForceSegTime and subtitles against real FFmpeg: where segments cut, and the cues carried.

One 6 s 320x240 25 fps source with an AAC tone and three SubRip cues in Matroska is
generated into a temporary folder; each test runs the argv builders' commands directly, as
tests/e2e/test_segmenting_real.py does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import m3u8
import pytest

from shared.config import Settings
from shared.templates import validate_template_config
from tests.e2e.playback import plays_in_chromium
from tests.e2e.test_segmenting_real import segment_starts
from workers.ffmpeg_cmd import build_ffmpeg_args
from workers.ffmpeg_run import run_ffmpeg
from workers.forced_segments import settle_mpd_file
from workers.manifests import master_playlist, measure_playlist, rendition_from_output
from workers.probe import OWN_OUTPUT, parse_probe, run_probe
from workers.segmenting import rendition_files, segment_args
from workers.subtitles import TS_START, stamp_vtt_segments, subtitle_playlist, track_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
        reason="needs ffmpeg and ffprobe on PATH",
    ),
]

SECONDS = 6
FRAME = 1 / 25
#: (start, end, text) of the source's cues.
CUES = [(0.5, 1.5, "Hello one"), (2.2, 3.8, "Second cue"), (4.5, 5.5, "Third cue")]
#: Duration 2 and ForceSegTime 1.3,3.7: cuts at 1.3, 2, 3.7 and 4 (the union).
FORCED = {"Duration": 2, "ForceSegTime": "1.3,3.7"}
CUTS = [1.3, 2.0, 3.7, 4.0]
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
#: How far a carried cue may move: the source's AAC priming (21 ms at 48 kHz) starts its
#: video and cues that much late, and the hls muxer's WebVTT segments add it once more.
CUE_SLACK = 0.06


def _srt_time(seconds: float) -> str:
    return f"00:00:{int(seconds):02d},{round(seconds % 1 * 1000):03d}"


def ffmpeg(*args: str | Path) -> str:
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *map(str, args)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    tmp = tmp_path_factory.mktemp("settings")
    return Settings(var_dir=tmp, storage_root=tmp / "storage", work_dir=tmp)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("source")
    srt = folder / "cues.srt"
    srt.write_text(
        "\n".join(
            f"{n}\n{_srt_time(a)} --> {_srt_time(b)}\n{text}\n"
            for n, (a, b, text) in enumerate(CUES, start=1)
        )
    )
    path = folder / "source.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={SECONDS}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
        "-i", srt, "-map", "0", "-map", "1", "-map", "2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-c:s", "srt", "-metadata:s:s:0", "language=eng", path,
    )  # fmt: skip
    return path


def probe(settings, path: Path):
    return parse_probe(run_probe(str(path), settings))


def cues_of(path: Path) -> list[tuple[float, float, str]]:
    """The subtitle cues FFmpeg reads from a file's first subtitle stream (or a .vtt)."""
    text = ffmpeg("-i", path, "-map", "0:s:0", "-f", "webvtt", "-")
    cues = []
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        if lines and "-->" in lines[0]:
            start, end = (_vtt_seconds(part.strip()) for part in lines[0].split("-->"))
            cues.append((start, end, " ".join(lines[1:])))
    return cues


def _vtt_seconds(stamp: str) -> float:
    parts = [float(part) for part in stamp.split(":")]
    return sum(value * 60**power for power, value in enumerate(reversed(parts)))


def assert_cues(found: list[tuple[float, float, str]]) -> None:
    assert [text for _, _, text in found] == [text for _, _, text in CUES]
    for (start, end, _), (want_start, want_end, _) in zip(found, CUES, strict=True):
        assert (start, end) == pytest.approx((want_start, want_end), abs=CUE_SLACK)


def assert_cut_where_asked(durations: list[float]) -> None:
    """Segment boundaries (running sums of the durations) at the asked times, each on the
    first frame at or after its time."""
    ends = [sum(durations[: i + 1]) for i in range(len(durations))]
    assert ends[-1] == pytest.approx(SECONDS, abs=FRAME)
    for cut, asked in zip(ends, CUTS, strict=False):
        assert asked - 1e-3 <= cut < asked + FRAME, (ends, CUTS)
    assert len(ends) == len(CUTS) + 1  # and one more segment: 4 s to the end


def test_mp4_carries_the_cues_as_mov_text(settings, source, tmp_path):
    config = validate_template_config(
        {"Container": {"Format": "mp4"}, "Video": {"Codec": "H.264", "Preset": "ultrafast"}},
        "test",
    )
    dst = tmp_path / "out.mp4"
    argv = build_ffmpeg_args(str(source), str(dst), probe(settings, source), config, settings)
    run_ffmpeg(argv, timeout=60)
    streams = run_probe(str(dst), settings)["streams"]
    subtitle = next(s for s in streams if s["codec_type"] == "subtitle")
    assert (subtitle["codec_name"], subtitle["tags"]["language"]) == ("mov_text", "eng")
    assert_cues(cues_of(dst))


@pytest.mark.parametrize("fmt", ["m3u8", "hls-fmp4"])
def test_hls_cuts_at_force_seg_time_and_carries_webvtt(settings, source, tmp_path, assets, fmt):
    config = {
        "Container": {"Format": fmt},
        "Video": {"Codec": "H.264", "Bitrate": 300, "Preset": "ultrafast"},
        "Audio": {"Codec": "aac", "Bitrate": 64},
        "MuxConfig": {"Segment": FORCED},
    }
    config = validate_template_config(config, "test")
    out = tmp_path / "video"
    out.mkdir()
    info = probe(settings, source)
    argv = segment_args(str(source), info, config, settings, out_dir=out, stem="v", subtitles=True)
    run_ffmpeg(argv, timeout=60)
    assert rendition_files(out)[-2:] == [out / "v.m3u8", out / subtitle_playlist("v")]

    media = m3u8.load(str(out / "v.m3u8"))
    assert_cut_where_asked([segment.duration for segment in media.segments])
    init = out / media.segment_map[0].uri if media.segment_map else None
    starts = segment_starts([out / s.uri for s in media.segments], init, tmp_path)
    assert [b - starts[0] for b in starts[1:]] == pytest.approx(
        [sum(s.duration for s in media.segments[:i]) for i in range(1, len(starts))], abs=1e-3
    )  # each segment starts on a keyframe, where the playlist says

    vtt = m3u8.load(str(out / subtitle_playlist("v")))
    assert [s.uri for s in vtt.segments] == [f"v{n}.vtt" for n in range(len(media.segments))]
    joined = tmp_path / "all.vtt"
    joined.write_text("WEBVTT\n\n" + "\n".join(_cue_blocks(out / s.uri) for s in vtt.segments))
    assert_cues(cues_of(joined))
    if fmt == "m3u8":
        # The WebVTT cue times count from where FFmpeg's MPEG-TS segments start.
        first = run_probe(str(out / media.segments[0].uri), settings, OWN_OUTPUT)
        assert float(first["format"]["start_time"]) == pytest.approx(TS_START / 90000, abs=FRAME)
        stamp_vtt_segments(out, "v")  # as workers.adaptive does
        assert (
            (out / "v0.vtt")
            .read_text()
            .startswith(f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{TS_START},LOCAL:00:00:00.000\n\n")
        )

    sizes = {path.name: path.stat().st_size for path in out.iterdir()}
    measured = measure_playlist((out / "v.m3u8").read_text(), sizes)
    own = run_probe(str(out / "v.m3u8"), settings, OWN_OUTPUT)
    rendition = rendition_from_output("video/v.m3u8", {}, measured, own)
    master = tmp_path / "master.m3u8"
    track = track_for("video/v.m3u8", info.subtitle)
    master.write_text(master_playlist([rendition], fmp4=fmt != "m3u8", subtitles=[track]))
    parsed = m3u8.load(str(master))
    (subs,) = parsed.media
    assert (subs.type, subs.group_id, subs.language, subs.uri) == (
        "SUBTITLES",
        "subtitle",
        "eng",
        "video/v_vtt.m3u8",
    )
    assert (tmp_path / subs.uri).is_file()
    assert [p.stream_info.subtitles for p in parsed.playlists] == ["subtitle"]
    if fmt == "m3u8":  # once: hls.js takes the short forced segments and the SUBTITLES group
        plays_in_chromium(tmp_path, "hls", "/master.m3u8", assets, tmp_path / "hls.png")


def _cue_blocks(vtt: Path) -> str:
    """A WebVTT segment's cues, without its header."""
    return vtt.read_text().split("\n\n", 1)[1] if "\n\n" in vtt.read_text() else ""


def test_dash_cuts_at_force_seg_time(settings, source, tmp_path):
    config = {
        "Container": {"Format": "mpd"},
        "Video": {"Codec": "H.264", "Bitrate": 300, "Preset": "ultrafast"},
        "Audio": {"Remove": True},
        "MuxConfig": {"Segment": FORCED},
    }
    argv = segment_args(
        str(source),
        probe(settings, source),
        validate_template_config(config, "test"),
        settings,
        out_dir=tmp_path,
        stem="v",
    )
    run_ffmpeg(argv, timeout=60)
    settle_mpd_file(tmp_path / "v.mpd")
    root = ET.parse(tmp_path / "v.mpd").getroot()
    template = root.find(".//d:SegmentTemplate", NS)
    scale = int(template.get("timescale"))
    durations = [
        int(s.get("d")) / scale
        for s in template.findall("d:SegmentTimeline/d:S", NS)
        for _ in range(int(s.get("r", 0)) + 1)
    ]
    assert_cut_where_asked(durations)
    assert root.get("maxSegmentDuration") == "PT2.0S"  # the longest, where FFmpeg wrote 0
    probed = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json",
             str(tmp_path / "v.mpd")],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout
    )  # fmt: skip
    assert float(probed["format"]["duration"]) == pytest.approx(SECONDS, abs=FRAME)
