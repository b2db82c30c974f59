"""The one place that runs FFmpeg: progress, timeout, stderr tail, and no orphans.

``run_ffmpeg`` owns the child process from start to end. Whatever stops it early (its
timeout, Celery's ``SoftTimeLimitExceeded``, ``KeyboardInterrupt``, an exception from the
progress callback such as a cancel signal) kills the child and waits for it before the
exception goes on, so no FFmpeg outlives its task.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO

from shared.errors import FfmpegFailed

_LOG = logging.getLogger(__name__)
#: Seconds between two progress callbacks (a Celery state update each, so keep it rare).
PROGRESS_INTERVAL_S = 0.5
#: Seconds FFmpeg may say nothing before the callback runs anyway. An encoder deep in its
#: lookahead (x264 ``placebo`` at 1080p) writes no progress block for many seconds, and a
#: cancel or the job's time limit is noticed in the callback.
SILENT_TICK_S = 1.0
#: Lines of stderr kept for FfmpegFailed.
STDERR_TAIL_LINES = 30
#: Bytes read back from the end of stderr to find those lines.
_STDERR_TAIL_BYTES = 16 * 1024


class _Progress:
    """Turns ``-progress`` key=value lines into throttled fractions of ``duration``. Every
    block reports, with or without a duration (the fraction then stays 0): the callback is
    also where a run notices that its job ended."""

    def __init__(self, duration: float | None, on_progress: Callable[[float], None] | None):
        self.duration_us = duration * 1e6 if duration and duration > 0 else None
        self.on_progress = on_progress
        self.fraction = 0.0
        self.last_call = -float("inf")

    def feed(self, line: str) -> None:
        key, _, value = line.strip().partition("=")
        # out_time_ms is in microseconds too (an old FFmpeg naming slip kept for scripts).
        if key not in ("out_time_us", "out_time_ms"):
            return
        if self.duration_us is not None and value.lstrip("-").isdigit():  # N/A: none out yet
            self.fraction = max(self.fraction, min(max(int(value) / self.duration_us, 0.0), 1.0))
        self.report()

    def report(self) -> None:
        now = time.monotonic()
        if self.on_progress is None or now - self.last_call < PROGRESS_INTERVAL_S:
            return
        self.last_call = now
        self.on_progress(self.fraction)


def _pump(stdout: IO[bytes], progress: _Progress) -> None:
    """Feed FFmpeg's progress lines to ``progress`` until its stdout closes; after
    ``SILENT_TICK_S`` without a byte, report the fraction reached so far."""
    fd, pending = stdout.fileno(), b""
    while True:
        if not select.select([fd], [], [], SILENT_TICK_S)[0]:
            progress.report()
            continue
        chunk = os.read(fd, 65536)
        *lines, pending = (pending + chunk).split(b"\n") if chunk else (pending, b"")
        for raw in lines:
            progress.feed(raw.decode("utf-8", "replace"))
        if not chunk:
            return


def _kill(proc: subprocess.Popen) -> None:
    """Kill ``proc`` if it still runs and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _tail(stderr: IO[bytes]) -> str:
    stderr.seek(0, 2)
    stderr.seek(max(0, stderr.tell() - _STDERR_TAIL_BYTES))
    lines = stderr.read().decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-STDERR_TAIL_LINES:])


def _last_line(tail: str) -> str:
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


def _exit_message(returncode: int, tail: str) -> str:
    if returncode < 0:
        return f"ffmpeg was killed by signal {-returncode}: {_last_line(tail)}"
    return f"ffmpeg exited with status {returncode}: {_last_line(tail)}"


def _watch(proc: subprocess.Popen, progress: _Progress, timeout: float) -> tuple[int, bool]:
    """Read progress until FFmpeg exits; kill it at ``timeout``.

    Returns:
        (returncode, whether the timer killed it).
    """
    expired = threading.Event()

    def expire() -> None:
        if proc.poll() is None:
            expired.set()
            proc.kill()  # closes its stdout, which ends _pump

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        _pump(proc.stdout, progress)
        return proc.wait(), expired.is_set()
    finally:
        timer.cancel()


def run_ffmpeg(
    argv: list[str],
    *,
    timeout: float,
    duration: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    log: logging.Logger | logging.LoggerAdapter | None = None,
) -> str:
    """Run an FFmpeg argv built with ``-progress pipe:1`` to completion.

    Args:
        argv: from ``workers.ffmpeg_cmd.build_ffmpeg_args``.
        timeout: seconds before the child is killed.
        duration: expected output seconds; progress is a fraction of it (0 until the end
            when None).
        on_progress: called with 0..1 at most every ``PROGRESS_INTERVAL_S`` seconds (and,
            while FFmpeg writes nothing, every ``SILENT_TICK_S`` with the fraction reached),
            and with 1.0 once FFmpeg has exited successfully. What it raises kills FFmpeg and
            propagates.
        log: the logger to use (e.g. one bound to the job); this module's by default.

    Returns:
        FFmpeg's last stderr lines (``STDERR_TAIL_LINES``), as ``FfmpegFailed`` holds them.

    Raises:
        FfmpegFailed: non-zero exit (``returncode`` set, negative for a signal) or timeout
            (``returncode`` None); ``stderr_tail`` holds FFmpeg's last stderr lines.
    """
    log = log or _LOG
    log.info("running %s", shlex.join(argv))
    progress = _Progress(duration, on_progress)
    # stderr goes to a file, not a pipe: nobody reads it while FFmpeg runs, and a full
    # pipe would block FFmpeg.
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr
        )
        with proc.stdout:
            try:
                returncode, timed_out = _watch(proc, progress, timeout)
            except BaseException:
                _kill(proc)
                raise
        tail = _tail(stderr)
    if timed_out:
        message = f"ffmpeg timed out after {timeout:g} s"
        raise FfmpegFailed(message, argv=argv, returncode=None, stderr_tail=tail)
    if returncode != 0:
        message = _exit_message(returncode, tail)
        raise FfmpegFailed(message, argv=argv, returncode=returncode, stderr_tail=tail)
    if on_progress is not None:
        on_progress(1.0)
    return tail
