"""workers.context.run_recorded: each unit's last FFmpeg run is kept, on success and failure."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import Settings
from shared.errors import FfmpegFailed
from shared.units import Unit
from tests.fakes import probe_json
from workers.context import Encode, TaskContext, run_recorded
from workers.probe import parse_probe

ARGV = ["ffmpeg", "-i", "https://u:p@h/in.mp4?X-Amz-Signature=s", "-c:v", "libx264", "out.mp4"]
REDACTED_LINE = "ffmpeg -i 'https://h/in.mp4?X-Amz-Signature=REDACTED' -c:v libx264 out.mp4"


class RecordingStore:
    """Stands in for ``JobStore``: keeps what ``set_ffmpeg`` was given."""

    def __init__(self):
        self.ffmpeg: list[tuple[str, int, str, str, str]] = []

    def set_ffmpeg(self, job_id: str, index: int, part: str, command: str, log: str) -> None:
        self.ffmpeg.append((job_id, index, part, command, log))


def _ctx(tmp_path, runner) -> TaskContext:
    store: Any = RecordingStore()
    settings = Settings(var_dir=tmp_path, storage_root=tmp_path / "s", work_dir=tmp_path)
    return TaskContext(store=store, heartbeats=None, storage=None, settings=settings, runner=runner)


def test_a_run_that_succeeds_is_recorded_with_its_stderr_tail(tmp_path):
    calls: list[dict] = []

    def runner(argv: list[str], **options: Any) -> str:
        calls.append(options)
        return "frame=  50\nvideo:12kB audio:3kB"

    ctx = _ctx(tmp_path, runner)
    tail = run_recorded(ctx, Unit("j", 2, "c3"), ARGV, timeout=9.0)
    assert tail == "frame=  50\nvideo:12kB audio:3kB" and calls == [{"timeout": 9.0}]
    assert ctx.store.ffmpeg == [("j", 2, "c3", REDACTED_LINE, tail)]


def test_a_runner_that_keeps_no_stderr_records_an_empty_log(tmp_path):
    ctx = _ctx(tmp_path, lambda argv, **options: None)
    assert run_recorded(ctx, Unit("j", 0), ARGV, timeout=1.0) == ""
    assert ctx.store.ffmpeg == [("j", 0, "", REDACTED_LINE, "")]


def test_a_run_that_fails_is_recorded_and_the_error_goes_on(tmp_path):
    failure = FfmpegFailed(
        "ffmpeg exited with status 1",
        argv=ARGV,
        returncode=1,
        stderr_tail="Opening 'https://h/in.mp4?token=t'\nUnknown encoder 'libnope'",
    )

    def runner(argv: list[str], **options: Any) -> None:
        raise failure

    ctx = _ctx(tmp_path, runner)
    with pytest.raises(FfmpegFailed) as err:
        run_recorded(ctx, Unit("j", 1), ARGV, timeout=1.0)
    assert err.value is failure
    log = "Opening 'https://h/in.mp4?token=REDACTED'\nUnknown encoder 'libnope'"
    assert ctx.store.ffmpeg == [("j", 1, "", REDACTED_LINE, log)]


def test_an_encode_records_each_run_as_its_unit(tmp_path):
    seen: list[float] = []
    ctx = _ctx(tmp_path, lambda argv, *, on_progress, **clock: on_progress(1.0) or "done")
    enc = Encode(
        source="in.mp4",
        info=parse_probe(probe_json()),
        config={},
        note="",
        duration=2.0,
        progress=seen.append,
        check_owner=lambda: None,
        unit=Unit("j", 4, "audio"),
    )
    enc.run(ctx, ARGV)
    assert seen == [1.0]
    assert ctx.store.ffmpeg == [("j", 4, "audio", REDACTED_LINE, "done")]
