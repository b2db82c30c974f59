"""Prometheus metrics: every metric of the farm, declared once, and how each process shows them.

Counters and histograms are kept by the process that sees the event (the API process that
took a submit, the worker process that finalized a job), in ``prometheus_client``'s
multiprocess mode: each process of a granian (API) or Celery prefork group writes its values to
files in one folder (``PROMETHEUS_MULTIPROC_DIR``), and a scrape adds them up
(https://prometheus.github.io/client_python/multiprocess/). ``shared.metrics_dir`` makes
that folder, fresh, before anything creates a metric; a process that ends is marked dead
(``process_ended``) so its live gauges leave the sum. What the farm *is* (queues, live
workers, parked callbacks) is read from Redis at scrape time by ``api.metrics``.

No label names a job, an output or an account: a label's values must stay few.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.registry import Collector

from shared.jobrecord import JobRecord
from shared.metrics_dir import MULTIPROC_ENV

#: Seconds buckets from a fast API call to a long film.
_API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_JOB_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600)
_SPEED_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)

API_REQUESTS = Counter(
    "mcfarm_api_requests", "API requests answered", ["route", "method", "status"]
)
API_LATENCY = Histogram(
    "mcfarm_api_request_duration_seconds",
    "Time to answer an API request",
    ["route", "method"],
    buckets=_API_BUCKETS,
)
JOBS_SUBMITTED = Counter("mcfarm_jobs_submitted", "Jobs accepted", ["pipeline"])
JOBS_COMPLETED = Counter("mcfarm_jobs_completed", "Jobs ended Complete", ["pipeline"])
JOBS_FAILED = Counter("mcfarm_jobs_failed", "Jobs ended Error, by Code", ["pipeline", "code"])
JOBS_CANCELLED = Counter("mcfarm_jobs_cancelled", "Jobs cancelled", ["pipeline"])
STANDBY = Histogram(
    "mcfarm_job_standby_seconds",
    "From submit to the job's first output (or chunk) running",
    ["pipeline"],
    buckets=_JOB_BUCKETS,
)
TRANSCODE = Histogram(
    "mcfarm_job_transcode_seconds",
    "From the job's first output running to its end",
    ["pipeline"],
    buckets=_JOB_BUCKETS,
)
MEDIA_SECONDS = Counter(
    "mcfarm_output_media_seconds",
    "Seconds of media in successful outputs, by tier (SD below 720 lines, HD to 1080, UHD)",
    ["tier"],
)
FFMPEG_SPEED = Histogram(
    "mcfarm_ffmpeg_speed_ratio",
    "Media seconds encoded per wall second by one FFmpeg run (x realtime)",
    ["codec", "hardware"],
    buckets=_SPEED_BUCKETS,
)
CHUNKS = Counter("mcfarm_boost_chunks", "Boost chunks ended, by status", ["status"])
CHUNKS_AGAIN = Counter(
    "mcfarm_boost_chunks_reencoded", "Boost chunks encoded twice (a wrong frame count)"
)
RETRIES = Counter(
    "mcfarm_task_retries", "Work retried after a transient error (storage, Redis)", ["unit"]
)
REQUEUES = Counter(
    "mcfarm_watchdog_requeues", "Work put back by the watchdog: its worker stopped beating"
)
DEAD_LETTERED = Counter(
    "mcfarm_callbacks_dead_lettered", "Event deliveries given up on (dead-lettered)"
)


def process_ended(pid: int) -> None:
    """Mark a process of the group gone (Celery's child shutdown)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def bearer_refusal(header: str | None, token: str | None, *, required: bool) -> str | None:
    """Why a scrape with ``Authorization: header`` is refused, or None when it may read.

    With ``token`` set, the header must be ``Bearer {token}``. With none, a scrape is
    refused where a token is ``required`` (the API's ``/metrics``: never open by default)
    and allowed elsewhere (a worker's own metrics bind, which exists only when asked for).
    """
    if not token:
        return "Metrics are off: set MCFARM_METRICS_TOKEN to serve them." if required else None
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
        return "Send Authorization: Bearer with the farm's metrics token."
    return None


def registry(*extra: Collector) -> CollectorRegistry:
    """What a scrape of this process group shows: every process's values, summed (in one
    process, as tests run it: that process's), and ``extra`` collectors."""
    collected = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(collected)
    else:
        collected.register(DEFAULT_REGISTRY)
    for collector in extra:
        collected.register(collector)
    return collected


def exposition(*extra: Collector) -> bytes:
    """The text a scrape gets (``registry``, in Prometheus's text format)."""
    return generate_latest(registry(*extra))


def tier(height: int | None) -> str:
    """MediaConvert's output tiers: SD below 720 lines, HD up to 1080, UHD above."""
    if not height or height < 720:
        return "SD"
    return "HD" if height <= 1080 else "UHD"


def _pipeline(job: JobRecord) -> str:
    return str(job.doc.get("PipelineId") or "none")


def job_submitted(job: JobRecord) -> None:
    JOBS_SUBMITTED.labels(_pipeline(job)).inc()


def job_began(job: JobRecord, at_us: int) -> None:
    """The job's first output or chunk began running (``JobStore.first_run``)."""
    STANDBY.labels(_pipeline(job)).observe(max(0, at_us - job.create_us) / 1e6)


def job_ended(job: JobRecord) -> None:
    """``job`` as stored right after the one transition that ended it."""
    pipeline = _pipeline(job)
    if job.state == "Complete":
        JOBS_COMPLETED.labels(pipeline).inc()
    elif job.state == "Error":
        JOBS_FAILED.labels(pipeline, job.code or "Unknown").inc()
    elif job.state == "Cancelled":
        JOBS_CANCELLED.labels(pipeline).inc()
    if job.run_us and job.finish_us:
        TRANSCODE.labels(pipeline).observe(max(0, job.finish_us - job.run_us) / 1e6)


def output_succeeded(detail: Mapping[str, Any]) -> None:
    """Count a successful output's media seconds in its tier (from its ``OutFileMeta``)."""
    basic = ((detail.get("Result") or {}).get("OutFileMeta") or {}).get("FileBasicInfo") or {}
    try:
        seconds = float(basic.get("Duration") or 0)
        height = int(basic.get("Height") or 0)
    except ValueError:
        return
    if seconds > 0:
        MEDIA_SECONDS.labels(tier(height)).inc(seconds)


def encoder_labels(argv: Sequence[str]) -> tuple[str, str] | None:
    """``(codec, hardware)`` of an FFmpeg argv that encodes video: the encoder's name, and
    ``gpu`` for NVENC or a CUDA decode; None when it copies video or has none."""
    encoders = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in ("-c:v", "-vcodec")]
    if not encoders or encoders[-1] == "copy":
        return None
    gpu = "nvenc" in encoders[-1] or "cuda" in argv
    return encoders[-1], "gpu" if gpu else "cpu"


def ffmpeg_ran(argv: Sequence[str], media_seconds: float | None, wall_seconds: float) -> None:
    """One FFmpeg encode ended: its speed, × realtime."""
    labels = encoder_labels(argv)
    if labels and media_seconds and wall_seconds > 0:
        FFMPEG_SPEED.labels(*labels).observe(media_seconds / wall_seconds)
