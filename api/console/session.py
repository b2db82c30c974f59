"""Who is signed in to the console, and the CSRF token of its forms (pure over Flask's
``session``).

A signed-in browser holds Flask's session cookie (signed, ``HttpOnly``, ``SameSite=Lax``)
naming its access key id, a tag of the key's secret (a changed or removed key ends the
session) and the CSRF token every form posts back. The cookie is signed with a key derived
from ``MCFARM_ACCESS_KEYS``, so every API process agrees on it and nothing new is configured.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping

from flask import session
from flask.sessions import SecureCookieSessionInterface

from shared.config import AccessKey
from shared.errors import ApiError

#: The form field (and session entry) of the CSRF token.
CSRF_FIELD = "csrf_token"


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, opened only under the console's cookie path.

    The API's other routes never read a session (they authenticate each request), yet
    Flask would look for the cookie and build a signer on every one of them.
    """

    def open_session(self, app, request):
        if not request.path.startswith(app.config["SESSION_COOKIE_PATH"]):
            return self.null_session_class()
        return super().open_session(app, request)


def signing_secret(keys: Mapping[str, AccessKey]) -> str:
    """The session cookie's signing key: derived from every key pair, so it changes with them."""
    material = json.dumps(sorted((k.key_id, k.secret) for k in keys.values()))
    return hashlib.sha256(b"mcfarm-console-session\0" + material.encode()).hexdigest()


def _secret_tag(key: AccessKey) -> str:
    return hashlib.sha256(b"mcfarm-console-key\0" + key.secret.encode()).hexdigest()[:24]


def sign_in(key: AccessKey) -> None:
    """Start a fresh session for ``key`` (a new CSRF token: none from before survives)."""
    session.clear()
    session["key_id"] = key.key_id
    session["key_tag"] = _secret_tag(key)
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def signed_in(keys: Mapping[str, AccessKey]) -> AccessKey | None:
    """The key this browser signed in with, if it still exists with the same secret."""
    key = keys.get(session.get("key_id", ""))
    if key is None or not hmac.compare_digest(session.get("key_tag", ""), _secret_tag(key)):
        return None
    return key


def csrf_token() -> str:
    """This session's CSRF token (made on first use: the sign-in form has one too)."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


def check_csrf(sent: str | None) -> None:
    """Refuse a form that does not carry this session's CSRF token.

    Raises:
        ApiError: 403 ``Forbidden.Csrf``.
    """
    expected = session.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest((sent or "").encode(), expected.encode()):
        raise ApiError(
            "The form did not come from this console (its CSRF token is missing or stale): "
            "reload the page and try again.",
            code="Forbidden.Csrf",
            http_status=403,
        )
