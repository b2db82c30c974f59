"""An idle farm starts a new account's first output at once: no queue to announce, no stall.

Every worker consumes every fair-share slot from its start (``shared.fair_share``), so the
first job of an account nobody has seen waits for nothing. Two idle workers, twenty fresh
accounts, one job each, one after another: the time from each submit to its output's start
(as the worker records it) is printed, and must stay under a second every time.
"""

from __future__ import annotations

import secrets
import statistics
import time

import pytest

from cli.client import Client
from cli.processes import worker_argv
from shared.stores import Stores
from tests.e2e.conftest import MEDIA_BUCKET, _seed, wait_job
from tests.servers.farm import dump_logs, farm_env, running_farm, start_process, stop_processes

pytestmark = pytest.mark.e2e

ACCOUNTS = 20
LIMIT_MS = 1000


def _job(n: int) -> dict:
    output = {
        "Name": "first",
        "TemplateId": "S00000001-200010",
        "OutputFile": {"Media": f"oss://results/latency/{n}.mp4"},
        "OverrideParams": {"Video": {"Width": 160, "Preset": "ultrafast"}},
    }
    source = {"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/silent.mp4"}}
    return {"Config": {"Inputs": [source], "Outputs": [output]}}


def test_a_new_accounts_first_output_starts_at_once(redis_base, tmp_path, media, capsys):
    keys = [(f"lat{n}{secrets.token_hex(3)}", secrets.token_urlsafe(12)) for n in range(ACCOUNTS)]
    env = farm_env(
        f"{redis_base}/10",
        tmp_path,
        MCFARM_ACCESS_KEYS=",".join(f"{k}:{s}:account-{k}" for k, s in keys),
    )
    stores = Stores.connect(env["MCFARM_REDIS_URL"])
    stores.jobs.redis.flushdb()
    _seed(env, media)
    with running_farm(env, tmp_path / "logs", concurrency=1) as farm:
        second = start_process("second", worker_argv("second@%h", "cpu", 1), env, farm.log_dir)
        try:
            deadline = time.monotonic() + 60
            while len(stores.workers.alive()) < 2:
                assert time.monotonic() < deadline, dump_logs(farm.log_dir)
                time.sleep(0.05)
            waits_ms = []
            for n, (key_id, secret) in enumerate(keys):
                client = Client(farm.api_url, key_id, secret)
                submitted_us = time.time_ns() // 1000
                job_id = client.submit(_job(n))["JobId"]
                assert wait_job(client, job_id, farm, timeout=60)["State"] == "Complete"
                waits_ms.append((stores.jobs.starts(job_id)[0]["us"] - submitted_us) / 1000)
        finally:
            stop_processes([second])
    with capsys.disabled():
        print(
            f"\nsubmit → first output running, {ACCOUNTS} new accounts: "
            f"max {max(waits_ms):.0f} ms, median {statistics.median(waits_ms):.0f} ms"
        )
    assert max(waits_ms) < LIMIT_MS, waits_ms
