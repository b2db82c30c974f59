"""How the console answers an error: a page for a person, the API's JSON for a script or a
player; and its own stylesheet and script."""

from __future__ import annotations

from flask import g, render_template, request, send_from_directory
from werkzeug.exceptions import HTTPException

from api.console import _FETCHED, STATIC, blp, page
from api.errors import error_response
from shared.errors import McfarmError


def _answer(code: str, message: str, status: int):
    if request.endpoint in _FETCHED:
        return error_response(code, message, status)
    signed_in = getattr(g, "key", None) is not None
    page_ = render_template(
        "console/error.html", code=code, message=message, status=status, signed_in=signed_in
    )
    return page_, status


@blp.errorhandler(McfarmError)
def _mcfarm_error(err: McfarmError):
    return _answer(err.code, err.message, err.http_status)


@blp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    return _answer(
        "InvalidParameter" if err.code == 400 else "NotFound",
        err.description or "",
        err.code or 500,
    )


@blp.get("/assets/<path:name>")
@page("The console's stylesheet, script and players")
def asset(name: str):
    return send_from_directory(STATIC, name, max_age=3600)
