"""A worker lost mid-encode: the watchdog requeues its output and the job still completes,
its Percent never going backwards while the output starts over elsewhere."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from cli.processes import worker_argv
from tests.e2e.conftest import MEDIA_BUCKET, _seed, client_for, wait_job
from tests.servers.farm import farm_env, running_farm, start_process, stop_processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def fragile_farm(redis_base, tmp_path, media):
    env = farm_env(f"{redis_base}/2", tmp_path, MCFARM_HEARTBEAT_TIMEOUT="4")
    _seed(env, media)
    with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
        yield farm


def test_killed_worker_output_is_requeued_and_job_completes(fragile_farm):
    client = client_for(fragile_farm)
    config = {
        "Inputs": [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/long.mp4"}}],
        "Outputs": [
            {
                "Name": "slow",
                "TemplateId": "S00000001-200020",
                "OutputFile": {"Media": "oss://results/lost.mp4"},
                "OverrideParams": {"Video": {"Preset": "slower"}},
            }
        ],
    }
    job_id = client.submit({"Config": config})["JobId"]
    deadline = time.monotonic() + 60
    # Killed once some progress is shown: the rescuer's run starts again from 0 %.
    while client.get(job_id)["Percent"] == 0:
        assert time.monotonic() < deadline, "the output never showed progress"
        time.sleep(0.1)
    # The machine dies: every process of the worker, at once.
    worker = fragile_farm.processes["worker"]
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert client.get(job_id)["State"] == "Running"
    rescuer = start_process(
        "rescuer", worker_argv("rescuer@%h", "cpu", 1), fragile_farm.env, fragile_farm.log_dir
    )
    percents = []
    try:
        deadline = time.monotonic() + 120
        while (job := client.get(job_id))["State"] not in ("Complete", "Error"):
            percents.append(job["Percent"])
            assert time.monotonic() < deadline, "the job never ended"
            time.sleep(0.1)
    finally:
        stop_processes([rescuer])
    assert percents[0] > 0 and percents == sorted(percents), percents  # never backwards
    assert job["State"] == "Complete", job
    assert job["OutputDetails"][0]["Status"] == "Success"
    logs = (fragile_farm.log_dir / "rescuer.log").read_text()
    assert "stopped beating; requeued" in logs


def test_a_job_past_its_maximum_runtime_ends_in_error(redis_base, tmp_path, media):
    env = farm_env(
        f"{redis_base}/5", tmp_path, MCFARM_JOB_MAX_RUNTIME="3", MCFARM_HEARTBEAT_TIMEOUT="3"
    )
    _seed(env, media)
    with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
        client = client_for(farm)
        config = {
            "Inputs": [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/long.mp4"}}],
            "Outputs": [
                {
                    "Name": "endless",
                    "TemplateId": "S00000001-200040",
                    "OutputFile": {"Media": "oss://results/endless.mp4"},
                    "OverrideParams": {"Video": {"Preset": "placebo"}},
                }
            ],
        }
        job_id = client.submit({"Config": config})["JobId"]
        job = wait_job(client, job_id, farm, timeout=60)
        assert (job["State"], job["Code"]) == ("Error", "JobTimeout")
        deadline = time.monotonic() + 30
        while client.get(job_id)["OutputDetails"][0]["Status"] == "Running":
            assert time.monotonic() < deadline, "FFmpeg kept running after the time limit"
            time.sleep(0.2)
        assert client.get(job_id)["OutputDetails"][0]["Status"] == "Skipped"
        assert not (Path(env["MCFARM_STORAGE_ROOT"]) / "results" / "endless.mp4").exists()
