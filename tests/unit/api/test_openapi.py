from __future__ import annotations

import re

from api import create_app
from api.actions import ACTIONS
from api.resources import REST_ACTIONS
from shared.config import Settings


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
