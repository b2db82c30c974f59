"""The mcfarm HTTP API: ``create_app(settings)`` builds the Flask app.

Imports ``shared/`` only: never FFmpeg code, never ``workers/``.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import iscoroutinefunction

from flask import Flask, g, request

from api import callbacks, console, health, jobs, metrics, openapi, resources, rpc
from api.access_log import request_log
from api.auth import authenticate_basic, check_ram
from api.errors import register_error_handlers
from api.job_cache import JobViews
from api.json_provider import OrjsonProvider
from api.operations import rule_operations
from api.services import Farm
from api.throttle import FailureDelay, check_rate
from api.turns import Turns
from shared import logs
from shared.clock import new_request_id
from shared.config import Settings
from shared.dispatch import Dispatcher
from shared.errors import ApiError
from shared.storage import make_storage
from shared.stores import Stores


def register_blueprints(app: Flask) -> None:
    """Add every route of the API to ``app``."""
    for module in (health, jobs, resources, callbacks, openapi, rpc, metrics, console):
        app.register_blueprint(module.blp)


def build_farm(settings: Settings) -> Farm:
    return Farm(
        settings=settings,
        stores=Stores.connect(settings.redis_url, settings.redis_retry_window),
        storage=make_storage(settings),
        dispatcher=Dispatcher.client(settings),
        views=JobViews(settings.api_remembered_jobs),
        turns=Turns(settings.api_active_threads),
    )


class _Flask(Flask):
    json_provider_class = OrjsonProvider

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: Function (not bound method: a MethodView's is new per request) → is it async?
        self.async_functions: dict[Callable, bool] = {}

    def ensure_sync(self, func: Callable) -> Callable:
        """Flask's, with the answer remembered per function: Flask asks ``inspect`` whether
        each hook and view is a coroutine function on every request (7 times a Get, 4 % of
        its CPU)."""
        plain = getattr(func, "__func__", func)
        is_async = self.async_functions.get(plain)
        if is_async is None:
            is_async = self.async_functions.setdefault(plain, iscoroutinefunction(func))
        return self.async_to_sync(func) if is_async else func


def create_app(settings: Settings | None = None, *, farm: Farm | None = None) -> Flask:
    """Build the API app; tests inject ``settings`` (and may inject ``farm``)."""
    settings = settings or Settings.from_env()
    app = _Flask("mcfarm", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False
    app.extensions["mcfarm"] = farm = farm or build_farm(settings)
    app.extensions["mcfarm.failure_delay"] = FailureDelay.for_threads(
        settings.auth_failure_delay_ms / 1000, settings.api_threads, farm.turns
    )
    app.wsgi_app = farm.turns.wrap(app.wsgi_app)

    metrics.instrument(app)  # first: its clock starts before authentication
    console.configure(app, settings)
    if settings.log_format == "json":
        logs.use_json()
        request_log(app)

    @app.before_request
    def _authenticate():
        """HTTP Basic, the key's rate, then RAM for the action the endpoint declares."""
        # The objects behind Flask's proxies, looked up once (each proxy use is a lookup).
        req, ctx = request._get_current_object(), g._get_current_object()
        ctx.request_id = new_request_id()
        logs.start(request_id=ctx.request_id, job_id=(req.view_args or {}).get("job_id"))
        rule = req.url_rule
        if rule is None:
            return  # no such route or method: answered 404/405 without credentials
        operations = declared[rule.endpoint, rule.rule]
        if all(op.public for op in operations.values()):
            return
        try:
            ctx.key = key = authenticate_basic(req, settings.access_keys)
        except ApiError:
            app.extensions["mcfarm.failure_delay"].wait()
            raise
        ctx.owner = key.account
        logs.bind_more(account=key.account)
        check_rate(app.extensions["mcfarm"].stores.rates, key.key_id, settings.rate_limit)
        method = "GET" if req.method == "HEAD" else req.method
        if method in operations:  # not OPTIONS: Flask answers it, performing nothing
            check_ram(key, operations[method].action)

    @app.after_request
    def _request_id(response):
        response.headers["x-acs-request-id"] = getattr(g, "request_id", "")
        return response

    register_blueprints(app)
    # Each route's declared operations, looked up per request; made now, so that an
    # undeclared route fails here rather than on a request.
    declared = {(r.endpoint, r.rule): rule_operations(app, r) for r in app.url_map.iter_rules()}
    register_error_handlers(app)
    return app
