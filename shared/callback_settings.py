"""Callback settings (SetEventCallback) and the signature of callback requests.

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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.errors import (
    ApiError,
    InvalidJob,
    ServiceUnavailable,
    StorageUnavailable,
    invalid_parameter,
    missing_parameter,
)
from shared.storage_urls import PinnedHost, check_http_input, pin_http_input

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

    Resolves the host (unless ``allow_private``). A delivery does not trust this answer: it
    pins its own (``pin_callback_url``) and connects to the address it checked.

    Raises:
        ApiError: ``InvalidParameter`` naming ``field``.
        ServiceUnavailable: the resolver failed temporarily.
    """
    _check_form(url, field)
    with _as_api_errors():
        check_http_input(url, allow_private=allow_private, field=field)


def pin_callback_url(url: str, *, allow_private: bool, field: str = "CallbackURL") -> PinnedHost:
    """Check a callback URL as ``check_callback_url`` does, resolving its host once.

    Returns:
        The host and the addresses that passed the check: the POST goes to one of them
        (``workers.pinned_http``), so a name that rebinds after the check cannot redirect it.

    Raises:
        ApiError: ``InvalidParameter`` naming ``field``.
        ServiceUnavailable: the resolver failed temporarily.
    """
    _check_form(url, field)
    with _as_api_errors():
        return pin_http_input(url, allow_private=allow_private, field=field)


def _check_form(url: str, field: str) -> None:
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


@contextmanager
def _as_api_errors() -> Iterator[None]:
    """The SSRF policy's errors as the API's: ``InvalidParameter``, ``ServiceUnavailable``."""
    try:
        yield
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
