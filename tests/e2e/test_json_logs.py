"""``MCFARM_LOG_FORMAT=json``: the API's and the workers' log lines are JSON objects that
name their job, output, task and account; in ``plain``, the API's access line is gunicorn's."""

from __future__ import annotations

import json
import re

import pytest

from cli.client import ApiCallFailed
from tests.e2e.conftest import MEDIA_BUCKET, _seed, client_for, wait_job
from tests.servers.farm import farm_env, running_farm

#: A plain log line: Celery's "[2026-12-06 10:00:00,000: INFO/MainProcess] …" or
#: granian's "[INFO] Starting granian …".
PLAIN = re.compile(r"^\[(\d{4}-\d\d-\d\d |[A-Z]+\] )")
#: gunicorn's access line, as the API writes it in the plain format.
ACCESS = re.compile(
    r"^127\.0\.0\.1 - - \[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] "
    r'"(GET|POST|HEAD) (/\S*) HTTP/1\.1" (\d{3}) \d+\.\d$'
)


@pytest.fixture(scope="module")
def json_farm(redis_base, tmp_path_factory, media):
    tmp = tmp_path_factory.mktemp("farm-json-logs")
    env = farm_env(f"{redis_base}/27", tmp, MCFARM_LOG_FORMAT="json")
    _seed(env, media)
    with running_farm(env, tmp / "logs") as farm:
        yield farm


def _lines(farm, name: str) -> tuple[list[dict], list[str]]:
    """The JSON lines of a process's log, and its lines in the plain log format."""
    text = (farm.log_dir / f"{name}.log").read_text(errors="replace")
    objects = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return objects, [line for line in text.splitlines() if PLAIN.match(line)]


def test_log_lines_name_their_job_output_task_and_account(json_farm):
    client = client_for(json_farm)
    account = json_farm.key_id  # a key without an account names its own
    config = {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/sample.mp4"}}],
        "Outputs": [
            {
                "Name": "o",
                "TemplateId": "S00000001-200010",
                "OutputFile": {"Type": "OSS", "Media": "oss://results/json-logs.mp4"},
            }
        ],
    }
    job_id = client.submit({"Config": config})["JobId"]
    assert wait_job(client, job_id, json_farm)["State"] == "Complete"

    worker, plain = _lines(json_farm, "worker")
    assert plain == []
    mine = [line for line in worker if line.get("job_id") == job_id]
    running = [line for line in mine if "running (delivery 1)" in line["message"]]
    assert running, mine
    assert running[0]["output"] == 0 and running[0]["account"] == account
    assert running[0]["task_id"] and running[0]["level"] == "INFO"
    assert {"time", "logger", "process"} <= running[0].keys()
    ffmpeg = [line for line in mine if line["message"].startswith("running ffmpeg")]
    assert ffmpeg and all(line["output"] == 0 and line["task_id"] for line in ffmpeg)
    assert any(line["task_id"] != running[0]["task_id"] for line in mine)  # the start task too

    api, plain = _lines(json_farm, "api")
    assert plain == []
    text = (json_farm.log_dir / "api.log").read_text(errors="replace")
    assert not [line for line in text.splitlines() if ACCESS.match(line)]
    submits = [line for line in api if line["message"].startswith("POST /v1/jobs 202")]
    assert submits and submits[0]["account"] == account and submits[0]["request_id"]
    gets = [line for line in api if line["message"].startswith(f"GET /v1/jobs/{job_id} 200")]
    assert gets and all(line["job_id"] == job_id for line in gets)


def test_the_plain_access_line_is_gunicorns(local_farm):
    client = client_for(local_farm)
    missing = "0" * 32
    with pytest.raises(ApiCallFailed) as failed:
        client.call("GET", f"/v1/jobs/{missing}")
    assert failed.value.status == 404
    client.call("GET", "/v1/jobs?PageSize=1")
    text = (local_farm.log_dir / "api.log").read_text(errors="replace")
    seen = [m.groups() for line in text.splitlines() if (m := ACCESS.match(line))]
    assert ("GET", f"/v1/jobs/{missing}", "404") in seen
    assert ("GET", "/v1/jobs", "200") in seen  # the path, without its query
