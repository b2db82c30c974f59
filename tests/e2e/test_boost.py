"""Boost beyond one MP4: an HLS group in chunks, a worker killed mid-chunk, a cancel.

Two single-process workers ("nodes") cut a 24 s clip into 4 s chunks. In the fault tests
each is encoded slowly enough (640×360, ``slower``) that a chunk is still running when the
test acts on it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import m3u8
import pytest

from cli.client import Client
from shared.config import Settings
from shared.storage import StorageRef, make_storage
from shared.units import chunk_part
from tests.e2e.conftest import MEDIA_BUCKET, _ffmpeg, client_for, wait_job
from tests.e2e.exactness import stream_facts
from tests.e2e.observe import encoded_again, farm_stores, wait_until
from tests.e2e.playback import keyframes, plays_in_chromium
from tests.servers.farm import FarmInfo, farm_env, two_worker_farm
from workers.boost_plan import SCRATCH

pytestmark = pytest.mark.e2e

SOURCE = "boost-24s.mp4"
SECONDS, CHUNK_SECONDS, SEGMENT_SECONDS, FPS = 24, 4, 2, 25
DASH_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
PARTS = [f"c{n}" for n in range(SECONDS // CHUNK_SECONDS)] + ["audio", "join"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("boost-src") / SOURCE
    _ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={FPS}:duration={SECONDS}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
        *("-bf", "2"),  # B-frames: decoding starts before 0, as in most MP4s from x264
        str(path),
    )
    return path


@pytest.fixture
def farm(redis_base, tmp_path, source):
    """A fresh two-worker farm for each test (the kill test takes one of its workers)."""
    env = farm_env(
        f"{redis_base}/12",
        tmp_path,
        MCFARM_BOOST_CHUNK_SECONDS=str(CHUNK_SECONDS),
        MCFARM_HEARTBEAT_TIMEOUT="4",
    )
    storage = make_storage(Settings.from_env(env))
    storage.ensure_bucket(MEDIA_BUCKET)
    storage.upload(source, StorageRef(kind="object", bucket=MEDIA_BUCKET, key=SOURCE))
    with two_worker_farm(env, tmp_path / "logs") as running:
        yield running


def _boost(client: Client, config: dict) -> str:
    """Submit ``config`` through a Boost pipeline; returns the job's id."""
    pipeline = client.call("POST", "/v1/pipelines", {"Name": "fast", "Speed": "Boost"})
    body = {"Config": config, "PipelineId": pipeline["Pipeline"]["PipelineId"]}
    return client.submit(body)["JobId"]


def _submit(
    client: Client, output: str, template: str = "S00000001-200010", **video: object
) -> str:
    """A Boost job of one MP4 output (by default slow enough to catch a chunk running)."""
    config = {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/{SOURCE}"}}],
        "Outputs": [
            {
                "Name": "boost",
                "TemplateId": template,
                "OutputFile": {"Type": "OSS", "Media": f"oss://results/boost/{output}"},
                "OverrideParams": {"Video": {"Width": 640, "Preset": "slower", **video}},
            }
        ],
    }
    return _boost(client, config)


def _running_chunk(client: Client, job_id: str, worker: str) -> dict | None:
    """A chunk ``worker`` is running, if there is one."""
    job = client.get(job_id)
    for chunk in job["OutputDetails"][0].get("Chunks", []):
        if chunk["Status"] == "Running" and chunk["Worker"].startswith(worker):
            return chunk
    return None


def _early_chunk(farm: FarmInfo, client: Client, job_id: str, worker: str) -> dict | None:
    """A chunk ``worker`` is encoding, under its heartbeat and less than half done.

    A chunk takes a second or two here, and its heartbeat starts a moment after it shows
    ``Running`` and stops a moment before its result is written: a kill in either moment
    leaves it to the lost-message recovery (no heartbeat to miss), not to the watchdog.
    """
    chunk = _running_chunk(client, job_id, worker)
    if chunk is None:
        return None
    stores, part = farm_stores(farm.env["MCFARM_REDIS_URL"]), chunk_part(chunk["Chunk"])
    done = stores.jobs.get(job_id).part_progress.get(0, {}).get(part, 0)
    return chunk if stores.heartbeats.has_beat(job_id, 0, part) and done < 50 else None


def _runs(farm: FarmInfo, job_id: str) -> Counter:
    """How many times each part of output 0 started running, over every worker's log."""
    pattern = re.compile(rf"{job_id}:0:(\w+) running \(delivery \d+\)")
    runs: Counter = Counter()
    for log in farm.log_dir.glob("*.log"):
        runs.update(pattern.findall(log.read_text(errors="replace")))
    return runs


def _scratch_files(farm: FarmInfo, job_id: str) -> list[Path]:
    """The parts of ``job_id`` still waiting in the scratch folder."""
    folder = Path(farm.env["MCFARM_STORAGE_ROOT"]) / "results" / SCRATCH / job_id
    return [p for p in folder.rglob("*") if p.is_file()]


def test_a_worker_killed_mid_chunk_costs_that_chunk_only(farm, tmp_path):
    client = client_for(farm)
    job_id = _submit(client, "killed.mp4")
    first = farm.processes["worker"]
    victim = wait_until(
        lambda: _early_chunk(farm, client, job_id, "test-"),
        "a chunk early in its encode on the first worker",
    )
    os.killpg(first.pid, signal.SIGKILL)  # the machine dies: every process of the worker
    first.wait()
    job = wait_job(client, job_id, farm, timeout=300)
    assert job["State"] == "Complete", job
    detail = job["OutputDetails"][0]
    chunks = {c["Chunk"]: c for c in detail["Chunks"]}
    assert chunks[victim["Chunk"]]["Worker"].startswith("second@")  # re-encoded by the other
    assert all(c["Status"] == "Success" for c in chunks.values())
    runs = _runs(farm, job_id)
    lost = chunk_part(victim["Chunk"])
    assert runs == Counter({part: 2 if part == lost else 1 for part in PARTS}), runs
    assert encoded_again(farm.log_dir, job_id) == []  # and each run encoded its chunk once
    assert "stopped beating; requeued" in (farm.log_dir / "second.log").read_text()
    output = Path(farm.env["MCFARM_STORAGE_ROOT"]) / "results/boost/killed.mp4"
    assert stream_facts(output)["frames"] == SECONDS * FPS
    assert _scratch_files(farm, job_id) == []


def test_a_cancel_stops_every_chunk_and_removes_the_scratch(farm):
    client = client_for(farm)
    job_id = _submit(client, "cancelled.mp4")
    wait_until(
        lambda: (
            _running_chunk(client, job_id, "test-") and _running_chunk(client, job_id, "second@")
        ),
        "chunks encoding on both workers",
    )
    client.call("POST", f"/v1/jobs/{job_id}/cancel")
    job = wait_until(
        lambda: (j := client.get(job_id))["OutputDetails"][0]["Status"] == "Skipped" and j,
        "the split output ends Skipped",
        farm=farm,
    )
    assert job["State"] == "Cancelled"
    statuses = {c["Status"] for c in job["OutputDetails"][0]["Chunks"]}
    assert statuses <= {"Success", "Skipped"} and "Skipped" in statuses, statuses
    assert "join" not in _runs(farm, job_id)  # skipped: it never ran
    assert not (Path(farm.env["MCFARM_STORAGE_ROOT"]) / "results/boost/cancelled.mp4").exists()
    assert _scratch_files(farm, job_id) == []


def _group(kind: str, fmt: str) -> dict:
    """A Boost job's config: one ``kind`` group of two renditions (360p, 180p) in ``fmt``."""
    renditions = [
        {
            "Name": f"{height}p",
            "TemplateId": "S00000001-200031",
            "OutputFileName": f"video/{height}p",
            "OverrideParams": {
                "Container": {"Format": fmt},
                "Video": {"Height": height, "Width": None, "Preset": "ultrafast"},
                "MuxConfig": {"Segment": {"Duration": SEGMENT_SECONDS}},
            },
        }
        for height in (360, 180)
    ]
    base = {"Media": f"oss://results/boost/{kind.lower()}/"}
    group = {"Type": kind, "OutputFileBase": base, "ManifestName": "main"}
    return {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/{SOURCE}"}}],
        "OutputGroups": [{"Name": kind, "GroupConfig": group, "Outputs": renditions}],
    }


def _split_group(farm: FarmInfo, config: dict) -> Path:
    """Run ``config``'s group through Boost: every rendition split, its chunks on both
    workers, the scratch gone. Returns the group's folder."""
    client = client_for(farm)
    job = wait_job(client, _boost(client, config), farm, timeout=300)
    assert job["State"] == "Complete", job
    group = job["OutputGroupDetails"][0]
    assert group["Status"] == "Success", group
    chunks = SECONDS // CHUNK_SECONDS
    workers = set()
    for rendition in group["Outputs"]:
        assert rendition["Boost"] == {"Split": True, "Chunks": chunks, "ChunkSeconds": 4}
        assert [c["Status"] for c in rendition["Chunks"]] == ["Success"] * chunks
        workers |= {c["Worker"].split("@")[0] for c in rendition["Chunks"]}
    assert len(workers) == 2, workers  # the chunks ran on both workers
    assert _scratch_files(farm, job["JobId"]) == []
    kind = config["OutputGroups"][0]["Name"].lower()
    return Path(farm.env["MCFARM_STORAGE_ROOT"]) / "results/boost" / kind


def test_an_hls_group_in_chunks_is_one_aligned_package_that_plays(farm, tmp_path, assets):
    root = _split_group(farm, _group("Hls", "m3u8"))
    master = m3u8.load(str(root / "main.m3u8"))
    assert sorted(p.stream_info.resolution[1] for p in master.playlists) == [180, 360]
    durations, cuts = [], []
    count = SECONDS // SEGMENT_SECONDS
    for variant in master.playlists:
        playlist = m3u8.load(str(root / variant.uri))
        stem = Path(variant.uri).stem
        # Every segment there, numbered on across the joins, the playlist in order.
        assert [s.uri for s in playlist.segments] == [f"{stem}-{n:05d}.ts" for n in range(count)]
        assert all((root / "video" / s.uri).is_file() for s in playlist.segments)
        durations.append([round(s.duration, 3) for s in playlist.segments])
        cuts.append(keyframes(root / variant.uri))
        assert stream_facts(root / variant.uri)["frames"] == SECONDS * FPS
    # Segment boundaries identical across the renditions, one keyframe per segment start.
    assert durations[0] == durations[1] and cuts[0] == cuts[1], (durations, cuts)
    assert len(cuts[0]) == count and sum(durations[0]) == pytest.approx(SECONDS, abs=1 / FPS)
    plays_in_chromium(root, "hls", "/main.m3u8", assets, tmp_path / "hls.png")


def test_hevc_chunks_join_into_one_clean_stream(farm):
    """x265 chunks with a VBV buffer (a Maxrate): each starts and ends it equally full."""
    client = client_for(farm)
    job_id = _submit(
        client, "hevc.mp4", "S00000001-110021", Width=320, Preset="ultrafast", Maxrate=800
    )
    job = wait_job(client, job_id, farm, timeout=300)
    assert job["State"] == "Complete", job
    assert job["OutputDetails"][0]["Boost"]["Split"] is True
    output = Path(farm.env["MCFARM_STORAGE_ROOT"]) / "results/boost/hevc.mp4"
    facts = stream_facts(output)
    assert facts["frames"] == SECONDS * FPS
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(output), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert decoded.returncode == 0 and decoded.stderr == "", decoded.stderr[-2000:]
    tag = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-select_streams", "v:0"),
            *("-show_entries", "stream=codec_tag_string", "-of", "csv=p=0", str(output)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert tag.stdout.strip() == "hvc1"
    # Each part's last FFmpeg run is on the record; the split output ran none of its own.
    rec = farm_stores(farm.env["MCFARM_REDIS_URL"]).jobs.get(job_id)
    runs = rec.part_ffmpeg[0]
    assert sorted(runs) == sorted(PARTS) and 0 not in rec.ffmpeg
    assert all("libx265" in runs[p]["Command"] for p in PARTS if p.startswith("c"))
    assert "concat" in runs["join"]["Command"]


def test_a_dash_group_in_chunks_is_one_aligned_package_that_plays(farm, tmp_path, assets):
    root = _split_group(farm, _group("Dash", "mpd"))
    mpd = ET.parse(root / "main.mpd").getroot()
    reps = mpd.findall(".//d:AdaptationSet/d:Representation", DASH_NS)
    assert sorted(int(r.get("height", 0)) for r in reps) == [0, 180, 360]  # and one audio
    count = SECONDS // SEGMENT_SECONDS
    for rep in reps:
        template = rep.find("d:SegmentTemplate", DASH_NS)
        timeline = list(template.iter(f"{{{DASH_NS['d']}}}S"))
        assert sum(int(s.get("r", 0)) + 1 for s in timeline) == count
        first, media = int(template.get("startNumber", "1")), template.get("media")
        for n in range(first, first + count):
            assert (root / media.replace("$Number%05d$", f"{n:05d}")).is_file()
    videos = sorted((root / "video").glob("*p.mpd"))
    cuts = [keyframes(path) for path in videos]
    assert len(cuts) == 2 and cuts[0] == cuts[1] and len(cuts[0]) == count
    assert all(stream_facts(path)["frames"] == SECONDS * FPS for path in videos)
    plays_in_chromium(root, "dash", "/main.mpd", assets, tmp_path / "dash.png")
