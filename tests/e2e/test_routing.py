"""A requeued output is routed as it was first sent: same kind of queue, same priority.

Real worker processes, a real redis-server. The watchdog of a live worker takes back an
output whose worker died and sends it again; these tests look at where that message lands
and when it runs, against work that waits beside it.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from cli.processes import worker_argv
from shared.stores import Stores
from tests.e2e.conftest import MEDIA_BUCKET, _seed, client_for, wait_job
from tests.servers.farm import dump_logs, farm_env, running_farm, start_process, stop_processes

pytestmark = pytest.mark.e2e


def _job(
    name: str, source: str, preset: str, *, priority: int = 6, width: int = 640, **extra
) -> dict:
    output = {
        "Name": name,
        "TemplateId": "S00000001-200010",
        "Priority": priority,
        "OutputFile": {"Media": f"oss://results/routing/{name}.mp4"},
        "OverrideParams": {"Video": {"Preset": preset, "Width": width}},
    }
    inputs = [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/{source}"}}]
    return {"Config": {"Inputs": inputs, "Outputs": [output]}, **extra}


def _until(what: str, check: Callable[[], object], farm, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}\n{dump_logs(farm.log_dir)}")


def _status(client, job_id: str) -> str:
    return client.get(job_id)["OutputDetails"][0]["Status"]


@pytest.fixture
def routing_env(redis_base, tmp_path, media) -> dict[str, str]:
    env = farm_env(f"{redis_base}/9", tmp_path, MCFARM_HEARTBEAT_TIMEOUT="3")
    Stores.connect(env["MCFARM_REDIS_URL"]).jobs.redis.flushdb()
    _seed(env, media)
    return env


def test_a_requeued_output_of_an_urgent_pipeline_starts_before_waiting_work(routing_env, tmp_path):
    """Output Priority 1 on a Priority-10 pipeline runs at 5; the waiting work runs at 1.

    Two workers: one runs the urgent output, the other a low-priority one that keeps it busy
    until the test cancels it (minutes of x264 placebo), while two more low-priority outputs
    wait. The urgent output's worker dies; the busy worker's watchdog requeues it; a new
    worker then takes the urgent output before both waiting ones, as it would have had it
    never been requeued (then the test cancels it, and the waiting ones run).
    """
    env = routing_env
    stores = Stores.connect(env["MCFARM_REDIS_URL"])
    with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
        spares: list = []
        try:
            client = client_for(farm)
            pipeline = client.call(
                "POST", "/v1/pipelines", {"Name": "urgent", "Speed": "Standard", "Priority": 10}
            )["Pipeline"]["PipelineId"]
            # Placebo at 1920 wide: minutes of encode, so it still runs when its worker dies.
            urgent = client.submit(
                _job("urgent", "ten.mp4", "placebo", priority=1, width=1920, PipelineId=pipeline)
            )["JobId"]
            _until("the urgent output running", lambda: _status(client, urgent) == "Running", farm)
            # The only worker is busy, so the three start messages queue up before any output
            # of theirs; the second worker then starts all three jobs, in order, before it
            # takes the first output (low0's) and is busy: low1 and low2 wait, Scheduled.
            busy = _job("low0", "ten.mp4", "placebo", priority=1, width=1920)
            low = [client.submit(busy)["JobId"]] + [
                client.submit(_job(f"low{i}", "sample.mp4", "ultrafast", priority=1))["JobId"]
                for i in (1, 2)
            ]
            second = start_process("second", worker_argv("second@%h", "cpu", 1), env, farm.log_dir)
            spares.append(second)
            _until(
                "one low output running and two waiting",
                lambda: [_status(client, j) for j in low] == ["Running", "Scheduled", "Scheduled"],
                farm,
            )
            assert stores.jobs.starts(low[0])[0]["worker"].startswith("second@")
            victim = farm.processes["worker"]  # the urgent output's
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            _until(
                "the watchdog to requeue the urgent output",
                lambda: stores.jobs.dispatch(urgent, 0) and _status(client, urgent) == "Scheduled",
                farm,
            )
            assert [_status(client, j) for j in low] == ["Running", "Scheduled", "Scheduled"]
            spares.append(
                start_process("rescuer", worker_argv("rescuer@%h", "cpu", 1), env, farm.log_dir)
            )
            _until(
                "the rescuer running the urgent output",
                lambda: stores.jobs.starts(urgent)[0]["worker"].startswith("rescuer@"),
                farm,
            )
            # What it started first is the point, not its slow encode: the waiting work
            # runs next.
            client.call("POST", f"/v1/jobs/{urgent}/cancel")
            for job_id in low[1:]:
                assert wait_job(client, job_id, farm, timeout=180)["State"] == "Complete"
            client.call("POST", f"/v1/jobs/{low[0]}/cancel")  # the busy worker is free again
        finally:
            stop_processes(spares)
    restarted = stores.jobs.starts(urgent)[0]
    waiting = [stores.jobs.starts(j)[0]["us"] for j in low[1:]]
    assert restarted["us"] < min(waiting), (restarted, waiting)


def _lists_holding(client, task_id: str) -> list[str]:
    """The Redis lists (queues) that hold a message of ``task_id``."""
    found = []
    for name in client.scan_iter(count=1000):
        if name.startswith("_kombu") or client.type(name) != "list":
            continue
        for raw in client.lrange(name, 0, -1):
            if json.loads(raw).get("headers", {}).get("id") == task_id:
                found.append(name)
    return found


def test_a_requeued_gpu_output_goes_back_to_a_gpu_queue(routing_env, tmp_path):
    """``Features.Hardware=gpu`` with a live GPU worker: routed to ``gpu``, and requeued there.

    No GPU is needed: a GPU worker's announcement stands in for one, and the test plays the
    GPU worker that takes the message and dies; then it looks where the message lands.
    """
    env = routing_env
    stores = Stores.connect(env["MCFARM_REDIS_URL"])
    gpu_box = {"queues": ["gpu"], "concurrency": 1, "encoders": ["libx264", "aac"]}
    gpu_box["gpu"] = {"encode": False, "decode": True}
    stop = threading.Event()

    def announce() -> None:
        while not stop.is_set():
            stores.workers.beat("gpu-box@test", gpu_box)
            stop.wait(2)

    beater = threading.Thread(target=announce, daemon=True)
    beater.start()
    try:
        with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
            client = client_for(farm)
            body = _job("gpu", "sample.mp4", "ultrafast")
            body["Config"]["Outputs"][0]["Features"] = {"Hardware": "gpu"}
            job_id = client.submit(body)["JobId"]
            redis = stores.jobs.redis
            first = _until(
                "the output's message in a queue",
                lambda: [n for n in redis.scan_iter("gpu.*") if redis.type(n) == "list"],
                farm,
            )
            assert len(first) == 1, first
            # The GPU worker takes the message, starts the output, and dies.
            redis.delete(first[0])
            stores.jobs.set_output(job_id, 0, Status="Running")
            stores.heartbeats.start_beating(job_id, 0, "gpu-box@test")
            task_id = _until(
                "the watchdog to requeue the output", lambda: stores.jobs.dispatch(job_id, 0), farm
            )
            queues = _until(
                "the requeued message in a queue",
                lambda: _lists_holding(redis, task_id) or client.get(job_id)["State"] != "Running",
                farm,
            )
            assert queues is not True and all(q.startswith("gpu.") for q in queues), (
                queues,
                client.get(job_id)["State"],
            )
            assert client.get(job_id)["State"] == "Running"
    finally:
        stop.set()
        beater.join()
