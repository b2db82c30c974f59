"""Prometheus metrics on a real farm: the API's ``/metrics`` and a worker node's port.

Jobs run (two good, one failing on a bad input, one slow enough to be seen running), then
both scrapes must pass ``promtool check metrics`` and hold the counts those jobs made. A
farm with no worker shows what waits in the broker: every priority list of every account's
queue slot counts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli.client import Client
from cli.processes import api_argv, worker_argv
from tests.e2e.conftest import _seed, client_for, one_output_config, wait_job
from tests.e2e.observe import wait_until
from tests.servers.farm import _wait_http, farm_env, running_farm, start_process, stop_processes
from tests.servers.ports import free_port

TOKEN = "scrape-" + "x" * 24


def _config(source: str, name: str, **video: object) -> dict:
    return one_output_config(source, f"metrics/{name}.mp4", **video)


def scrape(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition: ``(name, labels) → value``."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(found: dict, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in found.items() if n == name and wanted <= have)


def promtool_check(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not installed (make test-deps installs Debian's prometheus)"
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def metered_farm(redis_base, tmp_path_factory, media):
    tmp = tmp_path_factory.mktemp("farm-metrics")
    port = free_port()
    env = farm_env(
        f"{redis_base}/30",
        tmp,
        MCFARM_METRICS_TOKEN=TOKEN,
        MCFARM_WORKER_METRICS_PORT=str(port),
    )
    _seed(env, media)
    with running_farm(env, tmp / "logs") as farm:
        farm.env["worker_metrics"] = f"http://127.0.0.1:{port}/metrics"
        yield farm


def test_metrics_need_the_token_and_are_off_without_one(metered_farm, local_farm):
    api = f"{metered_farm.api_url}/metrics"
    assert scrape(api, token=None)[0] == 403
    status, body = scrape(api, token="wrong")
    assert status == 403 and json.loads(body)["Code"] == "Forbidden.Metrics"
    assert scrape(metered_farm.env["worker_metrics"], token="wrong")[0] == 403
    # A farm with no MCFARM_METRICS_TOKEN serves none.
    status, body = scrape(f"{local_farm.api_url}/metrics")
    assert status == 404 and "MCFARM_METRICS_TOKEN" in json.loads(body)["Message"]


def test_jobs_show_in_the_counters_histograms_and_gauges(metered_farm):
    client = client_for(metered_farm)
    slow = client.submit({"Config": _config("ten.mp4", "slow", Preset="veryslow")})["JobId"]

    def reserved() -> dict | None:
        found = samples(scrape(f"{metered_farm.api_url}/metrics")[1])
        return found if total(found, "mcfarm_queue_reserved_tasks", kind="cpu") >= 1 else None

    running = wait_until(reserved, "the slow job's message held by the worker")
    assert total(running, "mcfarm_workers_alive", queue="cpu") == 1
    assert total(running, "mcfarm_workers_alive", queue="gpu") == 0
    jobs = [slow]
    jobs += [client.submit({"Config": _config("sample.mp4", f"ok{n}")})["JobId"] for n in (1, 2)]
    jobs.append(client.submit({"Config": _config("notmedia.txt", "bad")})["JobId"])
    ended = [wait_job(client, job_id, metered_farm, timeout=180) for job_id in jobs]
    assert [job["State"] for job in ended] == ["Complete", "Complete", "Complete", "Error"]

    status, api_text = scrape(f"{metered_farm.api_url}/metrics")
    assert status == 200
    promtool_check(api_text)
    api = samples(api_text)
    assert total(api, "mcfarm_jobs_submitted_total") == 4
    assert total(api, "mcfarm_api_requests_total", route="/v1/jobs", method="POST") == 4
    assert total(api, "mcfarm_api_request_duration_seconds_count", route="/v1/jobs") == 4
    gets = total(api, "mcfarm_api_requests_total", route="/v1/jobs/<job_id>", status="200")
    assert gets >= 4  # the waits polled each job
    assert total(api, "mcfarm_queue_waiting_tasks") == 0
    assert total(api, "mcfarm_queue_reserved_tasks") == 0
    assert total(api, "mcfarm_callbacks_dead_letters") == 0

    status, worker_text = scrape(metered_farm.env["worker_metrics"])
    assert status == 200
    promtool_check(worker_text)
    worker = samples(worker_text)
    assert total(worker, "mcfarm_jobs_completed_total") == 3
    failed = total(worker, "mcfarm_jobs_failed_total", code=ended[3]["Code"])
    assert failed == 1 and ended[3]["Code"] == "InvalidParameter.ResourceContentBad"
    # The bad input failed at its probe: no output of it ran, so 3 waits and 3 runs.
    assert total(worker, "mcfarm_job_standby_seconds_count") == 3
    assert total(worker, "mcfarm_job_transcode_seconds_count") == 3
    assert total(worker, "mcfarm_job_standby_seconds_bucket", le="+Inf") == 3
    # 10 + 2 + 2 s of 640x360 output (the template keeps the height): SD.
    assert total(worker, "mcfarm_output_media_seconds_total", tier="SD") == pytest.approx(
        14, abs=0.3
    )
    assert total(worker, "mcfarm_output_media_seconds_total", tier="HD") == 0
    speed = total(worker, "mcfarm_ffmpeg_speed_ratio_count", codec="libx264", hardware="cpu")
    assert speed == 3
    slow_speed = total(worker, "mcfarm_ffmpeg_speed_ratio_bucket", codec="libx264", le="4.0")
    assert slow_speed >= 1  # veryslow on 2 cores: well under 4× realtime


def test_waiting_work_counts_every_priority_list_and_account_slot(redis_base, tmp_path, media):
    """No worker: every job's start message waits. Two accounts (two fair-share slots), and
    an urgent pipeline (another priority list): all of them count."""
    env = farm_env(f"{redis_base}/31", tmp_path, MCFARM_METRICS_TOKEN=TOKEN)
    _seed(env, media)
    api = start_process("api", api_argv(env["MCFARM_API_BIND"]), env, tmp_path / "logs")
    try:
        base = f"http://{env['MCFARM_API_BIND']}"
        _wait_http(f"{base}/healthz", api, tmp_path / "logs" / "api.log")
        first, second = (key.split(":") for key in env["MCFARM_ACCESS_KEYS"].split(","))
        mine, theirs = Client(base, *first[:2]), Client(base, *second[:2])
        urgent = mine.call(
            "POST", "/v1/pipelines", {"Name": "urgent", "Priority": 1, "Speed": "Standard"}
        )
        mine.submit({"Config": _config("sample.mp4", "a")})
        mine.submit(
            {
                "Config": _config("sample.mp4", "b"),
                "PipelineId": urgent["Pipeline"]["PipelineId"],
            }
        )
        theirs.submit({"Config": _config("sample.mp4", "c")})
        found = samples(scrape(f"{base}/metrics")[1])
        assert total(found, "mcfarm_queue_waiting_tasks", kind="cpu") == 3
        assert total(found, "mcfarm_queue_waiting_tasks", kind="gpu") == 0
        assert total(found, "mcfarm_workers_alive") == 0
        # The three messages sit in three different lists: two slots, two priorities.
        lists = _nonempty_lists(env["MCFARM_REDIS_URL"])
        assert len(lists) == 3 and len({name.split(":")[0] for name in lists}) == 2, lists
        worker = start_process("worker", worker_argv("late@%h", "cpu", 1), env, tmp_path / "logs")
        try:
            wait_until(
                lambda: (
                    total(samples(scrape(f"{base}/metrics")[1]), "mcfarm_queue_waiting_tasks") < 3
                ),
                "the late worker taking work",
            )
        finally:
            stop_processes([worker])
    finally:
        stop_processes([api])


def _nonempty_lists(redis_url: str) -> list[str]:
    """The broker's queue lists holding messages (read straight from Redis, to compare)."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    names = [k for k in client.scan_iter("cpu*") if client.type(k) == "list"]
    return sorted(name for name in names if client.llen(name))
