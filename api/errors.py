"""One error shape for every API: ``{RequestId, HostId, Code, Message}`` with an HTTP status.

The ICE SDK reads ``Code``/``Message``/``RequestId`` from any 4xx/5xx JSON body and raises
``ClientException``/``ServerException`` with them (reference §3.6).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, request
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from shared.errors import McfarmError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    404: (
        "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method.",
    ),
    405: (
        "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method.",
    ),
    413: ("InvalidParameter", "The request body is larger than this server accepts."),
}


def error_response(code: str, message: str, status: int) -> Response:
    body = {
        "RequestId": getattr(g, "request_id", ""),
        "HostId": request.host,
        "Code": code,
        "Message": message,
    }
    response = jsonify(body)
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(McfarmError)
    def _mcfarm(err: McfarmError):
        if err.http_status >= 500:
            log.error("request %s failed: %s", getattr(g, "request_id", ""), err)
        response = error_response(err.code, err.message, err.http_status)
        retry_after = getattr(err, "retry_after_ms", None)
        if retry_after:
            # Any positive value makes the SDK raise ThrottlingException(retry_after=…).
            response.headers["x-acs-retry-after"] = str(retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        code, message = _HTTP_CODES.get(
            err.code or 500, ("InvalidParameter", err.description or "")
        )
        response = error_response(code, message, err.code or 500)
        if isinstance(err, MethodNotAllowed) and err.valid_methods:
            # RFC 9110 §15.5.6: a 405 names the methods the resource does support.
            response.headers["Allow"] = ", ".join(sorted(err.valid_methods))
        return response

    @app.errorhandler(RedisError)
    def _redis(err: RedisError):
        log.error("request %s: Redis failed: %s", getattr(g, "request_id", ""), err)
        return error_response(
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
            503,
        )

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("request %s crashed", getattr(g, "request_id", ""))
        return error_response(
            "InternalError", "The request processing has failed due to some unknown error.", 500
        )
