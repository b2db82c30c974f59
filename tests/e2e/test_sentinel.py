"""A broker that survives a lost node: MCFARM_REDIS_URL names a Redis Sentinel set (a
master, a replica, three sentinels, all real redis-server processes). The master is
SIGKILLed while a job encodes and others wait; the sentinels promote the replica, and every
job completes, none lost, no output encoded twice."""

from __future__ import annotations

import re
import signal
from collections import Counter

import pytest

from tests.e2e.conftest import _seed, client_for, one_output_config, wait_job
from tests.e2e.observe import wait_until
from tests.servers.farm import farm_env, running_farm
from tests.servers.sentinel import sentinel_set


@pytest.fixture
def sentinel_farm(tmp_path, media):
    with sentinel_set(tmp_path / "redis") as redis_set:
        env = farm_env(redis_set.url, tmp_path, MCFARM_HEARTBEAT_TIMEOUT="6")
        _seed(env, media)
        with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
            yield farm, redis_set


def _config(name: str, source: str = "sample.mp4", **video: object) -> dict:
    return one_output_config(source, f"sentinel/{name}.mp4", **video)


def test_jobs_survive_the_loss_of_the_redis_master(sentinel_farm):
    farm, redis_set = sentinel_farm
    client = client_for(farm)
    first = client.submit({"Config": _config("long", "ten.mp4", Preset="slower")})["JobId"]
    wait_until(lambda: client.get(first)["Percent"] > 0, "the first job encoding", timeout=60)
    waiting = [client.submit({"Config": _config(f"w{n}")})["JobId"] for n in range(4)]
    old_master = redis_set.master_port()
    redis_set.master.proc.send_signal(signal.SIGKILL)  # the node is gone, no goodbye
    redis_set.master.proc.wait()
    redis_set.master.proc = None
    wait_until(lambda: redis_set.master_port() != old_master, "a new master", timeout=30)
    more = [client.submit({"Config": _config(f"after{n}")})["JobId"] for n in range(2)]

    jobs = [wait_job(client, job_id, farm, timeout=240) for job_id in [first, *waiting, *more]]
    assert [job["State"] for job in jobs] == ["Complete"] * 7, jobs
    # Every output encoded once: one "running" line per output over the worker's log.
    runs = Counter(
        re.findall(
            r"(\w{32}):0 running \(delivery \d+\)", (farm.log_dir / "worker.log").read_text()
        )
    )
    assert runs == Counter({job["JobId"]: 1 for job in jobs}), runs
