"""Event callbacks: SetEventCallback settings, the ICE event envelope, signing, deliveries.

``Notifier.emit`` builds one envelope, stores one *delivery* per target (the owner's
SetEventCallback URL and the job's ``UserData.NotifyAddress``) and hands each delivery id to
``send`` (the ``workers.deliver_event`` task). That task POSTs the body, retrying with backoff
until the receiver answers 2xx or ``MCFARM_CALLBACK_GIVE_UP_AFTER`` seconds pass; then the
delivery is dead-lettered, where an operator can list and replay it. Delivery is
at-least-once: a receiver may see one delivery twice and should de-duplicate on its id.

The callback settings and the request signature are in ``shared.callback_settings``.

Redis layout (key names in ``shared.keys``): ``evcb:{owner}`` the settings as GetEventCallback JSON;
``dlv:{id}`` a delivery hash; ``dead`` and ``dead:{owner}`` sorted sets of dead-letter ids
scored by the time they died.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis

from shared import keys
from shared.callback_settings import EVENT_TYPES, CallbackConfig, notify_address
from shared.clock import now_us as clock_now_us
from shared.clock import wire_time
from shared.redis_tx import transaction

log = logging.getLogger(__name__)

PENDING_TTL_S = 30 * 24 * 3600  # a safety net for a delivery whose task message was lost
DELIVERED_TTL_S = 3 * 24 * 3600
DEAD_TTL_S = 30 * 24 * 3600


def envelope(event_type: str, user_id: int, message_body: dict, now_us: int) -> dict[str, Any]:
    """The ICE event envelope (reference §5.1); ``UserId`` is a JSON number."""
    return {
        "EventType": event_type,
        "UserId": int(user_id),
        "EventTime": wire_time(now_us),
        "MessageBody": message_body,
    }


# --- deliveries -----------------------------------------------------------------------------


def _redacted(url: str) -> str:
    """The URL without its query, which may carry a token."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(malformed URL)"
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


@dataclass(frozen=True)
class Delivery:
    """One event body on its way to one URL.

    Attributes:
        state: ``pending``, ``delivered`` or ``dead``.
        since_us: when the give-up clock started: creation, or the last revive.
        last_result: what the latest attempt got, e.g. ``HTTP 500`` or ``error: …``.
        reason: why it was dead-lettered.
    """

    delivery_id: str
    owner: str
    url: str
    body: str
    auth_key: str
    event_type: str
    job_id: str
    state: str
    attempts: int
    created_us: int
    since_us: int
    last_result: str = ""
    failed_us: int | None = None
    reason: str = ""

    def summary(self) -> dict[str, Any]:
        """The dead-letter listing shape (no body, no key, no URL query)."""
        return {
            "DeliveryId": self.delivery_id,
            "Owner": self.owner,
            "URL": _redacted(self.url),
            "EventType": self.event_type,
            "JobId": self.job_id,
            "State": self.state,
            "CreateTime": wire_time(self.created_us),
            "FailTime": wire_time(self.failed_us) if self.failed_us else "",
            "Attempts": self.attempts,
            "LastError": self.last_result,
            "Reason": self.reason,
        }


class EventStore:
    """Callback settings and deliveries in Redis; the client must use ``decode_responses``."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def set_callback(self, owner: str, cfg: CallbackConfig) -> None:
        self.redis.set(keys.event_callback(owner), json.dumps(cfg.to_wire()))

    def get_callback(self, owner: str) -> CallbackConfig | None:
        raw = self.redis.get(keys.event_callback(owner))
        return CallbackConfig.from_wire(json.loads(raw)) if raw else None

    def create_delivery(
        self, owner: str, url: str, body: str, auth_key: str, *, now_us: int | None = None
    ) -> str:
        """Store a pending delivery of ``body`` (an envelope's JSON) to ``url``; its id."""
        delivery_id = uuid.uuid4().hex
        created = clock_now_us() if now_us is None else now_us
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        message = doc.get("MessageBody") if isinstance(doc, dict) else None
        job_id = message.get("JobId", "") if isinstance(message, dict) else ""
        fields = {
            "owner": owner,
            "url": url,
            "body": body,
            "auth_key": auth_key,
            "event_type": str(doc.get("EventType", "")) if isinstance(doc, dict) else "",
            "job_id": str(job_id),
            "state": "pending",
            "attempts": 0,
            "created_us": created,
            "since_us": created,
        }
        key = keys.delivery(delivery_id)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, PENDING_TTL_S)
            pipe.execute()
        return delivery_id

    def get(self, delivery_id: str) -> Delivery | None:
        raw = self.redis.hgetall(keys.delivery(delivery_id)) if delivery_id else {}
        if not raw.get("state"):
            return None
        return Delivery(
            delivery_id=delivery_id,
            owner=raw["owner"],
            url=raw["url"],
            body=raw["body"],
            auth_key=raw.get("auth_key", ""),
            event_type=raw.get("event_type", ""),
            job_id=raw.get("job_id", ""),
            state=raw["state"],
            attempts=int(raw.get("attempts", 0)),
            created_us=int(raw["created_us"]),
            since_us=int(raw.get("since_us") or raw["created_us"]),
            last_result=raw.get("last_result", ""),
            failed_us=int(raw["failed_us"]) if raw.get("failed_us") else None,
            reason=raw.get("reason", ""),
        )

    def _transition(
        self, delivery_id: str, from_state: str, apply: Callable[[Any, str, str], None]
    ) -> bool:
        """Run ``apply(pipe, key, owner)`` in one transaction if the state is ``from_state``."""
        key = keys.delivery(delivery_id)

        def body(pipe) -> bool:
            state, owner = pipe.hmget(key, "state", "owner")
            if state != from_state:
                return False
            pipe.multi()
            apply(pipe, key, owner)
            return True

        return transaction(self.redis, body, key)

    def record_attempt(self, delivery_id: str, status_or_error: str) -> None:
        """Count an attempt on a pending delivery and keep what it got."""

        def apply(pipe, key, owner):
            pipe.hincrby(key, "attempts", 1)
            pipe.hset(key, mapping={"last_result": status_or_error[:500]})

        self._transition(delivery_id, "pending", apply)

    def mark_delivered(self, delivery_id: str) -> bool:
        """pending → delivered; the record then expires after ``DELIVERED_TTL_S``."""

        def apply(pipe, key, owner):
            pipe.hset(key, mapping={"state": "delivered", "delivered_us": clock_now_us()})
            pipe.expire(key, DELIVERED_TTL_S)

        return self._transition(delivery_id, "pending", apply)

    def dead_letter(self, delivery_id: str, reason: str) -> bool:
        """pending → dead, listed by ``list_dead`` for ``DEAD_TTL_S``."""
        failed = clock_now_us()

        def apply(pipe, key, owner):
            pipe.hset(key, mapping={"state": "dead", "failed_us": failed, "reason": reason[:500]})
            pipe.expire(key, DEAD_TTL_S)
            pipe.zadd(keys.dead_letters(), {delivery_id: failed})
            pipe.zadd(keys.dead_letters(owner), {delivery_id: failed})

        return self._transition(delivery_id, "pending", apply)

    def revive(self, delivery_id: str, *, now_us: int | None = None) -> bool:
        """dead → pending with a fresh give-up clock, for a replay; False if not dead."""
        since = clock_now_us() if now_us is None else now_us

        def apply(pipe, key, owner):
            pipe.hset(key, mapping={"state": "pending", "since_us": since, "reason": ""})
            pipe.hdel(key, "failed_us")
            pipe.expire(key, PENDING_TTL_S)
            pipe.zrem(keys.dead_letters(), delivery_id)
            pipe.zrem(keys.dead_letters(owner), delivery_id)

        return self._transition(delivery_id, "dead", apply)

    def list_dead(self, owner: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Dead letters, newest first (all owners' when ``owner`` is None)."""
        index = keys.dead_letters(owner)
        self.redis.zremrangebyscore(index, "-inf", clock_now_us() - DEAD_TTL_S * 1_000_000)
        ids = self.redis.zrevrange(index, 0, max(limit, 1) - 1)
        found = []
        for delivery_id in ids:
            delivery = self.get(delivery_id)
            if delivery is None or delivery.state != "dead":
                self.redis.zrem(index, delivery_id)  # expired or revived elsewhere
                continue
            found.append(delivery.summary())
        return found

    def dead_count(self) -> int:
        """How many deliveries are dead-lettered now (every owner's, not yet expired)."""
        return int(
            self.redis.zcount(keys.dead_letters(), clock_now_us() - DEAD_TTL_S * 1_000_000, "+inf")
        )


class Notifier:
    """Turns one event into deliveries and hands each to ``send`` (the delivery task)."""

    def __init__(
        self, store: EventStore, send: Callable[[str], None], *, allow_private: bool
    ) -> None:
        self.store, self.send, self.allow_private = store, send, allow_private

    def targets(self, owner: str, event_type: str, user_data: str = "") -> list[tuple[str, str]]:
        """``(url, auth_key)`` pairs for an event; ``auth_key`` is empty when unsigned."""
        cfg = self.store.get_callback(owner)
        auth_key = cfg.auth_key if cfg is not None and cfg.auth_switch == "on" else ""
        found: list[tuple[str, str]] = []
        if cfg is not None and cfg.wants(event_type):
            found.append((cfg.callback_url, auth_key))
        address = notify_address(user_data, allow_private=self.allow_private)
        if address is not None and all(address != url for url, _ in found):
            found.append((address, auth_key))
        return found

    def emit(
        self,
        owner: str,
        user_id: int,
        event_type: str,
        message_body: dict,
        user_data: str = "",
    ) -> list[str]:
        """Create and send one delivery per target; returns their ids (maybe none).

        Raises:
            ValueError: ``event_type`` is not one of ``EVENT_TYPES`` (a bug in the caller).
        """
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        targets = self.targets(owner, event_type, user_data)
        if not targets:
            return []
        doc = envelope(event_type, user_id, message_body, clock_now_us())
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        ids = []
        for url, auth_key in targets:
            delivery_id = self.store.create_delivery(owner, url, body, auth_key)
            self.send(delivery_id)
            ids.append(delivery_id)
        return ids
