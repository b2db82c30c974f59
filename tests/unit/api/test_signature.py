"""api.signature against the captures of reference §7 and against the ICE SDK's own signer.

The SDK tests run the real ``alibabacloud-ice20201109`` client with ``DaraCore.do_action`` (its
one network call) replaced by a recorder, so every request is signed by SDK code and turned into
what the server sees: the URL the SDK composes, decoded with ``parse_qsl`` like Flask does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from alibabacloud_ice20201109 import models as ice
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
from darabonba.core import DaraCore
from darabonba.response import DaraResponse
from darabonba.runtime import RuntimeOptions

from api.signature import (
    ACS3,
    V2,
    Caller,
    SignedRequest,
    acs3_string_to_sign,
    action_and_version,
    canonical_query,
    header_text,
    pct,
    v2_string_to_sign,
    verify,
)
from shared.config import AccessKey
from shared.errors import ApiError
from shared.guards import NonceStore

KEY = AccessKey("testAK", "testSecret", "testAK")
KEYS = {"testAK": KEY}
CAPTURED_AT = datetime(2026, 11, 24, 9, 5, 30, tzinfo=UTC)
EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UA = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"
SIGNED = "accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version"
SIGNED_STS = "accept;host;user-agent;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version"

# --- reference §7: raw URL query strings, exactly as captured ---------------------------

CONFIG_Q = "%7B%22JobName%22%3A+%22demo+job%22%2C+%22Inputs%22%3A+%5B%7B%22Name%22%3A+%22input0%22%2C+%22InputFile%22%3A+%7B%22Type%22%3A+%22OSS%22%2C+%22Media%22%3A+%22oss%3A%2F%2Fmy-bucket%2Fin%2Fsrc+video.mp4%22%7D%7D%5D%2C+%22OutputGroups%22%3A+%5B%7B%22Name%22%3A+%22grp1%22%2C+%22GroupConfig%22%3A+%7B%22Type%22%3A+%22File%22%2C+%22OutputFileBase%22%3A+%7B%22Type%22%3A+%22OSS%22%2C+%22Media%22%3A+%22oss%3A%2F%2Fmy-bucket%2Fout%2F%22%7D%7D%2C+%22Outputs%22%3A+%5B%7B%22Name%22%3A+%22mp4-720p%22%2C+%22TemplateId%22%3A+%22S00000001-200030%22%2C+%22OutputFileName%22%3A+%22a_720p.mp4%22%2C+%22OverrideParams%22%3A+%22%7B%5C%22Video%5C%22%3A+%7B%5C%22Bitrate%5C%22%3A+1200%7D%7D%22%2C+%22Priority%22%3A+6%7D%5D%7D%5D%7D"
CONFIG_TEXT = '{"JobName": "demo job", "Inputs": [{"Name": "input0", "InputFile": {"Type": "OSS", "Media": "oss://my-bucket/in/src video.mp4"}}], "OutputGroups": [{"Name": "grp1", "GroupConfig": {"Type": "File", "OutputFileBase": {"Type": "OSS", "Media": "oss://my-bucket/out/"}}, "Outputs": [{"Name": "mp4-720p", "TemplateId": "S00000001-200030", "OutputFileName": "a_720p.mp4", "OverrideParams": "{\\"Video\\": {\\"Bitrate\\": 1200}}", "Priority": 6}]}]}'
Q71 = f"ClientToken=tok-123&Config={CONFIG_Q}&PipelineId=pl-1&UserData=%7B%22NotifyAddress%22%3A%22http%3A%2F%2Fx%22%7D"
Q73 = f"Action=SubmitMediaConvertJob&Format=json&Version=2020-11-09&Timestamp=2026-11-24T09%3A05%3A25Z&SignatureNonce=cb274bad200b65c4b75b545bb0b660b2&Config={CONFIG_Q}&UserData=u+d~%2A%27&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=testAK&Signature=qbwC3CBpjuxcMUqZNp8hYZYrc0c%3D"
Q75 = "Config=%7B%22JobName%22%3A+%22%E8%BD%AC%E7%A0%81+a%2Bb%2520c%26d%3De%22%2C+%22Inputs%22%3A+%5B%7B%22Name%22%3A+%22i%22%2C+%22InputFile%22%3A+%7B%22Type%22%3A+%22OSS%22%2C+%22Media%22%3A+%22oss%3A%2F%2Fb%2F%E8%A7%86%E9%A2%91+1%2B2.mp4%22%7D%7D%5D%2C+%22OutputGroups%22%3A+%5B%5D%7D&UserData=x%2Ay%27z%281%29%21"
Q77 = "Config.JobName=%E8%BD%AC%E7%A0%81+a%2Bb%2520c%26d%3De&Config.Inputs.1.Name=i&Config.Inputs.1.InputFile.Type=OSS&Config.Inputs.1.InputFile.Media=oss%3A%2F%2Fb%2F%E8%A7%86%E9%A2%91+1%2B2.mp4"


def captured_acs3(query, action, date, nonce, signature, *, signed=SIGNED, algorithm=ACS3, **extra):
    headers = {
        "host": "127.0.0.1:18731",
        "x-acs-version": "2020-11-09",
        "x-acs-action": action,
        "user-agent": UA,
        "x-acs-date": date,
        "x-acs-signature-nonce": nonce,
        "accept": "application/json",
        "x-acs-content-sha256": EMPTY_SHA,
        "x-acs-credentials-provider": "static_ak",
        "authorization": f"{algorithm} Credential=testAK,SignedHeaders={signed},Signature={signature}",
        "accept-encoding": "identity",
        "content-length": "0",
        **extra,
    }
    return SignedRequest("POST", "/", parse_qsl(query, keep_blank_values=True), [], headers, b"")


def refused(req, code, status=400, *, keys=KEYS, now=None, **kwargs) -> ApiError:
    # pytest.raises(ApiError) lets any other exception type escape and fail the test.
    with pytest.raises(ApiError) as caught:
        verify(req, keys, now=now or datetime.now(UTC), **kwargs)
    assert (caught.value.code, caught.value.http_status) == (code, status)
    return caught.value


def test_71_acs3_capture_verifies_and_rebuilds_the_string_to_sign():
    req = captured_acs3(
        Q71,
        "SubmitMediaConvertJob",
        "2026-11-24T09:05:24Z",
        "22b37bfb9db81d47c01c4410963c37bb",
        "bbb30bad990f525b2d9718217b574489cf57d485840a7bd5090c1940713cb7d0",
    )
    assert ("Config", CONFIG_TEXT) in req.query
    assert acs3_string_to_sign(req, SIGNED.split(";"), EMPTY_SHA) == (
        "ACS3-HMAC-SHA256\n7d7873764a77183c79f82ab962cfdb0bcf38e3eb848fc5fe48909ad3a7a87cb1"
    )
    caller = verify(req, KEYS, now=CAPTURED_AT)
    signed_at = datetime(2026, 11, 24, 9, 5, 24, tzinfo=UTC)
    assert caller == Caller(KEY, ACS3, "22b37bfb9db81d47c01c4410963c37bb", signed_at)
    assert action_and_version(req) == ("SubmitMediaConvertJob", "2020-11-09")


def test_72_sts_capture_canonicalizes_but_is_refused():
    req = captured_acs3(
        "JobId=abc",
        "GetMediaConvertJob",
        "2026-11-24T09:05:25Z",
        "f4e753a628d8cc42ed79d7e027e8803d",
        "90f499ac1d56cd3d831f3508fa12b47923a4521e646e088b9c78d4145f88eead",
        signed=SIGNED_STS,
        **{"x-acs-accesskey-id": "testAK", "x-acs-security-token": "stsTok"},
    )
    req = dataclasses.replace(
        req, headers={**req.headers, "x-acs-credentials-provider": "static_sts"}
    )
    assert acs3_string_to_sign(req, SIGNED_STS.split(";"), EMPTY_SHA) == (
        "ACS3-HMAC-SHA256\n034180e75491b7f16b58f3704ca290a292674c9908498e47d7da04557432e0f5"
    )
    err = refused(req, "InvalidSecurityToken.Malformed", now=CAPTURED_AT)
    assert "STS" in err.message


def test_73_v2_capture_verifies():
    req = SignedRequest("POST", "/", parse_qsl(Q73, keep_blank_values=True), [], {}, b"")
    assert dict(req.query)["Config"] == CONFIG_TEXT
    assert dict(req.query)["UserData"] == "u d~*'"
    caller = verify(req, KEYS, now=CAPTURED_AT)
    signed_at = datetime(2026, 11, 24, 9, 5, 25, tzinfo=UTC)
    assert caller == Caller(KEY, V2, "cb274bad200b65c4b75b545bb0b660b2", signed_at)
    assert v2_string_to_sign("POST", req.query).startswith(
        "POST&%2F&AccessKeyId%3DtestAK%26Action%3DSubmitMediaConvertJob%26Config%3D%257B%2522"
    )
    assert action_and_version(req) == ("SubmitMediaConvertJob", "2020-11-09")


@pytest.mark.parametrize(
    ("query", "action", "nonce", "signature"),
    [
        (
            Q75,
            "SubmitMediaConvertJob",
            "3cc4dad0255878358b578ad34ae14461",
            "e9abafc1369f0c85a3970f753da1e595110893516035c8a755289521dd4174c2",
        ),
        (
            "JobId=async+job/1",
            "GetMediaConvertJob",
            "b9710a9080e0aa06acdb2e5a41f55c80",
            "b96d182bdc95e204ba7ce423d8b2457876370a32811b0bc05a32ae8282d87c12",
        ),
        (
            Q77,
            "SubmitMediaConvertJob",
            "8530650d3996c1c3ecdf5be4b4449ee9",
            "fe9d2d8301b6e2eab3281afa6395a45afe4944aba159878928a99eaecd95b9a8",
        ),
    ],
    ids=["7.5-unicode", "7.6-async", "7.7-flattened"],
)
def test_75_to_77_captures_verify(query, action, nonce, signature):
    req = captured_acs3(query, action, "2026-11-24T09:05:38Z", nonce, signature)
    assert verify(req, KEYS, now=CAPTURED_AT).nonce == nonce


def test_74_sm3_capture_is_refused_clearly():
    req = captured_acs3(
        "JobId=abc",
        "GetMediaConvertJob",
        "2026-11-24T09:05:25Z",
        "c1b5fb1f9119ba6e3d159efb8d8c2a1f",
        "409fd0e78c3fe7139daf03d448a5bcb36334f5b461340a45de51b17037b13db0",
        algorithm="ACS3-HMAC-SM3",
    )
    assert "ACS3-HMAC-SHA256" in refused(req, "IncompleteSignature", now=CAPTURED_AT).message


# --- the SDK's own signer --------------------------------------------------------------


def as_received(request) -> SignedRequest:
    """What a server sees for a DaraRequest: the SDK's own URL, decoded as Flask does."""
    url = urlsplit(DaraCore.compose_url(request))
    body = request.body or b""
    body = body.encode() if isinstance(body, str) else body
    headers = {k.lower(): str(v) for k, v in request.headers.items()}
    is_form = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    form = parse_qsl(body.decode(), keep_blank_values=True) if is_form else []
    query = parse_qsl(url.query, keep_blank_values=True)
    return SignedRequest(request.method, url.path, query, form, headers, body)


@pytest.fixture
def sent(monkeypatch) -> list[SignedRequest]:
    requests: list[SignedRequest] = []

    def do_action(request, runtime_option=None):
        requests.append(as_received(request))
        response = DaraResponse()
        response.status_code, response.headers, response.body = 200, {}, b'{"RequestId":"r"}'
        return response

    monkeypatch.setattr(DaraCore, "do_action", staticmethod(do_action))
    return requests


def client(algorithm=None, secret="testSecret", token=None) -> Client:
    return Client(
        Config(
            access_key_id="testAK",
            access_key_secret=secret,
            security_token=token,
            endpoint="127.0.0.1:18731",
            protocol="http",
            signature_algorithm=algorithm,
        )
    )


def call(algorithm=None, query=None, body=None, **kwargs) -> None:
    # The same Params the generated ICE operations use (RPC style, form bodies).
    params = Params(
        action="SubmitMediaConvertJob",
        version="2020-11-09",
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = OpenApiRequest(query=query, body=body)
    client(algorithm, **kwargs).call_api(params, request, RuntimeOptions())


SCHEMES = pytest.mark.parametrize("algorithm", [None, "v2"], ids=["acs3", "v2"])
PARAM_SETS = {
    "unicode": {"Config": '{"JobName": "转码 视频 ü€😀"}', "UserData": "日本語"},
    "space-plus": {"A": "a b+c  d", "B": "+"},
    "rfc3986-edge": {"C": "~*'!()", "D": "a&b=c;d/e?f#g:h@i,j$k[l]"},
    "percent-literals": {"E": "x%20y%2B%", "F": "%E8%BD%AC"},
    "empty": {"Empty": "", "JobId": "j"},
    "flattened": {"Config.Inputs.1.Name": "i", "Config.Inputs.10.Name": "k"},
    "control": {"G": "tab\tnew\nline"},
}


@SCHEMES
@pytest.mark.parametrize("params", PARAM_SETS.values(), ids=PARAM_SETS.keys())
def test_sdk_signed_query_verifies(sent, algorithm, params):
    call(algorithm, query=params)
    caller = verify(sent[-1], KEYS, now=datetime.now(UTC))
    assert caller.algorithm == (V2 if algorithm else ACS3) and caller.key is KEY


@SCHEMES
def test_sdk_signed_form_body_verifies(sent, algorithm):
    call(algorithm, query={"JobId": "q"}, body={"Config": '{"a": "转码 +~*"}', "U": "x y", "E": ""})
    req = sent[-1]
    assert req.form and req.body
    assert verify(req, KEYS, now=datetime.now(UTC)).key is KEY


@SCHEMES
@pytest.mark.parametrize("seed", range(25))
def test_sdk_signed_random_params_verify(sent, algorithm, seed):
    rng = random.Random(seed)
    alphabet = "aZ09 -_.~+*'!()%&=/?#:;,@$[]\"{}\\é转😀\t"
    params = {
        f"K{i}.{rng.randint(0, 9)}": "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        for i in range(rng.randint(1, 6))
    }
    call(algorithm, query=params, body={"Body": params.popitem()[1]} if seed % 2 else None)
    assert verify(sent[-1], KEYS, now=datetime.now(UTC)).key is KEY


@SCHEMES
def test_sdk_typed_operations_verify(sent, algorithm):
    ice_client = client(algorithm)
    config = {"JobName": "转码 a+b%20c", "Inputs": [{"Name": "i"}], "OutputGroups": []}
    ice_client.submit_media_convert_job(
        ice.SubmitMediaConvertJobRequest(config=json.dumps(config), user_data="x*y'z(1)!")
    )
    ice_client.get_media_convert_job(ice.GetMediaConvertJobRequest(job_id="async job/1"))
    for req in sent:
        verify(req, KEYS, now=datetime.now(UTC))
    assert action_and_version(sent[-1]) == ("GetMediaConvertJob", "2020-11-09")


@SCHEMES
def test_sdk_sts_token_is_refused(sent, algorithm):
    call(algorithm, query={"JobId": "j"}, token="stsTok")
    refused(sent[-1], "InvalidSecurityToken.Malformed")


# --- tampering with SDK-signed requests -----------------------------------------------


@pytest.fixture(params=[None, "v2"], ids=["acs3", "v2"])
def genuine(request, sent) -> SignedRequest:
    call(request.param, query={"JobId": "j 1", "UserData": "u"}, body={"Config": "{}"})
    return sent[-1]


def _replace_pair(pairs, name, value):
    return [(k, value if k == name else v) for k, v in pairs]


TAMPERS = {
    "query-value": lambda r: dataclasses.replace(r, query=_replace_pair(r.query, "JobId", "j 2")),
    "added-param": lambda r: dataclasses.replace(r, query=[*r.query, ("PipelineId", "p")]),
    "repeated-key": lambda r: dataclasses.replace(r, query=[*r.query, ("JobId", "j 1")]),
    # The web layer parses form from body, so the two always change together.
    "form-value": lambda r: dataclasses.replace(
        r, form=[("Config", "{ }")], body=b"Config=%7B+%7D"
    ),
    "method": lambda r: dataclasses.replace(r, method="GET"),
}


@pytest.mark.parametrize("tamper", TAMPERS.values(), ids=TAMPERS.keys())
def test_tampered_request_does_not_match(genuine, tamper):
    assert verify(genuine, KEYS, now=datetime.now(UTC))
    refused(tamper(genuine), "SignatureDoesNotMatch")


@pytest.mark.parametrize("header", ["host", "user-agent", "x-acs-action", "x-acs-signature-nonce"])
def test_acs3_tampered_signed_header_does_not_match(sent, header):
    call(query={"JobId": "j"})
    req = sent[-1]
    tampered = dataclasses.replace(req, headers={**req.headers, header: "127.0.0.1"})
    err = refused(tampered, "SignatureDoesNotMatch")
    assert err.message.startswith("Specified signature is not matched with our calculation.")
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in err.message


def test_acs3_tampered_body_does_not_match_even_with_its_new_hash(sent):
    call(body={"Config": "{}"})
    req = sent[-1]
    refused(dataclasses.replace(req, body=b"Config=%7B%20%7D"), "SignatureDoesNotMatch")
    body = b"Config=%7B%20%7D"
    new_hash = hashlib.sha256(body).hexdigest()
    headers = {**req.headers, "x-acs-content-sha256": new_hash}
    refused(dataclasses.replace(req, body=body, headers=headers), "SignatureDoesNotMatch")


def test_v2_does_not_sign_headers(sent):
    call("v2", query={"JobId": "j"})
    req = sent[-1]
    forged = dataclasses.replace(req, headers={**req.headers, "x-acs-action": "DeletePipeline"})
    assert verify(forged, KEYS, now=datetime.now(UTC))
    # ...so dispatch must follow the signed Action parameter, not the header.
    assert action_and_version(forged) == ("SubmitMediaConvertJob", "2020-11-09")


def test_wrong_secret_does_not_match(genuine):
    wrong = {"testAK": AccessKey("testAK", "otherSecret", "testAK")}
    refused(genuine, "SignatureDoesNotMatch", keys=wrong)


def test_unknown_access_key_is_404(genuine):
    refused(genuine, "InvalidAccessKeyId.NotFound", 404, keys={})


@pytest.mark.parametrize("skew", [-1, 1])
def test_expired_date(genuine, skew):
    signed_at = verify(genuine, KEYS, now=datetime.now(UTC)).signed_at
    edge = signed_at + skew * timedelta(seconds=900)
    assert verify(genuine, KEYS, now=edge)
    refused(genuine, "InvalidTimeStamp.Expired", now=edge + skew * timedelta(seconds=1))
    refused(
        genuine,
        "InvalidTimeStamp.Expired",
        now=signed_at + skew * timedelta(seconds=61),
        window_s=60,
    )


def test_tampered_old_date_is_expired_before_the_signature_is_checked(sent):
    old = "2026-01-01T00:00:00Z"
    call(query={"JobId": "j"})
    req = sent[-1]
    refused(
        dataclasses.replace(req, headers={**req.headers, "x-acs-date": old}),
        "InvalidTimeStamp.Expired",
    )
    call("v2", query={"JobId": "j"})
    req = sent[-1]
    refused(
        dataclasses.replace(req, query=_replace_pair(req.query, "Timestamp", old)),
        "InvalidTimeStamp.Expired",
    )


def test_naive_now_is_utc(genuine):
    naive = datetime.now(UTC).replace(tzinfo=None)
    assert verify(genuine, KEYS, now=naive).signed_at.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-24 09:05:24",
        "2026-13-01T00:00:00Z",
        "２０２６-11-24T09:05:24Z",
        "2026-11-24T09:05:24.000Z",
        "now",
    ],
)
def test_malformed_date(sent, value):
    call(query={"JobId": "j"})
    req = sent[-1]
    refused(
        dataclasses.replace(req, headers={**req.headers, "x-acs-date": value}),
        "InvalidTimeStamp.Format",
    )
    call("v2", query={"JobId": "j"})
    req = sent[-1]
    refused(
        dataclasses.replace(req, query=_replace_pair(req.query, "Timestamp", value)),
        "InvalidTimeStamp.Format",
    )


class FakeNonces:
    """An in-memory NonceCache that records what it was asked."""

    def __init__(self):
        self.calls: list[tuple[str, str, int]] = []

    def use(self, key_id: str, nonce: str, ttl_s: int) -> bool:
        first = all((k, n) != (key_id, nonce) for k, n, _ in self.calls)
        self.calls.append((key_id, nonce, ttl_s))
        return first


def test_replayed_nonce_is_refused(genuine):
    nonces = FakeNonces()
    caller = verify(genuine, KEYS, now=datetime.now(UTC), nonces=nonces, window_s=300)
    assert nonces.calls == [("testAK", caller.nonce, 600)]
    refused(genuine, "SignatureNonceUsed", nonces=nonces, window_s=300)


def test_forgery_does_not_burn_the_nonce(genuine):
    nonces = FakeNonces()
    refused(TAMPERS["query-value"](genuine), "SignatureDoesNotMatch", nonces=nonces)
    refused(genuine, "InvalidAccessKeyId.NotFound", 404, keys={}, nonces=nonces)
    assert nonces.calls == []
    assert verify(genuine, KEYS, now=datetime.now(UTC), nonces=nonces)


def test_redis_nonce_cache_sets_nx_with_ttl():
    class FakeRedis:
        def __init__(self):
            self.calls, self.store = [], set()

        def set(self, name, value, *, nx, ex):
            self.calls.append((name, value, nx, ex))
            if name in self.store:
                return None
            self.store.add(name)
            return True

    redis = FakeRedis()
    cache = NonceStore(redis)
    assert cache.use("k1", "n1", 1800) is True
    assert cache.use("k1", "n1", 1800) is False
    assert cache.use("k2", "n1", 0) is True
    assert redis.calls[0] == ("mcfarm:nonce:k1:n1", 1, True, 1800)
    assert redis.calls[-1][3] == 1  # Redis refuses EX 0


# --- malformed and incomplete requests ------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "ACS3-HMAC-SHA256",
        "ACS3-HMAC-SHA256 foo",
        "ACS3-HMAC-SHA256 Credential=",
        "Credential=",
        "Basic dGVzdEFLOnRlc3RTZWNyZXQ=",
        "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=,Signature=ab",
        "ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders=host;x-acs-date,Signature=ab",
        f"ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders={SIGNED};,Signature=ab",
        f"ACS3-HMAC-SHA256 Credential=testAK,SignedHeaders={SIGNED}",
        "ACS3-RSA-SHA256 Credential=testAK,SignedHeaders=host,Signature=ab",
        "ACS3-HMAC-SM3 whatever",
    ],
)
def test_malformed_authorization_is_incomplete(sent, authorization):
    call(query={"JobId": "j"})
    req = sent[-1]
    refused(
        dataclasses.replace(req, headers={**req.headers, "authorization": authorization}),
        "IncompleteSignature",
    )


def test_non_ascii_signature_does_not_match(sent):
    call(query={"JobId": "j"})
    req = sent[-1]
    auth = req.headers["authorization"].rsplit("=", 1)[0] + "=ü€"
    refused(
        dataclasses.replace(req, headers={**req.headers, "authorization": auth}),
        "SignatureDoesNotMatch",
    )
    call("v2", query={"JobId": "j"})
    req = sent[-1]
    refused(
        dataclasses.replace(req, query=_replace_pair(req.query, "Signature", "ü€")),
        "SignatureDoesNotMatch",
    )


def test_lone_surrogate_does_not_match(genuine):
    surrogate = dataclasses.replace(genuine, query=[*genuine.query, ("X", "\ud800")])
    refused(surrogate, "SignatureDoesNotMatch")


def test_random_garbage_authorization_raises_only_api_errors(sent):
    call(query={"JobId": "j"})
    req = sent[-1]
    rng = random.Random(7)
    pieces = [
        "ACS3-HMAC-SHA256",
        " ",
        "Credential=",
        "testAK",
        ",",
        "=",
        ";",
        "SignedHeaders=",
        SIGNED,
        "Signature=",
        "ab",
        "ü",
        "\x00",
    ]
    for _ in range(300):
        garbage = "".join(rng.choices(pieces, k=rng.randint(0, 10)))
        with pytest.raises(ApiError):
            verify(
                dataclasses.replace(req, headers={**req.headers, "authorization": garbage}),
                KEYS,
                now=datetime.now(UTC),
            )


@pytest.mark.parametrize(
    "header", ["x-acs-signature-nonce", "x-acs-date", "host", "x-acs-content-sha256"]
)
def test_acs3_missing_signed_header(sent, header):
    call(query={"JobId": "j"})
    req = sent[-1]
    headers = {k: v for k, v in req.headers.items() if k != header}
    assert header in refused(dataclasses.replace(req, headers=headers), "MissingParameter").message


def test_acs3_empty_nonce_is_missing(sent):
    call(query={"JobId": "j"})
    req = sent[-1]
    refused(
        dataclasses.replace(req, headers={**req.headers, "x-acs-signature-nonce": " "}),
        "MissingParameter",
    )


@pytest.mark.parametrize(
    "name", ["AccessKeyId", "Timestamp", "SignatureNonce", "SignatureMethod", "SignatureVersion"]
)
def test_v2_missing_parameter(sent, name):
    call("v2", query={"JobId": "j"})
    req = sent[-1]
    query = [(k, v) for k, v in req.query if k != name]
    assert name in refused(dataclasses.replace(req, query=query), "MissingParameter").message


@pytest.mark.parametrize(
    ("name", "value"), [("SignatureMethod", "HMAC-SHA256"), ("SignatureVersion", "2.0")]
)
def test_v2_other_methods_are_refused(sent, name, value):
    call("v2", query={"JobId": "j"})
    req = sent[-1]
    refused(
        dataclasses.replace(req, query=_replace_pair(req.query, name, value)), "IncompleteSignature"
    )


def test_v2_duplicated_protocol_parameter_is_incomplete(sent):
    call("v2", query={"JobId": "j"})
    req = sent[-1]
    signature = dict(req.query)["Signature"]
    refused(dataclasses.replace(req, form=[("Signature", signature)]), "IncompleteSignature")


def test_unsigned_request_is_missing_signature():
    req = SignedRequest("POST", "/", [("Action", "GetMediaConvertJob")], [], {"host": "h"}, b"")
    assert "Signature" in refused(req, "MissingParameter").message


@pytest.mark.parametrize(
    ("query", "form", "headers"),
    [
        ([("SecurityToken", "t")], [], {}),
        ([], [("SecurityToken", "t")], {}),
        ([], [], {"x-acs-security-token": "t"}),
    ],
)
def test_security_token_anywhere_is_refused(query, form, headers):
    req = SignedRequest("POST", "/", [*query, ("Signature", "x")], form, headers, b"")
    refused(req, "InvalidSecurityToken.Malformed")


# --- pure helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (" ", "%20"),
        ("+", "%2B"),
        ("*", "%2A"),
        ("~", "~"),
        ("'", "%27"),
        ("!", "%21"),
        ("/", "%2F"),
        ("é", "%C3%A9"),
        ("a-_.Z9", "a-_.Z9"),
        ("%20", "%2520"),
    ],
)
def test_pct(raw, encoded):
    assert pct(raw) == encoded


def test_canonical_query_sorts_by_key_then_value_and_keeps_repeats():
    pairs = [("b", "2"), ("a", "y"), ("a", "x"), ("c", ""), ("a b", "+")]
    assert canonical_query(pairs) == "a=x&a=y&a%20b=%2B&b=2&c="
    assert canonical_query([]) == ""


def test_header_text_joins_several_values_as_the_sdk_does():
    assert header_text("  v  ") == "v"
    assert header_text([" b", "a ", "c"]) == "a,b,c"


def test_action_and_version_sources():
    acs3 = SignedRequest(
        "POST",
        "/",
        [("Action", "Q")],
        [],
        {"authorization": "x", "x-acs-action": "H", "x-acs-version": "V"},
        b"",
    )
    assert action_and_version(acs3) == ("H", "V")
    only_params = SignedRequest(
        "POST", "/", [], [("Action", "F"), ("Version", "2020-11-09")], {"authorization": "x"}, b""
    )
    assert action_and_version(only_params) == ("F", "2020-11-09")
    nothing = SignedRequest("POST", "/", [], [], {"x-acs-action": "H"}, b"")
    assert action_and_version(nothing) == (None, None)
