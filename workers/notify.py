"""Delivering events: one POST per attempt, retried by the ``workers.deliver_event`` task.

``deliver`` is the plain function (tests call it directly); the task only adds Celery's
retry with backoff. The body, URL and key come from the delivery record in Redis, so the
task message carries the delivery id alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import urllib3
from celery import shared_task
from redis.exceptions import RedisError

from shared import metrics
from shared.callback_settings import DELIVERY_HEADER, pin_callback_url, sign_headers
from shared.clock import now_us as clock_now_us
from shared.dispatch import DELIVER_EVENT
from shared.errors import ApiError, ServiceUnavailable
from shared.events import Delivery, EventStore
from shared.storage_urls import PinnedHost
from workers import pinned_http

log = logging.getLogger(__name__)

USER_AGENT = "mcfarm-notify/1"


class DeliveryFailed(Exception):
    """The POST got no HTTP answer (refused, reset, timed out, bad URL)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def http_post(
    url: str, body: bytes, headers: Mapping[str, str], pinned: PinnedHost, timeout: float = 10
) -> int:
    """POST ``body`` as JSON to ``url`` at one of ``pinned``'s addresses; the status code.

    Redirects are not followed: they would reach a host that no SSRF check has seen.

    Raises:
        DeliveryFailed: no HTTP answer came back.
    """
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        resp = pinned_http.send(
            "POST", url, pinned, timeout=urllib3.Timeout(timeout), headers=all_headers, body=body
        )
        try:
            resp.read(64 * 1024)  # drain a little so the connection can be reused
            return resp.status
        finally:
            resp.release_conn()
    except urllib3.exceptions.HTTPError as err:
        raise DeliveryFailed(f"{type(err).__name__}: {err}") from None


def backoff(retries: int, cap: int) -> int:
    """Seconds before retry number ``retries + 1``: 1, 2, 4, … up to ``cap``."""
    return min(2 ** min(retries, 30), cap)


def deliver(
    store: EventStore,
    delivery_id: str,
    *,
    post: Callable[[str, bytes, Mapping[str, str], PinnedHost], int] = http_post,
    now_us: int,
    give_up_after_s: int,
    allow_private: bool,
) -> str:
    """Make one attempt at a delivery.

    Args:
        post: ``http_post`` or a stand-in with its signature.
        now_us: the current time; also signs the attempt.
        give_up_after_s: a failed attempt this long after creation (or a revive)
            dead-letters the delivery.
        allow_private: ``MCFARM_ALLOW_PRIVATE_CALLBACKS``.

    Returns:
        ``delivered`` (2xx), ``retry`` (no 2xx, still young), ``dead`` (no 2xx and too old,
        or the URL now fails the SSRF check) or ``gone`` (unknown id, or no longer pending).
    """
    delivery = store.get(delivery_id)
    if delivery is None or delivery.state != "pending":
        return "gone"
    try:
        # Again at each attempt: the host may resolve elsewhere than when it was set; the
        # POST goes to the address checked now.
        pinned = pin_callback_url(delivery.url, allow_private=allow_private)
        status, result = _attempt(delivery, now_us, post, pinned)
    except ApiError as err:
        store.record_attempt(delivery_id, f"refused: {err.message}")
        store.dead_letter(delivery_id, f"refused: {err.message}")
        metrics.DEAD_LETTERED.inc()
        log.warning("event delivery %s refused: %s", delivery_id, err.message)
        return "dead"
    except ServiceUnavailable as err:
        status, result = None, f"error: {err.message}"
    store.record_attempt(delivery_id, result)
    if status is not None and 200 <= status < 300:
        store.mark_delivered(delivery_id)
        return "delivered"
    if now_us - delivery.since_us < give_up_after_s * 1_000_000:
        return "retry"
    reason = f"no 2xx answer within {give_up_after_s} s; last: {result}"
    store.dead_letter(delivery_id, reason)
    log.error("event delivery %s dead-lettered: %s", delivery_id, reason)
    metrics.DEAD_LETTERED.inc()
    return "dead"


def _attempt(delivery: Delivery, now_us: int, post, pinned: PinnedHost) -> tuple[int | None, str]:
    """One POST: ``(status, "HTTP <status>")`` or ``(None, "error: <reason>")``."""
    data = delivery.body.encode()
    headers = {DELIVERY_HEADER: delivery.delivery_id}
    if delivery.auth_key:
        headers.update(sign_headers(data, delivery.auth_key, now_us // 1_000_000))
    try:
        status = post(delivery.url, data, headers, pinned)
    except DeliveryFailed as err:
        return None, f"error: {err.reason}"
    return status, f"HTTP {status}"


# max_retries=None on the task itself: passed to retry(), None means "the task's default"
# (3), which gave up on a receiver down for more than a few seconds. The time limit is
# deliver()'s MCFARM_CALLBACK_GIVE_UP_AFTER instead.
@shared_task(name=DELIVER_EVENT, bind=True, acks_late=True, ignore_result=True, max_retries=None)
def deliver_event(self, delivery_id: str) -> str:
    """POST one delivery; on failure retry with backoff until ``deliver`` gives up."""
    farm = self.app.farm
    settings = farm.settings
    try:
        outcome = deliver(
            farm.stores.events,
            delivery_id,
            now_us=clock_now_us(),
            give_up_after_s=settings.callback_give_up_after,
            allow_private=settings.allow_private_callbacks,
        )
    except RedisError:  # the record is unreadable for now; the event must not be dropped
        log.warning("event delivery %s: Redis failed, retrying", delivery_id, exc_info=True)
        outcome = "retry"
    if outcome == "retry":
        countdown = backoff(self.request.retries, settings.callback_max_backoff)
        raise self.retry(countdown=countdown)
    return outcome
