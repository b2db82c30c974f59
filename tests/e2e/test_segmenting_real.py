"""HLS (MPEG-TS, fMP4) and DASH renditions from real FFmpeg, and manifests built on them.

One 10 s 640x360 25 fps source is generated into a temporary folder; each format gets a
three-rung ladder (360p/240p/144p, 2 s segments, ultrafast) laid out as the caller uploads
it: a rendition named ``video/240p`` is encoded into its own folder, then its files are
copied under ``<base>/video/``.
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
from workers.ffmpeg_run import run_ffmpeg
from workers.manifests import (
    master_playlist,
    measure_playlist,
    merge_mpd,
    rendition_from_output,
)
from workers.probe import OWN_OUTPUT, parse_probe, run_probe
from workers.segmenting import playlist_name, rendition_files, segment_args

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
        reason="needs ffmpeg and ffprobe on PATH",
    ),
]

SECONDS = 10
SEGMENT = 2
FRAME = 1 / 25
LADDER = {"360p": (360, 600), "240p": (240, 300), "144p": (144, 150)}  # height, kbps
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def ffmpeg(*args: str | Path) -> subprocess.CompletedProcess:
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", *map(str, args)]
    return subprocess.run(
        argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
    )


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    tmp = tmp_path_factory.mktemp("settings")
    return Settings(var_dir=tmp, storage_root=tmp / "storage", work_dir=tmp)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("source") / "source.mp4"
    done = ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={SECONDS}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


def encode(settings, source: Path, base: Path, name: str, config: dict, segments=None) -> Path:
    """Encode rendition ``name`` and "upload" it under ``base``; return its playlist there."""
    stem = Path(name).name
    work = base.parent / "work" / base.name / name
    work.mkdir(parents=True)
    probe = parse_probe(run_probe(str(source), settings))
    argv = segment_args(
        str(source), probe, config, settings, out_dir=work, stem=stem, segments=segments
    )
    run_ffmpeg(argv, timeout=60)
    files = rendition_files(work)
    assert files[-1].name == Path(argv[-1]).name  # the playlist goes up last
    folder = base / Path(name).parent
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy(path, folder / path.name)
    shutil.rmtree(work)  # whatever a manifest names must resolve under base
    return folder / files[-1].name


def config(fmt: str, height: int | None, kbps: int | None, audio: bool) -> dict:
    cfg = {"Container": {"Format": fmt}, "MuxConfig": {"Segment": {"Duration": SEGMENT}}}
    if height:
        cfg["Video"] = {"Codec": "H.264", "Height": height, "Bitrate": kbps, "Preset": "ultrafast"}
    else:
        cfg["Video"] = {"Remove": True}
    cfg["Audio"] = {"Codec": "aac", "Bitrate": 64} if audio else {"Remove": True}
    return cfg


def hls_rendition(settings, playlist: Path, base: Path, hls: dict):
    text = playlist.read_text()
    sizes = {path.name: path.stat().st_size for path in playlist.parent.iterdir()}
    measured = measure_playlist(text, sizes)
    relative = playlist.relative_to(base).as_posix()
    return rendition_from_output(
        relative, hls, measured, run_probe(str(playlist), settings, OWN_OUTPUT)
    )


def first_video_packet(path: Path) -> tuple[float, str]:
    """(pts_time, flags) of the first video packet of a media file."""
    argv = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
            "-show_entries", "packet=pts_time,flags", "-of", "json", str(path)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)
    packet = json.loads(done.stdout)["packets"][0]
    return float(packet["pts_time"]), packet["flags"]


def segment_starts(segments: list[Path], init: Path | None, scratch: Path) -> list[float]:
    """Each segment's first video PTS, checking that it is a keyframe."""
    starts = []
    for segment in segments:
        if init is not None:  # an fMP4 fragment only reads with its init segment in front
            joined = scratch / f"{segment.parent.name}-{segment.name}.mp4"
            joined.write_bytes(init.read_bytes() + segment.read_bytes())
            segment = joined
        pts, flags = first_video_packet(segment)
        assert flags.startswith("K"), f"{segment.name} does not start with a keyframe"
        starts.append(pts)
    return starts


def assert_aligned(starts: dict[str, list[float]]) -> None:
    """Every rendition cuts at the same PTS, one segment duration apart."""
    reference = next(iter(starts.values()))
    assert len(reference) == SECONDS // SEGMENT
    for name, values in starts.items():
        assert values == pytest.approx(reference, abs=1e-3), name
    steps = [b - a for a, b in zip(reference, reference[1:], strict=False)]
    assert steps == pytest.approx([SEGMENT] * len(steps), abs=1e-3)


def assert_plays(manifest: Path) -> None:
    done = ffmpeg("-i", manifest, "-f", "null", "-")
    assert (done.returncode, done.stderr) == (0, "")


def check_variant(playlist: Path) -> tuple[list[Path], Path | None, float]:
    """Parse a variant playlist; its segment files and init file must exist."""
    parsed = m3u8.loads(playlist.read_text())
    assert parsed.is_endlist and parsed.playlist_type == "vod"
    uris = [segment.uri for segment in parsed.segments] + [m.uri for m in parsed.segment_map]
    assert all("/" not in uri for uri in uris), uris  # bare names: the folder can move
    segments = [playlist.parent / segment.uri for segment in parsed.segments]
    init = playlist.parent / parsed.segment_map[0].uri if parsed.segment_map else None
    for path in [*segments, *([init] if init else [])]:
        assert path.is_file(), path
    total = sum(segment.duration for segment in parsed.segments)
    assert total == pytest.approx(SECONDS, abs=FRAME)
    return segments, init, total


@pytest.mark.parametrize("fmt", ["m3u8", "hls-fmp4"])
def test_hls_ladder(settings, source, tmp_path, fmt):
    base = tmp_path / "out"
    # MPEG-TS: hybrid renditions (audio in the video segments, ICE's default);
    # fMP4: video-only renditions plus an audio rendition in the "audio" group.
    hybrid = fmt == "m3u8"
    renditions, starts = [], {}
    for stem, (height, kbps) in LADDER.items():
        playlist = encode(
            settings, source, base, f"video/{stem}", config(fmt, height, kbps, hybrid)
        )
        hls = {"Type": "hybrid" if hybrid else "video"}
        renditions.append(hls_rendition(settings, playlist, base, hls))
        segments, init, _ = check_variant(playlist)
        starts[stem] = segment_starts(segments, init, tmp_path)
    if not hybrid:
        playlist = encode(settings, source, base, "audio/en", config(fmt, None, None, True))
        check_variant(playlist)
        hls = {"Type": "audio", "Name": "English", "Language": "en"}
        renditions.append(hls_rendition(settings, playlist, base, hls))
    assert_aligned(starts)

    master = base / "master.m3u8"
    master.write_text(master_playlist(renditions, fmp4=not hybrid))
    parsed = m3u8.loads(master.read_text())
    assert [p.uri for p in parsed.playlists] == [f"video/{s}.m3u8" for s in reversed(LADDER)]
    assert all(p.stream_info.codecs.startswith("avc1.42e0") for p in parsed.playlists)
    assert all("mp4a.40.2" in p.stream_info.codecs for p in parsed.playlists)
    assert [p.stream_info.resolution[1] for p in parsed.playlists] == [144, 240, 360]
    assert [m.uri for m in parsed.media] == ([] if hybrid else ["audio/en.m3u8"])
    assert_plays(master)


def dash_files(mpd: Path) -> tuple[list[Path], Path, float]:
    """The segments, init and duration a (merged or single) MPD's Representation names."""
    rep = ET.parse(mpd).getroot().find(".//d:Representation", NS)
    template = rep.find("d:SegmentTemplate", NS)
    timeline = template.findall("d:SegmentTimeline/d:S", NS)
    count = sum(int(s.get("r", 0)) + 1 for s in timeline)
    ticks = sum((int(s.get("r", 0)) + 1) * int(s.get("d")) for s in timeline)
    first = int(template.get("startNumber", 1))
    media = template.get("media").replace("$Number%05d$", "{:05d}")
    segments = [mpd.parent / media.format(n) for n in range(first, first + count)]
    return (
        segments,
        mpd.parent / template.get("initialization"),
        ticks / int(template.get("timescale")),
    )


def test_dash_ladder(settings, source, tmp_path):
    base = tmp_path / "out"
    parts, starts = [], {}
    names = [f"video/{stem}" for stem in LADDER] + ["audio/en"]
    for name in names:
        height, kbps = LADDER.get(Path(name).name, (None, None))
        mpd = encode(settings, source, base, name, config("mpd", height, kbps, height is None))
        assert mpd.name == playlist_name(Path(name).name, "dash")
        segments, init, duration = dash_files(mpd)
        assert [p.is_file() for p in [init, *segments]] == [True] * (len(segments) + 1)
        assert duration == pytest.approx(SECONDS, abs=FRAME)
        if height:
            starts[name] = segment_starts(segments, init, tmp_path)
        parts.append((f"{Path(name).parent}/", mpd.read_text()))
    assert_aligned(starts)

    manifest = base / "manifest.mpd"
    manifest.write_text(merge_mpd(parts))
    root = ET.parse(manifest).getroot()
    reps = root.findall(".//d:Representation", NS)
    assert [r.get("id") for r in reps] == ["v0", "v1", "v2", "a0"]
    for rep in reps:
        template = rep.find("d:SegmentTemplate", NS)
        assert (base / template.get("initialization")).is_file()
        first = base / template.get("media").replace("$Number%05d$", "00001")
        assert first.is_file()
    assert_plays(manifest)
