"""``FailureDelay``: failed authentications wait, in a bounded number of threads."""

from __future__ import annotations

import threading

import pytest

from api import throttle
from api.throttle import FailureDelay


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(throttle.time, "sleep", recorded.append)
    return recorded


def test_a_failure_waits_the_delay(sleeps):
    FailureDelay(0.1, 2).wait()
    assert sleeps == [0.1]


def test_no_delay_configured_means_no_wait(sleeps):
    FailureDelay(0, 2).wait()
    FailureDelay(0.1, 0).wait()
    assert sleeps == []


def test_past_max_waiting_the_answer_goes_out_at_once(monkeypatch):
    delay = FailureDelay(0.1, 1)
    inside, release, recorded = threading.Event(), threading.Event(), []

    def blocking_sleep(seconds: float) -> None:
        recorded.append(seconds)
        inside.set()
        release.wait(5)

    monkeypatch.setattr(throttle.time, "sleep", blocking_sleep)
    first = threading.Thread(target=delay.wait)
    first.start()
    assert inside.wait(5)
    delay.wait()  # the one slot is taken: no second sleep
    release.set()
    first.join(5)
    assert recorded == [0.1]
    inside.clear()
    release.set()
    delay.wait()  # the slot is free again
    assert recorded == [0.1, 0.1]


@pytest.mark.parametrize(("threads", "waiting"), [(32, 28), (8, 4), (3, 1), (2, 1), (1, 0)])
def test_some_threads_always_stay_free_for_good_requests(sleeps, threads, waiting):
    delay = FailureDelay.for_threads(0.1, threads)
    taken = 0
    while delay._slots.acquire(blocking=False):
        taken += 1
    assert taken == waiting
