"""HTTP Basic authentication of REST calls against ``MCFARM_ACCESS_KEYS``, and RAM.

Jobs, pipelines and templates belong to the key's account.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from flask import Request

from shared.config import AccessKey
from shared.errors import ApiError


def authenticate_basic(req: Request, keys: Mapping[str, AccessKey]) -> AccessKey:
    """Return the caller's access key.

    Raises:
        ApiError: 401 when credentials are missing, unknown or wrong.
    """
    auth = req.authorization
    if auth is None or auth.type != "basic" or not auth.username:
        raise ApiError(
            "HTTP Basic credentials (access key id and secret) are required.",
            code="MissingParameter",
            http_status=401,
        )
    return check_key(keys, auth.username, auth.password or "")


def check_key(keys: Mapping[str, AccessKey], key_id: str, secret: str) -> AccessKey:
    """The access key ``key_id`` if ``secret`` is its secret (REST calls and the console's
    sign-in both check a key pair here).

    Raises:
        ApiError: 401 for an unknown key or a wrong secret.
    """
    key = keys.get(key_id)
    if key is None:
        raise ApiError(
            "Specified access key is not found.",
            code="InvalidAccessKeyId.NotFound",
            http_status=401,
        )
    if not hmac.compare_digest(key.secret.encode(), secret.encode()):
        raise ApiError(
            "Specified access key secret is not matched.",
            code="SignatureDoesNotMatch",
            http_status=401,
        )
    return key


def check_ram(key: AccessKey, action: str | None) -> None:
    """403 ``Forbidden.RAM`` unless ``key`` may perform ``action`` (None: nothing to check).

    The one RAM check of both APIs: the ICE RPC endpoint passes the requested action, a
    REST call the action its endpoint declares (``api/operations.py``).
    """
    if action is not None and not key.allows(action):
        raise ApiError(
            "User not authorized to operate on the specified resource, or this API doesn't "
            f"support RAM (ice:{action}).",
            code="Forbidden.RAM",
            http_status=403,
        )
