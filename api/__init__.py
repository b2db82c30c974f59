"""The mcfarm HTTP API: ``create_app(settings)`` builds the Flask app.

Imports ``shared/`` only: never FFmpeg code, never ``workers/``.
"""

from __future__ import annotations

from flask import Flask, g, request

from api import callbacks, health, jobs, openapi, resources, rpc
from api.auth import authenticate_basic
from api.errors import register_error_handlers
from api.services import Farm
from api.throttle import FailureDelay, check_rate
from shared.clock import new_request_id
from shared.config import Settings
from shared.dispatch import Dispatcher
from shared.errors import ApiError
from shared.storage import make_storage
from shared.stores import Stores

#: Endpoints without HTTP Basic auth: probes, the API description, and the ICE RPC
#: endpoint (which checks request signatures itself).
PUBLIC_ENDPOINTS = {"health.healthz", "health.readyz", "openapi.openapi", "rpc.rpc"}


def build_farm(settings: Settings) -> Farm:
    return Farm(
        settings=settings,
        stores=Stores.connect(settings.redis_url, settings.redis_retry_window),
        storage=make_storage(settings),
        dispatcher=Dispatcher.client(settings),
    )


def create_app(settings: Settings | None = None, *, farm: Farm | None = None) -> Flask:
    """Build the API app; tests inject ``settings`` (and may inject ``farm``)."""
    settings = settings or Settings.from_env()
    app = Flask("mcfarm", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False
    app.extensions["mcfarm"] = farm or build_farm(settings)
    app.extensions["mcfarm.failure_delay"] = FailureDelay.for_threads(
        settings.auth_failure_delay_ms / 1000, settings.api_threads
    )

    @app.before_request
    def _authenticate():
        g.request_id = new_request_id()
        if request.endpoint not in PUBLIC_ENDPOINTS and request.endpoint is not None:
            try:
                g.key = authenticate_basic(request, settings.access_keys)
            except ApiError:
                app.extensions["mcfarm.failure_delay"].wait()
                raise
            g.owner = g.key.account
            check_rate(app.extensions["mcfarm"].stores.rates, g.key.key_id, settings.rate_limit)
            resources.check_ram(request.endpoint, request.method)

    @app.after_request
    def _request_id(response):
        response.headers["x-acs-request-id"] = getattr(g, "request_id", "")
        return response

    for module in (health, jobs, resources, callbacks, openapi, rpc):
        app.register_blueprint(module.blp)
    register_error_handlers(app)
    return app
