"""The pure parts of event callbacks: settings validation, envelope, signatures.

No sockets: every URL host is an IP literal (``getaddrinfo`` needs no DNS for those) or is
not resolved at all (``allow_private=True``). The Redis store and delivery are covered by
``tests/e2e/test_event_delivery.py``.
"""

from __future__ import annotations

import re

import pytest
from alibabacloud_ice20201109.models import GetEventCallbackResponseBody, SetEventCallbackRequest

from shared.callback_settings import (
    EVENT_TYPES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallbackConfig,
    notify_address,
    parse_callback_settings,
    sign_headers,
    verify_signature,
)
from shared.errors import ApiError
from shared.events import Delivery, Notifier, envelope

PUBLIC = "http://8.8.8.8/hook"
KEY = "Abc123xyz"


def parse(allow_private: bool = False, **params: object) -> CallbackConfig:
    return parse_callback_settings(params, allow_private=allow_private)


# --- parse_callback_settings: accepted -------------------------------------------------------


def test_minimal_settings_default_to_http_all_events_unsigned() -> None:
    assert parse(CallbackURL=PUBLIC) == CallbackConfig("HTTP", PUBLIC, EVENT_TYPES, "off", "")


def test_full_settings() -> None:
    cfg = parse(
        CallbackType="HTTP",
        CallbackURL="https://8.8.8.8:8443/cb?x=1",
        EventTypeList="MediaConvertComplete, MediaConvertOutputComplete",
        AuthSwitch="on",
        AuthKey=KEY,
    )
    assert cfg == CallbackConfig(
        "HTTP",
        "https://8.8.8.8:8443/cb?x=1",
        ("MediaConvertComplete", "MediaConvertOutputComplete"),
        "on",
        KEY,
    )
    assert cfg.wants("MediaConvertComplete")
    assert not cfg.wants("MediaConvertOutputGroupComplete")


def test_case_is_normalized_and_names_deduplicated() -> None:
    cfg = parse(
        CallbackType="http",
        CallbackURL=PUBLIC,
        AuthSwitch="ON",
        AuthKey=KEY,
        EventTypeList="MediaConvertComplete,,MediaConvertComplete,",
    )
    assert (cfg.callback_type, cfg.auth_switch) == ("HTTP", "on")
    assert cfg.event_types == ("MediaConvertComplete",)


def test_unknown_event_names_are_kept_but_never_emitted() -> None:
    cfg = parse(CallbackURL=PUBLIC, EventTypeList="ProduceMediaComplete,MediaConvertComplete")
    assert cfg.event_types == ("ProduceMediaComplete", "MediaConvertComplete")
    assert "ProduceMediaComplete" not in EVENT_TYPES


def test_unknown_parameters_and_queue_name_are_ignored() -> None:
    cfg = parse(CallbackURL=PUBLIC, CallbackQueueName="ice-callback-x", Action="SetEventCallback")
    assert cfg.callback_url == PUBLIC


def test_limits_at_their_edge() -> None:
    url = "http://8.8.8.8/" + "a" * (256 - len("http://8.8.8.8/"))
    assert len(url.encode()) == 256
    assert parse(CallbackURL=url, AuthSwitch="on", AuthKey="Aa1" + "b" * 29).auth_key.endswith("b")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hook", "http://10.1.2.3/hook", "http://localhost/hook"]
)
def test_private_urls_allowed_when_configured(url: str) -> None:
    assert parse(allow_private=True, CallbackURL=url).callback_url == url


def test_sdk_request_model_feeds_the_parser() -> None:
    request = SetEventCallbackRequest(
        callback_type="HTTP",
        callback_url=PUBLIC,
        event_type_list="MediaConvertComplete",
        auth_switch="on",
        auth_key=KEY,
    )
    cfg = parse_callback_settings(request.to_map(), allow_private=False)
    assert cfg == CallbackConfig("HTTP", PUBLIC, ("MediaConvertComplete",), "on", KEY)


def test_to_wire_uses_the_sdk_field_names() -> None:
    cfg = CallbackConfig("HTTP", PUBLIC, EVENT_TYPES, "on", KEY)
    wire = cfg.to_wire()
    assert wire == {
        "CallbackType": "HTTP",
        "CallbackURL": PUBLIC,
        "CallbackQueueName": "",
        "EventTypeList": ",".join(EVENT_TYPES),
        "AuthSwitch": "on",
        "AuthKey": KEY,
    }
    assert GetEventCallbackResponseBody().from_map(wire).to_map() == wire
    assert CallbackConfig.from_wire(wire) == cfg


# --- parse_callback_settings: refused --------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"CallbackType": "MNS", "CallbackQueueName": "ice-callback-q"}, "InvalidParameter", "CallbackType"),
        ({"CallbackType": "SMS", "CallbackURL": PUBLIC}, "InvalidParameter", "CallbackType"),
        ({}, "MissingParameter", "CallbackURL"),
        ({"CallbackURL": ""}, "MissingParameter", "CallbackURL"),
        ({"CallbackURL": 42}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http://8.8.8.8/" + "a" * 242}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "ftp://8.8.8.8/hook"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "file:///etc/passwd"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "mns://ice-callback-q"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "not a url"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http:///hook"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http://[::1"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http://8.8.8.8:99999/"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http://8.8.8.8/a b"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http://8.8.8.8/a\r\nX: y"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http://user:pw@8.8.8.8/hook"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http://127.0.0.1/hook"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http://10.0.0.7/hook"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http://169.254.169.254/latest"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": "http://[::1]/hook"}, "InvalidParameter", "CallbackURL"),
        ({"CallbackURL": PUBLIC, "EventTypeList": "Media Convert"}, "InvalidParameter", "EventTypeList"),
        ({"CallbackURL": PUBLIC, "EventTypeList": "A;B"}, "InvalidParameter", "EventTypeList"),
        ({"CallbackURL": PUBLIC, "EventTypeList": ",".join(f"E{i}" for i in range(65))}, "InvalidParameter", "EventTypeList"),
        ({"CallbackURL": PUBLIC, "AuthSwitch": "yes"}, "InvalidParameter", "AuthSwitch"),
        ({"CallbackURL": PUBLIC, "AuthSwitch": "on"}, "MissingParameter", "AuthKey"),
        ({"CallbackURL": PUBLIC, "AuthSwitch": "on", "AuthKey": ""}, "MissingParameter", "AuthKey"),
        ({"CallbackURL": PUBLIC, "AuthSwitch": "on", "AuthKey": "abc123"}, "InvalidParameter", "AuthKey"),
        ({"CallbackURL": PUBLIC, "AuthSwitch": "on", "AuthKey": "ABC123"}, "InvalidParameter", "AuthKey"),
        ({"CallbackURL": PUBLIC, "AuthSwitch": "on", "AuthKey": "Abcdef"}, "InvalidParameter", "AuthKey"),
        ({"CallbackURL": PUBLIC, "AuthSwitch": "on", "AuthKey": "Abc-123"}, "InvalidParameter", "AuthKey"),
        ({"CallbackURL": PUBLIC, "AuthSwitch": "on", "AuthKey": "Aa1" + "b" * 30}, "InvalidParameter", "AuthKey"),
        ({"CallbackURL": PUBLIC, "AuthSwitch": "off", "AuthKey": "weak"}, "InvalidParameter", "AuthKey"),
        ({"CallbackURL": PUBLIC, "AuthSwitch": True}, "InvalidParameter", "AuthSwitch"),
    ],
)  # fmt: skip
def test_refused(params: dict, code: str, field: str) -> None:
    with pytest.raises(ApiError) as exc_info:
        parse_callback_settings(params, allow_private=False)
    assert exc_info.value.code == code
    assert exc_info.value.http_status == 400
    assert f'"{field}"' in exc_info.value.message


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://u:p@127.0.0.1/x"])
def test_allow_private_still_refuses_schemes_and_credentials(url: str) -> None:
    with pytest.raises(ApiError) as exc_info:
        parse(allow_private=True, CallbackURL=url)
    assert exc_info.value.code == "InvalidParameter"


# --- notify_address -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_data",
    [
        "",
        "free text",
        "[1, 2]",
        '"http://8.8.8.8/x"',
        '{"Other": 1}',
        '{"NotifyAddress": 5}',
        '{"NotifyAddress": ""}',
        '{"NotifyAddress": "mns://ice-callback-q"}',
        '{"NotifyAddress": "http://127.0.0.1:9/x"}',
        '{"NotifyAddress": "http://8.8.8.8/a b"}',
        '{"NotifyAddress": "http://[::1"}',
        '{"NotifyAddress": "http://8.8.8.8:99999/"}',
        '{"NotifyAddress": "http://8.8.8.8:x/"}',
    ],
)
def test_notify_address_absent_or_skipped(user_data: str) -> None:
    assert notify_address(user_data, allow_private=False) is None


def test_notify_address_found() -> None:
    assert notify_address('{"NotifyAddress":"https://8.8.8.8/n?t=1"}', allow_private=False) == (
        "https://8.8.8.8/n?t=1"
    )
    local = '{"NotifyAddress": "http://127.0.0.1:9/x", "k": [1]}'
    assert notify_address(local, allow_private=True) == "http://127.0.0.1:9/x"


def test_emit_refuses_an_event_type_it_does_not_know() -> None:
    notifier = Notifier(store=None, send=lambda _id: None, allow_private=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ProduceMediaComplete"):
        notifier.emit("acct", 1, "ProduceMediaComplete", {})


# --- envelope ----------------------------------------------------------------------------------


def test_envelope_shape() -> None:
    body = {"JobId": "a" * 32, "State": "Complete"}
    doc = envelope("MediaConvertComplete", "1234567890123456", body, 1_704_067_260_500_000)  # type: ignore[arg-type]
    assert doc == {
        "EventType": "MediaConvertComplete",
        "UserId": 1234567890123456,
        "EventTime": "2024-01-01T00:01:00Z",
        "MessageBody": body,
    }
    assert list(doc) == ["EventType", "UserId", "EventTime", "MessageBody"]
    assert isinstance(doc["UserId"], int)


# --- signatures --------------------------------------------------------------------------------

BODY = b'{"EventType":"MediaConvertComplete"}'
TS = 1_704_067_260


def test_known_vector_pins_the_scheme() -> None:
    # The example in shared/events.py's docstring (and the README).
    assert sign_headers(BODY, KEY, TS) == {
        TIMESTAMP_HEADER: "1704067260",
        SIGNATURE_HEADER: "v1=49be14bf8480275eb8b4c704780785c15ee9103c9bf1fa1317607e722aac9e1f",
    }
    assert re.fullmatch(r"v1=[0-9a-f]{64}", sign_headers(b"", "K1k", 0)[SIGNATURE_HEADER])


def test_round_trip_and_tolerance() -> None:
    headers = sign_headers(BODY, KEY, TS)
    assert verify_signature(BODY, headers, KEY, now=TS)
    assert verify_signature(BODY, headers, KEY, now=TS + 300)
    assert verify_signature(BODY, headers, KEY, now=TS - 300)
    assert not verify_signature(BODY, headers, KEY, now=TS + 301)
    assert not verify_signature(BODY, headers, KEY, now=TS - 301)
    assert verify_signature(BODY, headers, KEY, now=TS + 1000, tolerance_s=1000)


def test_header_names_are_case_insensitive() -> None:
    headers = {k.lower(): v for k, v in sign_headers(BODY, KEY, TS).items()}
    assert verify_signature(BODY, headers, KEY, now=TS)


def test_any_listed_signature_may_match() -> None:
    headers = sign_headers(BODY, KEY, TS)
    headers[SIGNATURE_HEADER] = "v1=" + "0" * 64 + ", " + headers[SIGNATURE_HEADER]
    assert verify_signature(BODY, headers, KEY, now=TS)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b, h: (b + b" ", h),
        lambda b, h: (b.replace(b"Complete", b"Failed!!"), h),
        lambda b, h: (b, {**h, TIMESTAMP_HEADER: str(TS + 1)}),
        lambda b, h: (b, {**h, SIGNATURE_HEADER: h[SIGNATURE_HEADER].upper()}),
        lambda b, h: (b, {**h, SIGNATURE_HEADER: h[SIGNATURE_HEADER][3:]}),
        lambda b, h: (b, {**h, SIGNATURE_HEADER: "v1=é"}),
        lambda b, h: (b, {**h, TIMESTAMP_HEADER: "-1"}),
        lambda b, h: (b, {**h, TIMESTAMP_HEADER: "1e9"}),
        lambda b, h: (b, {SIGNATURE_HEADER: h[SIGNATURE_HEADER]}),
        lambda b, h: (b, {TIMESTAMP_HEADER: h[TIMESTAMP_HEADER]}),
        lambda b, h: (b, {}),
    ],
)
def test_tampering_fails(tamper) -> None:
    body, headers = tamper(BODY, sign_headers(BODY, KEY, TS))
    assert not verify_signature(body, headers, KEY, now=TS)


def test_wrong_or_empty_key_fails() -> None:
    headers = sign_headers(BODY, KEY, TS)
    assert not verify_signature(BODY, headers, "Abc123xyZ", now=TS)
    assert not verify_signature(BODY, sign_headers(BODY, "", TS), "", now=TS)


# --- dead-letter summary -------------------------------------------------------------------------


def test_summary_hides_body_key_and_query() -> None:
    delivery = Delivery(
        delivery_id="d" * 32,
        owner="acct",
        url="https://8.8.8.8/n?token=secret",
        body='{"EventType":"MediaConvertComplete"}',
        auth_key=KEY,
        event_type="MediaConvertComplete",
        job_id="j" * 32,
        state="dead",
        attempts=7,
        created_us=1_704_067_200_000_000,
        since_us=1_704_067_200_000_000,
        last_result="HTTP 503",
        failed_us=1_704_067_260_000_000,
        reason="gave up",
    )
    summary = delivery.summary()
    assert summary == {
        "DeliveryId": "d" * 32,
        "Owner": "acct",
        "URL": "https://8.8.8.8/n?…",
        "EventType": "MediaConvertComplete",
        "JobId": "j" * 32,
        "State": "dead",
        "CreateTime": "2024-01-01T00:00:00Z",
        "FailTime": "2024-01-01T00:01:00Z",
        "Attempts": 7,
        "LastError": "HTTP 503",
        "Reason": "gave up",
    }
    assert "secret" not in str(summary) and KEY not in str(summary)
