"""Each endpoint is declared once, at its view; RAM and the OpenAPI document read it there."""

from __future__ import annotations

import base64

import pytest
from flask import Blueprint, Flask

from api import create_app
from api.actions import ACTIONS
from api.openapi import build_spec
from api.operations import Operation, declared_operations
from shared.config import Settings, parse_access_keys

#: No Redis listens there: every call below is answered before one is needed.
NO_REDIS = "redis://127.0.0.1:1/0"


def _app(keys: str = "k:s") -> Flask:
    return create_app(Settings(redis_url=NO_REDIS, access_keys=parse_access_keys(keys)))


def _auth(key: str = "k", secret: str = "s") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


@pytest.fixture(scope="module")
def app() -> Flask:
    return _app("k:s,ro:s:acct:ice:Get*|ice:List*")


@pytest.fixture(scope="module")
def doc(app) -> dict:
    return app.test_client().get("/v1/openapi.json").get_json()


def test_every_authenticated_route_declares_an_action_that_exists(app):
    declared = [d for d in declared_operations(app) if not d[0].startswith("/console")]
    assert len(declared) == 28  # 25 documented, GET and POST / (ICE RPC), and /metrics
    for path, method, op in declared:
        if not op.public:
            assert op.action in ACTIONS, (method, path)
    public = {(path, method) for path, method, op in declared if op.public}
    assert public == {
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/v1/openapi.json", "get"),
        ("/", "get"),
        ("/", "post"),
        ("/metrics", "get"),  # its bearer token checked by the view
    }


def test_the_console_checks_its_own_session_and_stays_out_of_the_document(app, doc):
    console = {(p, m): op for p, m, op in declared_operations(app) if p.startswith("/console")}
    assert ("/console/jobs", "get") in console and ("/console/submit", "post") in console
    assert all(op.public and not op.documented for op in console.values())
    assert not any(p.startswith("/console") for p in doc["paths"])


def test_every_v1_route_and_method_is_documented_and_nothing_else(app, doc):
    routes = {(p, m) for p, m, op in declared_operations(app) if p.startswith("/v1/")}
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops if p.startswith("/v1/")}
    assert documented == routes
    assert "/" not in doc["paths"]  # the ICE RPC endpoint: Alibaba's reference describes it
    assert {"/healthz", "/readyz"} <= set(doc["paths"])


def test_the_document_is_generated_from_the_declarations(app, doc):
    for path, method, op in declared_operations(app):
        if not op.documented:
            continue
        operation = doc["paths"][path][method]
        assert operation["summary"] == op.summary
        assert (operation["security"] == []) == op.public
        assert {str(s) for s in op.answers} <= set(operation["responses"])
        if op.action and not op.description:
            assert op.action in operation["description"]
        if op.example is not None:
            assert operation["requestBody"]["content"]["application/json"]["example"] == (
                op.example
            )
    submit = doc["paths"]["/v1/jobs"]["post"]["responses"]
    assert set(submit["202"]["headers"]) == {"x-acs-request-id", "Location"}


def test_the_document_needs_no_running_farm(doc):
    assert build_spec() == doc


def test_documented_bodies_are_the_ones_enforced(doc):
    """An unknown name or a number sent as text is refused before anything is stored."""
    client = _app().test_client()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            url = path.replace("{", "").replace("}", "")
            example = operation["requestBody"]["content"]["application/json"]["example"]
            for body in ({"Bogus": 1}, {**example, "Bogus": 1}):
                response = client.open(url, method=method.upper(), json=body, headers=_auth())
                assert response.status_code == 400, (path, method, response.get_json())
                assert response.get_json()["Code"] in ("InvalidParameter", "MissingParameter")
            assert '"Bogus"' in response.get_json()["Message"]
    response = client.post(
        "/v1/pipelines", json={"Name": "p", "Speed": "Standard", "Priority": "7"}, headers=_auth()
    )
    assert response.get_json()["Message"].startswith('The specified parameter "Priority"')


@pytest.mark.parametrize("body", [b"[1]", b"{not json", b'"text"', b""])
def test_a_body_that_is_not_a_json_object_is_refused(body):
    """None at all too, where the body is required (a PATCH may leave it out)."""
    response = (
        _app()
        .test_client()
        .post("/v1/pipelines", data=body, content_type="application/json", headers=_auth())
    )
    assert response.status_code == 400
    assert response.get_json()["Code"] == "InvalidParameter"


def test_documented_queries_are_the_ones_enforced():
    client = _app().test_client()
    for url, field in [
        ("/v1/jobs?Bogus=1", "Bogus"),
        ("/v1/jobs?PageSize=0", "PageSize"),
        ("/v1/jobs?page_size=101", "page_size"),
        ("/v1/jobs?OrderBy=desc", "OrderBy"),
        ("/v1/jobs?StartOfCreateTime=2026-1-5T0:0:0Z", "StartOfCreateTime"),
        ("/v1/jobs?Status=Complete&state=Error", "state"),
        ("/v1/templates?OrderBy=Name", "OrderBy"),
        ("/v1/system-templates?Type=x", "Type"),
        ("/v1/events/dead?limit=0", "limit"),
    ]:
        response = client.get(url, headers=_auth())
        assert response.status_code == 400, url
        error = response.get_json()
        assert error["Code"] == "InvalidParameter", url
        assert error["Message"].startswith(f'The specified parameter "{field}"'), url


def test_every_error_status_is_documented_with_the_error_document(doc):
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            if operation["security"]:
                assert {"400", "401", "403", "503"} <= statuses, (path, method)
            else:
                assert "503" in statuses, (path, method)
            if "{" in path:
                assert "404" in statuses, (path, method)
            if "requestBody" in operation:
                assert "413" in statuses, (path, method)
    assert "404" in doc["paths"]["/v1/jobs"]["post"]["responses"]  # an unknown PipelineId
    error = doc["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"RequestId", "HostId", "Code", "Message"}
    assert "x-acs-retry-after" in doc["components"]["responses"]["Error400"]["headers"]


def test_the_list_jobs_query_documents_the_old_names_as_deprecated(doc):
    params = {p["name"]: p for p in doc["paths"]["/v1/jobs"]["get"]["parameters"]}
    ice = ["Status", "PageSize", "NextPageToken", "OrderBy", "StartOfCreateTime"]
    ice += ["EndOfCreateTime", "JobId", "PipelineId"]
    old = ["state", "page_size", "next_page_token", "order"]
    assert list(params) == ice + old
    assert all(params[name].get("deprecated") for name in old)
    assert not any(params[name].get("deprecated") for name in ice)


def test_ram_reads_the_declared_action(app):
    client = app.test_client()
    reader = _auth("ro", "s")
    for method, url in [
        ("POST", "/v1/pipelines"),
        ("PATCH", "/v1/templates/x"),
        ("DELETE", "/v1/pipelines/x"),
        ("POST", "/v1/jobs/x/cancel"),
        ("PUT", "/v1/event-callback"),
        ("POST", "/v1/events/dead/x/replay"),
    ]:
        response = client.open(url, method=method, json={}, headers=reader)
        assert response.status_code == 403, (method, url)
        error = response.get_json()
        assert error["Code"] == "Forbidden.RAM"
        action = error["Message"].rsplit("(ice:", 1)[1].rstrip(").")
        assert action in ACTIONS


def test_public_routes_need_no_credentials_and_others_do(app):
    client = app.test_client()
    assert client.get("/v1/openapi.json").status_code == 200
    for method, url in [("GET", "/v1/jobs"), ("POST", "/v1/pipelines"), ("GET", "/v1/workers")]:
        response = client.open(url, method=method)
        assert response.status_code == 401, url
        assert response.get_json()["Code"] == "MissingParameter"


def test_a_405_names_the_allowed_methods():
    response = _app().test_client().put("/v1/jobs", headers=_auth())
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert response.get_json()["Code"] == "InvalidAction.NotFound"


def test_an_undeclared_route_is_refused():
    blp = Blueprint("stray", __name__)

    @blp.get("/v1/stray")
    def stray():
        return {}

    app = Flask("stray", static_folder=None)
    app.register_blueprint(blp)
    with pytest.raises(RuntimeError, match="/v1/stray"):
        list(declared_operations(app))


def test_an_authenticated_operation_must_name_a_real_action():
    with pytest.raises(ValueError):
        Operation("No action")
    with pytest.raises(ValueError):
        Operation("A typo", action="GetMediaConvertJobs")
    assert Operation("A probe", public=True).action is None
