"""The pure parts of ``bench.soak``: job bodies, counting productions in logs, the summary."""

from __future__ import annotations

from collections import Counter

from bench.soak import Summary, count_productions, format_summary, job_body

JOB = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


def encode(job: str, index: int) -> str:
    return (
        "[2026-11-24 12:00:00,000: INFO/ForkPoolWorker-1] running ffmpeg -hide_banner -y "
        f"-i /tmp/mcfarm-soak-x/storage/media/clip.mp4 /tmp/w/mcfarm-{job}-{index}-ab_c/output.mp4"
    )


def success(job: str, index: int, status: str = "Success") -> str:
    return (
        "[2026-11-24 12:00:01,000: INFO/ForkPoolWorker-1] Task workers.transcode_output"
        f"[6f994d62-bddf] succeeded in 1.2s: {{'Name': 'mp4', 'TaskId': '{job}-{index}', "
        f"'Status': '{status}', 'Code': ''}}"
    )


def test_job_bodies_have_one_or_two_outputs_with_distinct_names():
    one, two = job_body(0), job_body(1)
    assert [o["Name"] for o in one["Config"]["Outputs"]] == ["mp4"]
    assert [o["Name"] for o in two["Config"]["Outputs"]] == ["mp4", "mp3"]
    media = {o["OutputFile"]["Media"] for n in range(4) for o in job_body(n)["Config"]["Outputs"]}
    assert len(media) == 6


def test_an_encode_that_returns_success_is_one_production():
    assert count_productions([encode(JOB, 0), success(JOB, 0)]) == Counter({(JOB, 0): 1})


def test_a_killed_run_and_a_no_op_redelivery_produce_nothing():
    lines = [
        encode(JOB, 0),  # killed mid-encode: the log just stops
        success(JOB, 0),  # a later run of this worker found it done: no encode before it
    ]
    assert count_productions(lines[:1]) == Counter()
    assert count_productions([encode(OTHER, 1), success(OTHER, 1), success(JOB, 0)]) == Counter(
        {(OTHER, 1): 1}
    )


def test_a_failed_output_is_not_a_production():
    assert count_productions([encode(JOB, 1), success(JOB, 1, "Failed")]) == Counter()


def test_the_same_output_produced_by_two_runs_counts_twice():
    lines = [encode(JOB, 0), success(JOB, 0), encode(JOB, 0), success(JOB, 0)]
    summary = Summary(submitted=1, produced=count_productions(lines))
    assert summary.twice == [(JOB, 0)] and not summary.ok
    assert "outputs produced twice    1" in format_summary(summary)
    assert format_summary(summary).endswith("result: FAILED")


def test_a_clean_soak_is_ok():
    summary = Summary(submitted=2, completed=2, produced=Counter({(JOB, 0): 1, (OTHER, 0): 1}))
    assert summary.ok
    text = format_summary(summary)
    assert "jobs lost                 0" in text and text.endswith("result: OK")
    assert not Summary(submitted=1, lost=[JOB]).ok
