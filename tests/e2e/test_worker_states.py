"""The worker state machine (``workers.transcode``) called directly, as warehouse tests tasks.

``prepare_job``, ``transcode_output`` and ``finalize`` run for real against the real job
store on a private redis-server; only FFmpeg, ffprobe, storage and the notifier are recording
fakes (``tests.fakes``). Each test drives one path of the machine and asserts on what it
left behind: output ``Status`` and ``Code``, job ``State`` and ``Code``, and the calls the
fakes recorded (argv, uploads, events). Sockets: so these live under ``tests/e2e``.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from shared.clock import new_job_id, now_us
from shared.config import Settings
from shared.errors import (
    FfmpegFailed,
    InputContentBad,
    InputMissing,
    JobCancelled,
    StorageUnavailable,
)
from shared.jobrecord import JobRecord
from shared.jobview import job_percent
from shared.planning import plan_outputs
from shared.schemas import load_config
from shared.stores import Stores
from shared.units import Unit
from tests.fakes import (
    MemoryStorage,
    RecordingNotifier,
    RecordingProber,
    RecordingRunner,
    probe_json,
)
from workers.context import TaskContext
from workers.endings import finalize
from workers.ffmpeg_run import run_ffmpeg
from workers.probe import OWN_OUTPUT
from workers.source_checks import DURATION_TOO_LONG
from workers.transcode import prepare_job, transcode_output
from workers.watchdog import sweep

pytestmark = pytest.mark.e2e

#: This file's database on the session's redis-server (one per test file).
DB = 24
OWNER = "acme"
INPUT = "oss://media/in.mp4"
TEMPLATE = "S00000001-200010"
OUTPUT_DONE = "MediaConvertOutputComplete"
JOB_DONE = "MediaConvertComplete"


class WorkerDied(BaseException):
    """The worker process vanished mid-encode (OOM kill, segfault): nothing catches it."""


@dataclass
class Bench:
    """One test's world: the real stores, fake storage/ffprobe/notifier, and its settings."""

    stores: Stores
    settings: Settings
    storage: MemoryStorage = field(default_factory=lambda: MemoryStorage({INPUT: b"mp4"}))
    prober: RecordingProber = field(default_factory=RecordingProber)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)

    def ctx(self, runner: RecordingRunner, worker: str = "w1@test") -> TaskContext:
        """What a task of ``worker`` gets: the real store and heartbeats, the fakes."""
        return TaskContext(
            store=self.stores.jobs,
            heartbeats=self.stores.heartbeats,
            storage=self.storage,
            settings=self.settings,
            notifier=self.notifier,
            worker=worker,
            runner=runner,
            prober=self.prober,
        )

    def submit(self, outputs: int = 1) -> str:
        """Store an ``Inited`` job with ``outputs`` MP4 outputs, as the API's submit does."""
        config = load_config(
            {
                "Inputs": [{"InputFile": {"Media": INPUT}}],
                "Outputs": [
                    {"TemplateId": TEMPLATE, "OutputFile": {"Media": f"oss://out/o{i}.mp4"}}
                    for i in range(outputs)
                ],
            }
        )
        specs = plan_outputs(config, self.stores.templates.resolver(OWNER), self.settings)
        doc = {"Config": config, "UserData": "", "PipelineId": "", "RequestId": "R"}
        return self.stores.jobs.create(job_id=new_job_id(), owner=OWNER, doc=doc, specs=specs)

    def job(self, job_id: str) -> JobRecord:
        job = self.stores.jobs.get(job_id)
        assert job is not None
        return job

    def statuses(self, job_id: str) -> list[str]:
        job = self.job(job_id)
        return [job.outputs[s.index]["Status"] for s in job.specs]

    def cancel(self, job_id: str) -> None:
        """What the API's CancelMediaConvertJob writes."""
        assert self.stores.jobs.transition(
            job_id, "Cancelled", allowed_from={"Inited", "Running"}, finish_us=now_us()
        )


@pytest.fixture
def bench(redis_base, tmp_path) -> Bench:
    url = f"{redis_base}/{DB}"
    with redis.Redis.from_url(url) as client:
        client.flushdb()  # heartbeats and the requeue outbox are shared by every job
    (tmp_path / "work").mkdir()
    settings = Settings(
        storage_root=tmp_path / "storage", work_dir=tmp_path / "work", max_deliveries=2
    )
    return Bench(Stores.connect(url), settings)


def _work_left(bench: Bench) -> list[Path]:
    """What the runs left in the work folder (each run's folder goes, whatever happened;
    the worker's input cache stays)."""
    cache = bench.settings.input_cache_path
    return [p for p in Path(bench.settings.work_dir).iterdir() if p != cache]


def _prepared(bench: Bench, outputs: int = 1) -> str:
    job_id = bench.submit(outputs)
    assert [s.index for s in prepare_job(bench.ctx(RecordingRunner()), job_id)] == list(
        range(outputs)
    )
    return job_id


def test_an_output_goes_init_scheduled_running_success_and_the_job_completes_once(bench):
    job_id = bench.submit()
    seen = [bench.statuses(job_id)[0]]
    prepare_job(bench.ctx(RecordingRunner()), job_id)
    seen.append(bench.statuses(job_id)[0])
    runner = RecordingRunner(during=lambda: seen.append(bench.statuses(job_id)[0]))

    detail = transcode_output(bench.ctx(runner), job_id, 0)

    seen.append(bench.statuses(job_id)[0])
    assert seen == ["Init", "Scheduled", "Running", "Success"]
    assert (detail["Status"], detail["Code"]) == ("Success", "")
    job = bench.job(job_id)
    assert (job.state, job.code) == ("Complete", "")
    assert job.progress == {0: 100} and job_percent(job) == 100
    assert len(runner.argvs) == 1 and runner.argvs[0][0] == bench.settings.ffmpeg_bin
    assert runner.argvs[0][-1] == str(runner.outputs[0]) and _work_left(bench) == []
    assert bench.storage.called("upload") == ["oss://out/o0.mp4"]
    assert bench.storage.objects["oss://out/o0.mp4"] == b"encoded"
    # The input is probed once (by prepare_job, then cached); the output once after FFmpeg.
    assert [options for _, options in bench.prober.calls] == [{}, OWN_OUTPUT]
    assert bench.notifier.events == [(OUTPUT_DONE, job_id), (JOB_DONE, job_id)]
    assert bench.notifier.bodies[-1]["State"] == "Complete"
    # Its FFmpeg run is on the record (the fake keeps no stderr), and where it began.
    assert job.ffmpeg == {0: {"Command": shlex.join(runner.argvs[0]), "Log": ""}}
    assert job.starts[0]["worker"] == "w1@test" and job.part_ffmpeg == {}


def test_a_real_ffmpeg_failure_is_recorded_with_its_error_line(bench):
    """Real FFmpeg on an input that is no media (the canned probe says it is): the output
    fails and its run is on the record with FFmpeg's own error line."""
    job_id = _prepared(bench)

    detail = transcode_output(bench.ctx(run_ffmpeg), job_id, 0)

    assert (detail["Status"], detail["Code"]) == ("Failed", FfmpegFailed.code)
    run = bench.job(job_id).ffmpeg[0]
    argv = shlex.split(run["Command"])
    assert argv[0] == bench.settings.ffmpeg_bin and "libx264" in argv, argv
    assert run["Log"].splitlines()[-1].endswith("Invalid data found when processing input")
    assert run["Log"].splitlines()[-1] in detail["Message"]


def test_a_cancel_before_the_start_skips_the_output_without_ffmpeg(bench):
    job_id = _prepared(bench)
    bench.cancel(job_id)
    runner = RecordingRunner()

    detail = transcode_output(bench.ctx(runner), job_id, 0)

    assert detail["Status"] == "Skipped"
    assert runner.argvs == [] and bench.storage.called("upload") == []
    assert bench.job(job_id).state == "Cancelled"
    assert bench.notifier.events == []  # a skipped output has no event; the cancel sent its own


def test_a_cancel_during_the_encode_stops_it_and_leaves_no_file(bench):
    job_id = _prepared(bench)
    runner = RecordingRunner(during=lambda: bench.cancel(job_id))

    # The progress callback sees the cancel and raises: the real runner then kills FFmpeg.
    detail = transcode_output(bench.ctx(runner), job_id, 0)

    assert detail["Status"] == "Skipped"
    assert len(runner.argvs) == 1 and runner.raised == [JobCancelled]
    assert bench.job(job_id).progress == {0: 50}  # the tick that saw the cancel
    assert _work_left(bench) == []
    assert bench.storage.called("upload") == [] and "oss://out/o0.mp4" not in bench.storage.objects
    assert bench.job(job_id).state == "Cancelled"
    assert bench.notifier.events == []


def test_a_cancel_during_the_upload_deletes_what_was_uploaded(bench):
    job_id = _prepared(bench)
    bench.storage.after_upload = lambda: bench.cancel(job_id)

    detail = transcode_output(bench.ctx(RecordingRunner()), job_id, 0)

    assert detail["Status"] == "Skipped"
    assert bench.storage.called("upload") == bench.storage.called("delete") == ["oss://out/o0.mp4"]
    assert "oss://out/o0.mp4" not in bench.storage.objects
    assert bench.notifier.events == []


def test_a_superseded_run_writes_nothing(bench):
    job_id = _prepared(bench)
    requeued: list[Unit] = []
    rescuer = RecordingRunner(content=b"rescuer")

    def frozen_then_replaced() -> None:
        # This run went silent past the heartbeat timeout: the watchdog takes the output
        # back and a new run (another worker) does it, while this one still "encodes".
        later = now_us() + 2 * bench.settings.heartbeat_timeout * 1_000_000
        sweep(
            bench.stores.jobs,
            bench.stores.heartbeats,
            lambda job, unit: requeued.append(unit),
            timeout_s=bench.settings.heartbeat_timeout,
            now=later,
        )
        assert transcode_output(bench.ctx(rescuer, "w2@test"), job_id, 0)["Status"] == "Success"

    late = RecordingRunner(content=b"late", during=frozen_then_replaced)
    detail = transcode_output(bench.ctx(late, "w1@test"), job_id, 0)

    assert requeued == [Unit(job_id, 0)]
    assert len(late.argvs) == 1 and len(rescuer.argvs) == 1
    assert detail == bench.job(job_id).outputs[0] and detail["Status"] == "Success"
    assert bench.storage.called("upload") == ["oss://out/o0.mp4"]  # the rescuer's, once
    assert bench.storage.objects["oss://out/o0.mp4"] == b"rescuer"
    assert bench.job(job_id).state == "Complete"
    assert bench.notifier.types() == [OUTPUT_DONE, JOB_DONE]


def test_past_the_delivery_cap_the_output_fails_worker_lost_without_ffmpeg(bench):
    job_id = _prepared(bench)
    crashing = RecordingRunner(crash=WorkerDied())
    for _ in range(bench.settings.max_deliveries):
        with pytest.raises(WorkerDied):
            transcode_output(bench.ctx(crashing), job_id, 0)
        assert bench.statuses(job_id) == ["Running"]  # left for the next delivery
        assert _work_left(bench) == []
    last = RecordingRunner()

    detail = transcode_output(bench.ctx(last), job_id, 0)

    assert (detail["Status"], detail["Code"]) == ("Failed", "WorkerLost")
    assert len(crashing.argvs) == bench.settings.max_deliveries and last.argvs == []
    job = bench.job(job_id)
    assert (job.state, job.code) == ("Error", "WorkerLost")
    assert bench.storage.called("upload") == []
    assert bench.notifier.types() == [OUTPUT_DONE, JOB_DONE]


def test_a_task_redelivered_after_success_does_not_encode_again(bench):
    job_id = _prepared(bench, outputs=2)  # output 1 still pending: the job is Running
    runner = RecordingRunner()
    first = transcode_output(bench.ctx(runner), job_id, 0)

    again = transcode_output(bench.ctx(runner, "w2@test"), job_id, 0)

    assert again == first and again["Status"] == "Success"
    assert bench.job(job_id).state == "Running"
    assert len(runner.argvs) == 1
    assert bench.storage.called("upload") == ["oss://out/o0.mp4"]
    assert bench.notifier.types() == [OUTPUT_DONE]


def test_finalize_twice_makes_one_transition_and_one_event(bench):
    job_id = _prepared(bench, outputs=2)
    transcode_output(bench.ctx(RecordingRunner()), job_id, 0)
    assert finalize(bench.stores.jobs, job_id, bench.notifier) is None  # output 1 pending
    assert bench.job(job_id).state == "Running"
    # Output 1 ended, but its worker lost Redis before finalizing: the chord callback and a
    # watchdog-requeued copy both finalize now, at once.
    bench.stores.jobs.set_output(job_id, 1, Status="Success")
    start = threading.Barrier(2)
    states: list[str | None] = []

    def finalize_at_once() -> None:
        start.wait()
        states.append(finalize(bench.stores.jobs, job_id, bench.notifier))

    threads = [threading.Thread(target=finalize_at_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = bench.job(job_id).finish_us

    assert states == ["Complete", "Complete"]
    assert finalize(bench.stores.jobs, job_id, bench.notifier) == "Complete"
    assert bench.job(job_id).finish_us == finished is not None  # written once, never again
    assert bench.notifier.types().count(JOB_DONE) == 1


def test_prepare_job_after_a_storage_blip_can_be_prepared_again(bench):
    job_id = bench.submit()
    bench.storage.outages = 1

    with pytest.raises(StorageUnavailable):
        prepare_job(bench.ctx(RecordingRunner()), job_id)

    assert bench.job(job_id).state == "Inited" and bench.statuses(job_id) == ["Init"]
    assert bench.prober.calls == []
    assert [s.index for s in prepare_job(bench.ctx(RecordingRunner()), job_id)] == [0]
    assert bench.job(job_id).state == "Running" and bench.statuses(job_id) == ["Scheduled"]
    assert len(bench.prober.calls) == 1
    # A redelivered start_job finds the job started: nothing to fan out, nothing probed.
    assert prepare_job(bench.ctx(RecordingRunner()), job_id) == []
    assert len(bench.prober.calls) == 1


@pytest.mark.parametrize(
    ("problem", "code"),
    [
        ("missing", InputMissing.code),
        ("not media", InputContentBad.code),
        ("too long", DURATION_TOO_LONG),
    ],
)
def test_a_permanent_input_error_fails_every_output_and_the_job(bench, problem, code):
    if problem == "missing":
        bench.storage.objects.clear()
    elif problem == "not media":
        bench.prober.error = InputContentBad("the input has no audio or video stream")
    else:
        bench.prober.doc = probe_json(duration=bench.settings.max_input_duration + 1)
    job_id = bench.submit(outputs=2)

    assert prepare_job(bench.ctx(RecordingRunner()), job_id) == []

    job = bench.job(job_id)
    assert [(d["Status"], d["Code"]) for d in job.outputs.values()] == [("Failed", code)] * 2
    assert (job.state, job.code) == ("Error", code)
    assert bench.notifier.types() == [OUTPUT_DONE, OUTPUT_DONE, JOB_DONE]
