"""The official ICE SDK against the real API and real workers: every action, unchanged."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest
from alibabacloud_ice20201109 import models as ice
from alibabacloud_tea_openapi.exceptions import ClientException

from tests.e2e.conftest import ACCOUNTS, MEDIA_BUCKET
from tests.e2e.ice import call, sdk_client, submit, wait
from tests.e2e.observe import held_jobs

pytestmark = pytest.mark.e2e


def _config(output_media: str, source: str = "sample.mp4", **override) -> dict:
    out = {
        "Name": "o",
        "TemplateId": "S00000001-200010",
        "OutputFile": {"Type": "OSS", "Media": output_media},
    }
    if override:
        out["OverrideParams"] = json.dumps(override)
    return {
        "Inputs": [
            {"Name": "in", "InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/{source}"}}
        ],
        "Outputs": [out],
    }


def _copy_config(name: str) -> dict:
    return {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/silent.mp4"}}],
        "Outputs": [
            {"TemplateId": "S00000001-200000", "OutputFile": {"Media": f"oss://results/{name}.mp4"}}
        ],
    }


def test_submit_and_get_parse_into_sdk_models(clients):
    sdk = clients["main"]
    job = submit(
        sdk,
        _config("oss://results/sdk/a.mp4", Video={"Width": 320, "Preset": "ultrafast"}),
        client_token="sdk-1",
        user_data='{"x":1}',
    )
    assert len(job.job_id) == 32 and job.state == "Inited"
    assert job.config.inputs[0].input_file.media == f"oss://{MEDIA_BUCKET}/sample.mp4"
    done = wait(sdk, job.job_id)
    assert done.state == "Complete" and done.percent == 100 and done.user_data == '{"x":1}'
    assert done.create_time.endswith("Z") and done.finish_time >= done.create_time
    detail = done.output_details[0]
    assert detail.status == "Success"
    meta = detail.result.out_file_meta
    assert (
        meta.file_basic_info.width == "320" and meta.file_basic_info.file_type == "transcode_file"
    )
    assert meta.video_stream_info_list[0].codec_name == "h264"
    assert meta.audio_stream_info_list[0].codec_name == "aac"
    assert detail.result.output_file.media == "oss://results/sdk/a.mp4"
    # A retry with the same token is the same job; other parameters are a mismatch.
    again = submit(
        sdk,
        _config("oss://results/sdk/a.mp4", Video={"Width": 320, "Preset": "ultrafast"}),
        client_token="sdk-1",
        user_data='{"x":1}',
    )
    assert again.job_id == job.job_id
    with pytest.raises(ClientException) as err:
        submit(sdk, _config("oss://results/sdk/b.mp4"), client_token="sdk-1")
    assert err.value.code == "IdempotentParameterMismatch"


def test_v2_signature_client_works(ice_farm, ice_keys):
    sdk = sdk_client(ice_farm.api_url, *ice_keys["main"], signature_algorithm="v2")
    job = submit(sdk, _copy_config("v2"))
    assert wait(sdk, job.job_id).state == "Complete"


def test_flattened_config_dict_is_reconstructed(clients):
    # Passing a dict instead of a JSON string makes the SDK flatten it into Config.* keys.
    sdk = clients["main"]
    job = sdk.submit_media_convert_job(
        ice.SubmitMediaConvertJobRequest(config=_copy_config("flat"))
    ).body.job
    assert job.config.outputs[0].template_id == "S00000001-200000"
    assert wait(sdk, job.job_id).state == "Complete"


def test_list_pages_25_jobs_without_duplicate_or_gap(clients):
    sdk = clients["pager"]
    submitted = [submit(sdk, _copy_config(f"page{i}")).job_id for i in range(25)]
    seen, token, pages = [], None, 0
    while True:
        body = sdk.list_media_convert_jobs(
            ice.ListMediaConvertJobsRequest(page_size=10, next_page_token=token)
        ).body
        pages += 1
        seen += [j.job_id for j in body.jobs]
        assert all(j.config is not None and j.create_time.endswith("Z") for j in body.jobs)
        token = body.next_page_token
        if not token:
            break
    assert pages == 3 and seen == list(reversed(submitted))
    body = sdk.list_media_convert_jobs(
        ice.ListMediaConvertJobsRequest(page_size=100, order_by="CreateTimeAsc")
    ).body
    assert [j.job_id for j in body.jobs] == submitted
    one = sdk.list_media_convert_jobs(ice.ListMediaConvertJobsRequest(job_id=submitted[3])).body
    assert [j.job_id for j in one.jobs] == [submitted[3]]
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = sdk.list_media_convert_jobs(
        ice.ListMediaConvertJobsRequest(start_of_create_time=future)
    ).body
    assert later.jobs == []
    for job_id in submitted:
        wait(sdk, job_id)
    done = sdk.list_media_convert_jobs(
        ice.ListMediaConvertJobsRequest(status="Complete", page_size=100)
    ).body
    assert len(done.jobs) == 25
    with pytest.raises(ClientException) as err:
        sdk.list_media_convert_jobs(ice.ListMediaConvertJobsRequest(page_size=101))
    assert err.value.code == "InvalidParameter"


def _get(sdk, job_id):
    return sdk.get_media_convert_job(ice.GetMediaConvertJobRequest(job_id=job_id))


def _code(excinfo) -> tuple[str, int]:
    return excinfo.value.code, excinfo.value.status_code


def test_refusals_through_the_sdk(ice_farm, ice_keys, clients, monkeypatch):
    job = submit(clients["main"], _copy_config("mine"))
    key_id, secret = ice_keys["main"]
    cases = [
        (sdk_client(ice_farm.api_url, key_id, secret + "x"), ("SignatureDoesNotMatch", 400)),
        (sdk_client(ice_farm.api_url, "nosuchkey", secret), ("InvalidAccessKeyId.NotFound", 404)),
        (clients["other"], ("ResourceNotFound", 404)),
    ]
    for sdk, expected in cases:
        with pytest.raises(ClientException) as err:
            _get(sdk, job.job_id)
        assert _code(err) == expected
    # The same account's other key sees the job; a read-only key reads but cannot submit.
    assert _get(clients["main2"], job.job_id).body.job.job_id == job.job_id
    assert _get(clients["reader"], job.job_id).body.job.job_id == job.job_id
    with pytest.raises(ClientException) as err:
        submit(clients["reader"], _copy_config("ro"))
    assert _code(err) == ("Forbidden.RAM", 403)
    with pytest.raises(ClientException) as err:
        clients["main"].submit_media_convert_job(ice.SubmitMediaConvertJobRequest())
    assert _code(err) == ("MissingParameter", 400)
    with pytest.raises(ClientException) as err:
        call(clients["main"], "NoSuchAction")
    assert _code(err) == ("InvalidAction.NotFound", 404)
    with pytest.raises(ClientException) as err:
        call(clients["main"], "GetMediaConvertJob", {"JobId": job.job_id}, version="2017-03-21")
    assert _code(err) == ("InvalidVersion", 400)
    with pytest.raises(ClientException) as err:
        submit(
            clients["main"],
            {
                "Inputs": [{"InputFile": {"Media": "oss://media/sample.mp4"}}],
                "Outputs": [{"TemplateId": "nope", "OutputFile": {"Media": "oss://results/n.mp4"}}],
            },
        )
    assert _code(err) == ("InvalidParameter.ResourceNotFound", 400)


def test_expired_date_and_replayed_nonce(clients, job_id_for_main, monkeypatch):
    from alibabacloud_tea_openapi.utils import Utils

    sdk = clients["main"]
    old = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with monkeypatch.context() as patch:
        patch.setattr(Utils, "get_timestamp", staticmethod(lambda: old))
        with pytest.raises(ClientException) as err:
            _get(sdk, job_id_for_main)
    assert _code(err) == ("InvalidTimeStamp.Expired", 400)
    nonce = secrets.token_hex(16)
    with monkeypatch.context() as patch:
        patch.setattr(Utils, "get_nonce", staticmethod(lambda: nonce))
        _get(sdk, job_id_for_main)
        with pytest.raises(ClientException) as err:
            _get(sdk, job_id_for_main)
    assert _code(err) == ("SignatureNonceUsed", 400)


@pytest.fixture(scope="session")
def job_id_for_main(clients):
    return submit(clients["main"], _copy_config("fixture")).job_id


def test_tampered_query_is_refused(ice_farm, clients, job_id_for_main):
    """Capture a request the SDK signed, change one query value, send it on: refused."""
    import http.client
    import http.server
    import threading
    from urllib.parse import urlsplit

    captured = {}

    class Capture(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            captured.update(path=self.path, headers=dict(self.headers.items()))
            body = b'{"RequestId":"X","Job":{}}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        capture_sdk = sdk_client(
            f"http://127.0.0.1:{server.server_address[1]}", *ice_farm_keys(ice_farm)
        )
        _get(capture_sdk, job_id_for_main)
    finally:
        server.shutdown()
        server.server_close()

    def send(path: str) -> tuple[int, dict]:
        conn = http.client.HTTPConnection(*urlsplit(ice_farm.api_url).netloc.split(":"))
        conn.request("POST", path, headers=captured["headers"])
        resp = conn.getresponse()
        result = resp.status, json.loads(resp.read())
        conn.close()
        return result

    tampered = captured["path"].replace(job_id_for_main, "0" * 32)
    status, body = send(tampered)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    status, body = send(captured["path"])  # the untouched request is valid (its nonce is unused)
    assert status == 200 and body["Job"]["JobId"] == job_id_for_main


def ice_farm_keys(ice_farm) -> tuple[str, str]:
    return tuple(ice_farm.env["MCFARM_ACCESS_KEYS"].split(",")[0].split(":")[:2])


def _listed(sdk) -> list:
    return sdk.list_media_convert_jobs(ice.ListMediaConvertJobsRequest(page_size=20)).body.jobs


def test_pipelines_hold_paused_jobs_until_active(clients, ice_farm):
    """A paused pipeline holds its jobs: they sit in its held set, Inited, while a job
    submitted after them on an active pipeline runs to its end (had they been started, the
    worker would have taken them first: the paused pipeline has the higher priority)."""
    sdk = clients["main"]
    pipelines = sdk.list_pipelines(ice.ListPipelinesRequest()).body.pipeline_list
    assert any(p.name == "Default" and p.status == "Active" for p in pipelines)
    created = sdk.create_pipeline(
        ice.CreatePipelineRequest(name="night", speed="Standard", priority=8)
    ).body.pipeline
    assert len(created.pipeline_id) == 32 and created.priority == 8 and created.status == "Active"
    pid = created.pipeline_id
    assert sdk.update_pipeline(
        ice.UpdatePipelineRequest(pipeline_id=pid, status="Paused")
    ).body.success
    assert (
        sdk.get_pipeline(ice.GetPipelineRequest(pipeline_id=pid)).body.pipeline.status == "Paused"
    )
    held = [submit(sdk, _copy_config(f"held{i}"), pipeline_id=pid).job_id for i in range(2)]
    assert held_jobs(ice_farm, ACCOUNTS["main"], pid) == held  # oldest first: release order
    assert wait(sdk, submit(sdk, _copy_config("not-held")).job_id).state == "Complete"
    assert [_get(sdk, j).body.job.state for j in held] == ["Inited", "Inited"]
    assert held_jobs(ice_farm, ACCOUNTS["main"], pid) == held
    assert _get(sdk, held[0]).body.job.pipeline_id == pid
    with pytest.raises(ClientException) as err:
        sdk.delete_pipeline(ice.DeletePipelineRequest(pipeline_id=pid))
    assert err.value.status_code in (400, 403)
    listed = {job.job_id: job.state for job in _listed(sdk) if job.job_id in held}
    assert listed == dict.fromkeys(held, "Inited")
    sdk.update_pipeline(ice.UpdatePipelineRequest(pipeline_id=pid, status="Active"))
    assert [wait(sdk, j).state for j in held] == ["Complete", "Complete"]
    # Each API process remembers a list row while its job's state stays; not after.
    for _ in range(4):  # the API's processes answer in turn
        listed = {job.job_id: job for job in _listed(sdk) if job.job_id in held}
        assert {j: job.state for j, job in listed.items()} == dict.fromkeys(held, "Complete")
        assert all(job.finish_time for job in listed.values())
    assert sdk.delete_pipeline(ice.DeletePipelineRequest(pipeline_id=pid)).body.success
    with pytest.raises(ClientException) as err:
        sdk.get_pipeline(ice.GetPipelineRequest(pipeline_id=pid))
    assert _code(err) == ("ResourceNotFound", 404)
    with pytest.raises(ClientException) as err:
        sdk.create_pipeline(ice.CreatePipelineRequest(name="x", speed="Warp"))
    assert err.value.code == "InvalidParameter"
    with pytest.raises(ClientException) as err:
        clients["other"].get_pipeline(ice.GetPipelineRequest(pipeline_id=pipelines[0].pipeline_id))
    assert _code(err) == ("ResourceNotFound", 404)


def test_custom_and_system_templates(clients):
    sdk = clients["main"]
    config = {
        "Container": {"Format": "mp4"},
        "Video": {"Codec": "H.264", "Width": 256, "Preset": "ultrafast"},
        "Audio": {"Codec": "aac", "Bitrate": 64},
    }
    tpl = sdk.create_custom_template(
        ice.CreateCustomTemplateRequest(
            name="tiny", type=1, subtype=1, template_config=json.dumps(config)
        )
    ).body.custom_template
    assert len(tpl.template_id) == 32 and tpl.type == 1 and tpl.template_name == "tiny"
    got = sdk.get_custom_template(
        ice.GetCustomTemplateRequest(template_id=tpl.template_id)
    ).body.custom_template
    assert json.loads(got.template_config)["Video"]["Width"] == 256
    assert sdk.update_custom_template(
        ice.UpdateCustomTemplateRequest(template_id=tpl.template_id, name="tiny2")
    ).body.success
    assert sdk.set_default_custom_template(
        ice.SetDefaultCustomTemplateRequest(template_id=tpl.template_id)
    ).body.success
    default = sdk.get_custom_template(ice.GetCustomTemplateRequest(type=1)).body.custom_template
    assert (
        default.template_id == tpl.template_id
        and default.is_default
        and default.template_name == "tiny2"
    )
    listed = sdk.list_custom_templates(ice.ListCustomTemplatesRequest(type="1", page_size=10)).body
    assert listed.total >= 1 and tpl.template_id in [
        t.template_id for t in listed.custom_template_list
    ]
    job_config = _config("oss://results/custom-tpl.mp4")
    job_config["Outputs"][0]["TemplateId"] = tpl.template_id
    done = wait(sdk, submit(sdk, job_config).job_id)
    assert (
        done.state == "Complete"
        and done.output_details[0].result.out_file_meta.file_basic_info.width == "256"
    )
    with pytest.raises(ClientException) as err:
        clients["other"].get_custom_template(
            ice.GetCustomTemplateRequest(template_id=tpl.template_id)
        )
    assert _code(err) == ("ResourceNotFound", 404)
    with pytest.raises(ClientException) as err:
        sdk.create_custom_template(
            ice.CreateCustomTemplateRequest(
                name="bad",
                type=1,
                template_config='{"Container":{"Format":"mp4"},"Video":{"Bogus":1}}',
            )
        )
    assert err.value.code == "InvalidParameter"
    assert sdk.delete_custom_template(
        ice.DeleteCustomTemplateRequest(template_id=tpl.template_id)
    ).body.success
    with pytest.raises(ClientException) as err:
        sdk.get_custom_template(ice.GetCustomTemplateRequest(template_id=tpl.template_id))
    assert _code(err) == ("ResourceNotFound", 404)
    system = sdk.get_system_template(
        ice.GetSystemTemplateRequest(template_id="S00000001-100060")
    ).body.system_template
    assert (
        system.template_name == "M3U8-2K"
        and json.loads(system.template_config)["Video"]["Maxrate"] == 8000
    )
    page = sdk.list_system_templates(ice.ListSystemTemplatesRequest(type="1", page_size=5)).body
    assert len(page.system_template_list) == 5 and page.total >= 30


def test_cancel_stops_a_running_job(clients, ice_farm):
    from pathlib import Path

    sdk = clients["main"]
    job_id = submit(
        sdk, _config("oss://results/cancel.mp4", source="long.mp4", Video={"Preset": "veryslow"})
    ).job_id
    deadline = time.monotonic() + 60
    while _get(sdk, job_id).body.job.output_details[0].status != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    body = call(sdk, "CancelMediaConvertJob", {"JobId": job_id})["body"]
    assert body["Job"]["State"] == "Cancelled"
    deadline = time.monotonic() + 30
    while _get(sdk, job_id).body.job.output_details[0].status == "Running":
        assert time.monotonic() < deadline, "FFmpeg was not stopped"
        time.sleep(0.2)
    job = _get(sdk, job_id).body.job
    assert job.state == "Cancelled" and job.output_details[0].status == "Skipped"
    assert not (Path(ice_farm.env["MCFARM_STORAGE_ROOT"]) / "results" / "cancel.mp4").exists()
    assert (
        call(sdk, "CancelMediaConvertJob", {"JobId": job_id})["body"]["Job"]["State"] == "Cancelled"
    )
    done = wait(sdk, submit(sdk, _copy_config("after-cancel")).job_id)
    assert done.state == "Complete"
    with pytest.raises(ClientException) as err:
        call(sdk, "CancelMediaConvertJob", {"JobId": done.job_id})
    assert err.value.code == "InvalidParameter.JobFinished"


def test_parameters_in_a_form_body(clients, job_id_for_main):
    """Other SDKs put parameters in a form body: read them there too (still signed)."""
    from alibabacloud_tea_openapi import utils_models
    from darabonba.runtime import RuntimeOptions

    params = utils_models.Params(
        action="GetMediaConvertJob",
        version="2020-11-09",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = utils_models.OpenApiRequest(body={"JobId": job_id_for_main})
    body = clients["main"].call_api(params, request, RuntimeOptions())["body"]
    assert body["Job"]["JobId"] == job_id_for_main
