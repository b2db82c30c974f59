"""The ICE RPC endpoint: ``POST /`` (and ``GET /``) exactly as Alibaba's gateway answers it.

Parameters come from the query string and from a form body; the action from the
``x-acs-action`` header or the ``Action`` parameter; every call is signed (ACS3-HMAC-SHA256
or the v2 HMAC-SHA1 RPC form) by a configured key, whose allowed actions are checked
(``Forbidden.RAM``). Errors are JSON ``{RequestId, HostId, Code, Message}`` so the SDK
raises ``ClientException``/``ServerException`` with the right ``Code``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

from flask import Blueprint, current_app, g, jsonify, request

from api.actions import ACTIONS, Call
from api.auth import check_ram
from api.operations import Operation
from api.params import Params, required
from api.signature import SignedRequest, action_and_version, verify
from api.throttle import check_rate
from shared.errors import ApiError

blp = Blueprint("rpc", __name__)

VERSION = "2020-11-09"
#: Parameters of the signature itself, not of the action.
_PROTOCOL_PARAMS = {
    "Action",
    "Version",
    "Format",
    "Timestamp",
    "SignatureNonce",
    "SignatureMethod",
    "SignatureVersion",
    "AccessKeyId",
    "Signature",
    "SecurityToken",
    "RegionId",
}


def _signed_request() -> SignedRequest:
    body = request.get_data(cache=True)
    form: list[tuple[str, str]] = []
    if request.mimetype == "application/x-www-form-urlencoded" and body:
        try:
            form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise ApiError("The request body is not UTF-8.", code="InvalidParameter") from None
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        # WSGI hands header bytes over as latin-1; the SDK signed them as UTF-8.
        text = value.encode("latin-1", "replace").decode("utf-8", "replace")
        headers.setdefault(name.lower(), []).append(text)
    return SignedRequest(
        method=request.method,
        path=request.path,
        query=list(request.args.items(multi=True)),
        form=form,
        headers={k: v[0] if len(v) == 1 else v for k, v in headers.items()},
        body=body,
    )


def _params(req: SignedRequest) -> Params:
    values = {k: v for k, v in [*req.query, *req.form] if k not in _PROTOCOL_PARAMS}
    return Params(values)


@blp.route("/", methods=["GET", "POST"])
@Operation(
    "The ICE RPC endpoint: the action named by x-acs-action or Action",
    public=True,  # it checks request signatures itself, then RAM for the action
    # Alibaba's ICE API reference describes it; OpenAPI cannot express an ACS3 signature.
    documented=False,
)
def rpc():
    farm = current_app.extensions["mcfarm"]
    req = _signed_request()
    action, version = action_and_version(req)
    try:
        caller = verify(
            req,
            farm.settings.access_keys,
            now=datetime.now(UTC),
            window_s=farm.settings.nonce_window,
            nonces=farm.stores.nonces,
        )
    except ApiError:
        current_app.extensions["mcfarm.failure_delay"].wait()
        raise
    # Counted only once the signature holds: nobody can spend another key's quota.
    check_rate(farm.stores.rates, caller.key.key_id, farm.settings.rate_limit)
    required(action, "Action")
    if version != VERSION:
        raise ApiError(
            f"Specified parameter Version is not valid: {version!r}.", code="InvalidVersion"
        )
    handler = ACTIONS.get(action)
    if handler is None:
        message = "Specified api is not found, please check your url and method."
        raise ApiError(message, code="InvalidAction.NotFound", http_status=404)
    check_ram(caller.key, action)
    g.owner = caller.key.account
    body = handler(farm, Call(owner=g.owner, params=_params(req), request_id=g.request_id))
    response = jsonify({"RequestId": g.request_id, **body})
    response.headers["Content-Type"] = "application/json;charset=utf-8"
    return response
