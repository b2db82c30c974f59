"""Per-key throttling (ICE's Throttling.User with x-acs-retry-after, on both APIs), and the
secrets around it: keys never logged, Flower only behind its password."""

from __future__ import annotations

import base64
import contextlib
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from alibabacloud_ice20201109 import models as ice
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException

from api.throttle import Throttled, check_rate
from cli.client import ApiCallFailed, Client
from shared.stores import Stores
from tests.e2e.ice import sdk_client
from tests.e2e.observe import wait_until
from tests.servers.farm import farm_env, running_farm, start_process, stop_processes
from tests.servers.ports import free_port

pytestmark = pytest.mark.e2e


def test_check_rate_counts_one_second_windows(redis_base):
    stores = Stores.connect(f"{redis_base}/14")
    stores.jobs.redis.flushdb()
    client = stores.rates
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


# Calls go back to back until one is throttled: how many that takes depends on how many
# fit in one second on this machine, so the tests count none (check_rate's own test does).


def test_the_sdk_gets_a_throttling_exception(throttled_farm):
    sdk = sdk_client(throttled_farm.api_url, throttled_farm.key_id, throttled_farm.secret)

    def throttled() -> ThrottlingException | None:
        try:
            sdk.get_media_convert_job(ice.GetMediaConvertJobRequest(job_id="0" * 32))
        except ThrottlingException as err:
            return err
        except ClientException as err:
            assert err.code == "ResourceNotFound"
        return None

    err = wait_until(throttled, "a call past 3 in one second throttled", interval=0)
    assert err.code == "Throttling.User" and 0 < err.retry_after <= 1000


def test_rest_is_throttled_too_and_bad_signatures_spend_nothing(throttled_farm):
    rest = Client(throttled_farm.api_url, throttled_farm.key_id, throttled_farm.secret)

    def throttled() -> bool:
        try:
            rest.get("0" * 32)
        except ApiCallFailed as err:
            assert err.code in ("ResourceNotFound", "Throttling.User")
            return err.code == "Throttling.User"
        return False

    wait_until(throttled, "a REST call past 3 in one second throttled", interval=0)
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


def test_flower_answers_only_with_its_password_and_never_shows_it(throttled_farm, tmp_path):
    password = secrets.token_urlsafe(12)
    port = free_port()
    env = dict(
        throttled_farm.env,
        MCFARM_FLOWER_BASIC_AUTH=f"ops:{password}",
        MCFARM_FLOWER_PORT=str(port),
    )
    proc = start_process("flower", [sys.executable, "-m", "cli.main", "flower"], env, tmp_path)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                status = 200
            except urllib.error.HTTPError as err:
                with err:  # closes the connection it holds
                    status = err.code
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "flower did not start"
                time.sleep(0.3)
                continue
            break
        assert status == 401  # no credentials
        wrong = base64.b64encode(b"ops:guess").decode()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(
                urllib.request.Request(url, headers={"Authorization": f"Basic {wrong}"}), timeout=5
            )
        with err.value:
            assert err.value.code == 401
        right = base64.b64encode(f"ops:{password}".encode()).decode()
        req = urllib.request.Request(url, headers={"Authorization": f"Basic {right}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
        # Not on its command line (ps shows that to every user), not in its log.
        assert password not in Path(f"/proc/{proc.pid}/cmdline").read_text(errors="replace")
    finally:
        stop_processes([proc])
    assert password not in (tmp_path / "flower.log").read_text(errors="replace")
