"""workers.ffmpeg_run against tiny Python scripts that behave like FFmpeg."""

from __future__ import annotations

import logging
import shlex
import signal
import sys
import threading
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from shared.errors import FfmpegFailed
from workers import ffmpeg_run
from workers.ffmpeg_run import run_ffmpeg


def script(body: str) -> list[str]:
    return [sys.executable, "-c", f"import os, sys, time\n{body}"]


def progress_lines(*out_time_us: int | str) -> str:
    """A script body printing one -progress block per value, then progress=end."""
    blocks = [
        f"frame=1\nout_time_us={us}\nout_time=00:00:00\nprogress=continue\n" for us in out_time_us
    ]
    text = "".join(blocks) + "progress=end\n"
    return f"sys.stdout.write({text!r}); sys.stdout.flush()"


class Recorder:
    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, fraction: float) -> None:
        self.calls.append(fraction)


@pytest.fixture(autouse=True)
def no_silent_ticks(monkeypatch):
    """A slow start of a test's script (a loaded machine) must not add a call."""
    monkeypatch.setattr(ffmpeg_run, "SILENT_TICK_S", 3600.0)


@pytest.fixture
def unthrottled(monkeypatch):
    monkeypatch.setattr(ffmpeg_run, "PROGRESS_INTERVAL_S", 0.0)


def test_progress_fractions(unthrottled):
    record = Recorder()
    body = progress_lines("N/A", 1_000_000, 2_500_000, 5_000_000, 7_000_000)
    run_ffmpeg(script(body), timeout=30, duration=5.0, on_progress=record)
    assert record.calls == [0.0, 0.2, 0.5, 1.0, 1.0, 1.0]


def test_out_time_ms_is_microseconds_too(unthrottled):
    record = Recorder()
    body = "print('out_time_ms=1000000'); print('out_time_ms=garbage'); print('progress=end')"
    run_ffmpeg(script(body), timeout=30, duration=4.0, on_progress=record)
    assert record.calls == [0.25, 0.25, 1.0]


def test_a_silent_ffmpeg_still_gets_its_callback(monkeypatch):
    """An encoder deep in its lookahead writes nothing for seconds: the callback still runs
    (with the fraction reached), so what it raises (a cancel) stops FFmpeg at once."""
    monkeypatch.setattr(ffmpeg_run, "SILENT_TICK_S", 0.2)
    record = Recorder()
    body = progress_lines(1_000_000).replace("progress=end\\n", "") + "\ntime.sleep(1.5)"
    run_ffmpeg(script(body), timeout=30, duration=4.0, on_progress=record)
    assert record.calls[0] == 0.25 and record.calls[-1] == 1.0
    assert 0.25 in record.calls[1:-1], record.calls  # ticks while it slept


def test_what_a_silent_tick_raises_kills_ffmpeg(monkeypatch, children):
    monkeypatch.setattr(ffmpeg_run, "SILENT_TICK_S", 0.2)

    def cancelled(fraction: float) -> None:
        raise RuntimeError("the job ended")

    with pytest.raises(RuntimeError, match="the job ended"):
        run_ffmpeg(script("time.sleep(30)"), timeout=60, duration=4.0, on_progress=cancelled)
    children.assert_one_killed()


def test_progress_never_goes_back(unthrottled):
    record = Recorder()
    run_ffmpeg(
        script(progress_lines(3_000_000, 2_000_000)), timeout=30, duration=4.0, on_progress=record
    )
    assert record.calls == [0.75, 0.75, 1.0]


class SteppingClock:
    """``time.monotonic`` for ``workers.ffmpeg_run`` that moves ``step`` s at every read, so
    a count of callbacks depends on the lines FFmpeg wrote, not on how fast they came."""

    def __init__(self, step: float):
        self.reads, self.step = 0, step

    def monotonic(self) -> float:
        self.reads += 1
        return (self.reads - 1) * self.step


def test_progress_is_throttled(monkeypatch):
    """10 000 progress lines, the clock 1 ms further at each: one callback per 0.5 s of it
    (the interval), then 1.0 at the end, whatever the machine's speed."""
    monkeypatch.setattr(ffmpeg_run, "time", SteppingClock(step=0.001))
    record = Recorder()
    body = (
        "for us in range(0, 10_000_000, 1000):\n"  # 10 000 blocks at once
        "    print(f'out_time_us={us}')\n"
        "print('progress=end')"
    )
    run_ffmpeg(script(body), timeout=30, duration=10.0, on_progress=record)
    # Lines 0, 500, 1000 … 9500 are reported (10 s of output in 0.05 steps), then the end.
    assert record.calls == pytest.approx([n / 20 for n in range(20)] + [1.0])


def test_without_duration_the_fraction_stays_0_until_the_end():
    record = Recorder()
    run_ffmpeg(script(progress_lines(1_000_000)), timeout=30, on_progress=record)
    assert record.calls == [0.0, 1.0]


def test_success_without_callback():
    assert run_ffmpeg(script("pass"), timeout=30, duration=1.0) == ""


def test_success_returns_the_stderr_tail():
    body = "for i in range(100): print(f'line {i}', file=sys.stderr)"
    tail = run_ffmpeg(script(body), timeout=30)
    assert tail.splitlines() == [f"line {i}" for i in range(70, 100)]


def test_logs_the_command(caplog):
    argv = script("pass") + ["with space"]
    with caplog.at_level(logging.INFO, logger="test.ffmpeg"):
        run_ffmpeg(argv, timeout=30, log=logging.getLogger("test.ffmpeg"))
    assert shlex.join(argv) in caplog.text


def test_non_zero_exit_keeps_the_stderr_tail():
    body = "for i in range(100): print(f'line {i}', file=sys.stderr)\nsys.exit(3)"
    argv = script(body)
    with pytest.raises(FfmpegFailed) as err:
        run_ffmpeg(argv, timeout=30)
    assert err.value.returncode == 3
    assert err.value.argv == argv
    assert err.value.stderr_tail.splitlines() == [f"line {i}" for i in range(70, 100)]
    assert "line 99" in err.value.message
    assert err.value.permanent


def test_killed_by_a_signal_has_a_negative_status():
    with pytest.raises(FfmpegFailed) as err:
        run_ffmpeg(script("os.kill(os.getpid(), 9)"), timeout=30)
    assert err.value.returncode == -9


def test_a_flood_of_stderr_cannot_block_it():
    body = "sys.stderr.write('x' * 4_000_000 + '\\nlast words\\n')\nsys.exit(1)"
    with pytest.raises(FfmpegFailed) as err:
        run_ffmpeg(script(body), timeout=30)
    assert err.value.stderr_tail.splitlines()[-1] == "last words"
    assert len(err.value.stderr_tail) < 64 * 1024


def test_timeout_kills_it(children):
    with pytest.raises(FfmpegFailed) as err:
        run_ffmpeg(script("time.sleep(30)"), timeout=1.5)
    assert err.value.returncode is None
    children.assert_one_killed()


def test_a_raising_callback_kills_it(children):
    body = "print('out_time_us=1000000', flush=True)\ntime.sleep(30)"

    class Cancelled(Exception):
        pass

    def cancel(fraction: float) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        run_ffmpeg(script(body), timeout=60, duration=10.0, on_progress=cancel)
    children.assert_one_killed()


def test_soft_time_limit_kills_it(children):
    """Celery raises SoftTimeLimitExceeded from a signal handler in the task's thread; here
    it comes once the child runs, however long starting it took."""

    def soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    def limit_once_started() -> None:
        while not children:
            time.sleep(0.01)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, soft_limit)
    limiter = threading.Thread(target=limit_once_started, daemon=True)
    try:
        limiter.start()
        with pytest.raises(SoftTimeLimitExceeded):
            run_ffmpeg(script("time.sleep(30)"), timeout=60)
    finally:
        limiter.join(5)
        signal.signal(signal.SIGUSR1, previous)
    children.assert_one_killed()
