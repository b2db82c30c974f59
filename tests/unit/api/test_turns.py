"""``api.turns``: at most N threads run request code at once, admitted in arrival order."""

from __future__ import annotations

import threading
import time

import pytest

from api import throttle
from api.throttle import FailureDelay
from api.turns import RECEIVED, Turns


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


class Crowd:
    """Threads that each take a turn, note their name, and give it back."""

    def __init__(self, turns: Turns):
        self.turns, self.order, self.threads = turns, [], []

    def arrive(self, name: str) -> None:
        def run() -> None:
            self.turns.take()
            self.order.append(name)
            self.turns.give()

        waiting = self.turns.waiting
        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)
        _until(lambda: self.turns.waiting == waiting + 1, f"{name} in line")

    def join(self) -> None:
        for thread in self.threads:
            thread.join(10)
            assert not thread.is_alive()


def test_threads_beyond_the_count_wait_and_go_in_arrival_order():
    turns = Turns(2)
    turns.take()
    turns.take()  # both turns held: whoever comes now waits
    crowd = Crowd(turns)
    for name in "abcd":
        crowd.arrive(name)
    assert crowd.order == []
    turns.give()
    _until(lambda: len(crowd.order) == 4, "all four through one free turn")
    crowd.join()
    assert crowd.order == list("abcd")
    turns.give()
    assert turns.waiting == 0
    turns.take()
    turns.take()  # both free again: neither waits


def test_a_turn_given_back_goes_to_the_oldest_waiter_not_to_a_newcomer():
    turns = Turns(1)
    turns.take()
    crowd = Crowd(turns)
    crowd.arrive("waiter")
    turns.give()  # handed to the waiter: not free for this thread to take back
    _until(lambda: crowd.order == ["waiter"], "the waiter ran")
    crowd.join()
    turns.take()  # the waiter gave it back


def test_count_0_admits_everyone():
    turns = Turns(0)
    for _ in range(100):
        turns.take()
    assert turns.waiting == 0
    turns.give()


def test_a_thread_that_steps_out_lets_another_run_meanwhile():
    turns = Turns(1)
    turns.take()
    crowd = Crowd(turns)
    crowd.arrive("other")  # waits: this thread holds the only turn
    with turns.stepped_out():
        _until(lambda: crowd.order == ["other"], "the other ran while this one was out")
    crowd.arrive("next")  # this thread is back in its turn: a newcomer waits again
    assert crowd.order == ["other"]
    turns.give()
    _until(lambda: crowd.order == ["other", "next"], "the newcomer ran")
    crowd.join()


def test_wsgi_apps_run_in_a_turn_and_give_it_back_on_error():
    turns = Turns(1)
    seen = []

    def app(environ, start_response):
        seen.append(turns.waiting)
        if environ.get("fail"):
            raise RuntimeError("boom")
        return [b"ok"]

    wrapped = turns.wrap(app)
    environ: dict = {}
    before = time.perf_counter()
    assert wrapped(environ, None) == [b"ok"]
    assert before <= environ[RECEIVED] <= time.perf_counter()  # stamped before its turn
    with pytest.raises(RuntimeError, match="boom"):
        wrapped({"fail": True}, None)
    crowd = Crowd(turns)
    turns.take()
    crowd.arrive("after")  # waits: this thread holds the only turn
    turns.give()
    _until(lambda: crowd.order == ["after"], "the turn came back after the error")
    crowd.join()


def test_a_failed_authentication_sleeps_out_of_its_turn(monkeypatch):
    asleep, wake = threading.Event(), threading.Event()

    class Clock:
        @staticmethod
        def sleep(_seconds: float) -> None:
            asleep.set()
            wake.wait(60)

    monkeypatch.setattr(throttle, "time", Clock)
    turns = Turns(1)
    delay = FailureDelay(0.1, 1, turns)
    sleeper = threading.Thread(target=lambda: (turns.take(), delay.wait(), turns.give()))
    sleeper.start()
    assert asleep.wait(10)
    ran: list[str] = []
    good = threading.Thread(target=lambda: (turns.take(), ran.append("good"), turns.give()))
    good.start()
    good.join(5)
    wake.set()
    assert ran == ["good"]  # it ran while the sleeper slept
    sleeper.join(10)
    assert not sleeper.is_alive() and turns.waiting == 0
