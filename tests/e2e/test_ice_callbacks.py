"""Event callbacks set with the SDK reach a real HTTP receiver, signed, even after downtime."""

from __future__ import annotations

import json
import time

import pytest
from alibabacloud_ice20201109 import models as ice
from alibabacloud_tea_openapi.exceptions import ClientException

from shared import keys
from shared.callback_settings import verify_signature
from shared.events import Delivery
from tests.e2e.ice import submit, wait
from tests.e2e.observe import farm_stores, wait_until
from tests.e2e.test_ice_sdk import _copy_config
from tests.servers.receiver import Receiver

pytestmark = pytest.mark.e2e

AUTH_KEY = "TestKey123abc"
#: Celery gives a task 1 try and ``max_retries`` = 3 retries unless told otherwise.
CELERY_DEFAULT_TRIES = 4


def _events(receiver: Receiver, count: int, timeout: float) -> list[dict]:
    return [r.json() for r in receiver.wait_for(count, timeout=timeout)]


def _complete_for(receiver: Receiver, job_id: str) -> list:
    return [
        r
        for r in receiver.received
        if r.json()["EventType"] == "MediaConvertComplete"
        and r.json()["MessageBody"]["JobId"] == job_id
    ]


def _pending(farm, job_id: str, attempts: int) -> Delivery | None:
    """The job's pending ``MediaConvertComplete`` delivery once tried ``attempts`` times.

    Deliveries are found by a scan of their keys: the event store has no index by job.
    """
    events = farm_stores(farm.env["MCFARM_REDIS_URL"]).events
    for key in events.redis.scan_iter(match=keys.delivery("*")):
        delivery = events.get(key.removeprefix(keys.delivery("")))
        if (
            delivery is not None
            and (delivery.job_id, delivery.event_type) == (job_id, "MediaConvertComplete")
            and delivery.state == "pending"
            and delivery.attempts >= attempts
        ):
            return delivery
    return None


def test_callbacks_are_signed_and_survive_receiver_downtime(clients, ice_farm):
    """Events reach the receiver signed; while it is down, one is tried again and again
    (its attempts counted in the event store, well past Celery's default retry cap) and
    arrives once it is back."""
    sdk = clients["main2"]  # same account as "main": the setting is the account's
    with Receiver() as receiver:
        sdk.set_event_callback(
            ice.SetEventCallbackRequest(
                callback_type="HTTP",
                callback_url=receiver.url,
                auth_switch="on",
                auth_key=AUTH_KEY,
                event_type_list="MediaConvertComplete,MediaConvertOutputComplete",
            )
        )
        got = sdk.get_event_callback().body
        assert (got.callback_url, got.auth_switch, got.callback_type) == (
            receiver.url,
            "on",
            "HTTP",
        )
        assert set(got.event_type_list.split(",")) == {
            "MediaConvertComplete",
            "MediaConvertOutputComplete",
        }

        job = submit(sdk, _copy_config("cb1"), user_data=json.dumps({"ref": "cb1"}))
        assert wait(sdk, job.job_id).state == "Complete"
        deadline = time.monotonic() + 30
        while not _complete_for(receiver, job.job_id):
            assert time.monotonic() < deadline, [r.json()["EventType"] for r in receiver.received]
            time.sleep(0.1)
        request = _complete_for(receiver, job.job_id)[0]
        assert verify_signature(request.body, request.headers, AUTH_KEY, now=time.time())
        event = request.json()
        assert isinstance(event["UserId"], int) and event["EventTime"].endswith("Z")
        body = event["MessageBody"]
        assert body["State"] == "Complete" and body["UserData"] == '{"ref": "cb1"}'
        assert body["OutputDetails"][0]["Status"] == "Success"
        types = {
            r.json()["EventType"]
            for r in receiver.received
            if r.json()["MessageBody"]["JobId"] == job.job_id
        }
        assert types == {"MediaConvertComplete", "MediaConvertOutputComplete"}

        # The receiver goes away while a job finishes, and comes back once the event's
        # delivery was tried more times than Celery's default cap of 3 retries allows.
        receiver.stop()
        job2 = submit(sdk, _copy_config("cb2"))
        assert wait(sdk, job2.job_id).state == "Complete"
        refused = wait_until(
            lambda: _pending(ice_farm, job2.job_id, attempts=CELERY_DEFAULT_TRIES + 2),
            "the MediaConvertComplete delivery tried past Celery's default retry cap",
        )
        assert refused.last_result.startswith("error: ")  # refused: nobody listening
        assert not _complete_for(receiver, job2.job_id)
        receiver.start()
        deadline = time.monotonic() + 30
        while not _complete_for(receiver, job2.job_id):
            assert time.monotonic() < deadline, "the event was not redelivered"
            time.sleep(0.1)
        late = _complete_for(receiver, job2.job_id)[0]
        assert verify_signature(late.body, late.headers, AUTH_KEY, now=time.time())


def test_notify_address_in_user_data_gets_the_event(clients):
    sdk = clients["other"]
    with Receiver() as receiver:
        job = submit(
            sdk, _copy_config("notify"), user_data=json.dumps({"NotifyAddress": receiver.url})
        )
        assert wait(sdk, job.job_id).state == "Complete"
        deadline = time.monotonic() + 30
        while not _complete_for(receiver, job.job_id):
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_set_event_callback_refuses_bad_settings(clients):
    sdk = clients["main"]
    for request, code in [
        (
            ice.SetEventCallbackRequest(callback_type="MNS", callback_queue_name="ice-callback-x"),
            "InvalidParameter",
        ),
        (ice.SetEventCallbackRequest(callback_type="HTTP"), "MissingParameter"),
        (
            ice.SetEventCallbackRequest(callback_type="HTTP", callback_url="ftp://x/y"),
            "InvalidParameter",
        ),
        (
            ice.SetEventCallbackRequest(
                callback_type="HTTP", callback_url="http://127.0.0.1:9/h", auth_switch="on"
            ),
            "MissingParameter",
        ),
    ]:
        with pytest.raises(ClientException) as err:
            sdk.set_event_callback(request)
        assert err.value.code == code
    with pytest.raises(ClientException) as err:
        clients["reader"].set_event_callback(
            ice.SetEventCallbackRequest(callback_type="HTTP", callback_url="http://127.0.0.1:9/h")
        )
    assert (err.value.code, err.value.status_code) == ("Forbidden.RAM", 403)
