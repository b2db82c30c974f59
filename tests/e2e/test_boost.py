"""Boost under faults: a worker killed mid-chunk, and a cancel while chunks run.

Two single-process workers ("nodes") cut a 24 s clip into 4 s chunks, each encoded slowly
enough (640×360, ``slower``) that a chunk is still running when the test acts on it.
"""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from pathlib import Path

import pytest

from cli.client import Client
from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.e2e.conftest import MEDIA_BUCKET, _ffmpeg, client_for, wait_job
from tests.e2e.exactness import stream_facts
from tests.e2e.observe import wait_until
from tests.servers.farm import FarmInfo, farm_env, two_worker_farm

pytestmark = pytest.mark.e2e

SOURCE = "boost-24s.mp4"
SECONDS, CHUNK_SECONDS, FPS = 24, 4, 25
PARTS = [f"c{n}" for n in range(SECONDS // CHUNK_SECONDS)] + ["audio", "join"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("boost-src") / SOURCE
    _ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={FPS}:duration={SECONDS}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
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


def _submit(client: Client, output: str) -> str:
    pipeline = client.call("POST", "/v1/pipelines", {"Name": "fast", "Speed": "Boost"})
    config = {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/{SOURCE}"}}],
        "Outputs": [
            {
                "Name": "boost",
                "TemplateId": "S00000001-200010",
                "OutputFile": {"Type": "OSS", "Media": f"oss://results/boost/{output}"},
                "OverrideParams": {"Video": {"Width": 640, "Preset": "slower"}},
            }
        ],
    }
    body = {"Config": config, "PipelineId": pipeline["Pipeline"]["PipelineId"]}
    return client.submit(body)["JobId"]


def _running_chunk(client: Client, job_id: str, worker: str) -> dict | None:
    """A chunk ``worker`` is encoding and has shown progress on, if there is one."""
    job = client.get(job_id)
    for chunk in job["OutputDetails"][0].get("Chunks", []):
        if chunk["Status"] == "Running" and chunk["Worker"].startswith(worker) and chunk["Frames"]:
            return chunk
    return None


def _runs(farm: FarmInfo, job_id: str) -> Counter:
    """How many times each part of output 0 started running, over every worker's log."""
    pattern = re.compile(rf"{job_id}:0:(\w+) running \(delivery \d+\)")
    runs: Counter = Counter()
    for log in farm.log_dir.glob("*.log"):
        runs.update(pattern.findall(log.read_text(errors="replace")))
    return runs


def test_a_worker_killed_mid_chunk_costs_that_chunk_only(farm, tmp_path):
    client = client_for(farm)
    job_id = _submit(client, "killed.mp4")
    first = farm.processes["worker"]
    victim = wait_until(
        lambda: _running_chunk(client, job_id, "test-"), "a chunk encoding on the first worker"
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
    lost = f"c{victim['Chunk']}"
    assert runs == Counter({part: 2 if part == lost else 1 for part in PARTS}), runs
    assert "stopped beating; requeued" in (farm.log_dir / "second.log").read_text()
    output = Path(farm.env["MCFARM_STORAGE_ROOT"]) / "results/boost/killed.mp4"
    assert stream_facts(output)["frames"] == SECONDS * FPS


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
    root = Path(farm.env["MCFARM_STORAGE_ROOT"]) / "results/boost"
    assert not (root / "cancelled.mp4").exists()
    assert not [p for p in root.rglob("*") if p.is_file()]  # no chunk left in the scratch
