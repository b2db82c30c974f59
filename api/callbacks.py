"""REST: event callback settings (SetEventCallback/GetEventCallback) and dead letters.

- ``GET /v1/event-callback``: the caller's settings in the GetEventCallback shape.
- ``PUT /v1/event-callback``: a JSON object with the SetEventCallback parameter names;
  replaces the settings whole.
- ``GET /v1/events/dead?limit=``: the caller's dead-lettered deliveries, newest first.
- ``POST /v1/events/dead/<delivery_id>/replay``: send a dead letter again (202).

The service functions below are what the ICE actions (run by the RPC endpoint and the
first two views) and the dead-letter views call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, g
from flask.views import MethodView

from api import openapi_models as m
from api.operations import Operation, perform
from api.rest_schemas import DeadLettersQuery, SetEventCallbackBody
from shared.callback_settings import CallbackConfig, parse_callback_settings
from shared.errors import require_found

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
    farm.stores.events.set_callback(owner, cfg)
    return cfg


def get_event_callback(farm: Farm, owner: str) -> dict[str, str]:
    """The owner's settings as GetEventCallback fields (no ``RequestId``)."""
    cfg = farm.stores.events.get_callback(owner)
    return cfg.to_wire() if cfg is not None else dict(UNSET)


def list_dead_letters(farm: Farm, owner: str, limit: int = 100) -> list[dict[str, Any]]:
    return farm.stores.events.list_dead(owner, limit=limit)


def replay_dead_letter(farm: Farm, owner: str, delivery_id: str) -> None:
    """Put one of the owner's dead letters back in the queue.

    Raises:
        ApiError: 404 ``ResourceNotFound`` when it is not the owner's, or not dead.
    """
    delivery = farm.stores.events.get(delivery_id)
    mine = delivery is not None and delivery.owner == owner
    require_found(
        delivery if mine and farm.stores.events.revive(delivery_id) else None,
        "dead letter",
        delivery_id,
    )
    try:
        farm.dispatcher.deliver_event(delivery_id)
    except Exception:
        # Not queued: make it dead again, so that the replay can be asked for again.
        farm.stores.events.dead_letter(delivery_id, "the replay could not be queued")
        raise


# --- views ---------------------------------------------------------------------------------


class EventCallback(MethodView):
    @Operation("The account's event callback", {200: m.EVENT_CALLBACK}, action="GetEventCallback")
    def get(self):
        return perform({})

    @Operation(
        "Set the account's event callback (replaces it whole)",
        {200: m.SUCCESS},
        action="SetEventCallback",
        body=SetEventCallbackBody,
        example={
            "CallbackURL": "https://example.com/mcfarm/events",
            "EventTypeList": "MediaConvertComplete",
            "AuthSwitch": "on",
            "AuthKey": "Secret42key",
        },
    )
    def put(self, body: dict[str, Any]):
        # The schema took EventTypeList as a list too, joined to the wire's commas.
        return perform(body)


# Dead letters have no ICE action: reading them is reading the callback setup (RAM
# GetEventCallback), replaying them is changing it (SetEventCallback).
_DEAD_LETTERS = "Ours, no ICE action; the key needs the permission of ice:{}."


class DeadLetters(MethodView):
    @Operation(
        "Callbacks given up on, newest first",
        {200: m.answer(DeadLetters=m.array(m.ref("DeadLetter")))},
        action="GetEventCallback",
        query=DeadLettersQuery,
        description=_DEAD_LETTERS.format("GetEventCallback"),
    )
    def get(self, query: dict[str, Any]):
        dead = list_dead_letters(current_app.extensions["mcfarm"], g.owner, **query)
        return {"RequestId": g.request_id, "DeadLetters": dead}


class DeadLetterReplay(MethodView):
    @Operation(
        "Deliver a dead-lettered callback again",
        {202: m.answer(DeliveryId=m.STRING, State={"type": "string", "enum": ["pending"]})},
        action="SetEventCallback",
        description=_DEAD_LETTERS.format("SetEventCallback"),
    )
    def post(self, delivery_id: str):
        replay_dead_letter(current_app.extensions["mcfarm"], g.owner, delivery_id)
        return {"RequestId": g.request_id, "DeliveryId": delivery_id, "State": "pending"}, 202


blp.add_url_rule("/event-callback", view_func=EventCallback.as_view("event_callback"))
blp.add_url_rule("/events/dead", view_func=DeadLetters.as_view("dead_letters"))
blp.add_url_rule("/events/dead/<delivery_id>/replay", view_func=DeadLetterReplay.as_view("replay"))
