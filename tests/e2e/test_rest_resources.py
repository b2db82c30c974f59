"""REST resources (pipelines, templates, cancel, event callback) and their CLI, on a real farm."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from cli.client import ApiCallFailed, Client
from tests.e2e.conftest import ACCOUNTS, MEDIA_BUCKET
from tests.e2e.observe import held_jobs

pytestmark = pytest.mark.e2e


@pytest.fixture
def rest(ice_farm, ice_keys) -> dict[str, Client]:
    return {name: Client(ice_farm.api_url, *pair) for name, pair in ice_keys.items()}


def _job(name: str, pipeline_id: str = "") -> dict:
    body = {
        "Config": {
            "Inputs": [{"InputFile": {"Media": f"oss://{MEDIA_BUCKET}/silent.mp4"}}],
            "Outputs": [
                {
                    "TemplateId": "S00000001-200000",
                    "OutputFile": {"Media": f"oss://results/rest-{name}.mp4"},
                }
            ],
        }
    }
    if pipeline_id:
        body["PipelineId"] = pipeline_id
    return body


def _wait(client: Client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (job := client.get(job_id))["State"] not in ("Complete", "Error", "Cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def test_pipeline_resource_pause_and_resume(rest, ice_farm):
    """A job on a paused pipeline is held (in its held set, Inited) while a job submitted
    after it on the default pipeline runs to its end; resumed, it completes."""
    api = rest["main"]
    created = api.call(
        "POST", "/v1/pipelines", {"Name": "rest-line", "Speed": "Standard", "Priority": 7}
    )
    pid = created["Pipeline"]["PipelineId"]
    assert (
        api.call("PATCH", f"/v1/pipelines/{pid}", {"Status": "Paused"})["Pipeline"]["Status"]
        == "Paused"
    )
    job = api.submit(_job("held", pid))
    assert held_jobs(ice_farm, ACCOUNTS["main"], pid) == [job["JobId"]]
    assert _wait(api, api.submit(_job("not-held"))["JobId"])["State"] == "Complete"
    assert api.get(job["JobId"])["State"] == "Inited"
    assert held_jobs(ice_farm, ACCOUNTS["main"], pid) == [job["JobId"]]
    assert pid in [p["PipelineId"] for p in api.call("GET", "/v1/pipelines")["PipelineList"]]
    api.call("PATCH", f"/v1/pipelines/{pid}", {"Status": "Active"})
    assert _wait(api, job["JobId"])["State"] == "Complete"
    assert api.call("DELETE", f"/v1/pipelines/{pid}")["Success"] is True
    with pytest.raises(ApiCallFailed) as err:
        api.call("GET", f"/v1/pipelines/{pid}")
    assert (err.value.status, err.value.code) == (404, "ResourceNotFound")


def test_template_resource_and_ram_on_rest(rest):
    api = rest["main"]
    config = {"Container": {"Format": "mp4"}, "Video": {"Codec": "H.264", "Width": 192}}
    tpl = api.call("POST", "/v1/templates", {"Name": "rest-tpl", "TemplateConfig": config})[
        "CustomTemplate"
    ]
    assert json.loads(tpl["TemplateConfig"])["Video"]["Width"] == 192
    assert (
        api.call("PATCH", f"/v1/templates/{tpl['TemplateId']}", {"Name": "renamed"})[
            "CustomTemplate"
        ]["TemplateName"]
        == "renamed"
    )
    assert rest["reader"].call("GET", f"/v1/templates/{tpl['TemplateId']}")["CustomTemplate"][
        "TemplateId"
    ]
    with pytest.raises(ApiCallFailed) as err:
        rest["reader"].call("DELETE", f"/v1/templates/{tpl['TemplateId']}")
    assert (err.value.status, err.value.code) == (403, "Forbidden.RAM")
    with pytest.raises(ApiCallFailed) as err:
        rest["other"].call("GET", f"/v1/templates/{tpl['TemplateId']}")
    assert err.value.status == 404
    assert (
        api.call("GET", "/v1/system-templates/S00000001-200030")["SystemTemplate"]["TemplateName"]
        == "MP4-HD"
    )
    assert api.call("DELETE", f"/v1/templates/{tpl['TemplateId']}")["Success"] is True


def test_cli_pipelines_templates_and_cancel(ice_farm, ice_keys, tmp_path):
    key_id, secret = ice_keys["main"]
    env = dict(ice_farm.env, MCFARM_ACCESS_KEYS=f"{key_id}:{secret}")

    def mcfarm(*argv: str) -> dict:
        proc = subprocess.run(
            [sys.executable, "-m", "cli.main", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    pid = mcfarm("pipelines", "create", "cli-line")["Pipeline"]["PipelineId"]
    assert mcfarm("pipelines", "pause", pid)["Pipeline"]["Status"] == "Paused"
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(_job("cli-cancel", pid)))
    job = mcfarm("submit", str(job_file))
    assert mcfarm("cancel", job["JobId"])["Job"]["State"] == "Cancelled"
    assert mcfarm("pipelines", "resume", pid)["Pipeline"]["Status"] == "Active"
    assert mcfarm("get", job["JobId"])["State"] == "Cancelled"
    assert mcfarm("pipelines", "delete", pid)["Success"] is True
    config_file = tmp_path / "tpl.json"
    config_file.write_text(
        json.dumps({"Container": {"Format": "mp3"}, "Audio": {"Codec": "mp3", "Bitrate": 96}})
    )
    tpl = mcfarm("templates", "create", "cli-mp3", str(config_file))["CustomTemplate"]
    assert tpl["TemplateId"] in [
        t["TemplateId"] for t in mcfarm("templates", "list")["CustomTemplateList"]
    ]
    assert mcfarm("templates", "delete", tpl["TemplateId"])["Success"] is True


def test_unsigned_rpc_calls_are_refused(ice_farm):
    for path, headers, code in [
        ("/?Action=GetMediaConvertJob&Version=2020-11-09&JobId=x", {}, "MissingParameter"),
        (
            "/",
            {"Authorization": "ACS3-HMAC-SHA256 garbage", "x-acs-action": "GetMediaConvertJob"},
            "IncompleteSignature",
        ),
        (
            "/?Action=GetMediaConvertJob&Version=2020-11-09&Signature=x&AccessKeyId=nobody&SignatureMethod=HMAC-SHA1"
            "&SignatureVersion=1.0&SignatureNonce=n1&Timestamp=2026-01-01T00:00:00Z",
            {},
            "InvalidAccessKeyId.NotFound",
        ),
    ]:
        req = urllib.request.Request(
            ice_farm.api_url + path, data=b"", method="POST", headers=headers
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req)
        with err.value:
            body = json.loads(err.value.read())
        assert body["Code"] == code and body["RequestId"] and err.value.code in (400, 404)
