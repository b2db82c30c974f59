"""Event callbacks: SetEventCallback settings, the ICE event envelope, signing, deliveries.

``Notifier.emit`` builds one envelope, stores one *delivery* per target (the owner's
SetEventCallback URL and the job's ``UserData.NotifyAddress``) and hands each delivery id to
``send`` (the ``workers.deliver_event`` task). That task POSTs the body, retrying with backoff
until the receiver answers 2xx or ``MCFARM_CALLBACK_GIVE_UP_AFTER`` seconds pass; then the
delivery is dead-lettered, where an operator can list and replay it. Delivery is
at-least-once: a receiver may see one delivery twice and should de-duplicate on its id.

Signature scheme. ICE documents callback authentication (``AuthSwitch``/``AuthKey``) but not
its header format (reference §5.1), so mcfarm defines one in the style of common webhook
signatures. When the owner's ``AuthSwitch`` is ``on``, every POST carries, e.g. for the body
``{"EventType":"MediaConvertComplete"}`` and the AuthKey ``Abc123xyz``::

    X-Mcfarm-Timestamp: 1704067260
    X-Mcfarm-Signature: v1=49be14bf8480275eb8b4c704780785c15ee9103c9bf1fa1317607e722aac9e1f

The signature is the lowercase hex HMAC-SHA256, keyed with the AuthKey (UTF-8), of the
timestamp in decimal, a ``.``, then the raw request body bytes: ``f"{timestamp}." + body``.
The timestamp is Unix seconds at the time of *that* attempt (retries are signed afresh). A
receiver recomputes the HMAC over the body exactly as received, compares in constant time and
rejects timestamps more than 5 minutes from its own clock, which bounds replays
(``verify_signature`` does all three). ``X-Mcfarm-Signature`` may one day list several
comma-separated ``v1=`` values (key rotation): accept the request if any one matches. Every
POST, signed or not, also carries ``X-Mcfarm-Delivery: <delivery id>``, the same on every
retry of one delivery.

Redis layout (under ``mcfarm:``): ``evcb:{owner}`` the settings as GetEventCallback JSON;
``dlv:{id}`` a delivery hash; ``dead`` and ``dead:{owner}`` sorted sets of dead-letter ids
scored by the time they died.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis

from shared.clock import now_us as clock_now_us
from shared.clock import wire_time
from shared.errors import (
    ApiError,
    InvalidJob,
    ServiceUnavailable,
    StorageUnavailable,
    invalid_parameter,
    missing_parameter,
)
from shared.jobstore import PREFIX
from shared.storage_urls import check_http_input

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "MediaConvertComplete",
    "MediaConvertOutputGroupComplete",
    "MediaConvertOutputComplete",
)
TIMESTAMP_HEADER = "X-Mcfarm-Timestamp"
SIGNATURE_HEADER = "X-Mcfarm-Signature"
DELIVERY_HEADER = "X-Mcfarm-Delivery"
MAX_URL_BYTES = 256  # SetEventCallback: "The callback URL cannot exceed 256 bytes".
MAX_EVENT_TYPES = 64
PENDING_TTL_S = 30 * 24 * 3600  # a safety net for a delivery whose task message was lost
DELIVERED_TTL_S = 3 * 24 * 3600
DEAD_TTL_S = 30 * 24 * 3600

_AUTH_KEY_RE = re.compile(r"[A-Za-z0-9]{1,32}")
_EVENT_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
# Whitespace and C0/DEL: urlsplit silently drops some of them, urllib would then send a URL
# other than the one checked.
_BAD_URL_CHARS_RE = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class CallbackConfig:
    """An owner's SetEventCallback settings (HTTP only).

    Attributes:
        event_types: the ``EventTypeList``; names mcfarm does not emit are kept (so a client's
            ICE configuration is accepted and echoed back) but never match an event.
        auth_switch: ``on`` or ``off``; ``on`` signs every POST with ``auth_key``.
    """

    callback_type: str
    callback_url: str
    event_types: tuple[str, ...]
    auth_switch: str
    auth_key: str

    def wants(self, event_type: str) -> bool:
        return self.callback_type == "HTTP" and event_type in self.event_types

    def to_wire(self) -> dict[str, str]:
        """The fields of GetEventCallback, named as the SDK model names them."""
        return {
            "CallbackType": self.callback_type,
            "CallbackURL": self.callback_url,
            "CallbackQueueName": "",
            "EventTypeList": ",".join(self.event_types),
            "AuthSwitch": self.auth_switch,
            "AuthKey": self.auth_key,
        }

    @classmethod
    def from_wire(cls, doc: Mapping[str, str]) -> CallbackConfig:
        return cls(
            callback_type=doc["CallbackType"],
            callback_url=doc["CallbackURL"],
            event_types=tuple(filter(None, doc["EventTypeList"].split(","))),
            auth_switch=doc["AuthSwitch"],
            auth_key=doc["AuthKey"],
        )


# --- validation -------------------------------------------------------------------------


def _text(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_parameter(name, "It must be a string.")
    return value


def check_callback_url(url: str, *, allow_private: bool, field: str = "CallbackURL") -> None:
    """Refuse a callback URL that is not plain http(s) to a public address.

    Resolves the host (unless ``allow_private``); the POST resolves it again, so a DNS record
    changed in between is not caught here (``deliver`` checks again before each attempt).

    Raises:
        ApiError: ``InvalidParameter`` naming ``field``.
        ServiceUnavailable: the resolver failed temporarily.
    """
    if not isinstance(url, str) or not url:
        raise invalid_parameter(field, "The URL is empty.")
    if _BAD_URL_CHARS_RE.search(url):
        raise invalid_parameter(field, "The URL contains spaces or control characters.")
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        raise invalid_parameter(field, "The URL is malformed.") from None
    if scheme.lower() not in ("http", "https"):
        raise invalid_parameter(field, "Callbacks are delivered to http:// or https:// URLs.")
    try:
        check_http_input(url, allow_private=allow_private, field=field)
    except InvalidJob as err:
        raise ApiError(err.message, code="InvalidParameter") from None
    except StorageUnavailable as err:
        raise ServiceUnavailable(err.message) from None


def parse_event_types(raw: str) -> tuple[str, ...]:
    """``EventTypeList`` → names; empty means every event mcfarm emits.

    Raises:
        ApiError: ``InvalidParameter`` for a name that is not a bare word, or too many names.
    """
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        return EVENT_TYPES
    for name in names:
        if not _EVENT_NAME_RE.fullmatch(name):
            raise invalid_parameter("EventTypeList", f"{name[:80]!r} is not an event name.")
    if len(names) > MAX_EVENT_TYPES:
        raise invalid_parameter("EventTypeList", f"At most {MAX_EVENT_TYPES} event types.")
    return tuple(dict.fromkeys(names))


def _check_auth_key(key: str) -> None:
    # Reference §5.1: up to 32 characters, with upper and lower case letters and digits.
    if not (
        _AUTH_KEY_RE.fullmatch(key)
        and re.search(r"[A-Z]", key)
        and re.search(r"[a-z]", key)
        and re.search(r"[0-9]", key)
    ):
        raise invalid_parameter(
            "AuthKey",
            "It must be 1-32 letters and digits, with at least one upper case letter, "
            "one lower case letter and one digit.",
        )


def parse_callback_settings(params: Mapping[str, Any], *, allow_private: bool) -> CallbackConfig:
    """Validate SetEventCallback parameters (unknown names are ignored).

    Args:
        params: ``CallbackType`` (``HTTP``, the default), ``CallbackURL``, ``EventTypeList``,
            ``AuthSwitch`` (``on``/``off``, default ``off``), ``AuthKey``.
        allow_private: ``MCFARM_ALLOW_PRIVATE_CALLBACKS``.

    Raises:
        ApiError: ``MissingParameter`` or ``InvalidParameter`` naming the field.
        ServiceUnavailable: the callback host could not be resolved just now.
    """
    callback_type = _text(params, "CallbackType").upper() or "HTTP"
    if callback_type == "MNS":
        raise invalid_parameter("CallbackType", "MNS queues are not supported, use HTTP.")
    if callback_type != "HTTP":
        raise invalid_parameter("CallbackType", "Use HTTP.")
    url = _text(params, "CallbackURL")
    if not url:
        raise missing_parameter("CallbackURL")
    if len(url.encode()) > MAX_URL_BYTES:
        raise invalid_parameter("CallbackURL", f"It is longer than {MAX_URL_BYTES} bytes.")
    check_callback_url(url, allow_private=allow_private)
    event_types = parse_event_types(_text(params, "EventTypeList"))
    auth_switch = _text(params, "AuthSwitch").lower() or "off"
    if auth_switch not in ("on", "off"):
        raise invalid_parameter("AuthSwitch", "Use on or off.")
    auth_key = _text(params, "AuthKey")
    if auth_switch == "on" and not auth_key:
        raise missing_parameter("AuthKey")
    if auth_key:
        _check_auth_key(auth_key)
    return CallbackConfig("HTTP", url, event_types, auth_switch, auth_key)


def notify_address(user_data: str, *, allow_private: bool) -> str | None:
    """The ``NotifyAddress`` of a job's ``UserData``, or None; never raises.

    ``UserData`` is free text: only a JSON object with a string ``NotifyAddress`` counts. An
    address that fails ``check_callback_url`` is skipped with a warning.
    """
    try:
        doc = json.loads(user_data) if user_data else None
    except (TypeError, ValueError):
        return None
    address = doc.get("NotifyAddress") if isinstance(doc, dict) else None
    if address is None:
        return None
    try:
        check_callback_url(address, allow_private=allow_private, field="UserData.NotifyAddress")
    except (ApiError, ServiceUnavailable) as err:
        log.warning("not notifying UserData.NotifyAddress: %s", err.message)
        return None
    return address


# --- envelope and signatures ---------------------------------------------------------------


def envelope(event_type: str, user_id: int, message_body: dict, now_us: int) -> dict[str, Any]:
    """The ICE event envelope (reference §5.1); ``UserId`` is a JSON number."""
    return {
        "EventType": event_type,
        "UserId": int(user_id),
        "EventTime": wire_time(now_us),
        "MessageBody": message_body,
    }


def _mac(body: bytes, auth_key: str, timestamp: int) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(auth_key.encode(), message, hashlib.sha256).hexdigest()


def sign_headers(body: bytes, auth_key: str, timestamp: int) -> dict[str, str]:
    """The two signature headers for ``body`` (see the module docstring)."""
    return {
        TIMESTAMP_HEADER: str(int(timestamp)),
        SIGNATURE_HEADER: f"v1={_mac(body, auth_key, int(timestamp))}",
    }


def verify_signature(
    body: bytes, headers: Mapping[str, str], auth_key: str, *, now: float, tolerance_s: int = 300
) -> bool:
    """Whether ``headers`` sign ``body`` with ``auth_key`` at a time within ``tolerance_s``.

    Args:
        headers: any mapping with ``items()``; names are matched case-insensitively.
        now: the receiver's clock, Unix seconds.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    raw_ts = lower.get(TIMESTAMP_HEADER.lower(), "")
    signature = lower.get(SIGNATURE_HEADER.lower(), "")
    if not (auth_key and raw_ts.isascii() and raw_ts.isdigit() and signature):
        return False
    timestamp = int(raw_ts)
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = f"v1={_mac(body, auth_key, timestamp)}".encode()
    return any(
        hmac.compare_digest(expected, part.strip().encode()) for part in signature.split(",")
    )


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

    @staticmethod
    def _callback_key(owner: str) -> str:
        return f"{PREFIX}evcb:{owner}"

    @staticmethod
    def _key(delivery_id: str) -> str:
        return f"{PREFIX}dlv:{delivery_id}"

    @staticmethod
    def _dead_key(owner: str | None = None) -> str:
        return f"{PREFIX}dead" + (f":{owner}" if owner is not None else "")

    def set_callback(self, owner: str, cfg: CallbackConfig) -> None:
        self.redis.set(self._callback_key(owner), json.dumps(cfg.to_wire()))

    def get_callback(self, owner: str) -> CallbackConfig | None:
        raw = self.redis.get(self._callback_key(owner))
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
        key = self._key(delivery_id)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, PENDING_TTL_S)
            pipe.execute()
        return delivery_id

    def get(self, delivery_id: str) -> Delivery | None:
        raw = self.redis.hgetall(self._key(delivery_id)) if delivery_id else {}
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
        key = self._key(delivery_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    state, owner = pipe.hmget(key, "state", "owner")
                    if state != from_state:
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    apply(pipe, key, owner)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

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
            pipe.zadd(self._dead_key(), {delivery_id: failed})
            pipe.zadd(self._dead_key(owner), {delivery_id: failed})

        return self._transition(delivery_id, "pending", apply)

    def revive(self, delivery_id: str, *, now_us: int | None = None) -> bool:
        """dead → pending with a fresh give-up clock, for a replay; False if not dead."""
        since = clock_now_us() if now_us is None else now_us

        def apply(pipe, key, owner):
            pipe.hset(key, mapping={"state": "pending", "since_us": since, "reason": ""})
            pipe.hdel(key, "failed_us")
            pipe.expire(key, PENDING_TTL_S)
            pipe.zrem(self._dead_key(), delivery_id)
            pipe.zrem(self._dead_key(owner), delivery_id)

        return self._transition(delivery_id, "dead", apply)

    def list_dead(self, owner: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Dead letters, newest first (all owners' when ``owner`` is None)."""
        index = self._dead_key(owner)
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
