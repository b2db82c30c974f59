"""Every source frame once, at its own time, whole or in chunks (Boost).

The source is what broadcast recordings look like: a 2-minute MPEG-TS, 29.97 fps H.264 with
open GOPs and B-frames, whose audio starts before its video. FFmpeg's default frame-rate
mode for MP4 duplicated the first frame to fill the gap before the video (one frame too
many, every later picture a slot late); the farm keeps sync by timestamps instead. A Boost
encode splits the same source into chunks on two worker processes and joins them: the
output must be the one a whole encode gives, frame for frame.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from shared.config import Settings
from shared.storage import StorageRef, make_storage
from shared.stores import Stores
from tests.e2e.conftest import MEDIA_BUCKET, client_for, wait_job
from tests.e2e.exactness import (
    audio_samples,
    frame_psnr,
    odd_source,
    open_gop_ts,
    psnr_cliffs,
    quiet_spots,
    shown_frame_times,
    stream_facts,
)
from tests.e2e.observe import encoded_again, wait_until
from tests.servers.farm import farm_env, two_worker_farm
from workers.boost_plan import SCRATCH

pytestmark = pytest.mark.e2e

SOURCE = "open-gop-2min.ts"
SIZE = "160x90"
FRAME = 1001 / 30000
AAC_FRAME = 1024 / 44100
CHUNK_SECONDS = 20


@pytest.fixture(scope="module")
def open_gop_source(tmp_path_factory) -> Path:
    """The 2-minute source, generated once for the module."""
    path = tmp_path_factory.mktemp("open-gop") / SOURCE
    open_gop_ts(path, seconds=120)
    return path


def _store_source(env: dict[str, str], path: Path, key: str = SOURCE) -> None:
    storage = make_storage(Settings.from_env(env))
    storage.ensure_bucket(MEDIA_BUCKET)
    storage.upload(path, StorageRef(kind="object", bucket=MEDIA_BUCKET, key=key))


@pytest.fixture(scope="module")
def boost_farm(redis_base, tmp_path_factory, open_gop_source):
    """A farm of two single-process workers (two "nodes") cutting 20 s chunks."""
    tmp = tmp_path_factory.mktemp("farm-boost")
    env = farm_env(f"{redis_base}/11", tmp, MCFARM_BOOST_CHUNK_SECONDS=str(CHUNK_SECONDS))
    Stores.connect(env["MCFARM_REDIS_URL"]).jobs.redis.flushdb()
    _store_source(env, open_gop_source)
    with two_worker_farm(env, tmp / "logs") as farm:
        yield farm


def _config(output: str, source: str = SOURCE) -> dict:
    return {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/{source}"}}],
        "Outputs": [
            {
                "Name": "exact",
                "TemplateId": "S00000001-200010",
                "OutputFile": {"Type": "OSS", "Media": f"oss://results/exact/{output}"},
                "OverrideParams": {"Video": {"Width": 160, "Preset": "ultrafast"}},
            }
        ],
    }


def _assert_exact(output: Path, source: Path, work: Path) -> None:
    """``output`` has the source's frames, each in its place, and its audio, in sync."""
    src, out = stream_facts(source), stream_facts(output)
    assert out["frames"] == src["frames"], (src, out)
    assert abs(out["duration"] - src["duration"]) <= FRAME, (src, out)
    psnr = frame_psnr(output, source, SIZE, work)
    assert len(psnr) == src["frames"]
    assert psnr_cliffs(psnr) == []
    # A slip that lasts (every later frame one slot late) is no cliff: the whole run is low
    # (about 23 dB here against 43 for the frames in their places).
    assert statistics.median(psnr) > 35 and min(psnr) > statistics.median(psnr) - 6, (
        min(psnr),
        statistics.median(psnr),
    )
    audio_in, audio_out = stream_facts(source, "a:0"), stream_facts(output, "a:0")
    # The video still starts after the audio, by about as much as in the source.
    lead_in, lead_out = src["start"] - audio_in["start"], out["start"] - audio_out["start"]
    assert abs(lead_out - lead_in) < 2 * FRAME, (lead_in, lead_out)
    heard_in, heard_out = audio_samples(source), audio_samples(output)
    assert abs(len(heard_out) - len(heard_in)) / 8000 <= AAC_FRAME, (len(heard_in), len(heard_out))


def test_a_standard_encode_keeps_every_frame_and_only_those(
    client, local_farm, open_gop_source, tmp_path
):
    _store_source(local_farm.env, open_gop_source)
    job = wait_job(client, client.submit({"Config": _config("standard.mp4")})["JobId"], local_farm)
    assert job["State"] == "Complete", job
    output = Path(local_farm.env["MCFARM_STORAGE_ROOT"]) / "results/exact/standard.mp4"
    _assert_exact(output, open_gop_source, tmp_path)


def test_a_boost_encode_in_chunks_on_two_workers_is_the_same_film(
    boost_farm, open_gop_source, tmp_path
):
    client = client_for(boost_farm)
    pipeline = client.call("POST", "/v1/pipelines", {"Name": "fast", "Speed": "Boost"})
    body = {"Config": _config("boost.mp4"), "PipelineId": pipeline["Pipeline"]["PipelineId"]}
    job_id = client.submit(body)["JobId"]
    root = Path(boost_farm.env["MCFARM_STORAGE_ROOT"])
    scratch = root / "results" / SCRATCH / job_id
    wait_until(lambda: list(scratch.rglob("c*.nut")), "a chunk waiting in the scratch folder")
    job = wait_job(client, job_id, boost_farm, timeout=300)
    assert job["State"] == "Complete", job
    detail = job["OutputDetails"][0]
    assert detail["Boost"] == {"Split": True, "Chunks": 6, "ChunkSeconds": CHUNK_SECONDS}
    chunks = detail["Chunks"]
    assert [c["Status"] for c in chunks] == ["Success"] * 6
    assert {c["Worker"].split("@")[0] for c in chunks} == {"second", boost_farm_worker(boost_farm)}
    # Each chunk read its own piece of the input: its 20 s and a few GOPs around them.
    size = open_gop_source.stat().st_size
    assert all(0 < c["InputBytes"] < size / 3 for c in chunks), (size, chunks)
    output = root / "results/exact/boost.mp4"
    _assert_exact(output, open_gop_source, tmp_path)
    joins = [sum(c["Frames"] for c in chunks[:n]) * FRAME for n in range(1, 6)]
    start = stream_facts(output)["start"]
    assert quiet_spots(audio_samples(output), 8000, [start + t for t in joins]) == []
    assert not [p for p in scratch.rglob("*") if p.is_file()]  # the scratch removed
    # Each chunk came out exact on its first encode (here every chunk starts on a keyframe,
    # whose picture an exact seek once dropped: found by the count, encoded twice).
    assert encoded_again(boost_farm.log_dir, job_id) == []


def boost_farm_worker(farm) -> str:
    """The node name of the farm's own worker (``running_farm`` names it)."""
    return f"test-{farm.log_dir.parent.name}"


@pytest.mark.parametrize(
    ("kind", "name"),
    [("vfr", "vfr.mp4"), ("interlaced", "interlaced.ts"), ("edit-list", "edit-list.mp4")],
)
def test_awkward_sources_come_out_of_chunks_frame_for_frame(boost_farm, tmp_path, kind, name):
    """Variable frame rate, interlaced, and an edit list that hides the first frames: the
    Boost output shows every shown source frame once, each at its source time."""
    source = tmp_path / name
    odd_source(kind, source)
    _store_source(boost_farm.env, source, name)
    client = client_for(boost_farm)
    pipeline = client.call("POST", "/v1/pipelines", {"Name": kind, "Speed": "Boost"})
    body = {
        "Config": _config(f"{kind}.mp4", name),
        "PipelineId": pipeline["Pipeline"]["PipelineId"],
    }
    job = wait_job(client, client.submit(body)["JobId"], boost_farm, timeout=300)
    assert job["State"] == "Complete", job
    assert job["OutputDetails"][0]["Boost"]["Split"] is True, job["OutputDetails"][0]
    output = Path(boost_farm.env["MCFARM_STORAGE_ROOT"]) / f"results/exact/{kind}.mp4"
    wanted, got = shown_frame_times(source), shown_frame_times(output)
    assert len(got) == len(wanted), (len(wanted), len(got))
    assert max(abs(a - b) for a, b in zip(wanted, got, strict=True)) < 0.002
    assert encoded_again(boost_farm.log_dir, job["JobId"]) == []
