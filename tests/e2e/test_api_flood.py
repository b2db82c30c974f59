"""A bounded flood of forged signatures next to good calls, on a real API; then throttling.

The flood (ACS3 and v2 signatures made with a wrong secret, an unknown key id, wrong HTTP
Basic passwords) must be refused with the right codes, must not spend the good key's
request quota, and must leave good calls answered correctly and the API healthy. How much
it slows good calls is measured by ``make bench-flood``, not here: tests assert no timings.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.request
from collections.abc import Callable

import pytest
import schemathesis
from alibabacloud_ice20201109 import models as ice
from alibabacloud_tea_openapi.exceptions import ClientException
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.openapi import build_spec
from cli.client import ApiCallFailed, Client
from shared.config import Settings
from shared.keys import PREFIX
from shared.storage import StorageRef, make_storage
from shared.stores import Stores
from tests.e2e.ice import call, sdk_client
from tests.e2e.observe import wait_until
from tests.servers.farm import farm_env, running_farm
from tests.servers.redis import redis_server

pytestmark = pytest.mark.e2e

#: Requests per second per key: well under what the flood sends, well over the good calls.
RATE_LIMIT = 10
FORGED_PER_THREAD = 12


@pytest.fixture(scope="module")
def flood_farm(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("farm-flood")
    with redis_server(tmp / "redis") as url:
        env = farm_env(f"{url}/0", tmp, MCFARM_RATE_LIMIT=str(RATE_LIMIT))
        storage = make_storage(Settings.from_env(env))
        storage.ensure_bucket("media")
        (tmp / "in.mp4").write_bytes(b"\0" * 64)  # a job in a paused pipeline is never probed
        storage.upload(tmp / "in.mp4", StorageRef(kind="object", bucket="media", key="in.mp4"))
        with running_farm(env, tmp / "logs", concurrency=1) as farm:
            yield farm


@pytest.fixture(scope="module")
def held_job(flood_farm) -> str:
    """A job that stays Inited (its pipeline is paused), so every good call sees one answer."""
    sdk = sdk_client(flood_farm.api_url, flood_farm.key_id, flood_farm.secret)
    pipeline = call(sdk, "CreatePipeline", {"Name": "held", "Speed": "Standard"})["body"]
    pipeline_id = pipeline["Pipeline"]["PipelineId"]
    call(sdk, "UpdatePipeline", {"PipelineId": pipeline_id, "Status": "Paused"})
    config = {
        "Inputs": [{"InputFile": {"Media": "oss://media/in.mp4"}}],
        "Outputs": [{"TemplateId": "S00000001-200010", "OutputFile": {"Media": "oss://out/a.mp4"}}],
    }
    rest = Client(flood_farm.api_url, flood_farm.key_id, flood_farm.secret)
    return rest.submit({"Config": config, "PipelineId": pipeline_id})["JobId"]


def _forgers(farm) -> list[tuple[str, Callable[[], None], tuple[int, str]]]:
    """``(name, one forged call, the (status, code) it must get)`` per flooding thread."""
    wrong = farm.secret + "x"
    request = ice.GetMediaConvertJobRequest(job_id="0" * 32)

    def sdk_call(client) -> Callable[[], None]:
        return lambda: client.get_media_convert_job(request)

    def rest_call() -> None:
        Client(farm.api_url, farm.key_id, wrong).get("0" * 32)

    acs3 = sdk_client(farm.api_url, farm.key_id, wrong)
    v2 = sdk_client(farm.api_url, farm.key_id, wrong, signature_algorithm="v2")
    unknown = sdk_client(farm.api_url, "nosuch" + farm.key_id, farm.secret)
    mismatch = (400, "SignatureDoesNotMatch")
    return [
        *[(f"acs3-{i}", sdk_call(acs3), mismatch) for i in range(3)],
        *[(f"v2-{i}", sdk_call(v2), mismatch) for i in range(2)],
        *[
            (f"unknown-{i}", sdk_call(unknown), (404, "InvalidAccessKeyId.NotFound"))
            for i in range(2)
        ],
        ("rest", rest_call, (401, "SignatureDoesNotMatch")),
    ]


def _refusal(forged: Callable[[], None]) -> tuple[int | None, str]:
    try:
        forged()
    except ClientException as err:
        return err.status_code, err.code
    except ApiCallFailed as err:
        return err.status, err.code
    return 200, "accepted"


@pytest.fixture(scope="module")
def flood(flood_farm, held_job) -> dict:
    """Run the flood, with good calls next to it; what every call got."""
    forgers = _forgers(flood_farm)
    refusals: dict[str, list[tuple[int | None, str]]] = {}

    def forge(name: str, forged: Callable[[], None]) -> None:
        refusals[name] = [_refusal(forged) for _ in range(FORGED_PER_THREAD)]

    threads = [threading.Thread(target=forge, args=(n, f)) for n, f, _ in forgers]
    # The key's per-second request counters (kept 2 s); the set-up's calls may be in them.
    redis = Stores.connect(flood_farm.env["MCFARM_REDIS_URL"]).jobs.redis

    def counted() -> int:
        return sum(int(redis.get(k) or 0) for k in redis.scan_iter(f"{PREFIX}rate:*"))

    before = counted()
    sdk = sdk_client(flood_farm.api_url, flood_farm.key_id, flood_farm.secret)
    rest = Client(flood_farm.api_url, flood_farm.key_id, flood_farm.secret)
    good = []
    for thread in threads:
        thread.start()
    # Good calls, ICE and REST by turns, for as long as the flood lasts (and at least 6),
    # a few a second: under RATE_LIMIT unless forged calls were counted too.
    while len(good) < 6 or any(t.is_alive() for t in threads):
        if len(good) % 2:
            good.append(rest.get(held_job))
        else:
            job = sdk.get_media_convert_job(ice.GetMediaConvertJobRequest(job_id=held_job))
            good.append(job.body.job.to_map())
        time.sleep(0.15)
    for thread in threads:
        thread.join()
    expected = {name: want for name, _, want in forgers}
    return {
        "good": good,
        "refusals": refusals,
        "expected": expected,
        "counted": counted() - before,
    }


def test_good_calls_next_to_the_flood_get_their_answers(flood, held_job):
    assert len(flood["good"]) >= 6
    assert all((j["JobId"], j["State"]) == (held_job, "Inited") for j in flood["good"])


def test_every_forged_call_is_refused_with_the_gateway_code(flood):
    for name, want in flood["expected"].items():
        assert flood["refusals"][name] == [want] * FORGED_PER_THREAD, name


def test_forged_calls_spend_none_of_the_key_quota(flood):
    # Good calls never hit Throttling.User (they would have raised), and the counters grew
    # by no more than the good calls: the ~100 forged ones were not counted.
    assert flood["counted"] <= len(flood["good"])


def test_the_api_is_healthy_after_the_flood(flood, flood_farm, held_job):
    assert flood_farm.processes["api"].poll() is None
    with urllib.request.urlopen(f"{flood_farm.api_url}/healthz", timeout=5) as resp:
        assert resp.status == 200
    sdk = sdk_client(flood_farm.api_url, flood_farm.key_id, flood_farm.secret)
    job = sdk.get_media_convert_job(ice.GetMediaConvertJobRequest(job_id=held_job)).body.job
    assert (job.job_id, job.state) == (held_job, "Inited")


def test_a_throttled_call_fits_the_document(flood, flood_farm, held_job):
    """Past RATE_LIMIT calls in a second: 400 Throttling.User with x-acs-retry-after."""
    operation = schemathesis.openapi.from_dict(build_spec())["/v1/jobs/{job_id}"]["GET"]
    basic = base64.b64encode(f"{flood_farm.key_id}:{flood_farm.secret}".encode()).decode()
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]

    def refused():
        case = operation.Case(
            path_parameters={"job_id": held_job}, headers={"Authorization": f"Basic {basic}"}
        )
        response = case.call_and_validate(base_url=flood_farm.api_url, checks=checks)
        # In a list: a response object is falsy when its status is an error.
        return [response] if response.status_code != 200 else None

    # Back to back until one is refused: how many fit in a second depends on the machine.
    (response,) = wait_until(refused, f"a call past {RATE_LIMIT} in one second", interval=0)
    assert (response.status_code, response.json()["Code"]) == (400, "Throttling.User")
    assert int(response.headers["x-acs-retry-after"][0]) > 0  # headers: name → values
