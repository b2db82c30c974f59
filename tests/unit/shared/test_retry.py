"""shared.retry: transient storage errors are waited out, for a bounded time."""

from __future__ import annotations

import itertools

import pytest

from shared.errors import InputMissing, StorageUnavailable
from shared.retry import StorageGaveUp, backoff_delays, retry_transient


class Clock:
    """A fake monotonic clock that ``sleep`` advances."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures: int, error: Exception | None = None):
    calls = itertools.count(1)
    error = error or StorageUnavailable("S3 down")

    def operation() -> str:
        if next(calls) <= failures:
            raise error
        return "ok"

    return operation


def test_backoff_doubles_up_to_its_cap():
    assert list(itertools.islice(backoff_delays(), 7)) == [0.5, 1, 2, 4, 8, 8, 8]


def test_a_short_outage_is_waited_out():
    clock = Clock()
    result = retry_transient(
        flaky(4), window_s=30, what="upload x", sleep=clock.sleep, clock=lambda: clock.now
    )
    assert result == "ok"
    assert clock.sleeps == [0.5, 1, 2, 4]


def test_a_longer_outage_gives_up_within_the_window():
    clock = Clock()
    with pytest.raises(StorageGaveUp) as err:
        retry_transient(
            flaky(1000), window_s=20, what="upload x", sleep=clock.sleep, clock=lambda: clock.now
        )
    assert sum(clock.sleeps) <= 20
    assert clock.sleeps == [0.5, 1, 2, 4, 8]  # the next 8 s wait would end past 20 s
    assert err.value.code == "StorageUnavailable"
    assert err.value.permanent
    assert "upload x" in err.value.message and "MCFARM_STORAGE_RETRY_WINDOW" in err.value.message


def test_no_window_means_no_retry():
    clock = Clock()
    with pytest.raises(StorageGaveUp):
        retry_transient(flaky(1), window_s=0, what="x", sleep=clock.sleep, clock=lambda: clock.now)
    assert clock.sleeps == []


def test_permanent_errors_are_not_retried():
    clock = Clock()
    with pytest.raises(InputMissing):
        retry_transient(
            flaky(1, InputMissing("gone")),
            window_s=30,
            what="x",
            sleep=clock.sleep,
            clock=lambda: clock.now,
        )
    assert clock.sleeps == []
