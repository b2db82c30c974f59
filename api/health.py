"""``/healthz`` (Redis reachable) and ``/readyz`` (at least one worker alive)."""

from __future__ import annotations

from flask import Blueprint, current_app
from redis.exceptions import RedisError

from api import openapi_models as m
from api.operations import Operation
from shared.errors import McfarmError

blp = Blueprint("health", __name__)


class NotReady(McfarmError):
    code = "ServiceUnavailable"
    http_status = 503


@blp.get("/healthz")
@Operation("Redis is reachable", {200: m.obj({"Status": m.STRING})}, public=True)
def healthz():
    try:
        current_app.extensions["mcfarm"].stores.jobs.ping()
    except RedisError as err:
        raise NotReady(f"Redis is not reachable: {err}") from None
    return {"Status": "ok"}


@blp.get("/readyz")
@Operation(
    "At least one worker is alive",
    {200: m.obj({"Status": m.STRING, "Workers": m.array(m.STRING)})},
    public=True,
)
def readyz():
    farm = current_app.extensions["mcfarm"]
    try:
        workers = farm.stores.workers.alive()
    except RedisError as err:
        raise NotReady(f"Redis is not reachable: {err}") from None
    if not workers:
        raise NotReady("No worker is alive yet.")
    return {"Status": "ok", "Workers": sorted(w["hostname"] for w in workers)}
