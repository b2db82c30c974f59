"""The metrics' pure parts: labels, tiers, the bearer check, the broker's list names, and
what a job's end adds to which counter."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from shared import metrics
from shared.jobrecord import JobRecord
from shared.queue_depth import kind_of, queue_lists


@pytest.mark.parametrize(
    ("height", "tier"),
    [(None, "SD"), (360, "SD"), (719, "SD"), (720, "HD"), (1080, "HD"), (2160, "UHD")],
)
def test_tiers_are_mediaconverts(height, tier):
    assert metrics.tier(height) == tier


@pytest.mark.parametrize(
    ("argv", "labels"),
    [
        (["ffmpeg", "-i", "in", "-c:v", "libx264", "out"], ("libx264", "cpu")),
        (
            ["ffmpeg", "-hwaccel", "cuda", "-i", "in", "-c:v", "h264_nvenc", "o"],
            ("h264_nvenc", "gpu"),
        ),
        (["ffmpeg", "-hwaccel", "cuda", "-i", "in", "-c:v", "libx265", "o"], ("libx265", "gpu")),
        (["ffmpeg", "-i", "in", "-c:v", "copy", "-c:a", "aac", "o"], None),
        (["ffmpeg", "-i", "in", "-vn", "-c:a", "aac", "o"], None),
    ],
)
def test_an_encode_is_labelled_by_its_encoder_and_hardware(argv, labels):
    assert metrics.encoder_labels(argv) == labels


@pytest.mark.parametrize(
    ("header", "token", "required", "refused"),
    [
        ("Bearer s3cret", "s3cret", True, False),
        ("bearer s3cret ", "s3cret", True, False),
        ("Bearer other", "s3cret", True, True),
        ("Basic s3cret", "s3cret", True, True),
        (None, "s3cret", False, True),
        (None, None, True, True),  # the API's /metrics: off without a token
        (None, None, False, False),  # a worker's own bind, asked for
    ],
)
def test_a_scrape_carries_the_token(header, token, required, refused):
    assert (metrics.bearer_refusal(header, token, required=required) is not None) == refused


def test_every_priority_list_of_every_slot_is_counted():
    lists = queue_lists("cpu")
    assert len(lists) == 17 * 10  # the kind and its 16 fair-share slots, 10 priority steps each
    assert {"cpu", "cpu:9", "cpu.0", "cpu.0:1", "cpu.15:9"} <= set(lists)
    assert not [name for name in lists if name.startswith("gpu")]
    assert [kind_of(k) for k in ("cpu", "cpu.3", "cpu.3:2", "gpu.15:9")] == ["cpu"] * 3 + ["gpu"]


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _job(state: str, code: str = "", run_us: int | None = 5_000_000) -> JobRecord:
    return JobRecord(
        job_id="j",
        owner="acct",
        doc={"PipelineId": "p-unit"},
        specs=[],
        create_us=1_000_000,
        state=state,
        code=code,
        finish_us=9_000_000,
        run_us=run_us,
    )


def test_a_jobs_end_counts_its_state_code_and_run_time():
    before = {
        "done": _value("mcfarm_jobs_completed_total", pipeline="p-unit"),
        "bad": _value("mcfarm_jobs_failed_total", pipeline="p-unit", code="JobTimeout"),
        "gone": _value("mcfarm_jobs_cancelled_total", pipeline="p-unit"),
        "runs": _value("mcfarm_job_transcode_seconds_count", pipeline="p-unit"),
        "sum": _value("mcfarm_job_transcode_seconds_sum", pipeline="p-unit"),
    }
    metrics.job_ended(_job("Complete"))
    metrics.job_ended(_job("Error", "JobTimeout", run_us=None))  # never ran: no run time
    metrics.job_ended(_job("Cancelled"))
    assert _value("mcfarm_jobs_completed_total", pipeline="p-unit") == before["done"] + 1
    assert (
        _value("mcfarm_jobs_failed_total", pipeline="p-unit", code="JobTimeout")
        == before["bad"] + 1
    )
    assert _value("mcfarm_jobs_cancelled_total", pipeline="p-unit") == before["gone"] + 1
    assert _value("mcfarm_job_transcode_seconds_count", pipeline="p-unit") == before["runs"] + 2
    assert _value("mcfarm_job_transcode_seconds_sum", pipeline="p-unit") == pytest.approx(
        before["sum"] + 8.0
    )


def test_a_successful_output_counts_its_media_seconds_in_its_tier():
    before = _value("mcfarm_output_media_seconds_total", tier="UHD")
    detail = {"Result": {"OutFileMeta": {"FileBasicInfo": {"Duration": "12.5", "Height": "2160"}}}}
    metrics.output_succeeded(detail)
    metrics.output_succeeded({"Result": {}})  # nothing measured: nothing counted
    assert _value("mcfarm_output_media_seconds_total", tier="UHD") == before + 12.5
