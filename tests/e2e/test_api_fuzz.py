"""Fuzz the REST API against its own OpenAPI document with schemathesis, on a real farm.

Every operation of ``/v1/openapi.json`` gets generated requests, valid and invalid (positive
and negative modes), with the farm's key; every answer must be documented: no 5xx, a
declared status code, content type, headers and a body that fits the declared schema, and
invalid data refused. The same checks then run on real jobs, pipelines and templates (made
with the document's examples), and garbage signatures are fired at the ICE RPC endpoint.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.openapi import build_spec
from api.openapi_models import JOB_EXAMPLE
from shared.config import Settings
from shared.storage import StorageRef, make_storage
from tests.servers.farm import farm_env, running_farm
from tests.servers.redis import redis_server

pytestmark = pytest.mark.e2e

#: Per operation (and the coverage phase adds its own): the file stays under a minute on 2 cores.
MAX_EXAMPLES = 25

#: The farm's one key; known at import, where the schema (and its auth) is set up.
KEY_ID, SECRET = "fuzz" + secrets.token_hex(4), secrets.token_urlsafe(18)
BASIC_AUTH = {"Authorization": "Basic " + base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()}

#: ``positive_data_acceptance`` (a schema-valid request gets a 2xx) cannot hold where validity
#: depends on more than a JSON schema can say. Only these skip it, each for the reason given;
#: every other check (no 5xx, declared status, content type, headers and body, invalid data
#: refused, 405 with Allow, no access without credentials…) runs on every operation.
BEYOND_JSON_SCHEMA = {
    "POST /v1/jobs": "a Config must name existing inputs and templates and pass ConfigSchema's "
    "cross-field rules (e.g. at least one output)",
    "POST /v1/templates": "a TemplateConfig has cross-field rules (e.g. an audio-only container "
    "takes no Video)",
    "PATCH /v1/templates/{template_id}": "as for POST /v1/templates",
    "PUT /v1/event-callback": "the CallbackURL's host must resolve to a public address, and "
    "AuthSwitch on needs an AuthKey",
}


#: The same for single queries of ``GET /v1/jobs``: each rule says why it is beyond a schema.
QUERIES_BEYOND_JSON_SCHEMA = {
    "a page token is opaque: only the ones this server issued are accepted": lambda q: bool(
        q.get("NextPageToken") or q.get("next_page_token")
    ),
    "a time must be a real date (no 30 February), and the start not after the end": lambda q: bool(
        q.get("StartOfCreateTime") or q.get("EndOfCreateTime")
    ),
    "a parameter may be given by its ICE name or by its old name, not by both": lambda q: any(
        new in q and old in q
        for new, old in (
            ("Status", "state"),
            ("PageSize", "page_size"),
            ("NextPageToken", "next_page_token"),
            ("OrderBy", "order"),
        )
    ),
}


def _beyond_json_schema(case) -> bool:
    query = case.query or {}
    return case.operation.label in BEYOND_JSON_SCHEMA or any(
        rule(query) for rule in QUERIES_BEYOND_JSON_SCHEMA.values()
    )


@pytest.fixture(scope="module")
def fuzz_farm(tmp_path_factory):
    """A farm of its own (own redis-server, one worker process): fuzzing leaves junk behind.

    It holds the input the document's example job names (a one-second 160x90 clip, so the
    one job that runs costs little), takes callback URLs without resolving them (the
    example's example.com need not resolve where the tests run) and answers failed
    authentications at once (test_api_flood.py covers the delay).
    """
    tmp = tmp_path_factory.mktemp("farm-fuzz")
    with redis_server(tmp / "redis") as url:
        env = farm_env(
            f"{url}/0",
            tmp,
            MCFARM_ACCESS_KEYS=f"{KEY_ID}:{SECRET}",
            MCFARM_ALLOW_PRIVATE_CALLBACKS="on",
            # Hundreds of the cases go without or with spoilt credentials on purpose; the
            # answer is the same 401 document either way, only 100 ms later by default.
            MCFARM_AUTH_FAILURE_DELAY_MS="0",
        )
        _seed_example_input(env, tmp / "video.mp4")
        with running_farm(env, tmp / "logs", concurrency=1) as farm:
            yield farm


def _seed_example_input(env: dict[str, str], clip: Path) -> None:
    lavfi = "-f lavfi -i testsrc2=size=160x90:rate=25:duration=1"
    codec = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p"
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *lavfi.split(), *codec.split()]
    subprocess.run([*argv, str(clip)], check=True, stdin=subprocess.DEVNULL)
    bucket, _, key = JOB_EXAMPLE["Config"]["Inputs"][0]["InputFile"]["Media"][6:].partition("/")
    storage = make_storage(Settings.from_env(env))
    storage.ensure_bucket(bucket)
    storage.upload(clip, StorageRef(kind="object", bucket=bucket, key=key))


#: The document the API serves (test_the_served_document_is_the_one_fuzzed checks that): loaded
#: at import, because schemathesis parametrizes tests at collection time; the requests go to the
#: real farm through ``base_url``. (``schemathesis.pytest.from_fixture`` would load it from the
#: farm instead, but it sets ``request.node._nodeid``, which pytest 9.2 no longer has.)
schema = schemathesis.openapi.from_dict(
    build_spec(),
    config=SchemathesisConfig.from_dict(
        {
            "seed": 20261124,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            # Through schemathesis, not requests' auth=: its negative cases drop or spoil it.
            "auth": {"basic": {"username": KEY_ID, "password": SECRET}},
        }
    ),
)


def test_the_served_document_is_the_one_fuzzed(fuzz_farm):
    with urllib.request.urlopen(f"{fuzz_farm.api_url}/v1/openapi.json", timeout=10) as resp:
        assert json.loads(resp.read()) == json.loads(json.dumps(build_spec()))


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented(case, fuzz_farm):
    case.call_and_validate(
        base_url=fuzz_farm.api_url,
        excluded_checks=[positive_data_acceptance] if _beyond_json_schema(case) else [],
        timeout=10,
    )


# --- the same checks on real resources -----------------------------------------------------
# Generated ids name nothing, so item operations above mostly answer 404; here every
# operation runs on a job, pipeline and template that exist, with the document's examples.


def _call(farm, label: str, status: int, **request) -> dict:
    """One hand-made request, checked like the generated ones; its JSON answer."""
    # The config's auth applies to generated cases only.
    case = schema.find_operation_by_label(label).Case(headers=BASIC_AUTH, **request)
    response = case.call_and_validate(base_url=farm.api_url, timeout=10)
    assert response.status_code == status, (label, response.text)
    return response.json()


def _example(label: str) -> dict:
    method, path = label.split(" ")
    return build_spec()["paths"][path][method.lower()]["requestBody"]["content"][
        "application/json"
    ]["example"]


def test_real_jobs_fit_the_document(fuzz_farm):
    job = _call(fuzz_farm, "POST /v1/jobs", 202, body=_example("POST /v1/jobs"))["Job"]
    path = {"job_id": job["JobId"]}
    deadline = time.monotonic() + 60
    while job["State"] not in ("Complete", "Error", "Cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = _call(fuzz_farm, "GET /v1/jobs/{job_id}", 200, path_parameters=path)["Job"]
    assert job["State"] == "Complete", job
    listed = _call(fuzz_farm, "GET /v1/jobs", 200, query={"PageSize": 1})["Jobs"]
    assert [j["JobId"] for j in listed] == [job["JobId"]]
    query = {
        "JobId": job["JobId"],
        "Status": "Complete",
        "StartOfCreateTime": job["CreateTime"],
        "EndOfCreateTime": job["CreateTime"],
    }
    listed = _call(fuzz_farm, "GET /v1/jobs", 200, query=query)["Jobs"]
    assert [j["JobId"] for j in listed] == [job["JobId"]]
    _call(fuzz_farm, "GET /v1/jobs", 200, query={"page_size": 1, "order": "asc"})  # old names
    _call(fuzz_farm, "POST /v1/jobs/{job_id}/cancel", 400, path_parameters=path)


def test_real_pipelines_fit_the_document(fuzz_farm):
    body = _example("POST /v1/pipelines")
    pipeline = _call(fuzz_farm, "POST /v1/pipelines", 201, body=body)["Pipeline"]
    path = {"pipeline_id": pipeline["PipelineId"]}
    _call(fuzz_farm, "GET /v1/pipelines/{pipeline_id}", 200, path_parameters=path)
    paused = _call(
        fuzz_farm,
        "PATCH /v1/pipelines/{pipeline_id}",
        200,
        path_parameters=path,
        body=_example("PATCH /v1/pipelines/{pipeline_id}"),
    )["Pipeline"]
    assert paused["Status"] == "Paused"
    held = _call(
        fuzz_farm,
        "POST /v1/jobs",
        202,
        body={**_example("POST /v1/jobs"), "PipelineId": pipeline["PipelineId"]},
    )["Job"]
    _call(fuzz_farm, "DELETE /v1/pipelines/{pipeline_id}", 403, path_parameters=path)
    cancelled = _call(
        fuzz_farm, "POST /v1/jobs/{job_id}/cancel", 200, path_parameters={"job_id": held["JobId"]}
    )["Job"]
    assert cancelled["State"] == "Cancelled"
    _call(fuzz_farm, "GET /v1/pipelines", 200, query={"Speed": "Standard"})
    _call(fuzz_farm, "DELETE /v1/pipelines/{pipeline_id}", 200, path_parameters=path)


def test_real_templates_fit_the_document(fuzz_farm):
    body = _example("POST /v1/templates")
    template = _call(fuzz_farm, "POST /v1/templates", 201, body=body)["CustomTemplate"]
    path = {"template_id": template["TemplateId"]}
    _call(fuzz_farm, "GET /v1/templates/{template_id}", 200, path_parameters=path)
    renamed = _call(
        fuzz_farm,
        "PATCH /v1/templates/{template_id}",
        200,
        path_parameters=path,
        body=_example("PATCH /v1/templates/{template_id}"),
    )["CustomTemplate"]
    assert renamed["TemplateName"] == "mp4-360p-small"
    _call(fuzz_farm, "POST /v1/templates/{template_id}/default", 200, path_parameters=path)
    _call(fuzz_farm, "GET /v1/templates", 200, query={"PageSize": 5})
    _call(fuzz_farm, "DELETE /v1/templates/{template_id}", 200, path_parameters=path)
    system = {"template_id": "S00000001-200010"}
    _call(fuzz_farm, "GET /v1/system-templates/{template_id}", 200, path_parameters=system)


def test_an_oversized_body_fits_the_document(fuzz_farm):
    body = {"Config": "x" * (1024 * 1024)}  # over MCFARM_MAX_REQUEST_BYTES with its braces
    error = _call(fuzz_farm, "POST /v1/jobs", 413, body=body)
    assert error["Code"] == "InvalidParameter"


def test_real_callback_settings_fit_the_document(fuzz_farm):
    body = _example("PUT /v1/event-callback")
    _call(fuzz_farm, "PUT /v1/event-callback", 200, body=body)
    assert _call(fuzz_farm, "GET /v1/event-callback", 200)["CallbackURL"] == body["CallbackURL"]
    _call(fuzz_farm, "GET /v1/workers", 200)


# --- the ICE RPC endpoint: garbage signatures -----------------------------------------------
# POST / is not in the document (Alibaba's reference describes it, and OpenAPI cannot express
# an ACS3 signature), so it is fuzzed here: signature headers and parameters that are almost
# right, or nothing like it, must get a gateway error document, never a 5xx.

#: Header text HTTP allows (RFC 9110 field-value: VCHAR, obs-text, SP); anything else (DEL,
#: controls) the server's HTTP parser refuses with its own HTML 400 before the app sees the request.
_LATIN1 = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=40
)
_ACS3_PARTS = st.fixed_dictionaries(
    {
        "algorithm": st.sampled_from(["ACS3-HMAC-SHA256", "ACS3-HMAC-SM3", "HMAC", ""]),
        "credential": st.sampled_from([KEY_ID, "nosuchkey", ""]) | _LATIN1,
        "signed": st.sampled_from(
            [
                "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;"
                "x-acs-version",
                "host",
                "",
                ";;",
            ]
        )
        | _LATIN1,
        "signature": st.sampled_from(["0" * 64, ""]) | _LATIN1,
    }
)
_SIGNATURE_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "x-acs-action": st.sampled_from(["GetMediaConvertJob", "NoSuchAction"]) | _LATIN1,
        "x-acs-version": st.sampled_from(["2020-11-09", "2017-01-01"]) | _LATIN1,
        "x-acs-date": st.sampled_from(["2026-11-24T09:05:24Z", "yesterday"]) | _LATIN1,
        "x-acs-signature-nonce": _LATIN1,
        "x-acs-content-sha256": st.sampled_from(["", "e3b0c442" * 8]) | _LATIN1,
        "x-acs-security-token": _LATIN1,
    },
)
_PARAMS = st.dictionaries(
    st.sampled_from(
        [
            "Action",
            "Version",
            "AccessKeyId",
            "Signature",
            "SignatureMethod",
            "SignatureVersion",
            "SignatureNonce",
            "Timestamp",
            "JobId",
        ]
    )
    | st.text(max_size=10),
    st.text(max_size=30),
    max_size=8,
)


@given(
    acs3=st.none() | _ACS3_PARTS,
    headers=_SIGNATURE_HEADERS,
    query=_PARAMS,
    form=_PARAMS,
    raw_body=st.none() | st.binary(max_size=64),
)
@settings(max_examples=100, deadline=None, derandomize=True, database=None)
def test_garbage_signatures_get_gateway_errors(fuzz_farm, acs3, headers, query, form, raw_body):
    if acs3 is not None:
        headers["Authorization"] = (
            f"{acs3['algorithm']} Credential={acs3['credential']},"
            f"SignedHeaders={acs3['signed']},Signature={acs3['signature']}"
        )
    # What HTTP can carry: no leading blanks in header values (requests refuses to send them).
    headers = {name: value.lstrip() for name, value in headers.items()}
    response = requests.post(
        f"{fuzz_farm.api_url}/",
        params=query,
        data=raw_body if raw_body is not None else form,
        headers=headers,
        timeout=10,
    )
    note(f"{response.status_code} {response.headers} {response.text[:300]!r} {headers!r}")
    assert response.status_code in (400, 403, 404), (response.status_code, response.text)
    body = response.json()
    assert body["Code"] and body["Message"] and body["RequestId"], body
    assert response.headers["x-acs-request-id"] == body["RequestId"]
