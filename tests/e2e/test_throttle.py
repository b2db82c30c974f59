"""Per-key throttling: ICE's Throttling.User with x-acs-retry-after, on both APIs."""

from __future__ import annotations

import contextlib

import pytest
from alibabacloud_ice20201109 import models as ice
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException

from api.throttle import Throttled, check_rate
from cli.client import ApiCallFailed, Client
from shared.jobstore import JobStore
from tests.e2e.ice import sdk_client
from tests.servers.farm import farm_env, running_farm

pytestmark = pytest.mark.e2e


def test_check_rate_counts_one_second_windows(redis_base):
    client = JobStore.from_url(f"{redis_base}/14").redis
    client.flushdb()
    for _ in range(3):
        check_rate(client, "k", 3, now=1000.25)
    with pytest.raises(Throttled) as err:
        check_rate(client, "k", 3, now=1000.5)
    assert err.value.code == "Throttling.User" and err.value.retry_after_ms == 500
    check_rate(client, "k", 3, now=1001.0)  # a new second
    check_rate(client, "other", 3, now=1000.6)  # another key has its own count
    check_rate(client, "k", 0, now=1000.7)  # 0: no limit


@pytest.fixture(scope="module")
def throttled_farm(redis_base, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("farm-throttle")
    env = farm_env(f"{redis_base}/15", tmp, MCFARM_RATE_LIMIT="3")
    with running_farm(env, tmp / "logs", concurrency=1) as farm:
        yield farm


def test_the_sdk_gets_a_throttling_exception(throttled_farm):
    sdk = sdk_client(throttled_farm.api_url, throttled_farm.key_id, throttled_farm.secret)
    errors = []
    for _ in range(8):
        try:
            sdk.get_media_convert_job(ice.GetMediaConvertJobRequest(job_id="0" * 32))
        except ThrottlingException as err:
            errors.append(err)
        except ClientException as err:
            assert err.code == "ResourceNotFound"
    assert errors and errors[0].code == "Throttling.User" and 0 < errors[0].retry_after <= 1000


def test_rest_is_throttled_too_and_bad_signatures_spend_nothing(throttled_farm):
    rest = Client(throttled_farm.api_url, throttled_farm.key_id, throttled_farm.secret)
    codes = []
    for _ in range(8):
        try:
            rest.get("0" * 32)
        except ApiCallFailed as err:
            codes.append(err.code)
    assert "Throttling.User" in codes
    forged = sdk_client(throttled_farm.api_url, throttled_farm.key_id, throttled_farm.secret + "x")
    for _ in range(10):
        with pytest.raises(ClientException) as err:
            forged.get_media_convert_job(ice.GetMediaConvertJobRequest(job_id="0" * 32))
        assert err.value.code == "SignatureDoesNotMatch"


def test_secrets_never_reach_the_logs(throttled_farm):
    rest = Client(throttled_farm.api_url, throttled_farm.key_id, throttled_farm.secret)
    with contextlib.suppress(ApiCallFailed):
        rest.get("0" * 32)
    logs = "".join(p.read_text(errors="replace") for p in throttled_farm.log_dir.glob("*.log"))
    assert logs and throttled_farm.secret not in logs


def test_flower_needs_a_password_outside_make_run(throttled_farm):
    import subprocess
    import sys

    env = {k: v for k, v in throttled_farm.env.items() if k != "MCFARM_FLOWER_BASIC_AUTH"}
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "flower"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "MCFARM_FLOWER_BASIC_AUTH" in proc.stderr
