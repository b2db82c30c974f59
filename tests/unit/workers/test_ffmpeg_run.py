"""workers.ffmpeg_run against tiny Python scripts that behave like FFmpeg."""

from __future__ import annotations

import logging
import os
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


@pytest.fixture
def unthrottled(monkeypatch):
    monkeypatch.setattr(ffmpeg_run, "PROGRESS_INTERVAL_S", 0.0)


def assert_dead(pid: int) -> None:
    with pytest.raises(ProcessLookupError):  # killed and reaped, not a zombie
        os.kill(pid, 0)


def test_progress_fractions(unthrottled):
    record = Recorder()
    body = progress_lines("N/A", 1_000_000, 2_500_000, 5_000_000, 7_000_000)
    run_ffmpeg(script(body), timeout=30, duration=5.0, on_progress=record)
    assert record.calls == [0.2, 0.5, 1.0, 1.0, 1.0]


def test_out_time_ms_is_microseconds_too(unthrottled):
    record = Recorder()
    body = "print('out_time_ms=1000000'); print('out_time_ms=garbage'); print('progress=end')"
    run_ffmpeg(script(body), timeout=30, duration=4.0, on_progress=record)
    assert record.calls == [0.25, 1.0]


def test_progress_never_goes_back(unthrottled):
    record = Recorder()
    run_ffmpeg(
        script(progress_lines(3_000_000, 2_000_000)), timeout=30, duration=4.0, on_progress=record
    )
    assert record.calls == [0.75, 0.75, 1.0]


def test_progress_is_throttled():
    record = Recorder()
    body = (
        "for us in range(0, 10_000_000, 1000):\n"  # 10 000 blocks at once
        "    print(f'out_time_us={us}')\n"
        "print('progress=end')"
    )
    run_ffmpeg(script(body), timeout=30, duration=10.0, on_progress=record)
    assert 2 <= len(record.calls) <= 4
    assert record.calls[-1] == 1.0


def test_without_duration_only_the_end_is_reported():
    record = Recorder()
    run_ffmpeg(script(progress_lines(1_000_000)), timeout=30, on_progress=record)
    assert record.calls == [1.0]


def test_success_without_callback():
    run_ffmpeg(script("pass"), timeout=30, duration=1.0)


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


def test_timeout_kills_it(tmp_path):
    pid_file = tmp_path / "pid"
    body = f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(30)"
    started = time.monotonic()
    with pytest.raises(FfmpegFailed) as err:
        run_ffmpeg(script(body), timeout=1.5)
    assert time.monotonic() - started < 10
    assert err.value.returncode is None
    assert_dead(int(pid_file.read_text()))


def test_a_raising_callback_kills_it(tmp_path):
    pid_file = tmp_path / "pid"
    body = (
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "print('out_time_us=1000000', flush=True)\ntime.sleep(30)"
    )

    class Cancelled(Exception):
        pass

    def cancel(fraction: float) -> None:
        raise Cancelled

    started = time.monotonic()
    with pytest.raises(Cancelled):
        run_ffmpeg(script(body), timeout=60, duration=10.0, on_progress=cancel)
    assert time.monotonic() - started < 10
    assert_dead(int(pid_file.read_text()))


def test_soft_time_limit_kills_it(tmp_path):
    """Celery raises SoftTimeLimitExceeded from a signal handler in the task's thread."""
    pid_file = tmp_path / "pid"
    body = f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(30)"

    def soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGUSR1, soft_limit)
    main = threading.main_thread().ident
    timer = threading.Timer(1.5, signal.pthread_kill, (main, signal.SIGUSR1))
    started = time.monotonic()
    try:
        timer.start()
        with pytest.raises(SoftTimeLimitExceeded):
            run_ffmpeg(script(body), timeout=60)
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    assert time.monotonic() - started < 10
    assert_dead(int(pid_file.read_text()))
