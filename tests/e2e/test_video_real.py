"""The Video keys of issue 12 against the real FFmpeg, each effect measured on the output:
crop and pad move a known square by the asked offset, ``border`` removes letterbox bars,
AdjDarMethod crops or pads to the box, ``ScanMode=auto`` leaves no combing, MaxFps caps the
rate, twopass lands near its bitrate, and AV1, GIF and WEBP outputs decode.

Inputs are generated with lavfi into a temporary folder, small and short.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.config import Settings
from shared.templates import validate_template_config
from tests.media_tools import ffmpeg
from workers import crop
from workers.ffmpeg_cmd import build_passes
from workers.ffmpeg_run import run_ffmpeg
from workers.probe import parse_probe, run_probe

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg and ffprobe"),
]

FAST = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
#: A white 40x40 square at (100, 80) on black, 320x240.
SQUARE = "color=black:size=320x240:rate=25,drawbox=x=100:y=80:w=40:h=40:color=white:t=fill"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("video-keys")
    ffmpeg("-f", "lavfi", "-i", SQUARE, "-t", "1", *FAST, d / "square.mp4")
    bars = "testsrc2=size=240x180:rate=25,pad=320:240:40:30:color=black"
    ffmpeg("-f", "lavfi", "-i", bars, "-t", "1", *FAST, d / "letterbox.mp4")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=50", "-t", "1", *FAST, d / "50fps.mp4")
    # Field-coded H.264, top field first: two 50 fps pictures woven into each frame.
    # (gradients, not testsrc2: idet reads testsrc2's fine lines as combing even when progressive)
    fields = "gradients=size=320x240:rate=50:speed=0.05,tinterlace=mode=interleave_top,setfield=tff"
    ffmpeg("-f", "lavfi", "-i", fields, "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
           "-flags", "+ildct+ilme", "-x264opts", "tff=1", "-pix_fmt", "yuv420p",
           d / "interlaced.mp4")  # fmt: skip
    busy = "testsrc2=size=320x240:rate=25,noise=alls=30:allf=t"
    ffmpeg("-f", "lavfi", "-i", busy, "-t", "20", *FAST, "-crf", "18", d / "twenty.mp4")
    return {path.stem: path for path in d.iterdir()}


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(var_dir=tmp_path, storage_root=tmp_path / "s", work_dir=tmp_path)


def encode(settings, src: Path, dst: Path, sections: dict, fmt: str = "mp4") -> dict:
    """Validate, measure where asked (as workers.analysis does), encode; the output's probe."""
    config = validate_template_config({"Container": {"Format": fmt}, **sections}, "test")
    probe = parse_probe(run_probe(str(src), settings))
    if crop.needed(config, probe):
        tail = run_ffmpeg(crop.argv(str(src), probe, config, settings), timeout=60)
        config = crop.fold(config, crop.parse(tail))
    for argv in build_passes(str(src), str(dst), probe, config, settings, stats=str(dst) + ".log"):
        run_ffmpeg(argv, timeout=120)
    return run_probe(str(dst), settings)


def video_stream(probe: dict) -> dict:
    return next(s for s in probe["streams"] if s["codec_type"] == "video")


def white_box(path: Path, width: int, height: int) -> tuple[int, int, int, int]:
    """The bounding box (left, top, right, bottom) of the bright pixels of the first frame."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
         "-pix_fmt", "gray", "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    xs, ys = [], []
    for y in range(height):
        row = raw[y * width : (y + 1) * width]
        hits = [x for x, value in enumerate(row) if value > 128]
        if hits:
            xs += [hits[0], hits[-1]]
            ys.append(y)
    return min(xs), min(ys), max(xs), max(ys)


def near(found: tuple[int, ...], wanted: tuple[int, ...], tolerance: int = 2) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(found, wanted, strict=True))


def test_crop_moves_the_picture_by_the_offset(settings, sources, tmp_path):
    probe = encode(
        settings, sources["square"], tmp_path / "c.mp4", {"Video": {"Crop": "200:160:60:40"}}
    )
    assert (video_stream(probe)["width"], video_stream(probe)["height"]) == (200, 160)
    assert near(white_box(tmp_path / "c.mp4", 200, 160), (40, 40, 79, 79))


def test_pad_places_the_picture_at_the_offset(settings, sources, tmp_path):
    probe = encode(
        settings, sources["square"], tmp_path / "p.mp4", {"Video": {"Pad": "400:320:20:30"}}
    )
    assert (video_stream(probe)["width"], video_stream(probe)["height"]) == (400, 320)
    assert near(white_box(tmp_path / "p.mp4", 400, 320), (120, 110, 159, 149))


def test_border_removes_the_letterbox(settings, sources, tmp_path):
    probe = encode(
        settings, sources["letterbox"], tmp_path / "b.mp4", {"Video": {"Crop": "border"}}
    )
    assert (video_stream(probe)["width"], video_stream(probe)["height"]) == (240, 180)
    corner = white_box(tmp_path / "b.mp4", 240, 180)  # testsrc2 is bright up to its edges
    assert near(corner[:2], (0, 0), 6) and near(corner[2:], (239, 179), 6)


@pytest.mark.parametrize(("method", "box"), [("pad", (40, 0, 279, 179)), ("crop", None)])
def test_adj_dar_method_fits_a_4_3_source_to_16_9(settings, sources, tmp_path, method, box):
    sections = {"Video": {"Width": 320, "Height": 180}, "TransConfig": {"AdjDarMethod": method}}
    probe = encode(settings, sources["letterbox"], tmp_path / f"{method}.mp4", sections)
    assert (video_stream(probe)["width"], video_stream(probe)["height"]) == (320, 180)
    if box:  # the 4:3 picture (its own bars included) is 240 wide, centred between bars
        found = white_box(tmp_path / f"{method}.mp4", 320, 180)
        assert 38 <= found[0] <= 82 and 238 <= found[2] <= 282, found


def idet(path: Path) -> dict[str, int]:
    """idet's multi-frame counts of an encoded file."""
    err = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), "-vf", "idet", "-an", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    ).stderr  # fmt: skip
    line = next(line for line in err.splitlines() if "Multi frame detection" in line)
    return {k: int(v) for k, v in re.findall(r"(\w+):\s*(\d+)", line.split("detection:")[1])}


def test_scan_mode_auto_deinterlaces_and_empty_keeps_the_fields(settings, sources, tmp_path):
    assert idet(sources["interlaced"])["TFF"] > 20  # the source really is combed
    probe = encode(
        settings, sources["interlaced"], tmp_path / "d.mp4", {"Video": {"ScanMode": "auto"}}
    )
    assert video_stream(probe).get("field_order", "progressive") == "progressive"
    counts = idet(tmp_path / "d.mp4")
    assert counts["TFF"] + counts["BFF"] == 0 and counts["Progressive"] > 20, counts
    probe = encode(settings, sources["interlaced"], tmp_path / "i.mp4", {"Video": {"Width": 320}})
    assert video_stream(probe)["field_order"] == "tt"


def test_max_fps_caps_the_rate(settings, sources, tmp_path):
    probe = encode(settings, sources["50fps"], tmp_path / "m.mp4", {"Video": {"MaxFps": 25}})
    stream = video_stream(probe)
    assert stream["avg_frame_rate"] == "25/1" and int(stream["nb_frames"]) == 25


def test_twopass_lands_near_the_bitrate(settings, sources, tmp_path):
    sections = {
        "Video": {"Bitrate": 400, "Preset": "veryfast"},
        "TransConfig": {"TransMode": "twopass"},
    }
    probe = encode(settings, sources["twenty"], tmp_path / "t.mp4", sections)
    kbps = int(video_stream(probe)["bit_rate"]) / 1000
    assert abs(kbps - 400) <= 40, kbps


@pytest.mark.parametrize(
    ("fmt", "codec", "sections"),
    [
        ("mp4", "av1", {"Video": {"Codec": "AV1", "Preset": "ultrafast"}}),
        ("gif", "gif", {"Video": {"Width": 160}}),
        ("webp", "webp", {"Video": {"Width": 160}}),
    ],
)
def test_av1_gif_and_webp_decode(settings, sources, tmp_path, fmt, codec, sections):
    dst = tmp_path / f"out.{fmt}"
    # testsrc2 moves every frame: an animated image keeps each (identical ones are merged)
    probe = encode(settings, sources["letterbox"], dst, sections, fmt)
    assert video_stream(probe)["codec_name"] == codec
    if fmt == "webp":  # FFmpeg 5.1 has no animated WebP decoder: count its frame chunks
        assert dst.read_bytes().count(b"ANMF") == 25
        return
    counted = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "json", str(dst)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    assert int(json.loads(counted)["streams"][0]["nb_read_frames"]) == 25


@pytest.mark.e2e
def test_a_farm_job_measures_the_borders_once_for_its_outputs(local_farm, sources):
    """Two outputs of one letterboxed input with ``Crop: border``: the worker measures the
    borders once (kept on the job) and both outputs lose the bars; one runs in two passes."""
    from shared.storage import StorageRef, make_storage
    from shared.stores import Stores
    from tests.e2e.conftest import MEDIA_BUCKET, client_for, wait_job

    storage = make_storage(Settings.from_env(local_farm.env))
    storage.upload(sources["letterbox"], StorageRef("object", bucket=MEDIA_BUCKET, key="lb.mp4"))
    outputs = [
        {
            "Name": name,
            "TemplateId": "S00000001-200010",
            "OutputFile": {"Type": "OSS", "Media": f"oss://results/borders/{name}.mp4"},
            "OverrideParams": {"Video": {"Crop": "border", "Width": 240, **more}, **trans},
        }
        for name, more, trans in (
            ("one", {}, {}),
            ("two", {"Bitrate": 300}, {"TransConfig": {"TransMode": "twopass"}}),
        )
    ]
    inputs = [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/lb.mp4"}}]
    client = client_for(local_farm)
    job = wait_job(
        client, client.submit({"Config": {"Inputs": inputs, "Outputs": outputs}})["JobId"]
    )
    assert job["State"] == "Complete", job
    for detail in job["OutputDetails"]:
        meta = detail["Result"]["OutFileMeta"]["VideoStreamInfoList"][0]
        assert (int(meta["Width"]), int(meta["Height"])) == (240, 180), meta
    record = Stores.connect(local_farm.env["MCFARM_REDIS_URL"]).jobs
    assert record.cached_measure(job["JobId"], 0, "border") == {
        "W": 240,
        "H": 180,
        "L": 40,
        "T": 30,
    }
    assert "-pass 2" in record.get(job["JobId"]).ffmpeg[1]["Command"]
