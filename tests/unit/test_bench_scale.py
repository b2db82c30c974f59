"""The pure parts of ``bench.scale``: throughput, speed-up, the table, pinning, job bodies."""

from __future__ import annotations

import json

import pytest

from bench.common import pinned
from bench.scale import RunResult, format_table, job_body, jobs_per_minute, speed_up


def test_jobs_per_minute():
    assert jobs_per_minute(8, 6.0) == 80.0
    assert jobs_per_minute(1, 120) == 0.5


@pytest.mark.parametrize("seconds", [0, -1.5])
def test_jobs_per_minute_needs_positive_time(seconds):
    with pytest.raises(ValueError):
        jobs_per_minute(8, seconds)


def test_speed_up_is_the_throughput_ratio():
    one, two = RunResult(1, 8, 12.0), RunResult(2, 8, 6.4)
    assert one.jobs_per_min == 40.0 and two.jobs_per_min == 75.0
    assert speed_up(one, two) == 1.875
    assert speed_up(one, one) == 1.0


def test_speed_up_compares_throughput_not_time_when_batches_differ():
    assert speed_up(RunResult(1, 8, 10.0), RunResult(2, 16, 10.0)) == 2.0


def test_format_table_exact():
    runs = [RunResult(1, 8, 12.0), RunResult(2, 8, 6.4)]
    assert format_table(runs) == (
        "workers  jobs  seconds  jobs/min\n"
        "      1     8    12.00      40.0\n"
        "      2     8     6.40      75.0\n"
        "speed-up 1.88x (2 workers vs 1)"
    )


def test_format_table_one_run_has_no_speed_up():
    assert format_table([RunResult(1, 16, 30.0)]) == (
        "workers  jobs  seconds  jobs/min\n      1    16    30.00      32.0"
    )


def test_pinned_prefixes_taskset_or_leaves_argv_alone():
    argv = ["python", "-m", "celery"]
    assert pinned(argv, 1, "/usr/bin/taskset") == ["/usr/bin/taskset", "-c", "1", *argv]
    unpinned = pinned(argv, 1, None)
    assert unpinned == argv and unpinned is not argv


def test_job_body_one_medium_output_per_job():
    body = job_body("w2", 7)
    config = body["Config"]
    assert config["JobName"] == "w2-7"
    assert config["Inputs"] == [
        {"Name": "in", "InputFile": {"Type": "OSS", "Media": "oss://media/clip.mp4"}}
    ]
    [output] = config["Outputs"]
    assert output["TemplateId"] == "S00000001-200010"
    assert output["OutputFile"] == {"Type": "OSS", "Media": "oss://results/w2/job007.mp4"}
    assert json.loads(output["OverrideParams"]) == {"Video": {"Preset": "medium"}}
