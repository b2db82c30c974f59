"""The worker's input cache end to end: real SeaweedFS, a real HTTP origin, one real Celery
worker (two processes), real FFmpeg. The cache's INFO lines in the worker's log count what
it did per input ("input cache: fetched …" is a download, "input cache: hit …" a reuse)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.e2e.conftest import MEDIA_BUCKET, client_for, wait_job
from tests.servers.farm import FarmInfo, farm_env, running_farm
from tests.servers.origin import Origin, http_origin
from workers.input_cache import Counters, InputCache

pytestmark = pytest.mark.e2e

OUTPUTS = [
    ("S00000001-200010", {"Video": {"Width": 320, "Preset": "ultrafast"}}, "mp4"),
    ("S00000001-200010", {"Video": {"Width": 160, "Preset": "ultrafast"}}, "mp4"),
    ("S00000001-300010", {}, "mp3"),
]


@pytest.fixture(scope="module")
def origin(media) -> Origin:
    with http_origin() as served:
        clip = media["sample.mp4"].read_bytes()
        served.serve("/tagged.mp4", clip, ETag='"clip-v1"')
        served.serve("/untagged.mp4", clip)
        yield served


@pytest.fixture(scope="module")
def farm(redis_base, seaweed, tmp_path_factory, origin) -> FarmInfo:
    tmp = tmp_path_factory.mktemp("farm-cache")
    env = farm_env(
        f"{redis_base}/25",
        tmp,
        MCFARM_S3_ENDPOINT=seaweed.endpoint,
        MCFARM_S3_ACCESS_KEY_ID=seaweed.access_key,
        MCFARM_S3_SECRET_ACCESS_KEY=seaweed.secret_key,
        MCFARM_S3_REGION=seaweed.region,
        MCFARM_TRUSTED_INPUT_HOSTS=f"127.0.0.1:{origin.port}",
    )
    storage = make_storage(Settings.from_env(env))
    for bucket in (MEDIA_BUCKET, "cache-results"):
        storage.ensure_bucket(bucket)
    with running_farm(env, tmp / "logs", concurrency=2) as running:
        yield running


def _upload(farm: FarmInfo, src: Path, key: str) -> str:
    storage = make_storage(Settings.from_env(farm.env))
    storage.upload(src, StorageRef("object", bucket=MEDIA_BUCKET, key=key))
    return f"oss://{MEDIA_BUCKET}/{key}"


def _run(farm: FarmInfo, media: str, outputs: int) -> dict:
    """Submit a job of ``outputs`` outputs of ``media`` and wait for its end."""
    tag = uuid.uuid4().hex[:8]
    config = {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": media}}],
        "Outputs": [
            {
                "Name": f"o{n}",
                "TemplateId": template,
                "OutputFile": {"Media": f"oss://cache-results/cache/{tag}-{n}.{ext}"},
                "OverrideParams": override,
            }
            for n, (template, override, ext) in enumerate(OUTPUTS[:outputs])
        ],
    }
    client = client_for(farm)
    return wait_job(client, client.submit({"Config": config})["JobId"], farm)


def _cache_said(farm: FarmInfo, shown: str) -> dict[str, int]:
    """How many times the cache fetched and hit ``shown``, from the worker's log."""
    log = (farm.log_dir / "worker.log").read_text()
    return {what: log.count(f"input cache: {what} {shown} (") for what in ("fetched", "hit")}


def _counters(farm: FarmInfo) -> Counters:
    """The counters the worker's cache keeps (``stats.json`` in its folder)."""
    return InputCache.for_settings(Settings.from_env(farm.env)).counters()


def test_a_three_output_job_on_one_worker_downloads_its_input_once(farm, media):
    before = _counters(farm)
    source = _upload(farm, media["sample.mp4"], f"cache/{uuid.uuid4().hex}.mp4")

    job = _run(farm, source, outputs=3)

    assert job["State"] == "Complete", job
    assert [d["Status"] for d in job["OutputDetails"]] == ["Success"] * 3
    # The start task's probe downloads it; the three outputs read the worker's copy.
    assert _cache_said(farm, source) == {"fetched": 1, "hit": 3}
    size = media["sample.mp4"].stat().st_size
    assert _counters(farm) == before + Counters(hits=3, misses=1, bytes_fetched=size)


def test_a_replaced_input_is_downloaded_again(farm, media):
    source = _upload(farm, media["sample.mp4"], f"cache/{uuid.uuid4().hex}.mp4")
    assert _run(farm, source, outputs=1)["State"] == "Complete"
    assert _cache_said(farm, source) == {"fetched": 1, "hit": 1}

    _upload(farm, media["long.mp4"], source.removeprefix(f"oss://{MEDIA_BUCKET}/"))
    job = _run(farm, source, outputs=1)

    assert job["State"] == "Complete", job
    assert _cache_said(farm, source) == {"fetched": 2, "hit": 2}
    meta = job["OutputDetails"][0]["Result"]["OutFileMeta"]["FileBasicInfo"]
    assert float(meta["Duration"]) > 4  # the 6 s clip that replaced the 2 s one


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/tagged.mp4", {"fetched": 1, "hit": 2}),  # a strong ETag: the probe's copy is reused
        ("/untagged.mp4", {"fetched": 0, "hit": 0}),  # no version named: not cached
    ],
)
def test_an_http_input_is_downloaded_once_when_it_names_its_version(farm, origin, path, said):
    job = _run(farm, origin.url + path, outputs=2)

    assert job["State"] == "Complete", job
    assert _cache_said(farm, origin.url + path) == said
    # Each task still asks the origin (that is how it learns the ETag); a hit reads no body.
    assert origin.requests.count(path) == 3
