"""Event callbacks against a real redis-server and a real local HTTP receiver.

Covers the Notifier's targets, the signed POST, ``deliver`` through receiver outages, 500s,
give-up, the dead-letter list and replay, the SSRF re-check, and the REST views and CLI
commands on top. Redis DB 12 of the session's server is this file's own.
"""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

import pytest
import redis
from alibabacloud_ice20201109.models import GetEventCallbackResponseBody
from celery import Celery
from celery.exceptions import Retry
from flask import Flask, g

from api.callbacks import blp, replay_dead_letter
from api.errors import register_error_handlers
from cli.events import add_parsers
from shared import keys
from shared.callback_settings import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    parse_callback_settings,
    pin_callback_url,
    verify_signature,
)
from shared.clock import now_us
from shared.config import Settings
from shared.dispatch import DELIVER_EVENT
from shared.errors import ApiError
from shared.events import DEAD_TTL_S, DELIVERED_TTL_S, EventStore, Notifier
from tests.servers.ports import free_port
from tests.servers.receiver import Receiver
from workers.notify import DeliveryFailed, backoff, deliver, http_post

pytestmark = pytest.mark.e2e

OWNER = "acct-1"
USER_ID = 1234567890123456
KEY = "Abc123xyz"
BODY = {"JobId": "f" * 32, "State": "Complete"}
GIVE_UP_S = 3600


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def events_redis(redis_base):
    client = redis.Redis.from_url(f"{redis_base}/12", decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def store(events_redis) -> EventStore:
    return EventStore(events_redis)


@pytest.fixture
def rx():
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def rx2():
    with Receiver(path="/notify") as receiver:
        yield receiver


def configure(store: EventStore, url: str, owner: str = OWNER, **params: str) -> None:
    params = {"CallbackURL": url, **params}
    store.set_callback(owner, parse_callback_settings(params, allow_private=True))


def emit(store, event_type="MediaConvertComplete", user_data="", owner=OWNER) -> list[str]:
    sent: list[str] = []
    ids = Notifier(store, sent.append, allow_private=True).emit(
        owner, USER_ID, event_type, BODY, user_data
    )
    assert sent == ids
    return ids


def run(store, delivery_id, *, at=None, allow_private=True, post=http_post) -> str:
    return deliver(
        store,
        delivery_id,
        post=post,
        now_us=now_us() if at is None else at,
        give_up_after_s=GIVE_UP_S,
        allow_private=allow_private,
    )


# --- Notifier.emit ---------------------------------------------------------------------------


def test_emit_to_callback_and_notify_address(store, rx, rx2) -> None:
    configure(store, rx.url, AuthSwitch="on", AuthKey=KEY)
    ids = emit(store, user_data=json.dumps({"NotifyAddress": rx2.url}))
    first, second = (store.get(i) for i in ids)
    assert (first.url, second.url) == (rx.url, rx2.url)
    assert first.body == second.body
    for delivery in (first, second):
        assert (delivery.state, delivery.attempts, delivery.owner) == ("pending", 0, OWNER)
        assert (delivery.event_type, delivery.job_id) == ("MediaConvertComplete", "f" * 32)
        assert delivery.auth_key == KEY  # NotifyAddress is signed with the owner's key too
    doc = json.loads(first.body)
    assert doc["UserId"] == USER_ID and doc["MessageBody"] == BODY


def test_emit_follows_the_event_type_list(store, rx) -> None:
    configure(store, rx.url, EventTypeList="MediaConvertComplete")
    assert emit(store, "MediaConvertOutputComplete") == []
    assert len(emit(store, "MediaConvertComplete")) == 1


def test_emit_with_no_target_stores_nothing(store, events_redis) -> None:
    assert emit(store) == []
    assert emit(store, user_data="not json") == []
    assert emit(store, user_data='{"NotifyAddress": "gopher://x"}') == []
    configure(store, "http://127.0.0.1:9/other", owner="someone-else")
    assert emit(store) == []
    assert events_redis.keys("mcfarm:dlv:*") == []


def test_emit_skips_a_private_notify_address_unless_allowed(store, rx) -> None:
    sent: list[str] = []
    notifier = Notifier(store, sent.append, allow_private=False)
    user_data = json.dumps({"NotifyAddress": rx.url})
    assert notifier.emit(OWNER, USER_ID, "MediaConvertComplete", BODY, user_data) == []
    assert sent == []


def test_emit_sends_once_when_both_targets_are_one_url(store, rx) -> None:
    configure(store, rx.url)
    assert len(emit(store, user_data=json.dumps({"NotifyAddress": rx.url}))) == 1


# --- deliver -----------------------------------------------------------------------------------


def test_signed_delivery_verifies(store, rx) -> None:
    configure(store, rx.url, AuthSwitch="on", AuthKey=KEY)
    (delivery_id,) = emit(store)
    assert run(store, delivery_id) == "delivered"
    (got,) = rx.wait_for(1)
    assert got.path == "/hook" and got.method == "POST"
    assert got.headers["content-type"] == "application/json"
    assert got.headers[DELIVERY_HEADER.lower()] == delivery_id
    assert verify_signature(got.body, got.headers, KEY, now=time.time())
    assert not verify_signature(got.body + b" ", got.headers, KEY, now=time.time())
    doc = got.json()
    assert list(doc) == ["EventType", "UserId", "EventTime", "MessageBody"]
    assert doc["EventType"] == "MediaConvertComplete" and doc["UserId"] == USER_ID
    delivery = store.get(delivery_id)
    assert (delivery.state, delivery.attempts, delivery.last_result) == ("delivered", 1, "HTTP 200")
    assert 0 < store.redis.ttl(keys.delivery(delivery_id)) <= DELIVERED_TTL_S


def test_unsigned_when_auth_is_off(store, rx) -> None:
    configure(store, rx.url, AuthKey=KEY)  # a key alone does not switch signing on
    (delivery_id,) = emit(store)
    assert run(store, delivery_id) == "delivered"
    (got,) = rx.wait_for(1)
    assert SIGNATURE_HEADER.lower() not in got.headers


def test_receiver_down_then_back(store, rx) -> None:
    configure(store, rx.url)
    (delivery_id,) = emit(store)
    rx.stop()
    assert run(store, delivery_id) == "retry"
    delivery = store.get(delivery_id)
    assert delivery.attempts == 1 and delivery.last_result.startswith("error: ")
    rx.start()
    assert run(store, delivery_id) == "delivered"
    assert store.get(delivery_id).attempts == 2
    assert len(rx.wait_for(1)) == 1


@pytest.mark.parametrize("status", [500, 404, 302])
def test_non_2xx_is_retried(store, rx, status: int) -> None:
    configure(store, rx.url)
    (delivery_id,) = emit(store)
    rx.status = status  # 302 points at the metadata address: it must not be followed
    assert run(store, delivery_id) == "retry"
    assert store.get(delivery_id).last_result == f"HTTP {status}"
    rx.status = 204
    assert run(store, delivery_id) == "delivered"
    assert [r.path for r in rx.wait_for(2)] == ["/hook", "/hook"]


def test_give_up_dead_letter_and_replay(store, rx) -> None:
    configure(store, rx.url)
    (delivery_id,) = emit(store)
    rx.stop()
    assert run(store, delivery_id) == "retry"
    late = store.get(delivery_id).since_us + (GIVE_UP_S + 1) * 1_000_000
    assert run(store, delivery_id, at=late) == "dead"
    delivery = store.get(delivery_id)
    assert delivery.state == "dead" and delivery.attempts == 2
    assert "no 2xx answer" in delivery.reason and "error: " in delivery.reason
    assert 0 < store.redis.ttl(keys.delivery(delivery_id)) <= DEAD_TTL_S
    (listed,) = store.list_dead(OWNER)
    assert listed["DeliveryId"] == delivery_id and listed["Attempts"] == 2
    assert listed["URL"] == rx.url and listed["EventType"] == "MediaConvertComplete"
    assert listed["LastError"].startswith("error: ") and listed["FailTime"]
    assert [d["DeliveryId"] for d in store.list_dead()] == [delivery_id]
    assert store.list_dead("someone-else") == []
    assert run(store, delivery_id) == "gone"  # dead letters are not retried by the task
    assert store.revive(delivery_id) is True
    assert store.revive(delivery_id) is False
    assert store.list_dead(OWNER) == [] and store.list_dead() == []
    rx.start()
    assert run(store, delivery_id) == "delivered"
    assert store.get(delivery_id).attempts == 3


def test_an_old_delivery_still_succeeds_when_the_receiver_answers(store, rx) -> None:
    configure(store, rx.url)
    (delivery_id,) = emit(store)
    late = store.get(delivery_id).since_us + (GIVE_UP_S + 1) * 1_000_000
    assert run(store, delivery_id, at=late) == "delivered"


def test_private_url_refused_at_delivery_time(store, rx) -> None:
    delivery_id = store.create_delivery(OWNER, rx.url, json.dumps({"EventType": "X"}), "")
    assert run(store, delivery_id, allow_private=False) == "dead"
    delivery = store.get(delivery_id)
    assert delivery.reason.startswith("refused: ") and '"CallbackURL"' in delivery.reason
    assert rx.received == []


def test_delivered_is_gone(store, rx) -> None:
    configure(store, rx.url)
    (delivery_id,) = emit(store)
    assert run(store, delivery_id) == "delivered"
    assert run(store, delivery_id) == "gone"
    assert run(store, "0" * 32) == "gone"
    assert run(store, "") == "gone"
    assert len(rx.wait_for(1)) == 1
    assert store.mark_delivered(delivery_id) is False
    assert store.dead_letter(delivery_id, "x") is False


def test_list_dead_is_newest_first_and_limited(store) -> None:
    ids = [store.create_delivery(OWNER, f"http://127.0.0.1:9/{i}", "{}", "") for i in range(3)]
    for delivery_id in ids:
        assert store.dead_letter(delivery_id, "test")
        time.sleep(0.002)
    assert [d["DeliveryId"] for d in store.list_dead(OWNER)] == ids[::-1]
    assert [d["DeliveryId"] for d in store.list_dead(OWNER, limit=2)] == ids[:0:-1]
    store.redis.delete(keys.delivery(ids[2]))  # expired: dropped from the list
    assert [d["DeliveryId"] for d in store.list_dead()] == ids[1::-1]


def test_http_post_reports_connection_failures(rx) -> None:
    pinned = pin_callback_url(rx.url, allow_private=True)
    assert http_post(rx.url, b"{}", {}, pinned) == 200
    rx.stop()
    with pytest.raises(DeliveryFailed):
        http_post(rx.url, b"{}", {}, pinned, timeout=2)
    with pytest.raises(ApiError):
        pin_callback_url("http://[::1", allow_private=True)


def test_a_delivery_posts_to_the_address_it_checked(store, rx) -> None:
    """The POST goes where the SSRF check looked, even if the name resolves elsewhere now."""
    configure(store, rx.url)
    (delivery_id,) = emit(store)
    sent = []

    def post(url, body, headers, pinned) -> int:
        sent.append(pinned)
        return http_post(url, body, headers, pinned)

    assert run(store, delivery_id, post=post) == "delivered"
    assert [p.addresses for p in sent] == [("127.0.0.1",)]


# --- the Celery task (called directly: no broker, no worker) ------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(i, 60) for i in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff(10_000, 5) == 5


def test_task_delivers_or_asks_to_retry(store, rx, events_redis) -> None:
    app = Celery("test-notify", set_as_current=False)
    settings = Settings(allow_private_callbacks=True, callback_max_backoff=5)
    app.farm = SimpleNamespace(settings=settings, stores=SimpleNamespace(events=store))
    task = app.tasks[DELIVER_EVENT]
    configure(store, rx.url)
    first, second = emit(store), emit(store)
    assert task.run(first[0]) == "delivered"
    rx.stop()
    with pytest.raises(Retry):
        task.run(second[0])
    assert store.get(second[0]).state == "pending"
    away = redis.Redis(port=free_port(), decode_responses=True)
    app.farm.stores.events = EventStore(away)
    with pytest.raises(Retry):  # Redis away: retried, not dropped
        task.run(second[0])
    away.close()


# --- REST views and CLI --------------------------------------------------------------------


class RecordingDispatcher:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def deliver_event(self, delivery_id: str) -> None:
        self.sent.append(delivery_id)


@pytest.fixture
def api(store):
    app = Flask("test-callbacks")
    farm = SimpleNamespace(
        settings=Settings(),
        stores=SimpleNamespace(events=store),
        dispatcher=RecordingDispatcher(),
    )
    app.extensions["mcfarm"] = farm

    @app.before_request
    def _caller():
        from flask import request

        g.request_id = "REQ-1"
        g.owner = request.headers.get("X-Owner", OWNER)

    app.register_blueprint(blp)
    register_error_handlers(app)
    return SimpleNamespace(client=app.test_client(), farm=farm)


def test_get_and_put_event_callback(api) -> None:
    unset = api.client.get("/v1/event-callback").get_json()
    assert unset["RequestId"] == "REQ-1" and unset["CallbackURL"] == ""
    body = {
        "CallbackURL": "https://8.8.8.8/cb",
        "EventTypeList": ["MediaConvertComplete"],
        "AuthSwitch": "on",
        "AuthKey": KEY,
    }
    resp = api.client.put("/v1/event-callback", json=body)
    assert resp.status_code == 200
    assert resp.get_json() == {"RequestId": "REQ-1", "Success": True}
    doc = api.client.get("/v1/event-callback").get_json()
    assert GetEventCallbackResponseBody().from_map(doc).to_map() == doc
    assert doc["CallbackURL"] == "https://8.8.8.8/cb" and doc["AuthSwitch"] == "on"
    assert doc["EventTypeList"] == "MediaConvertComplete"
    other = api.client.get("/v1/event-callback", headers={"X-Owner": "b"}).get_json()
    assert other["CallbackURL"] == ""


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"CallbackType": "MNS"}, "InvalidParameter", "CallbackType"),
        ({"CallbackURL": "http://127.0.0.1/cb"}, "InvalidParameter", "CallbackURL"),
        ({"EventTypeList": "MediaConvertComplete"}, "MissingParameter", "CallbackURL"),
        ({"CallbackURL": "https://8.8.8.8/cb", "Nope": 1}, "InvalidParameter", "Nope"),
        ({"CallbackURL": "https://8.8.8.8/cb", "AuthSwitch": "on"}, "MissingParameter", "AuthKey"),
    ],
)
def test_put_refusals(api, body, code, field) -> None:
    resp = api.client.put("/v1/event-callback", json=body)
    assert resp.status_code == 400
    doc = resp.get_json()
    assert doc["Code"] == code and f'"{field}"' in doc["Message"]
    assert api.client.put("/v1/event-callback", data="[]").status_code == 400


def test_dead_letters_and_replay(api, store) -> None:
    delivery_id = store.create_delivery(OWNER, "http://127.0.0.1:9/x", "{}", "")
    store.dead_letter(delivery_id, "test")
    listed = api.client.get("/v1/events/dead?limit=5").get_json()["DeadLetters"]
    assert [d["DeliveryId"] for d in listed] == [delivery_id]
    assert api.client.get("/v1/events/dead?limit=0").status_code == 400
    other = api.client.post(f"/v1/events/dead/{delivery_id}/replay", headers={"X-Owner": "b"})
    assert other.status_code == 404 and other.get_json()["Code"] == "ResourceNotFound"
    resp = api.client.post(f"/v1/events/dead/{delivery_id}/replay")
    assert resp.status_code == 202 and resp.get_json()["DeliveryId"] == delivery_id
    assert api.farm.dispatcher.sent == [delivery_id]
    assert store.get(delivery_id).state == "pending"
    assert api.client.post(f"/v1/events/dead/{delivery_id}/replay").status_code == 404


def test_replay_that_cannot_be_queued_stays_dead(store) -> None:
    class Down:
        def deliver_event(self, delivery_id: str) -> None:
            raise ConnectionError("broker down")

    farm = SimpleNamespace(stores=SimpleNamespace(events=store), dispatcher=Down())
    delivery_id = store.create_delivery(OWNER, "http://127.0.0.1:9/x", "{}", "")
    store.dead_letter(delivery_id, "test")
    with pytest.raises(ConnectionError):
        replay_dead_letter(farm, OWNER, delivery_id)
    assert store.get(delivery_id).state == "dead"
    with pytest.raises(ApiError):
        replay_dead_letter(farm, OWNER, "unknown")


class RecordingClient:
    def __init__(self, answer: dict) -> None:
        self.answer, self.calls = answer, []

    def call(self, method: str, path: str, body=None) -> dict:
        self.calls.append((method, path, body))
        return self.answer


def test_cli_commands(capsys) -> None:
    dead = {
        "DeliveryId": "d1",
        "FailTime": "2024-01-01T00:01:00Z",
        "EventType": "MediaConvertComplete",
        "Attempts": 3,
        "URL": "http://x/cb",
        "LastError": "HTTP 500",
    }
    client = RecordingClient({"DeadLetters": [dead], "DeliveryId": "d1"})
    parser = argparse.ArgumentParser(prog="mcfarm")
    add_parsers(parser.add_subparsers(dest="command"), lambda args, settings: client)
    args = parser.parse_args(["events", "dead", "--limit", "5"])
    assert args.func(args, None) == 0
    assert "d1" in capsys.readouterr().out
    args = parser.parse_args(["events", "replay", "d1/.."])
    assert args.func(args, None) == 0
    assert client.calls == [
        ("GET", "/v1/events/dead?limit=5", None),
        ("POST", "/v1/events/dead/d1%2F../replay", {}),
    ]
