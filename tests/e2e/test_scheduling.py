"""Scheduling with real worker processes: priorities, a worker joining a backlog, SIGTERM."""

from __future__ import annotations

import datetime
import os
import re
import signal
import time

import pytest

from cli.processes import worker_argv
from shared.jobstore import JobStore
from shared.stores import Stores
from tests.e2e.conftest import MEDIA_BUCKET, _seed, client_for, wait_job
from tests.servers.farm import _stop, farm_env, running_farm, start_process

pytestmark = pytest.mark.e2e


@pytest.fixture
def one_worker_farm(redis_base, tmp_path, media):
    env = farm_env(f"{redis_base}/4", tmp_path)
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


def _blocker(client) -> str:
    """A job that keeps the only worker busy for a few seconds."""
    body = _job("blocker", source="long.mp4", template="S00000001-200020")
    body["Config"]["Outputs"][0]["OverrideParams"] = {"Video": {"Preset": "slower"}}
    job_id = client.submit(body)["JobId"]
    deadline = time.monotonic() + 30
    while client.get(job_id)["OutputDetails"][0]["Status"] != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job_id


def _logged_at(log: str, marker: str) -> datetime.datetime:
    """When the first Celery log line holding ``marker`` (``ready.`` lines for a hostname)
    was written, from its ``[YYYY-mm-dd HH:MM:SS,mmm: LEVEL/…]`` prefix."""
    for line in log.splitlines():
        if (
            marker in line
            and line.startswith("[")
            and (marker != "joiner@" or line.rstrip().endswith("ready."))
        ):
            return datetime.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
    raise AssertionError(f"no log line with {marker!r}:\n{log[-3000:]}")


def _start_us(store: JobStore, job_id: str) -> int:
    return store.starts(job_id)[0]["us"]


def test_high_priority_outputs_start_before_waiting_low_ones(one_worker_farm):
    client = client_for(one_worker_farm)
    store = Stores.connect(one_worker_farm.env["MCFARM_REDIS_URL"]).jobs
    blocker = _blocker(client)
    low = [client.submit(_job(f"low{i}", priority=1))["JobId"] for i in range(3)]
    high = [client.submit(_job(f"high{i}", priority=10))["JobId"] for i in range(3)]
    for job_id in [blocker, *low, *high]:
        assert wait_job(client, job_id, one_worker_farm, timeout=120)["State"] == "Complete"
    assert max(_start_us(store, j) for j in high) < min(_start_us(store, j) for j in low)


def test_a_worker_joining_a_backlog_takes_work_at_once(one_worker_farm):
    client = client_for(one_worker_farm)
    stores = Stores.connect(one_worker_farm.env["MCFARM_REDIS_URL"])
    store, registry = stores.jobs, stores.workers
    blocker = _blocker(client)
    backlog = [client.submit(_job(f"b{i}"))["JobId"] for i in range(6)]
    joiner = start_process(
        "joiner", worker_argv("joiner@%h", "cpu", 1), one_worker_farm.env, one_worker_farm.log_dir
    )
    try:
        deadline = time.monotonic() + 30
        while not any(w["hostname"].startswith("joiner@") for w in registry.alive()):
            assert time.monotonic() < deadline, "the new worker never came up"
            time.sleep(0.05)
        for job_id in [blocker, *backlog]:
            assert wait_job(client, job_id, one_worker_farm, timeout=120)["State"] == "Complete"
    finally:
        _stop([joiner])
    starts = [store.starts(j)[0] for j in backlog]
    assert any(s["worker"].startswith("joiner@") for s in starts), starts
    # Its first task (a job's start, then outputs) came within 2 s of the worker being ready.
    log = (one_worker_farm.log_dir / "joiner.log").read_text()
    ready = _logged_at(log, "joiner@")
    first = _logged_at(log, "] received")
    assert (first - ready).total_seconds() < 2.0, (ready, first)


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
        _stop([after])


def test_workers_list_their_capabilities_and_tasks(one_worker_farm):
    client = client_for(one_worker_farm)
    blocker = _blocker(client)
    (worker,) = client.call("GET", "/v1/workers")["Workers"]
    assert worker["Queues"] == ["cpu"] and worker["Concurrency"] == 1
    assert {"libx264", "aac"} <= set(worker["Encoders"]) and worker["FFmpegVersion"]
    assert worker["RunningTasks"] == 1 and worker["Tasks"] == [{"JobId": blocker, "Output": 0}]
    wait_job(client, blocker, one_worker_farm, timeout=120)


def test_accounts_take_turns_within_one_priority(one_worker_farm):
    from cli.client import Client

    env = one_worker_farm.env
    key_a, secret_a = env["MCFARM_ACCESS_KEYS"].split(",")[0].split(":")[:2]
    key_b, secret_b = env["MCFARM_ACCESS_KEYS"].split(",")[1].split(":")[:2]
    a, b = (
        Client(one_worker_farm.api_url, key_a, secret_a),
        Client(one_worker_farm.api_url, key_b, secret_b),
    )
    store = Stores.connect(env["MCFARM_REDIS_URL"]).jobs
    backlog = [_blocker(a)]
    for i in range(10):  # 30 more outputs from account A
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
    time.sleep(0.5)  # A's start_jobs have run: its outputs wait in its queue
    submitted_us = time.time_ns() // 1000
    other = b.submit(_job("b-new"))["JobId"]
    assert wait_job(b, other, one_worker_farm, timeout=120)["State"] == "Complete"
    for job_id in backlog:
        assert wait_job(a, job_id, one_worker_farm, timeout=180)["State"] == "Complete"
    b_start = store.starts(other)[0]["us"]
    a_starts = [s["us"] for j in backlog for s in store.starts(j).values()]
    assert len(a_starts) == 31
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
