"""The S3 server goes away: a 30 s outage costs time only; a longer one ends in a clear Code.

A private SeaweedFS (the session's one is shared) is stopped and started again for real, on
the same ports and data. The outage covers both directions: one job starts (and must
download its input) during the outage, another encodes during it and must upload then.
"""

from __future__ import annotations

import time

import pytest

from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.e2e.conftest import MEDIA_BUCKET, _seed, client_for, wait_job
from tests.e2e.observe import HANG_S, last_at_least, log_lines, wait_until
from tests.servers.farm import farm_env, running_farm
from tests.servers.seaweed import Seaweed
from workers.probe import parse_probe, run_probe

pytestmark = pytest.mark.e2e

#: The shortest outage of the first test; it lasts longer on a slow machine (see there).
OUTAGE_S = 30
#: Longer than the outage can last (``HANG_S`` of waiting for the retries, then a restart),
#: so neither direction gives up before storage is back.
RETRY_WINDOW_S = 3 * HANG_S


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


def _job(name: str, source: str, pipeline_id: str = "") -> dict:
    body = {
        "Config": {
            "Inputs": [{"InputFile": {"Media": source}}],
            "Outputs": [
                {
                    "Name": name,
                    "TemplateId": "S00000001-200010",
                    "OutputFile": {"Media": f"oss://results/outage/{name}.mp4"},
                    "OverrideParams": {"Video": {"Preset": "veryfast"}},
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


def test_a_30_s_outage_during_uploads_and_downloads_costs_only_time(
    redis_base, tmp_path, media, weed
):
    """Storage stays down for 30 s and until the worker log shows both directions retrying.

    One job is released from a paused pipeline once storage is down: it must download its
    input during the outage. The other reads a local file (``file://``), so it encodes
    while storage is down and must upload during the outage, however fast or slow the
    machine is: storage comes back only after both retries were seen. Then both complete.
    """
    env = _s3_env(
        f"{redis_base}/9",
        tmp_path,
        weed,
        MCFARM_STORAGE_RETRY_WINDOW=str(RETRY_WINDOW_S),
        MCFARM_ALLOW_FILE_URLS="on",
    )
    _seed(env, media)
    downloaded, uploaded = f"oss://{MEDIA_BUCKET}/sample.mp4", "oss://results/outage/uploaded.mp4"
    with running_farm(env, tmp_path / "logs", concurrency=2) as farm:
        client = client_for(farm)
        log = farm.log_dir / "worker.log"
        pipeline = _paused_pipeline(client)
        held = client.submit(_job("downloaded", downloaded, pipeline))["JobId"]
        weed.stop()
        stopped = time.monotonic()
        encoding = client.submit(_job("uploaded", media["long.mp4"].as_uri()))["JobId"]
        client.call("PATCH", f"/v1/pipelines/{pipeline}", {"Status": "Active"})
        wait_until(
            lambda: (
                log_lines(log, "retrying in", downloaded)
                and log_lines(log, "retrying in", f"upload {uploaded}")
            ),
            "the input download and the output upload both retrying while storage is down",
            farm=farm,
        )
        last_at_least(OUTAGE_S, stopped)
        assert [client.get(j)["State"] for j in (held, encoding)] == ["Running", "Running"]
        weed.start()
        jobs = [wait_job(client, job_id, farm, timeout=150) for job_id in (held, encoding)]
    assert [job["State"] for job in jobs] == ["Complete", "Complete"], jobs
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
        job_id = client.submit(_job("never", f"oss://{MEDIA_BUCKET}/sample.mp4", pipeline))["JobId"]
        weed.stop()
        client.call("PATCH", f"/v1/pipelines/{pipeline}", {"Status": "Active"})
        # Not a hang: the job ends once the 4 s window is spent (wait_job fails past 60 s).
        job = wait_job(client, job_id, farm, timeout=60)
    assert job["State"] == "Error", job
    assert job["Code"] == "StorageUnavailable"
    detail = job["OutputDetails"][0]
    assert (detail["Status"], detail["Code"]) == ("Failed", "StorageUnavailable")
    assert "MCFARM_STORAGE_RETRY_WINDOW" in detail["Message"]
