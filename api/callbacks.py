"""REST: event callback settings (SetEventCallback/GetEventCallback) and dead letters.

- ``GET /v1/event-callback``: the caller's settings in the GetEventCallback shape.
- ``PUT /v1/event-callback``: a JSON object with the SetEventCallback parameter names;
  replaces the settings whole.
- ``GET /v1/events/dead?limit=``: the caller's dead-lettered deliveries, newest first.
- ``POST /v1/events/dead/<delivery_id>/replay``: send a dead letter again (202).

The service functions below are what the views (and the ICE RPC endpoint) call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, g, request
from flask.views import MethodView

from api.rest_schemas import DeadLettersQuery, SetEventCallbackBody, load
from shared.callback_settings import CallbackConfig, parse_callback_settings
from shared.errors import ApiError, resource_not_found

if TYPE_CHECKING:
    from api.services import Farm

blp = Blueprint("callbacks", __name__, url_prefix="/v1")

#: GetEventCallback for an owner who never called SetEventCallback.
UNSET = {
    "CallbackType": "",
    "CallbackURL": "",
    "CallbackQueueName": "",
    "EventTypeList": "",
    "AuthSwitch": "off",
    "AuthKey": "",
}


# --- services ------------------------------------------------------------------------------


def set_event_callback(farm: Farm, owner: str, params: dict[str, Any]) -> CallbackConfig:
    """Validate and store the owner's callback settings (SetEventCallback).

    Raises:
        ApiError: ``MissingParameter``/``InvalidParameter`` naming the field.
    """
    cfg = parse_callback_settings(params, allow_private=farm.settings.allow_private_callbacks)
    farm.events.set_callback(owner, cfg)
    return cfg


def get_event_callback(farm: Farm, owner: str) -> dict[str, str]:
    """The owner's settings as GetEventCallback fields (no ``RequestId``)."""
    cfg = farm.events.get_callback(owner)
    return cfg.to_wire() if cfg is not None else dict(UNSET)


def list_dead_letters(farm: Farm, owner: str, limit: int = 100) -> list[dict[str, Any]]:
    return farm.events.list_dead(owner, limit=limit)


def replay_dead_letter(farm: Farm, owner: str, delivery_id: str) -> None:
    """Put one of the owner's dead letters back in the queue.

    Raises:
        ApiError: 404 ``ResourceNotFound`` when it is not the owner's, or not dead.
    """
    delivery = farm.events.get(delivery_id)
    if delivery is None or delivery.owner != owner or not farm.events.revive(delivery_id):
        raise resource_not_found("dead letter", delivery_id)
    try:
        farm.dispatcher.deliver_event(delivery_id)
    except Exception:
        # Not queued: make it dead again, so that the replay can be asked for again.
        farm.events.dead_letter(delivery_id, "the replay could not be queued")
        raise


# --- views ---------------------------------------------------------------------------------


def _set_params() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError("The request body must be a JSON object.", code="InvalidParameter")
    # EventTypeList may be a list, a convenience for the comma-separated wire form.
    return load(SetEventCallbackBody(), body)


def _limit() -> int:
    return load(DeadLettersQuery(), request.args.to_dict()).get("limit", 100)


class EventCallback(MethodView):
    def get(self):
        fields = get_event_callback(current_app.extensions["mcfarm"], g.owner)
        return {"RequestId": g.request_id, **fields}

    def put(self):
        set_event_callback(current_app.extensions["mcfarm"], g.owner, _set_params())
        return {"RequestId": g.request_id, "Success": True}


class DeadLetters(MethodView):
    def get(self):
        dead = list_dead_letters(current_app.extensions["mcfarm"], g.owner, _limit())
        return {"RequestId": g.request_id, "DeadLetters": dead}


class DeadLetterReplay(MethodView):
    def post(self, delivery_id: str):
        replay_dead_letter(current_app.extensions["mcfarm"], g.owner, delivery_id)
        return {"RequestId": g.request_id, "DeliveryId": delivery_id, "State": "pending"}, 202


blp.add_url_rule("/event-callback", view_func=EventCallback.as_view("event_callback"))
blp.add_url_rule("/events/dead", view_func=DeadLetters.as_view("dead_letters"))
blp.add_url_rule("/events/dead/<delivery_id>/replay", view_func=DeadLetterReplay.as_view("replay"))
