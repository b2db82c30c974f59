from __future__ import annotations

import base64
import re

from api import create_app
from api.actions import ACTIONS
from api.openapi import OPERATIONS, build_spec
from api.resources import REST_ACTIONS
from shared.config import Settings, parse_access_keys


def test_every_rest_route_is_documented():
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    doc = app.test_client().get("/v1/openapi.json").get_json()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/") and rule.endpoint != "openapi.openapi":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert method.lower() in doc["paths"][path], (path, method)


def test_rest_actions_name_real_actions_and_endpoints():
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    endpoints = {(r.endpoint, m) for r in app.url_map.iter_rules() for m in r.methods}
    for (endpoint, method), action in REST_ACTIONS.items():
        assert action in ACTIONS
        assert (endpoint, method) in endpoints, endpoint


def test_every_authenticated_rest_route_has_an_action_for_ram():
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))
    public = {"health.healthz", "health.readyz", "openapi.openapi", "rpc.rpc"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in public:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (rule.endpoint, method) in REST_ACTIONS, (rule.endpoint, method)


def _client_with_key():
    settings = Settings(redis_url="redis://127.0.0.1:1/0", access_keys=parse_access_keys("k:s"))
    return create_app(settings).test_client(), {"Authorization": "Basic " + _b64("k:s")}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_documented_bodies_are_the_ones_enforced():
    """An unknown name or a number sent as text is refused before anything is stored."""
    client, auth = _client_with_key()
    for op in OPERATIONS:
        if op.body is None:
            continue
        path = op.path.replace("{", "").replace("}", "")
        for body in ({"Bogus": 1}, {**(op.example or {}), "Bogus": 1}):
            response = client.open(path, method=op.method.upper(), json=body, headers=auth)
            assert response.status_code == 400, (op.path, op.method, response.get_json())
            assert response.get_json()["Code"] in ("InvalidParameter", "MissingParameter")
    response = client.post(
        "/v1/pipelines", json={"Name": "p", "Speed": "Standard", "Priority": "7"}, headers=auth
    )
    assert response.get_json()["Message"].startswith('The specified parameter "Priority"')


def test_every_error_status_is_documented_with_the_error_document():
    doc = build_spec()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            if operation["security"]:
                assert {"400", "401", "403", "503"} <= statuses, (path, method)
            if "{" in path:
                assert "404" in statuses, (path, method)
            if "requestBody" in operation:
                assert "413" in statuses, (path, method)
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"RequestId", "HostId", "Code", "Message"}


def test_a_405_names_the_allowed_methods():
    client, auth = _client_with_key()
    response = client.put("/v1/jobs", headers=auth)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert response.get_json()["Code"] == "InvalidAction.NotFound"
