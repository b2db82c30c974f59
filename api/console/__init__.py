"""The job console: ``/console``, pages rendered by the API's Flask app (Jinja templates,
one small script, the players vendored from npm; no JS build step).

A person signs in with an access key pair and sees only that key's account: its jobs,
pipelines and media, through the same services, RAM and rate limit as the API. Pages and
forms are declared with ``@page`` (public to the API's authentication: the console checks
its own session cookie, and the CSRF token of every form, in ``_session`` below).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, current_app, g, redirect, request, url_for

from api.console.session import (
    CSRF_FIELD,
    ConsoleSessions,
    check_csrf,
    csrf_token,
    signed_in,
    signing_secret,
)
from api.operations import Operation
from api.throttle import check_rate
from shared import logs
from shared.config import Settings
from shared.errors import ApiError

blp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
STATIC = Path(__file__).with_name("static")
#: Endpoints answered without a session: the sign-in form and the stylesheet and scripts.
_OPEN = frozenset({"console.sign_in_page", "console.asset"})
#: Endpoints fetched by scripts and players: without a session they answer 401, not a page.
_FETCHED = frozenset({"console.jobs_progress", "console.output_media", "console.group_media"})
#: Headers of every console answer: no framing, scripts and media from this origin only
#: (hls.js, dash.js and mpegts.js run workers and media from blob: URLs).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self' "
    "blob:; worker-src 'self' blob:; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def page(summary: str) -> Operation:
    """The declaration of a console endpoint: left out of the OpenAPI document, and not
    authenticated by the API (``_session`` checks the console's own)."""
    return Operation(summary, public=True, documented=False)


def configure(app: Flask, settings: Settings) -> None:
    """Sign the session cookie and set its flags; the templates get ``csrf_token``."""
    app.secret_key = signing_secret(settings.access_keys)
    app.session_interface = ConsoleSessions()
    app.config.update(
        SESSION_COOKIE_NAME="mcfarm_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.console_secure_cookie,
        SESSION_COOKIE_PATH="/console",
    )
    app.jinja_env.globals.update(csrf_token=csrf_token, csrf_field=CSRF_FIELD)


@blp.before_request
def _session():
    """Who is signed in (else to the sign-in form), their rate, and every form's CSRF token."""
    g.farm = current_app.extensions["mcfarm"]
    g.failure_delay = current_app.extensions["mcfarm.failure_delay"]
    if request.endpoint in _OPEN:
        return None
    key = signed_in(g.farm.settings.access_keys)
    if key is None:
        if request.endpoint in _FETCHED:
            raise ApiError("Sign in to the console first.", code="Unauthorized", http_status=401)
        return redirect(url_for("console.sign_in_page", next=request.full_path))
    g.key, g.owner = key, key.account
    logs.bind_more(account=g.owner)
    check_rate(g.farm.stores.rates, key.key_id, g.farm.settings.rate_limit)
    if request.method == "POST":
        check_csrf(request.form.get(CSRF_FIELD))
    return None


@blp.after_request
def _headers(response):
    response.headers.update(SECURITY_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


from api.console import errors, media, pages  # noqa: E402,F401  (their routes join blp)
