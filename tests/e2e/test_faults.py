"""Faults injected into real processes: a Redis restart, a frozen worker, a poison input.

Each test runs its own farm (real Celery workers, the API under granian, FFmpeg, Redis with
AOF) and asserts on what a user sees afterwards: every job terminal, in the state it should
be, with its outputs in storage exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
import redis

from cli.client import Client
from cli.processes import worker_argv
from shared import keys
from shared.stores import Stores
from shared.units import Unit
from tests.e2e.conftest import MEDIA_BUCKET, _seed, client_for, wait_job
from tests.e2e.observe import HANG_S, farm_stores, last_at_least, log_lines
from tests.servers.farm import (
    FarmInfo,
    dump_logs,
    farm_env,
    running_farm,
    start_process,
    stop_processes,
)
from tests.servers.receiver import Receiver
from tests.servers.redis import restartable_redis

pytestmark = pytest.mark.e2e

#: The shortest Redis outage of ``test_redis_restart_loses_no_job``.
REDIS_DOWN_S = 2


def _output(name: str, media: str, preset: str = "medium") -> dict:
    return {
        "Name": name,
        "TemplateId": "S00000001-200010",
        "OutputFile": {"Media": media},
        "OverrideParams": {"Video": {"Preset": preset}},
    }


def _job(outputs: list[dict], clip: str = "long.mp4", **extra) -> dict:
    source = {"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/{clip}"}}
    return {"Config": {"Inputs": [source], "Outputs": outputs}, **extra}


def _two_outputs(n: int) -> dict:
    return _job([_output(f"o{i}", f"oss://results/r/{n}-{i}.mp4") for i in (0, 1)], "sample.mp4")


def _wait_for(what: str, check, farm: FarmInfo, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s\n{dump_logs(farm.log_dir)}")
        time.sleep(0.1)


def _status(client: Client, job_id: str, index: int = 0) -> str:
    return client.get(job_id)["OutputDetails"][index]["Status"]


def _files(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path → sha256)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _waiting_retry(broker: redis.Redis, task: str, at_least_s: float) -> bool:
    """Whether a worker holds a ``task`` message whose countdown has ``at_least_s`` to run."""
    for raw in broker.hvals("unacked"):
        headers = json.loads(raw)[0]["headers"]
        eta = headers.get("eta") if headers["task"] == task else None
        if eta and datetime.fromisoformat(eta).timestamp() - time.time() >= at_least_s:
            return True
    return False


def _broker_losses(farm: FarmInfo) -> int:
    """How many times the worker logged that it lost its broker connection (Celery's line)."""
    return len(log_lines(farm.log_dir / "worker.log", "Connection to broker lost"))


def test_redis_restart_loses_no_job(tmp_path, media):
    """Redis goes down and comes back (SIGTERM, AOF) under a busy farm.

    At that moment one output is encoding and the other process of the worker waits for
    work, and the worker holds an event delivery waiting for its retry countdown. Each of
    these once went wrong: the worker stopped for good ("Unrecoverable error" in kombu),
    every job store write in flight failed the output, and the delivery waited hours (the
    visibility timeout) in kombu's ``unacked`` set.

    Observed, not assumed: Redis stops once the output is Running and a delivery retry has
    more than the outage left on its countdown, and comes back once the worker logged the
    lost broker connection and the late submits were on their way (and 2 s passed).
    """
    with restartable_redis(tmp_path / "redis") as server, Receiver() as rx:
        env = farm_env(
            f"{server.url}/0",
            tmp_path,
            MCFARM_HEARTBEAT_TIMEOUT="4",
            MCFARM_ALLOW_PRIVATE_CALLBACKS="on",
            MCFARM_CALLBACK_MAX_BACKOFF="30",
        )
        _seed(env, media)
        rx.status = 500
        with running_farm(env, tmp_path / "logs", concurrency=2) as farm:
            client = client_for(farm)
            broker = redis.Redis.from_url(f"{server.url}/0")
            notify = json.dumps({"NotifyAddress": rx.url})
            told = client.submit(
                _job([_output("o", "oss://results/r/told.mp4")], "sample.mp4", UserData=notify)
            )["JobId"]
            _wait_for(
                "no delivery retry waiting for its countdown",
                lambda: _waiting_retry(broker, "workers.deliver_event", 5),
                farm,
                60,
            )
            slow = _output("o", "oss://results/r/run.mp4", "slower")
            running = client.submit(_job([slow], "ten.mp4"))["JobId"]
            _wait_for(
                "the output encoding while a delivery retry waits for its countdown",
                lambda: (
                    _status(client, running) == "Running"
                    and _waiting_retry(broker, "workers.deliver_event", REDIS_DOWN_S + 1)
                ),
                farm,
                60,
            )
            late: dict[str, object] = {}
            sending = threading.Event()

            def submit_while_down() -> None:
                sending.set()
                late["ids"] = [client.submit(_two_outputs(n))["JobId"] for n in range(3)]
                late["running"] = client.get(running)["State"]

            worker_log, lost = farm.log_dir / "worker.log", _broker_losses(farm)
            stopped = time.monotonic()
            server.stop()
            thread = threading.Thread(target=submit_while_down)
            thread.start()
            # Down until the worker saw it and the late submits were on their way, and for
            # at least REDIS_DOWN_S: on a loaded machine that takes longer, never less.
            _wait_for(
                "the worker noticing the outage while the late submits are sent",
                lambda: sending.is_set() and _broker_losses(farm) > lost,
                farm,
                HANG_S,
            )
            last_at_least(REDIS_DOWN_S, stopped)
            server.start()
            thread.join(60)
            assert late.get("running") in ("Running", "Complete"), late
            rx.clear()
            rx.status = 200
            job_ids = [told, running, *late["ids"]]
            for job_id in job_ids:
                job = wait_job(client, job_id, farm, timeout=90)
                assert job["State"] == "Complete", (job, dump_logs(farm.log_dir))
                assert {d["Status"] for d in job["OutputDetails"]} == {"Success"}
            assert farm.processes["worker"].poll() is None, "the worker stopped"
            # Redis writes waited for the restart instead of failing the encode in flight.
            assert "crashed" not in worker_log.read_text()
            assert client.job_ids(page_size=50) == set(job_ids)
            names = sorted(_files(Path(env["MCFARM_STORAGE_ROOT"]) / "results" / "r"))
            expected = [f"{n}-{i}.mp4" for n in range(3) for i in (0, 1)]
            assert names == sorted([*expected, "run.mp4", "told.mp4"])
            _wait_for(
                "the event whose retry was waiting at the restart never came",
                lambda: any(
                    r.json()["EventType"] == "MediaConvertComplete"
                    and r.json()["MessageBody"]["JobId"] == told
                    for r in list(rx.received)
                ),
                farm,
                60,
            )
            _wait_for("messages stay unacknowledged", lambda: not broker.hlen("unacked"), farm, 30)
            broker.close()


@pytest.fixture
def frozen_farm(redis_base, tmp_path, media):
    env = farm_env(f"{redis_base}/6", tmp_path, MCFARM_HEARTBEAT_TIMEOUT="4")
    _seed(env, media)
    with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
        yield farm


def test_frozen_worker_loses_its_output_and_cannot_overwrite_it(frozen_farm):
    farm, client = frozen_farm, client_for(frozen_farm)
    config = _job([_output("slow", "oss://results/frozen.mp4", "slower")])
    job_id = client.submit(config)["JobId"]
    beats = farm_stores(farm.env["MCFARM_REDIS_URL"]).heartbeats
    # Under its heartbeat: a moment before it, the output is the lost-message recovery's.
    _wait_for(
        "the output never started",
        lambda: _status(client, job_id) == "Running" and beats.has_beat(job_id, 0),
        farm,
        60,
    )
    # The worker stops dead, FFmpeg with it: every process of its group.
    worker = farm.processes["worker"]
    os.killpg(worker.pid, signal.SIGSTOP)
    rescuer = start_process("rescuer", worker_argv("rescuer@%h", "cpu", 1), farm.env, farm.log_dir)
    try:
        job = wait_job(client, job_id, farm, timeout=90)
        assert job["State"] == "Complete", job
        results = Path(farm.env["MCFARM_STORAGE_ROOT"]) / "results"
        stored = _files(results)
        assert list(stored) == ["frozen.mp4"]
        assert "stopped beating; requeued" in (farm.log_dir / "rescuer.log").read_text()
        # The frozen worker wakes up and finishes its own, late run of the output.
        os.killpg(worker.pid, signal.SIGCONT)
        _wait_for(
            "the woken worker never ended its run",
            lambda: re.search(
                r"workers\.transcode_output\[.*\] succeeded",
                (farm.log_dir / "worker.log").read_text(),
            ),
            farm,
            60,
        )
        assert client.get(job_id) == job
        assert _files(results) == stored
        assert "another run owns it now" in (farm.log_dir / "worker.log").read_text()
    finally:
        os.killpg(worker.pid, signal.SIGCONT)
        stop_processes([rescuer])


def test_output_that_kills_every_worker_ends_worker_lost(redis_base, tmp_path, media):
    env = farm_env(
        f"{redis_base}/7", tmp_path, MCFARM_HEARTBEAT_TIMEOUT="3", MCFARM_MAX_DELIVERIES="2"
    )
    _seed(env, media)
    with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
        client = client_for(farm)
        store = Stores.connect(env["MCFARM_REDIS_URL"]).jobs
        job_id = client.submit(_job([_output("poison", "oss://results/poison.mp4", "slower")]))
        job_id = job_id["JobId"]
        worker, spares, kills, killed_run = farm.processes["worker"], [], 0, None
        deadline = time.monotonic() + 120
        try:
            while client.get(job_id)["State"] not in ("Complete", "Error", "Cancelled"):
                assert time.monotonic() < deadline, f"job not over\n{dump_logs(farm.log_dir)}"
                run = store.starts(job_id).get(0)
                if run and run != killed_run and _status(client, job_id) == "Running":
                    killed_run = run
                    # The input kills whatever worker runs it (OOM, segfault): all of it.
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
                    kills += 1
                    assert kills <= 2, f"delivered a third time\n{dump_logs(farm.log_dir)}"
                    worker = start_process(
                        f"worker{kills}", worker_argv(f"w{kills}@%h", "cpu", 1), env, farm.log_dir
                    )
                    spares.append(worker)
                time.sleep(0.1)
        finally:
            stop_processes(spares)
            store.redis.close()
        job = client.get(job_id)
        assert (job["State"], job["Code"]) == ("Error", "WorkerLost"), job
        detail = job["OutputDetails"][0]
        assert (detail["Status"], detail["Code"]) == ("Failed", "WorkerLost")
        assert kills == 2
        assert not (Path(env["MCFARM_STORAGE_ROOT"]) / "results" / "poison.mp4").exists()


@contextmanager
def _hanging_up(port: int) -> Iterator[list[str]]:
    """A listener on ``port`` that closes every connection at once; yields one entry per
    connection it got, so a test counts how many times a client tried."""
    listener = socket.create_server(("127.0.0.1", port))
    tries: list[str] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed: the block ended
                return
            tries.append("connect")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield tries
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept(): close() alone does not
        listener.close()
        thread.join(5)


def test_the_job_store_waits_out_a_redis_restart(tmp_path):
    """Health checks answer at once: one connection, no retry (counted where Redis was),
    however long that takes; the store's reads wait out the restart instead."""
    with restartable_redis(tmp_path / "redis") as server:
        store = Stores.connect(f"{server.url}/0", retry_window_s=15).jobs
        store.set_output("a" * 32, 0, Status="Running")
        server.stop()
        with _hanging_up(server.port) as tries, pytest.raises(redis.ConnectionError):
            store.ping()
        assert tries == ["connect"]
        back = threading.Timer(1.5, server.start)
        back.start()
        try:
            # Blocks while Redis is down, then reads what the AOF kept.
            detail = store.redis.hget(keys.job("a" * 32), "out:0")
            assert json.loads(detail)["Status"] == "Running"
        finally:
            back.join()
            store.redis.close()


def test_a_finished_output_is_final_and_a_superseded_run_stops_counting(redis_base):
    stores = Stores.connect(f"{redis_base}/8")
    store, beats = stores.jobs, stores.heartbeats
    store.redis.flushdb()
    job = "b" * 32
    store.set_output(job, 0, Status="Running")
    first = store.set_output(job, 0, Status="Success", Result={"run": 1})
    # A late run (frozen, requeued elsewhere, woken up) gets the stored result back.
    assert store.set_output(job, 0, Status="Success", Result={"run": 2}) == first
    assert store.set_output(job, 0, Status="Scheduled")["Status"] == "Success"
    assert store.transition_output(job, 1, {"Running"}, Status="Scheduled") == ({}, False)
    # So is a packaged group's state: a late packaging run cannot rewrite it.
    assert store.set_group(job, 0, Status="Running") == {"Status": "Running"}
    packaged = store.set_group(job, 0, Status="Success", Result={"run": 1})
    assert store.set_group(job, 0, Status="Failed", Code="Late") == packaged
    # The watchdog takes a running output back once, through its outbox.
    store.set_output(job, 2, Status="Running")
    assert beats.take_back(job, 2) and not beats.take_back(job, 2)
    assert beats.taken_back() == [Unit(job, 2)] and beats.is_taken_back(job, 2)
    beats.sent_back(job, 2)
    assert beats.taken_back() == [] and not beats.is_taken_back(job, 2)

    old = beats.start_beating(job, 0, "frozen@host")
    beats.unbeat(job, 0)  # the watchdog gives the output up
    new = beats.start_beating(job, 0, "rescuer@host")
    assert not beats.beat(job, 0, "frozen@host", run=old)
    beats.unbeat(job, 0, run=old)  # the woken run ends: the successor's heartbeat stays
    assert beats.has_beat(job, 0) and beats.owner(job, 0) == new
    assert beats.running_on() == {"rescuer@host": [Unit(job, 0)]}
    assert beats.beat(job, 0, "rescuer@host", run=new)
    beats.unbeat(job, 0, run=new)
    assert not beats.has_beat(job, 0)
    store.redis.close()
