"""Scheduling with real worker processes: priorities, a worker joining a backlog, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from cli.processes import worker_argv
from shared.jobstore import JobStore
from shared.stores import Stores
from tests.e2e.conftest import MEDIA_BUCKET, _seed, client_for, wait_job
from tests.e2e.observe import HANG_S, wait_until
from tests.servers.farm import farm_env, running_farm, start_process, stop_processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def one_worker_farm(redis_base, tmp_path, media):
    # A task may run for as long as a test keeps the worker busy (``_occupy``).
    env = farm_env(f"{redis_base}/4", tmp_path, MCFARM_TASK_TIME_LIMIT="900")
    Stores.connect(env["MCFARM_REDIS_URL"]).jobs.redis.flushdb()
    _seed(env, media)
    with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
        yield farm


def _job(
    name: str, priority: int = 6, source: str = "silent.mp4", template: str = "S00000001-200000"
) -> dict:
    return {
        "Config": {
            "Inputs": [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/{source}"}}],
            "Outputs": [
                {
                    "Name": name,
                    "TemplateId": template,
                    "Priority": priority,
                    "OutputFile": {"Media": f"oss://results/sched/{name}.mp4"},
                }
            ],
        }
    }


def _blocker(
    client, source: str = "long.mp4", template: str = "S00000001-200020", preset: str = "slower"
) -> str:
    """A job that keeps the only worker busy for a few seconds; returned once it encodes."""
    body = _job("blocker", source=source, template=template)
    body["Config"]["Outputs"][0]["OverrideParams"] = {"Video": {"Preset": preset}}
    job_id = client.submit(body)["JobId"]
    wait_until(
        lambda: client.get(job_id)["OutputDetails"][0]["Status"] == "Running",
        f"the blocking job {job_id} is encoding",
    )
    return job_id


def _occupy(client) -> str:
    """A job that keeps the only worker busy until ``_free`` cancels it: 10 s upscaled to
    1080p with x264's placebo preset is minutes of work, so what waits behind it waits for
    the test, not for the clock."""
    return _blocker(client, source="ten.mp4", template="S00000001-200040", preset="placebo")


def _free(client, job_id: str, farm) -> None:
    """Cancel ``_occupy``'s job: its FFmpeg stops at the next progress tick."""
    client.call("POST", f"/v1/jobs/{job_id}/cancel")
    assert wait_job(client, job_id, farm)["State"] == "Cancelled"


def _start_us(store: JobStore, job_id: str) -> int:
    return store.starts(job_id)[0]["us"]


def _statuses(store: JobStore, job_id: str) -> list[str]:
    return [detail["Status"] for detail in store.get(job_id).outputs.values()]


def test_high_priority_outputs_start_before_waiting_low_ones(one_worker_farm):
    """With the only worker held busy until all six jobs are queued, the high-priority
    outputs all start before any low one (an order, whatever the machine's speed)."""
    client = client_for(one_worker_farm)
    store = Stores.connect(one_worker_farm.env["MCFARM_REDIS_URL"]).jobs
    occupier = _occupy(client)
    low = [client.submit(_job(f"low{i}", priority=1))["JobId"] for i in range(3)]
    high = [client.submit(_job(f"high{i}", priority=10))["JobId"] for i in range(3)]
    _free(client, occupier, one_worker_farm)
    for job_id in [*low, *high]:
        assert wait_job(client, job_id, one_worker_farm, timeout=120)["State"] == "Complete"
    assert max(_start_us(store, j) for j in high) < min(_start_us(store, j) for j in low)


def test_a_worker_joining_a_backlog_takes_work_at_once(one_worker_farm):
    """A worker that joins while the only other one is busy takes the whole backlog: the
    busy one is held (``_occupy``) until every backlog job completed, so each of them ran on
    the joiner, with no announcement or broadcast that it could have waited for."""
    client = client_for(one_worker_farm)
    store = Stores.connect(one_worker_farm.env["MCFARM_REDIS_URL"]).jobs
    occupier = _occupy(client)
    backlog = [client.submit(_job(f"b{i}"))["JobId"] for i in range(6)]
    joiner = start_process(
        "joiner", worker_argv("joiner@%h", "cpu", 1), one_worker_farm.env, one_worker_farm.log_dir
    )
    try:
        for job_id in backlog:
            assert wait_job(client, job_id, one_worker_farm, timeout=HANG_S)["State"] == "Complete"
        assert client.get(occupier)["State"] == "Running"  # the first worker stayed busy
        _free(client, occupier, one_worker_farm)
    finally:
        stop_processes([joiner])
    starts = [store.starts(j)[0] for j in backlog]
    assert all(s["worker"].startswith("joiner@") for s in starts), starts


def test_sigterm_lets_the_running_task_finish_and_loses_nothing(one_worker_farm):
    client = client_for(one_worker_farm)
    blocker = _blocker(client)
    queued = [client.submit(_job(f"q{i}"))["JobId"] for i in range(2)]
    worker = one_worker_farm.processes["worker"]
    os.kill(worker.pid, signal.SIGTERM)  # Celery's warm shutdown
    worker.wait(timeout=90)
    assert client.get(blocker)["State"] == "Complete"
    assert [client.get(j)["State"] for j in queued] == ["Inited", "Inited"]
    after = start_process(
        "after", worker_argv("after@%h", "cpu", 1), one_worker_farm.env, one_worker_farm.log_dir
    )
    try:
        assert [wait_job(client, j, one_worker_farm, timeout=90)["State"] for j in queued] == [
            "Complete"
        ] * 2
    finally:
        stop_processes([after])


def test_workers_list_their_capabilities_and_tasks(one_worker_farm):
    client = client_for(one_worker_farm)
    blocker = _occupy(client)  # still running when /v1/workers is read, however slow that is
    (worker,) = client.call("GET", "/v1/workers")["Workers"]
    assert worker["Queues"] == ["cpu"] and worker["Concurrency"] == 1
    assert {"libx264", "aac"} <= set(worker["Encoders"]) and worker["FFmpegVersion"]
    assert worker["RunningTasks"] == 1 and worker["Tasks"] == [{"JobId": blocker, "Output": 0}]
    _free(client, blocker, one_worker_farm)


def test_accounts_take_turns_within_one_priority(one_worker_farm):
    """Account B's one output, submitted once all 30 of account A's are Scheduled (observed
    in the job store, not assumed after a pause), is overtaken by at most 2 of them."""
    from cli.client import Client

    env = one_worker_farm.env
    key_a, secret_a = env["MCFARM_ACCESS_KEYS"].split(",")[0].split(":")[:2]
    key_b, secret_b = env["MCFARM_ACCESS_KEYS"].split(",")[1].split(":")[:2]
    a, b = (
        Client(one_worker_farm.api_url, key_a, secret_a),
        Client(one_worker_farm.api_url, key_b, secret_b),
    )
    store = Stores.connect(env["MCFARM_REDIS_URL"]).jobs
    occupier = _occupy(a)
    backlog = []
    for i in range(10):  # 30 outputs from account A
        body = _job(f"a{i}-0")
        body["Config"]["Outputs"] += [
            dict(
                body["Config"]["Outputs"][0],
                Name=f"a{i}-{n}",
                OutputFile={"Media": f"oss://results/sched/a{i}-{n}.mp4"},
            )
            for n in (1, 2)
        ]
        backlog.append(a.submit(body)["JobId"])
    _free(a, occupier, one_worker_farm)
    # A's start_jobs have run: all 30 of its outputs wait in its queue (or already ran).
    wait_until(
        lambda: all("Init" not in _statuses(store, j) for j in backlog),
        "every output of A's backlog is Scheduled",
        farm=one_worker_farm,
    )
    submitted_us = time.time_ns() // 1000
    other = b.submit(_job("b-new"))["JobId"]
    assert wait_job(b, other, one_worker_farm, timeout=120)["State"] == "Complete"
    for job_id in backlog:
        assert wait_job(a, job_id, one_worker_farm, timeout=180)["State"] == "Complete"
    b_start = store.starts(other)[0]["us"]
    a_starts = [s["us"] for j in backlog for s in store.starts(j).values()]
    assert len(a_starts) == 30
    assert any(us > b_start for us in a_starts), (
        "A's backlog was already done: the test proves nothing"
    )
    overtaken = sorted(us for us in a_starts if submitted_us < us < b_start)
    assert len(overtaken) <= 2, (len(overtaken), len([us for us in a_starts if us > b_start]))


def test_hardware_gpu_without_a_gpu_worker_runs_on_cpu(one_worker_farm):
    client = client_for(one_worker_farm)
    body = _job("wants-gpu", template="S00000001-200010")
    body["Config"]["Outputs"][0]["Features"] = {"Hardware": "gpu"}
    body["Config"]["Outputs"][0]["OverrideParams"] = {
        "Video": {"Width": 160, "Preset": "ultrafast"}
    }
    job = wait_job(client, client.submit(body)["JobId"], one_worker_farm, timeout=60)
    assert job["State"] == "Complete"
    log = (one_worker_farm.log_dir / "worker.log").read_text()
    assert re.search(r"→ cpu\.\d+ \(no live GPU worker", log), log[-3000:]
    bad = _job("bad-hardware")
    bad["Config"]["Outputs"][0]["Features"] = {"Hardware": "tpu"}
    from cli.client import ApiCallFailed

    with pytest.raises(ApiCallFailed) as err:
        client.submit(bad)
    assert err.value.code == "InvalidParameter" and "Features" in err.value.message
