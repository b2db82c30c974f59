"""Session fixtures for end-to-end tests: real redis-server, SeaweedFS, Celery, API, FFmpeg."""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

import pytest

from cli.client import Client
from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.media_tools import ffmpeg as _ffmpeg
from tests.servers.farm import FarmInfo, dump_logs, farm_env, running_farm
from tests.servers.players import chromium_binary, player_assets
from tests.servers.redis import redis_server
from tests.servers.seaweed import seaweed_server

MEDIA_BUCKET = "media"
TERMINAL = {"Complete", "Error", "Cancelled"}


def _clip(path: Path, size: str, seconds: int, *, audio: bool = True) -> None:
    """A 25 fps testsrc2 clip (H.264), with a 440 Hz AAC tone unless ``audio`` is False."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        codecs += ["-c:a", "aac", "-shortest"]
    _ffmpeg(*inputs, *codecs, str(path))


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Tiny inputs generated with lavfi, plus a text file and a truncated MP4."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed (make test installs it)")
    d = tmp_path_factory.mktemp("media")
    _clip(d / "sample.mp4", "640x360", 2)
    _clip(d / "long.mp4", "640x360", 6)
    _clip(d / "silent.mp4", "320x240", 1, audio=False)
    _clip(d / "ten.mp4", "640x360", 10)
    (d / "notmedia.txt").write_text("this is not a video\n" * 50)
    data = (d / "sample.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    return {p.name: p for p in d.iterdir()}


def _seed(env: dict[str, str], media: dict[str, Path]) -> None:
    storage = make_storage(Settings.from_env(env))
    storage.ensure_bucket(MEDIA_BUCKET)
    for name, path in media.items():
        storage.upload(path, StorageRef(kind="object", bucket=MEDIA_BUCKET, key=name))


@pytest.fixture(scope="session")
def redis_base(tmp_path_factory) -> str:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def local_farm(redis_base, tmp_path_factory, media) -> FarmInfo:
    tmp = tmp_path_factory.mktemp("farm-local")
    env = farm_env(f"{redis_base}/0", tmp)
    _seed(env, media)
    with running_farm(env, tmp / "logs") as farm:
        yield farm


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    with seaweed_server(tmp_path_factory.mktemp("seaweed")) as info:
        yield info


@pytest.fixture(scope="session")
def s3_farm(redis_base, seaweed, tmp_path_factory, media) -> FarmInfo:
    tmp = tmp_path_factory.mktemp("farm-s3")
    env = farm_env(
        f"{redis_base}/1",
        tmp,
        MCFARM_S3_ENDPOINT=seaweed.endpoint,
        MCFARM_S3_ACCESS_KEY_ID=seaweed.access_key,
        MCFARM_S3_SECRET_ACCESS_KEY=seaweed.secret_key,
        MCFARM_S3_REGION=seaweed.region,
    )
    _seed(env, media)
    with running_farm(env, tmp / "logs") as farm:
        yield farm


def one_output_config(source: str, media: str, **video: object) -> dict:
    """A Config of one MP4 output (``S00000001-200010``, ``video`` overriding its Video) of
    ``source`` in the media bucket, written to ``oss://results/{media}``."""
    name = media.rsplit("/", 1)[-1].removesuffix(".mp4")
    output = {
        "Name": name,
        "TemplateId": "S00000001-200010",
        "OutputFile": {"Type": "OSS", "Media": f"oss://results/{media}"},
    }
    if video:
        output["OverrideParams"] = {"Video": video}
    inputs = [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/{source}"}}]
    return {"Inputs": inputs, "Outputs": [output]}


def client_for(farm: FarmInfo) -> Client:
    return Client(farm.api_url, farm.key_id, farm.secret)


@pytest.fixture
def client(local_farm) -> Client:
    return client_for(local_farm)


def wait_job(
    client: Client, job_id: str, farm: FarmInfo | None = None, timeout: float = 90
) -> dict:
    """Poll until the job is terminal; on a timeout, fail with the farm's logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(job_id)
        if job["State"] in TERMINAL:
            return job
        time.sleep(0.2)
    logs = dump_logs(farm.log_dir) if farm else ""
    pytest.fail(f"job {job_id} not terminal after {timeout} s: {job}\n{logs}")


# --- a farm with several accounts and keys, for the ICE SDK tests ---------------------------

ACCOUNTS = {
    "main": "acme",
    "main2": "acme",
    "other": "globex",
    "reader": "acme",
    "pager": "pager-acct",
}


@pytest.fixture(scope="session")
def ice_keys() -> dict[str, tuple[str, str]]:
    return {
        name: (f"ice{name}{secrets.token_hex(3)}", secrets.token_urlsafe(16)) for name in ACCOUNTS
    }


@pytest.fixture(scope="session")
def ice_farm(redis_base, tmp_path_factory, media, ice_keys):
    tmp = tmp_path_factory.mktemp("farm-ice")
    entries = []
    for name, (key_id, secret) in ice_keys.items():
        actions = ":ice:Get*|ice:List*" if name == "reader" else ""
        entries.append(f"{key_id}:{secret}:{ACCOUNTS[name]}{actions}")
    env = farm_env(
        f"{redis_base}/3",
        tmp,
        MCFARM_ACCESS_KEYS=",".join(entries),
        MCFARM_ALLOW_PRIVATE_CALLBACKS="on",
        MCFARM_CALLBACK_MAX_BACKOFF="1",
    )
    _seed(env, media)
    with running_farm(env, tmp / "logs") as farm:
        yield farm


@pytest.fixture(scope="session")
def clients(ice_farm, ice_keys):
    from tests.e2e.ice import sdk_client

    return {name: sdk_client(ice_farm.api_url, *pair) for name, pair in ice_keys.items()}


@pytest.fixture(scope="session")
def assets() -> Path:
    """hls.js, dash.js and the player page, for playback in headless Chromium.

    make test installs Chromium; without it the playback checks cannot be made, which is a
    failed set-up, not a reason to pass quietly. The players are the console's vendored copies.
    """
    if chromium_binary() is None:
        pytest.fail(
            "chromium is not installed: run make test (it installs it) or apt-get install chromium"
        )
    return player_assets()
