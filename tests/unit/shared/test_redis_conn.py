"""shared.redis_conn: Redis calls wait out a restart for a bounded time."""

from __future__ import annotations

import copy
import itertools

import pytest
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from shared.redis_conn import RetryWindow, publish_retry_policy


class Clock:
    """A fake monotonic clock that ``sleep`` advances."""

    def __init__(self) -> None:
        self.now = 50.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, error: Exception):
    calls = itertools.count(1)

    def do() -> str:
        if next(calls) <= times:
            raise error
        return "ok"

    return do


def retry(window_s: float, clock: Clock) -> RetryWindow:
    return RetryWindow(window_s, sleep=clock.sleep, clock=lambda: clock.now)


def test_a_restart_shorter_than_the_window_is_waited_out():
    clock, failures = Clock(), []
    result = retry(5, clock).call_with_retry(failing(4, ConnectionError("down")), failures.append)
    assert result == "ok"
    assert len(failures) == 4
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8]


@pytest.mark.parametrize(
    "error", [ConnectionError("refused"), TimeoutError("slow"), ConnectionRefusedError(111, "x")]
)
def test_transient_errors_past_the_window_raise_the_last_one(error):
    clock = Clock()
    with pytest.raises(type(error)):
        retry(3, clock).call_with_retry(failing(100, error), lambda _: None)
    # Backoff doubles up to 1 s; the last wait is cut to end exactly at the window.
    assert clock.sleeps[:5] == [0.1, 0.2, 0.4, 0.8, 1.0]
    assert sum(clock.sleeps) == pytest.approx(3)


def test_no_window_means_one_try():
    clock = Clock()
    with pytest.raises(ConnectionError):
        retry(0, clock).call_with_retry(failing(1, ConnectionError("down")), lambda _: None)
    assert clock.sleeps == []


def test_a_command_error_is_not_retried():
    clock = Clock()
    with pytest.raises(ResponseError):
        retry(10, clock).call_with_retry(failing(1, ResponseError("WRONGTYPE")), lambda _: None)
    assert clock.sleeps == []


def test_each_connection_gets_its_own_copy():
    original = RetryWindow(7)
    copied = copy.deepcopy(original)  # what redis-py does per connection
    assert copied is not original and copied.window_s == 7


@pytest.mark.parametrize("window", [0, 1, 5, 20, 60])
def test_publish_retries_last_about_the_window(window):
    policy = publish_retry_policy(window)
    start, step, cap = policy["interval_start"], policy["interval_step"], policy["interval_max"]
    waits = [min(start + step * n, cap) for n in range(policy["max_retries"])]
    assert sum(waits) >= window
    assert sum(waits[:-1]) < window or window == 0
