"""The S3 server goes away: a 30 s outage costs time only; a longer one ends in a clear Code.

A private SeaweedFS (the session's one is shared) is stopped and started again for real, on
the same ports and data. The outage covers both directions: one job is uploading its output
when storage disappears, another starts (and must download its input) during the outage.
"""

from __future__ import annotations

import time

import pytest

from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.e2e.conftest import MEDIA_BUCKET, _seed, client_for, wait_job
from tests.servers.farm import farm_env, running_farm
from tests.servers.seaweed import Seaweed
from workers.probe import parse_probe, run_probe

pytestmark = pytest.mark.e2e

OUTAGE_S = 30


@pytest.fixture
def weed(tmp_path):
    server = Seaweed(tmp_path / "weed")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _s3_env(redis_url: str, tmp_path, weed: Seaweed, **extra: str) -> dict[str, str]:
    return farm_env(
        redis_url,
        tmp_path,
        MCFARM_S3_ENDPOINT=weed.info.endpoint,
        MCFARM_S3_ACCESS_KEY_ID=weed.info.access_key,
        MCFARM_S3_SECRET_ACCESS_KEY=weed.info.secret_key,
        **extra,
    )


def _job(name: str, source: str, pipeline_id: str = "", preset: str = "veryfast") -> dict:
    body = {
        "Config": {
            "Inputs": [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/{source}"}}],
            "Outputs": [
                {
                    "Name": name,
                    "TemplateId": "S00000001-200010",
                    "OutputFile": {"Media": f"oss://results/outage/{name}.mp4"},
                    "OverrideParams": {"Video": {"Preset": preset}},
                }
            ],
        }
    }
    if pipeline_id:
        body["PipelineId"] = pipeline_id
    return body


def _paused_pipeline(client) -> str:
    pid = client.call("POST", "/v1/pipelines", {"Name": "held", "Speed": "Standard"})["Pipeline"][
        "PipelineId"
    ]
    client.call("PATCH", f"/v1/pipelines/{pid}", {"Status": "Paused"})
    return pid


def _wait_for(client, job_id: str, what, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not what(client.get(job_id)):
        assert time.monotonic() < deadline, f"job {job_id}: {client.get(job_id)}"
        time.sleep(0.1)


def _encoding(job: dict) -> bool:
    return job["OutputDetails"][0]["Status"] == "Running"


def _started(job: dict) -> bool:
    return job["State"] == "Running"


def test_a_30_s_outage_during_uploads_and_downloads_costs_only_time(
    redis_base, tmp_path, media, weed
):
    env = _s3_env(f"{redis_base}/9", tmp_path, weed, MCFARM_STORAGE_RETRY_WINDOW="120")
    _seed(env, media)
    with running_farm(env, tmp_path / "logs", concurrency=2) as farm:
        client = client_for(farm)
        # Held in a paused pipeline: it starts (and downloads its input) during the outage.
        pipeline = _paused_pipeline(client)
        held = client.submit(_job("downloaded", "sample.mp4", pipeline))["JobId"]
        # Encoding when storage goes: it uploads during the outage.
        encoding = client.submit(_job("uploaded", "long.mp4", preset="slow"))["JobId"]
        _wait_for(client, encoding, _encoding)
        weed.stop()
        stopped = time.monotonic()
        client.call("PATCH", f"/v1/pipelines/{pipeline}", {"Status": "Active"})
        _wait_for(client, held, _started)  # its start task now downloads the input
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        assert client.get(encoding)["State"] == "Running"
        assert client.get(held)["State"] == "Running"
        weed.start()
        jobs = {job_id: wait_job(client, job_id, farm, timeout=150) for job_id in (held, encoding)}
        logs = (farm.log_dir / "worker.log").read_text()
    for job in jobs.values():
        assert job["State"] == "Complete", job
    # Both directions were really retried while storage was away.
    retried = [line for line in logs.splitlines() if "retrying in" in line]
    assert any("oss://media/sample.mp4" in line for line in retried)
    assert any("upload oss://results/outage/uploaded.mp4" in line for line in retried)
    storage = make_storage(Settings.from_env(env))
    for name, source in (("downloaded", "sample.mp4"), ("uploaded", "long.mp4")):
        out = tmp_path / f"{name}.mp4"
        storage.download(StorageRef("object", bucket="results", key=f"outage/{name}.mp4"), out)
        info = parse_probe(run_probe(str(out), Settings()))
        expected = parse_probe(run_probe(str(media[source]), Settings())).duration
        assert info.video is not None and abs(info.duration - expected) < 0.1


def test_an_outage_longer_than_the_retry_window_ends_the_job_with_a_storage_code(
    redis_base, tmp_path, media, weed
):
    env = _s3_env(f"{redis_base}/16", tmp_path, weed, MCFARM_STORAGE_RETRY_WINDOW="4")
    _seed(env, media)
    with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
        client = client_for(farm)
        pipeline = _paused_pipeline(client)
        job_id = client.submit(_job("never", "sample.mp4", pipeline))["JobId"]
        weed.stop()
        client.call("PATCH", f"/v1/pipelines/{pipeline}", {"Status": "Active"})
        # Not a hang: the job ends once the 4 s window is spent (wait_job fails past 60 s).
        job = wait_job(client, job_id, farm, timeout=60)
    assert job["State"] == "Error", job
    assert job["Code"] == "StorageUnavailable"
    detail = job["OutputDetails"][0]
    assert (detail["Status"], detail["Code"]) == ("Failed", "StorageUnavailable")
    assert "MCFARM_STORAGE_RETRY_WINDOW" in detail["Message"]
